/* test_json.c — the strict JSON reader and the writer of runtime/rt_json. */
#include "runtime/rt_json.h"
#include "tests/tap.h"

#include <stdint.h>
#include <unistd.h>

/* Parses a NUL-terminated text; NULL with the message in err. */
static rt_json_doc *parse(const char *s, char *err, size_t n) { return rt_json_parse(s, strlen(s), err, n); }

static void test_values(void) {
    char err[256];
    const char *text = " {\"b\": 1, \"a\": [true, false, null], \"c\": {\"x\": \"y\"}, \"d\": -2.5e1} ";
    rt_json_doc *doc = parse(text, err, sizeof err);
    ok(doc != NULL, "object parses");
    if (!doc) { diag("%s", err); return; }
    const rt_json *r = rt_json_root(doc);
    is_int(r->kind, RT_JSON_OBJECT, "root is an object");
    is_int((long long)r->count, 4, "4 members");
    is_str(r->keys[0], "b", "keys keep text order (0)");
    is_str(r->keys[1], "a", "keys keep text order (1)");
    is_str(r->keys[3], "d", "keys keep text order (3)");
    is_int((long long)r->items[0]->offset, 7, "value offset recorded");
    const rt_json *a = rt_json_get(r, "a");
    ok(a && a->kind == RT_JSON_ARRAY && a->count == 3, "array of 3");
    ok(a && a->items[0]->kind == RT_JSON_BOOL && a->items[0]->boolean, "true");
    ok(a && a->items[1]->kind == RT_JSON_BOOL && !a->items[1]->boolean, "false");
    ok(a && a->items[2]->kind == RT_JSON_NULL, "null");
    is_str(rt_json_get(rt_json_get(r, "c"), "x")->string, "y", "nested lookup");
    is_double(rt_json_get(r, "d")->number, -25.0, 0, "exponent number");
    ok(rt_json_get(r, "d")->is_int && rt_json_get(r, "d")->integer == -25, "-2.5e1 is the integer -25");
    ok(rt_json_get(r, "zz") == NULL, "absent key -> NULL");
    ok(rt_json_get(a, "x") == NULL, "get on an array -> NULL");
    rt_json_free(doc);

    doc = parse("[]", err, sizeof err);
    ok(doc && rt_json_root(doc)->kind == RT_JSON_ARRAY && rt_json_root(doc)->count == 0, "empty array");
    rt_json_free(doc);
    doc = parse("{}", err, sizeof err);
    ok(doc && rt_json_root(doc)->kind == RT_JSON_OBJECT && rt_json_root(doc)->count == 0, "empty object");
    rt_json_free(doc);
    doc = parse("\"top\"", err, sizeof err);
    ok(doc && rt_json_root(doc)->kind == RT_JSON_STRING, "a bare string is a document");
    rt_json_free(doc);
    rt_json_free(NULL);
}

static void test_numbers(void) {
    static const struct {
        const char *text;
        double number;
        int is_int;
        long long integer;
    } cases[] = {
        {"0", 0, 1, 0},
        {"-0", -0.0, 1, 0},
        {"123", 123, 1, 123},
        {"1.5", 1.5, 0, 0},
        {"2.0", 2, 1, 2},
        {"1e3", 1000, 1, 1000},
        {"1E-2", 0.01, 0, 0},
        {"9223372036854775807", 9223372036854775807.0, 1, INT64_MAX},
        {"-9223372036854775808", -9223372036854775808.0, 1, INT64_MIN},
        {"9223372036854775808", 9223372036854775808.0, 0, 0},
        {"1e20", 1e20, 0, 0},
        {"4.9e-324", 4.9e-324, 0, 0},
        {"1e-400", 0, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        rt_json_doc *doc = parse(cases[i].text, err, sizeof err);
        const rt_json *v = rt_json_root(doc);
        ok(v && v->kind == RT_JSON_NUMBER && v->number == cases[i].number && v->is_int == cases[i].is_int &&
               (!v->is_int || v->integer == cases[i].integer),
           "number %s", cases[i].text);
        rt_json_free(doc);
    }
}

static void test_strings(void) {
    char err[256];
    rt_json_doc *doc = parse("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\u20AC \\ud83d\\ude00 \xc3\xa9\"", err, sizeof err);
    ok(doc != NULL, "escapes parse");
    if (doc)
        is_str(rt_json_root(doc)->string, "q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9",
               "escapes and \\u (incl. a surrogate pair) decode to UTF-8");
    rt_json_free(doc);
    doc = parse("\"a\\u0000b\"", err, sizeof err);
    ok(doc && rt_json_root(doc)->length == 3 && memcmp(rt_json_root(doc)->string, "a\0b", 4) == 0,
       "\\u0000 kept with its length");
    rt_json_free(doc);
    ok(rt_json_utf8_valid("\xe6\x9d\x83\xf0\x9f\x99\x82", 7), "valid UTF-8 accepted");
    ok(!rt_json_utf8_valid("\xc0\x80", 2), "overlong NUL rejected");
    ok(!rt_json_utf8_valid("\xed\xa0\x80", 3), "encoded surrogate rejected");
    ok(!rt_json_utf8_valid("\xf4\x90\x80\x80", 4), "code point above U+10FFFF rejected");
    ok(!rt_json_utf8_valid("\xe6\x9d", 2), "truncated sequence rejected");
}

/* Malformed documents: each must fail with this substring in its message. */
static void test_malformed(void) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "byte 0 (line 1, column 1): expected a JSON value, got end of input"},
        {"   ", "expected a JSON value, got end of input"},
        {"[1,]", "byte 3 (line 1, column 4): expected a JSON value, got ']'"},
        {"{\"a\":1,}", "byte 7 (line 1, column 8): expected a string key in an object, got '}'"},
        {"{\"a\" 1}", "expected ':' after an object key, got '1'"},
        {"{a:1}", "expected a string key in an object, got 'a'"},
        {"[1 2]", "expected ',' or ']' in an array, got '2'"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}' in an object"},
        {"[1", "expected ',' or ']' in an array, got end of input"},
        {"01", "number with a leading zero"},
        {"1.", "expected a digit after the decimal point"},
        {".5", "expected a JSON value, got '.'"},
        {"1e", "expected a digit in the exponent"},
        {"+1", "expected a JSON value, got '+'"},
        {"-", "expected a digit, got end of input"},
        {"-a", "expected a digit, got 'a'"},
        {"1e400", "out of the range of a double"},
        {"tru", "expected 'true'"},
        {"nul", "expected 'null'"},
        {"NaN", "expected a JSON value, got 'N'"},
        {"Infinity", "expected a JSON value, got 'I'"},
        {"\"abc", "unterminated string"},
        {"\"a\x01\"", "raw control character 0x01 inside a string"},
        {"\"\\x\"", "invalid escape \\'x'"},
        {"\"\\u12\"", "expected 4 hex digits after \\u"},
        {"\"\\ud800\"", "high surrogate \\uD800 not followed by a \\u low surrogate"},
        {"\"\\udc00\"", "lone low surrogate \\uDC00"},
        {"\"\\ud800\\u0041\"", "followed by \\u0041, not a low surrogate"},
        {"\"\xff\"", "invalid UTF-8 byte 0xFF inside a string"},
        {"\"\xc0\x80\"", "invalid UTF-8 byte 0xC0"},
        {"\"\xed\xa0\x80\"", "invalid UTF-8 byte 0xED"},
        {"\xef\xbb\xbf{}", "expected a JSON value, got byte 0xEF"},
        {"{} x", "byte 3 (line 1, column 4): unexpected 'x' after the JSON value"},
        {"{}{}", "unexpected '{' after the JSON value"},
        {"{\"a\":1,\"a\":2}", "byte 7 (line 1, column 8): duplicate key \"a\" in an object"},
        {"{\n  \"a\": x}", "byte 9 (line 2, column 8): expected a JSON value, got 'x'"},
        {"[1,/*c*/2]", "expected a JSON value, got '/'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        rt_json_doc *doc = parse(cases[i].text, err, sizeof err);
        ok(doc == NULL, "malformed %zu rejected", i);
        like(err, cases[i].want, "malformed %zu message", i);
        rt_json_free(doc);
    }
    /* An embedded NUL byte is not whitespace. */
    char err[256] = "";
    rt_json_doc *doc = rt_json_parse("{}\0", 3, err, sizeof err);
    ok(!doc, "NUL byte after the value rejected");
    like(err, "unexpected byte 0x00", "NUL byte message");
    rt_json_free(doc);
    /* A tiny error buffer is never overrun, and a NULL one is allowed. */
    char small[8];
    ok(!parse("[", small, sizeof small) && strlen(small) < 8, "short error buffer truncates");
    ok(!parse("[", NULL, 0), "NULL error buffer");
}

static void test_depth(void) {
    char buf[2 * RT_JSON_MAX_DEPTH + 8], err[256];
    int d = RT_JSON_MAX_DEPTH;
    for (int i = 0; i < d; i++) buf[i] = '[', buf[d + i] = ']';
    buf[2 * d] = '\0';
    rt_json_doc *doc = parse(buf, err, sizeof err);
    ok(doc != NULL, "nesting of exactly %d levels accepted", d);
    rt_json_free(doc);
    d = RT_JSON_MAX_DEPTH + 1;
    for (int i = 0; i < d; i++) buf[i] = '[', buf[d + i] = ']';
    buf[2 * d] = '\0';
    doc = parse(buf, err, sizeof err);
    ok(doc == NULL, "nesting of %d levels rejected", d);
    like(err, "nesting deeper than 128 levels", "depth message");
    rt_json_free(doc);
}

static void test_large_object(void) {
    /* 200 keys: duplicate detection takes the hash path. */
    rt_jw w;
    rt_jw_init(&w, 0);
    rt_jw_begin_object(&w);
    char k[32];
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "key%d", i);
        rt_jw_key(&w, k);
        rt_jw_int(&w, i);
    }
    rt_jw_end_object(&w);
    size_t len;
    const char *s = rt_jw_result(&w, &len);
    char err[256];
    rt_json_doc *doc = rt_json_parse(s, len, err, sizeof err);
    ok(doc && rt_json_root(doc)->count == 200, "200 distinct keys accepted");
    ok(doc && rt_json_get(rt_json_root(doc), "key199")->integer == 199, "last key found");
    rt_json_free(doc);
    /* Make key150 repeat key7. */
    char *t = malloc(len + 1);
    memcpy(t, s, len + 1);
    char *p = strstr(t, "\"key150\"");
    memcpy(p, "\"key7\"  ", 8); /* "key7"  :150 -> whitespace before ':' is fine */
    doc = rt_json_parse(t, len, err, sizeof err);
    ok(!doc, "duplicate among 200 keys rejected");
    like(err, "duplicate key \"key7\"", "duplicate among 200 keys named");
    rt_json_free(doc);
    free(t);
    rt_jw_free(&w);
}

static void test_writer(void) {
    rt_jw w;
    rt_jw_init(&w, 0);
    rt_jw_begin_object(&w);
    rt_jw_key(&w, "s");
    rt_jw_string(&w, "a\"b\\c\n\x01\x1f \xc3\xa9");
    rt_jw_key(&w, "i");
    rt_jw_int(&w, INT64_MIN);
    rt_jw_key(&w, "d");
    rt_jw_begin_array(&w);
    rt_jw_double(&w, 0.1);
    rt_jw_double(&w, 1.0 / 3.0);
    rt_jw_double(&w, -0.0);
    rt_jw_double(&w, 1e300);
    rt_jw_double(&w, NAN);
    rt_jw_double(&w, INFINITY);
    rt_jw_end_array(&w);
    rt_jw_key(&w, "e");
    rt_jw_begin_object(&w);
    rt_jw_end_object(&w);
    rt_jw_key(&w, "b");
    rt_jw_bool(&w, true);
    rt_jw_key(&w, "n");
    rt_jw_null(&w);
    rt_jw_end_object(&w);
    is_str(rt_jw_result(&w, NULL),
           "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\u001f \xc3\xa9\",\"i\":-9223372036854775808,"
           "\"d\":[0.1,0.3333333333333333,-0,1e+300,null,null],\"e\":{},\"b\":true,\"n\":null}",
           "compact writer output");
    rt_jw_free(&w);

    rt_jw_init(&w, 2);
    rt_jw_begin_object(&w);
    rt_jw_key(&w, "a");
    rt_jw_begin_array(&w);
    rt_jw_int(&w, 1);
    rt_jw_int(&w, 2);
    rt_jw_end_array(&w);
    rt_jw_key(&w, "b");
    rt_jw_begin_array(&w);
    rt_jw_end_array(&w);
    rt_jw_end_object(&w);
    is_str(rt_jw_result(&w, NULL), "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": []\n}", "indented writer output");
    rt_jw_free(&w);

    rt_jw_init(&w, 0);
    rt_jw_string(&w, "bad \xff byte");
    is_str(rt_jw_result(&w, NULL), "\"bad \xef\xbf\xbd byte\"", "invalid UTF-8 written as U+FFFD");
    rt_jw_free(&w);

    /* Misuse is remembered: the result is NULL. */
    rt_jw_init(&w, 0);
    rt_jw_begin_array(&w);
    rt_jw_key(&w, "k");
    rt_jw_end_array(&w);
    ok(rt_jw_result(&w, NULL) == NULL, "a key inside an array fails");
    rt_jw_free(&w);
    rt_jw_init(&w, 0);
    rt_jw_begin_object(&w);
    rt_jw_int(&w, 1);
    rt_jw_end_object(&w);
    ok(rt_jw_result(&w, NULL) == NULL, "a value without a key fails");
    rt_jw_free(&w);
    rt_jw_init(&w, 0);
    rt_jw_begin_object(&w);
    ok(rt_jw_result(&w, NULL) == NULL, "an unclosed object fails");
    rt_jw_end_array(&w);
    ok(rt_jw_result(&w, NULL) == NULL, "a mismatched end fails");
    rt_jw_free(&w);
    rt_jw_init(&w, 0);
    rt_jw_int(&w, 1);
    rt_jw_int(&w, 2);
    ok(rt_jw_result(&w, NULL) == NULL, "two top-level values fail");
    rt_jw_free(&w);
    rt_jw_init(&w, 0);
    rt_jw_begin_object(&w);
    rt_jw_key(&w, "k");
    rt_jw_end_object(&w);
    ok(rt_jw_result(&w, NULL) == NULL, "a key without a value fails");
    rt_jw_free(&w);
}

/* ---- random documents: write, parse, write again -> identical text ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_string(char *buf, size_t *len) {
    static const char *pieces[] = {"a", "Z", "\"", "\\", "\n", "\x01", " ", "\xc3\xa9", "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80", "/", "\t", "\x7f"};
    size_t n = 0, parts = rnd() % 6;
    for (size_t i = 0; i < parts; i++) {
        const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
        memcpy(buf + n, p, strlen(p));
        n += strlen(p);
    }
    *len = n;
}

static void random_value(rt_jw *w, int depth) {
    int kind = (int)(rnd() % (depth > 4 ? 5 : 7));
    char s[64];
    size_t len;
    switch (kind) {
    case 0: rt_jw_null(w); break;
    case 1: rt_jw_bool(w, rnd() & 1); break;
    case 2: rt_jw_int(w, (int64_t)rnd()); break;
    case 3: {
        double d;
        uint64_t bits = rnd();
        memcpy(&d, &bits, sizeof d);
        rt_jw_double(w, isfinite(d) ? d : 1.5);
        break;
    }
    case 4: random_string(s, &len); rt_jw_string_n(w, s, len); break;
    case 5: {
        rt_jw_begin_array(w);
        for (int i = (int)(rnd() % 4); i > 0; i--) random_value(w, depth + 1);
        rt_jw_end_array(w);
        break;
    }
    default: {
        rt_jw_begin_object(w);
        for (int i = (int)(rnd() % 4); i > 0; i--) {
            snprintf(s, sizeof s, "k%d\xc3\xa9", i);
            rt_jw_key(w, s);
            random_value(w, depth + 1);
        }
        rt_jw_end_object(w);
    }
    }
}

static void test_round_trip(void) {
    int good = 0, total = 300;
    for (int t = 0; t < total; t++) {
        rt_jw a, b;
        rt_jw_init(&a, t % 2 ? 0 : 3);
        random_value(&a, 0);
        size_t alen;
        const char *at = rt_jw_result(&a, &alen);
        char err[256];
        rt_json_doc *doc = at ? rt_json_parse(at, alen, err, sizeof err) : NULL;
        rt_jw_init(&b, t % 2 ? 0 : 3);
        if (doc) rt_jw_value(&b, rt_json_root(doc));
        const char *bt = rt_jw_result(&b, NULL);
        if (at && bt && strcmp(at, bt) == 0) good++;
        else diag("round trip %d differs:\n%s\n%s", t, at ? at : "(null)", doc ? (bt ? bt : "(null)") : err);
        rt_json_free(doc);
        rt_jw_free(&a);
        rt_jw_free(&b);
    }
    is_int(good, total, "random documents survive write -> parse -> write");
}

/* Random byte edits and truncations of a valid document: the parser returns a tree or an error, never
 * crashes, and an error always carries a byte offset inside the input. */
static void test_fuzz(void) {
    const char *seed = "{\"name\": \"caf\\u00e9 \\ud83d\\ude00\", \"n\": [1, -2.5e3, 0, true, false, null],"
                       " \"o\": {\"a\": {\"b\": []}, \"c\": \"\xc3\xa9\"}, \"big\": 123456789012345678901}";
    size_t len = strlen(seed);
    char buf[256];
    int parsed = 0, errors = 0, bad = 0;
    for (int it = 0; it < 5000; it++) {
        memcpy(buf, seed, len);
        size_t n = len;
        for (int e = (int)(rnd() % 3); e >= 0; e--) {
            uint64_t r = rnd();
            size_t at = (size_t)(r >> 8) % n;
            if (r % 4 == 0) n = at;
            else if (r % 4 == 1) buf[at] = (char)(r >> 40);
            else buf[at] = "{}[]\",:0123456789-+eE. \\ut"[(r >> 40) % 26];
            if (n == 0) break;
        }
        char err[256] = "";
        rt_json_doc *doc = rt_json_parse(buf, n, err, sizeof err);
        if (doc) parsed++;
        else {
            errors++;
            unsigned long long at = 0;
            if (sscanf(err, "byte %llu", &at) != 1 || at > n) bad++;
        }
        rt_json_free(doc);
    }
    diag("json fuzz: %d parsed, %d rejected", parsed, errors);
    ok(parsed > 0 && errors > 0, "fuzz: both outcomes seen");
    is_int(bad, 0, "fuzz: every error names a byte offset within the input");
}

static void test_file(void) {
    char path[] = "/tmp/iclc-json-XXXXXX", err[512];
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs("{\"cache\": [1, 2,\n 3,]}", f);
    fclose(f);
    rt_json_doc *doc = rt_json_parse_file(path, err, sizeof err);
    ok(!doc, "parse_file: a bad file is refused");
    like(err, "iclc-json-", "parse_file: message names the file");
    like(err, "(line 2, column 4): expected a JSON value, got ']'", "parse_file: message has line and column");
    f = fopen(path, "w");
    fputs("{\"cache\": [1, 2, 3]}\n", f);
    fclose(f);
    doc = rt_json_parse_file(path, err, sizeof err);
    ok(doc && rt_json_get(rt_json_root(doc), "cache")->count == 3, "parse_file: a good file parses");
    rt_json_free(doc);
    unlink(path);
    ok(!rt_json_parse_file(path, err, sizeof err), "parse_file: missing file refused");
    like(err, "cannot open: No such file or directory", "parse_file: missing file message");
}

int main(void) {
    test_values();
    test_numbers();
    test_strings();
    test_malformed();
    test_depth();
    test_large_object();
    test_writer();
    test_round_trip();
    test_fuzz();
    test_file();
    return done_testing();
}
