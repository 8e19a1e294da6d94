/* rt_json.c — strict JSON reader into an arena-owned tree, and an escaping JSON writer.
 *
 * Reader layout: a recursive-descent parser over the bytes. Every node, string and child array is
 * carved from the document's arena (a list of chunks), so rt_json_free() is one walk over the chunks.
 * While a container is being read its children sit on a scratch stack owned by the parser; when the
 * container closes, its slice of the stack is copied into the arena. Duplicate keys are found at that
 * point (pairwise for small objects, with a hash table for large ones).
 */
#include "runtime/rt_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

struct rt_json_doc {
    chunk *chunks;
    const rt_json *root;
};

/* n bytes of max_align_t-aligned memory owned by doc, or NULL. */
static void *arena_alloc(rt_json_doc *doc, size_t n) {
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0) n = align;
    chunk *c = doc->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : 4096;
        if (cap > ((size_t)1 << 24)) cap = (size_t)1 << 24;
        if (cap < n) cap = n;
        chunk *nc = malloc(sizeof(chunk) + cap);
        if (!nc) return NULL;
        nc->used = 0;
        nc->cap = cap;
        /* A big one-off block goes behind the current chunk so the current one keeps filling. */
        if (c && cap == n && c->cap - c->used >= align) {
            nc->next = c->next;
            c->next = nc;
            nc->used = n;
            return nc->data;
        }
        nc->next = c;
        doc->chunks = nc;
        c = nc;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

void rt_json_free(rt_json_doc *doc) {
    if (!doc) return;
    for (chunk *c = doc->chunks; c;) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

const rt_json *rt_json_root(const rt_json_doc *doc) { return doc ? doc->root : NULL; }

const char *rt_json_kind_name(rt_json_kind kind) {
    switch (kind) {
    case RT_JSON_NULL: return "null";
    case RT_JSON_BOOL: return "a boolean";
    case RT_JSON_NUMBER: return "a number";
    case RT_JSON_STRING: return "a string";
    case RT_JSON_ARRAY: return "an array";
    case RT_JSON_OBJECT: return "an object";
    }
    return "?";
}

const rt_json *rt_json_get(const rt_json *obj, const char *key) {
    if (!obj || obj->kind != RT_JSON_OBJECT || !key) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->count; i++)
        if (obj->key_lengths[i] == n && memcmp(obj->keys[i], key, n) == 0) return obj->items[i];
    return NULL;
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is invalid; the code point in *cp. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

bool rt_json_utf8_valid(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_decode(u + i, len - i, &cp);
        if (!k) return false;
        i += k;
    }
    return true;
}

/* Writes code point cp as UTF-8 into out (4 bytes room); returns the byte count. */
static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- parser ---- */

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    rt_json_doc *doc;
    rt_json **stack; /* children of the open containers; objects push key node, value node */
    size_t nstack, capstack;
    char *sbuf; /* scratch for decoding a string or copying a number */
    size_t scap;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} parser;

/* Records the first error, prefixed with the byte offset (and line, column) of `at`. */
static void fail_at(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_at(parser *p, size_t at, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = true;
    if (!p->err || p->errlen == 0) return;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        if (p->s[i] == '\n') { line++; col = 1; }
        else col++;
    }
    int k = snprintf(p->err, p->errlen, "byte %zu (line %zu, column %zu): ", at, line, col);
    if (k < 0 || (size_t)k >= p->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

/* A short description of the byte at pos for "got ..." messages. */
static const char *got(const parser *p, size_t pos, char buf[16]) {
    if (pos >= p->len) return "end of input";
    unsigned c = p->s[pos];
    if (c >= 0x20 && c < 0x7F) snprintf(buf, 16, "'%c'", (char)c);
    else snprintf(buf, 16, "byte 0x%02X", c);
    return buf;
}

static void expected(parser *p, const char *what) {
    char b[16];
    fail_at(p, p->pos, "expected %s, got %s", what, got(p, p->pos, b));
}

static void oom(parser *p) { fail_at(p, p->pos, "out of memory"); }

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static rt_json *new_node(parser *p, rt_json_kind kind, size_t offset) {
    rt_json *v = arena_alloc(p->doc, sizeof *v);
    if (!v) { oom(p); return NULL; }
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->offset = offset;
    return v;
}

static bool push(parser *p, rt_json *v) {
    if (p->nstack == p->capstack) {
        size_t cap = p->capstack ? p->capstack * 2 : 64;
        rt_json **ns = realloc(p->stack, cap * sizeof *ns);
        if (!ns) { oom(p); return false; }
        p->stack = ns;
        p->capstack = cap;
    }
    p->stack[p->nstack++] = v;
    return true;
}

static bool sbuf_reserve(parser *p, size_t n) {
    if (n <= p->scap) return true;
    size_t cap = p->scap ? p->scap : 256;
    while (cap < n) cap *= 2;
    char *nb = realloc(p->sbuf, cap);
    if (!nb) { oom(p); return false; }
    p->sbuf = nb;
    p->scap = cap;
    return true;
}

static int hexval(unsigned c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Reads 4 hex digits at p->pos into *v. */
static bool hex4(parser *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = p->pos < p->len ? hexval(p->s[p->pos]) : -1;
        if (h < 0) { expected(p, "4 hex digits after \\u"); return false; }
        *v = *v << 4 | (uint32_t)h;
        p->pos++;
    }
    return true;
}

/* Reads a string at p->pos (which is '"') into a new arena copy; its length in *outlen. */
static const char *parse_string_raw(parser *p, size_t *outlen) {
    size_t start = p->pos++;
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) {
            fail_at(p, start, "unterminated string (end of input inside it)");
            return NULL;
        }
        if (!sbuf_reserve(p, n + 5)) return NULL;
        unsigned c = p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) {
            fail_at(p, p->pos, "raw control character 0x%02X inside a string (use an escape)", c);
            return NULL;
        }
        if (c == '\\') {
            size_t esc = p->pos++;
            if (p->pos >= p->len) { fail_at(p, start, "unterminated string (end of input inside it)"); return NULL; }
            unsigned e = p->s[p->pos++];
            switch (e) {
            case '"': p->sbuf[n++] = '"'; break;
            case '\\': p->sbuf[n++] = '\\'; break;
            case '/': p->sbuf[n++] = '/'; break;
            case 'b': p->sbuf[n++] = '\b'; break;
            case 'f': p->sbuf[n++] = '\f'; break;
            case 'n': p->sbuf[n++] = '\n'; break;
            case 'r': p->sbuf[n++] = '\r'; break;
            case 't': p->sbuf[n++] = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (!hex4(p, &cp)) return NULL;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    fail_at(p, esc, "lone low surrogate \\u%04X in a string", (unsigned)cp);
                    return NULL;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (p->pos + 1 >= p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                        fail_at(p, esc, "high surrogate \\u%04X not followed by a \\u low surrogate", (unsigned)cp);
                        return NULL;
                    }
                    p->pos += 2;
                    if (!hex4(p, &lo)) return NULL;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        fail_at(p, esc, "high surrogate \\u%04X followed by \\u%04X, not a low surrogate",
                                (unsigned)cp, (unsigned)lo);
                        return NULL;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                n += utf8_encode(cp, p->sbuf + n);
                break;
            }
            default: {
                char b[16];
                fail_at(p, esc, "invalid escape \\%s in a string", got(p, p->pos - 1, b));
                return NULL;
            }
            }
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode(p->s + p->pos, p->len - p->pos, &cp);
        if (!k) {
            fail_at(p, p->pos, "invalid UTF-8 byte 0x%02X inside a string", c);
            return NULL;
        }
        memcpy(p->sbuf + n, p->s + p->pos, k);
        n += k;
        p->pos += k;
    }
    char *out = arena_alloc(p->doc, n + 1);
    if (!out) { oom(p); return NULL; }
    memcpy(out, p->sbuf, n);
    out[n] = '\0';
    *outlen = n;
    return out;
}

static bool is_digit(parser *p, size_t i) { return i < p->len && p->s[i] >= '0' && p->s[i] <= '9'; }

/* Reads a number per the RFC 8259 grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static rt_json *parse_number(parser *p) {
    size_t start = p->pos, i = p->pos;
    bool neg = false, integral = true;
    if (i < p->len && p->s[i] == '-') { neg = true; i++; }
    if (!is_digit(p, i)) { p->pos = i; expected(p, "a digit"); return NULL; }
    if (p->s[i] == '0') {
        i++;
        if (is_digit(p, i)) { fail_at(p, start, "number with a leading zero"); return NULL; }
    } else {
        while (is_digit(p, i)) i++;
    }
    size_t int_end = i;
    if (i < p->len && p->s[i] == '.') {
        integral = false;
        i++;
        if (!is_digit(p, i)) { p->pos = i; expected(p, "a digit after the decimal point"); return NULL; }
        while (is_digit(p, i)) i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        integral = false;
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (!is_digit(p, i)) { p->pos = i; expected(p, "a digit in the exponent"); return NULL; }
        while (is_digit(p, i)) i++;
    }
    p->pos = i;

    rt_json *v = new_node(p, RT_JSON_NUMBER, start);
    if (!v) return NULL;
    size_t n = i - start;
    if (!sbuf_reserve(p, n + 1)) return NULL;
    memcpy(p->sbuf, p->s + start, n);
    p->sbuf[n] = '\0';
    errno = 0;
    v->number = strtod(p->sbuf, NULL);
    if (isinf(v->number)) { fail_at(p, start, "number %s is out of the range of a double", p->sbuf); return NULL; }

    if (integral) {
        /* Exact int64 when it fits: digits accumulated as a magnitude with an overflow check. */
        uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        bool fits = true;
        for (size_t k = start + (neg ? 1 : 0); k < int_end; k++) {
            unsigned d = p->s[k] - '0';
            if (mag > (limit - d) / 10) { fits = false; break; }
            mag = mag * 10 + d;
        }
        if (fits) {
            v->is_int = true;
            v->integer = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
        }
    } else if (v->number == trunc(v->number) && fabs(v->number) <= 9007199254740992.0) {
        /* 2.0 or 1e3: integral and exact in a double (|v| <= 2^53), so exact as int64 too. */
        v->is_int = true;
        v->integer = (int64_t)v->number;
    }
    return v;
}

/* Matches the literal word at p->pos. */
static bool literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        char what[32];
        snprintf(what, sizeof what, "'%s'", word);
        expected(p, what);
        return false;
    }
    p->pos += n;
    return true;
}

static rt_json *parse_value(parser *p);

/* Copies the top `n` stack entries into an arena array. */
static const rt_json *const *pop_items(parser *p, size_t base, size_t n, size_t stride, size_t first) {
    rt_json **arr = arena_alloc(p->doc, (n ? n : 1) * sizeof *arr);
    if (!arr) { oom(p); return NULL; }
    for (size_t i = 0; i < n; i++) arr[i] = p->stack[base + i * stride + first];
    return (const rt_json *const *)arr;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Index of a key that repeats an earlier one in obj, or (size_t)-1. Sets an OOM error on failure. */
static size_t find_duplicate(parser *p, const rt_json *obj) {
    size_t n = obj->count;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (obj->key_lengths[i] == obj->key_lengths[j] &&
                    memcmp(obj->keys[i], obj->keys[j], obj->key_lengths[i]) == 0)
                    return i;
        return (size_t)-1;
    }
    size_t cap = 32;
    while (cap < 2 * n) cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot);
    if (!slot) { oom(p); return (size_t)-1; }
    for (size_t i = 0; i < cap; i++) slot[i] = (size_t)-1;
    size_t dup = (size_t)-1;
    for (size_t i = 0; i < n && dup == (size_t)-1; i++) {
        size_t h = (size_t)hash_bytes(obj->keys[i], obj->key_lengths[i]) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            size_t j = slot[h];
            if (j == (size_t)-1) { slot[h] = i; break; }
            if (obj->key_lengths[i] == obj->key_lengths[j] &&
                memcmp(obj->keys[i], obj->keys[j], obj->key_lengths[i]) == 0) { dup = i; break; }
        }
    }
    free(slot);
    return dup;
}

static rt_json *parse_array(parser *p) {
    rt_json *v = new_node(p, RT_JSON_ARRAY, p->pos);
    if (!v) return NULL;
    p->pos++; /* '[' */
    size_t base = p->nstack;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            rt_json *e = parse_value(p);
            if (!e || !push(p, e)) return NULL;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->pos < p->len && p->s[p->pos] == ']') { p->pos++; break; }
            expected(p, "',' or ']' in an array");
            return NULL;
        }
    }
    v->count = p->nstack - base;
    v->items = pop_items(p, base, v->count, 1, 0);
    p->nstack = base;
    return v->items ? v : NULL;
}

static rt_json *parse_object(parser *p) {
    rt_json *v = new_node(p, RT_JSON_OBJECT, p->pos);
    if (!v) return NULL;
    p->pos++; /* '{' */
    size_t base = p->nstack;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') { expected(p, "a string key in an object"); return NULL; }
            rt_json *k = new_node(p, RT_JSON_STRING, p->pos);
            if (!k) return NULL;
            k->string = parse_string_raw(p, &k->length);
            if (!k->string || !push(p, k)) return NULL;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') { expected(p, "':' after an object key"); return NULL; }
            p->pos++;
            skip_ws(p);
            rt_json *e = parse_value(p);
            if (!e || !push(p, e)) return NULL;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->pos < p->len && p->s[p->pos] == '}') { p->pos++; break; }
            expected(p, "',' or '}' in an object");
            return NULL;
        }
    }
    size_t n = (p->nstack - base) / 2;
    v->count = n;
    v->items = pop_items(p, base, n, 2, 1);
    const char **keys = arena_alloc(p->doc, (n ? n : 1) * sizeof *keys);
    size_t *lens = arena_alloc(p->doc, (n ? n : 1) * sizeof *lens);
    if (!v->items || !keys || !lens) { oom(p); return NULL; }
    for (size_t i = 0; i < n; i++) {
        keys[i] = p->stack[base + 2 * i]->string;
        lens[i] = p->stack[base + 2 * i]->length;
    }
    v->keys = keys;
    v->key_lengths = lens;
    size_t dup = find_duplicate(p, v);
    if (p->failed) return NULL;
    if (dup != (size_t)-1) {
        fail_at(p, p->stack[base + 2 * dup]->offset, "duplicate key \"%.*s\" in an object",
                (int)(lens[dup] > 200 ? 200 : lens[dup]), keys[dup]);
        return NULL;
    }
    p->nstack = base;
    return v;
}

static rt_json *parse_value(parser *p) {
    if (p->pos >= p->len) { expected(p, "a JSON value"); return NULL; }
    size_t at = p->pos;
    switch (p->s[p->pos]) {
    case '{':
    case '[': {
        if (p->depth >= RT_JSON_MAX_DEPTH) {
            fail_at(p, at, "nesting deeper than %d levels", RT_JSON_MAX_DEPTH);
            return NULL;
        }
        p->depth++;
        rt_json *v = p->s[at] == '{' ? parse_object(p) : parse_array(p);
        p->depth--;
        return v;
    }
    case '"': {
        rt_json *v = new_node(p, RT_JSON_STRING, at);
        if (!v) return NULL;
        v->string = parse_string_raw(p, &v->length);
        return v->string ? v : NULL;
    }
    case 't':
    case 'f': {
        bool b = p->s[at] == 't';
        if (!literal(p, b ? "true" : "false")) return NULL;
        rt_json *v = new_node(p, RT_JSON_BOOL, at);
        if (v) v->boolean = b;
        return v;
    }
    case 'n': {
        if (!literal(p, "null")) return NULL;
        return new_node(p, RT_JSON_NULL, at);
    }
    default:
        if (p->s[at] == '-' || (p->s[at] >= '0' && p->s[at] <= '9')) return parse_number(p);
        expected(p, "a JSON value");
        return NULL;
    }
}

rt_json_doc *rt_json_parse(const char *text, size_t len, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    parser p = {.s = (const unsigned char *)text, .len = text ? len : 0, .err = err, .errlen = errlen};
    p.doc = calloc(1, sizeof *p.doc);
    if (!p.doc) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    skip_ws(&p);
    const rt_json *root = parse_value(&p);
    if (root) {
        skip_ws(&p);
        if (p.pos < p.len) {
            char b[16];
            fail_at(&p, p.pos, "unexpected %s after the JSON value", got(&p, p.pos, b));
        }
    }
    free(p.stack);
    free(p.sbuf);
    if (!root || p.failed) {
        if (!p.failed && err && errlen) snprintf(err, errlen, "invalid JSON");
        rt_json_free(p.doc);
        return NULL;
    }
    p.doc->root = root;
    return p.doc;
}

rt_json_doc *rt_json_parse_file(const char *path, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool okay = true;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) { okay = false; errno = ENOMEM; break; }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0) {
            okay = !ferror(f);
            break;
        }
    }
    int e = errno;
    fclose(f);
    if (!okay) {
        if (err && errlen) snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
        free(buf);
        return NULL;
    }
    char perr[256];
    rt_json_doc *doc = rt_json_parse(buf, len, perr, sizeof perr);
    free(buf);
    if (!doc && err && errlen) snprintf(err, errlen, "%s: %s", path, perr);
    return doc;
}

/* ---- writer ---- */

void rt_jw_init(rt_jw *w, int indent) {
    memset(w, 0, sizeof *w);
    w->indent = indent < 0 ? 0 : indent;
}

void rt_jw_free(rt_jw *w) {
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

static void put(rt_jw *w, const char *s, size_t n) {
    if (w->failed) return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1) cap *= 2;
        char *nb = realloc(w->buf, cap);
        if (!nb) { w->failed = true; return; }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void puts_(rt_jw *w, const char *s) { put(w, s, strlen(s)); }

static void newline(rt_jw *w) {
    if (!w->indent) return;
    put(w, "\n", 1);
    for (int i = 0; i < w->depth * w->indent; i++) put(w, " ", 1);
}

/* Places the separator before a value (or key) and checks that one is allowed here. */
static void before_value(rt_jw *w, bool is_key) {
    if (w->failed) return;
    if (w->want_value) {
        if (is_key) { w->failed = true; return; }
        w->want_value = false;
        return;
    }
    if (w->depth == 0) {
        if (w->len > 0 || is_key) w->failed = true; /* one top-level value only */
        return;
    }
    if ((w->kind[w->depth] == 'o') != is_key) { w->failed = true; return; }
    if (w->count[w->depth]) put(w, ",", 1);
    w->count[w->depth] = 1;
    newline(w);
}

static void begin(rt_jw *w, char kind) {
    before_value(w, false);
    if (w->failed) return;
    if (w->depth >= RT_JSON_MAX_DEPTH) { w->failed = true; return; }
    put(w, kind == 'o' ? "{" : "[", 1);
    w->depth++;
    w->kind[w->depth] = (unsigned char)kind;
    w->count[w->depth] = 0;
}

static void end(rt_jw *w, char kind) {
    if (w->failed) return;
    if (w->depth == 0 || w->kind[w->depth] != kind || w->want_value) { w->failed = true; return; }
    bool had = w->count[w->depth];
    w->depth--;
    if (had) newline(w);
    put(w, kind == 'o' ? "}" : "]", 1);
}

void rt_jw_begin_object(rt_jw *w) { begin(w, 'o'); }
void rt_jw_end_object(rt_jw *w) { end(w, 'o'); }
void rt_jw_begin_array(rt_jw *w) { begin(w, 'a'); }
void rt_jw_end_array(rt_jw *w) { end(w, 'a'); }

/* Writes s as a quoted, escaped JSON string. */
static void quoted(rt_jw *w, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    put(w, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t k = 1;
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\t') esc = "\\t";
        else if (c == '\r') esc = "\\r";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c < 0x20) {
            memcpy(ubuf, "\\u00", 4);
            ubuf[4] = hex[c >> 4];
            ubuf[5] = hex[c & 15];
            ubuf[6] = '\0';
            esc = ubuf;
        } else if (c >= 0x80) {
            uint32_t cp;
            k = utf8_decode(u + i, n - i, &cp);
            if (!k) { esc = "\xEF\xBF\xBD"; k = 1; } /* U+FFFD for an invalid byte */
        }
        if (esc) {
            put(w, s + run, i - run);
            puts_(w, esc);
            run = i + k;
        }
        i += k;
    }
    put(w, s + run, n - run);
    put(w, "\"", 1);
}

void rt_jw_key_n(rt_jw *w, const char *key, size_t len) {
    before_value(w, true);
    if (w->failed) return;
    quoted(w, key, len);
    put(w, w->indent ? ": " : ":", w->indent ? 2 : 1);
    w->want_value = true;
}

void rt_jw_key(rt_jw *w, const char *key) { rt_jw_key_n(w, key, strlen(key)); }

void rt_jw_string_n(rt_jw *w, const char *s, size_t len) {
    before_value(w, false);
    if (!w->failed) quoted(w, s, len);
}

void rt_jw_string(rt_jw *w, const char *s) { rt_jw_string_n(w, s, strlen(s)); }

void rt_jw_int(rt_jw *w, int64_t v) {
    before_value(w, false);
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    puts_(w, b);
}

void rt_jw_double(rt_jw *w, double v) {
    before_value(w, false);
    if (!isfinite(v)) { puts_(w, "null"); return; }
    char b[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    puts_(w, b);
}

void rt_jw_bool(rt_jw *w, bool v) {
    before_value(w, false);
    puts_(w, v ? "true" : "false");
}

void rt_jw_null(rt_jw *w) {
    before_value(w, false);
    puts_(w, "null");
}

void rt_jw_value(rt_jw *w, const rt_json *v) {
    if (!v) { w->failed = true; return; }
    switch (v->kind) {
    case RT_JSON_NULL: rt_jw_null(w); break;
    case RT_JSON_BOOL: rt_jw_bool(w, v->boolean); break;
    case RT_JSON_NUMBER:
        if (v->is_int) rt_jw_int(w, v->integer);
        else rt_jw_double(w, v->number);
        break;
    case RT_JSON_STRING: rt_jw_string_n(w, v->string, v->length); break;
    case RT_JSON_ARRAY:
        rt_jw_begin_array(w);
        for (size_t i = 0; i < v->count; i++) rt_jw_value(w, v->items[i]);
        rt_jw_end_array(w);
        break;
    case RT_JSON_OBJECT:
        rt_jw_begin_object(w);
        for (size_t i = 0; i < v->count; i++) {
            rt_jw_key_n(w, v->keys[i], v->key_lengths[i]);
            rt_jw_value(w, v->items[i]);
        }
        rt_jw_end_object(w);
        break;
    }
}

const char *rt_jw_result(const rt_jw *w, size_t *len) {
    if (w->failed || w->depth != 0 || w->want_value || w->len == 0) return NULL;
    if (len) *len = w->len;
    return w->buf;
}
