/* test_safetensors.c — runtime/rt_safetensors: round trips, writer errors, a table of malformed files
 * (each with the message it must produce), truncated files on disk, a numpy oracle in both directions
 * (tests/reference/safetensors_check.py) and random corruption that must never crash. */
#include "runtime/rt_safetensors.h"
#include "tests/tap.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PY "/usr/bin/python3"
#define ORACLE ICLC_SOURCE_DIR "/tests/reference/safetensors_check.py"

static char dir[64];

/* dir/name into a static buffer (one at a time). */
static const char *tmp_path(const char *name) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* Number of entries in the temporary directory (temporary files left behind show up here). */
static int dir_entries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
}

static uint32_t crc32(const void *data, size_t n) {
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- round trips ---- */

static void test_round_trip(void) {
    float w[6] = {1, -2, 3.5f, 1e-30f, -0.0f, 65504}, b[3] = {0.25f, 0.5f, 0.75f}, s = 42;
    rt_st_tensor t[] = {
        {.name = "layer.weight", .dtype = RT_ST_F32, .rank = 2, .shape = {2, 3}, .data = w},
        {.name = "layer.bias", .dtype = RT_ST_F32, .rank = 1, .shape = {3}, .data = b},
        {.name = "scalar", .dtype = RT_ST_F32, .rank = 0, .data = &s},
        {.name = "empty", .dtype = RT_ST_F32, .rank = 2, .shape = {0, 5}, .data = NULL},
    };
    rt_st_kv meta[] = {{"step", "100"}, {"config", "{\"d\": 20, \"name\": \"caf\xc3\xa9\"}"}};
    char err[512];
    const char *path = tmp_path("rt.safetensors");
    ok(rt_st_write(path, t, 4, meta, 2, err, sizeof err), "write 4 tensors + 2 metadata entries");
    is_int(dir_entries(), 1, "no temporary file left behind");
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | bytes[i];
    ok(hlen % 8 == 0 && len % 8 == 0, "header padded to a multiple of 8 (header %llu, file %zu)",
       (unsigned long long)hlen, len);
    is_int((long long)len, (long long)(8 + hlen + sizeof w + sizeof b + sizeof s), "file size = 8 + header + data");
    ok(bytes[8 + hlen - 1] == ' ' || bytes[8 + hlen - 1] == '}', "header ends in '}' or padding spaces");
    free(bytes);

    rt_st_file *f = rt_st_open(path, err, sizeof err);
    ok(f != NULL, "read back");
    if (!f) { diag("%s", err); return; }
    is_int((long long)rt_st_count(f), 4, "4 tensors");
    is_str(rt_st_at(f, 0)->name, "layer.weight", "file order 0");
    is_str(rt_st_at(f, 3)->name, "empty", "file order 3");
    ok(rt_st_at(f, 4) == NULL, "index past the end -> NULL");
    const rt_st_tensor *x = rt_st_find(f, "layer.weight");
    ok(x && x->dtype == RT_ST_F32 && x->rank == 2 && x->shape[0] == 2 && x->shape[1] == 3 && x->numel == 6 &&
           x->nbytes == 24,
       "weight: dtype, shape, numel, nbytes");
    ok(x && memcmp(x->data, w, sizeof w) == 0, "weight bytes identical (incl. -0 and denormal-ish)");
    ok(x && (uintptr_t)x->data % 4 == 0, "weight data aligned");
    x = rt_st_find(f, "layer.bias");
    ok(x && x->numel == 3 && memcmp(x->data, b, sizeof b) == 0, "bias bytes identical");
    x = rt_st_find(f, "scalar");
    ok(x && x->rank == 0 && x->numel == 1 && x->nbytes == 4 && *(const float *)x->data == 42, "rank-0 scalar");
    x = rt_st_find(f, "empty");
    ok(x && x->rank == 2 && x->shape[0] == 0 && x->shape[1] == 5 && x->numel == 0 && x->nbytes == 0,
       "empty tensor [0, 5]");
    ok(rt_st_find(f, "nope") == NULL && rt_st_find(f, "layer") == NULL, "absent names -> NULL");
    is_int((long long)rt_st_meta_count(f), 2, "2 metadata entries");
    is_str(rt_st_meta(f, "step"), "100", "metadata lookup");
    is_str(rt_st_meta(f, "config"), meta[1].value, "metadata with quotes and UTF-8");
    is_str(rt_st_meta_at(f, 1).key, "config", "metadata in header order");
    ok(rt_st_meta(f, "absent") == NULL, "absent metadata -> NULL");
    rt_st_close(f);

    /* Overwriting is atomic and complete: the new content replaces the old. */
    s = 7;
    ok(rt_st_write(path, &t[2], 1, NULL, 0, err, sizeof err), "overwrite with one tensor, no metadata");
    f = rt_st_open(path, err, sizeof err);
    ok(f && rt_st_count(f) == 1 && rt_st_meta_count(f) == 0 && *(const float *)rt_st_at(f, 0)->data == 7,
       "overwritten file has the new content");
    rt_st_close(f);

    ok(rt_st_write(path, NULL, 0, NULL, 0, err, sizeof err), "write a file with no tensors");
    bytes = slurp(path, &len);
    ok(len == 16 && memcmp(bytes + 8, "{}      ", 8) == 0, "no tensors: header \"{}\" padded to 8");
    free(bytes);
    f = rt_st_open(path, err, sizeof err);
    ok(f && rt_st_count(f) == 0, "a file with no tensors reads back");
    rt_st_close(f);
    rt_st_close(NULL);
    unlink(path);
}

static void test_unicode_and_dtypes(void) {
    static const char *names[] = {"na\xc3\xafve.\xe6\x9d\x83\xe9\x87\x8d", "emoji.\xf0\x9f\x99\x82",
                                  "quote\"back\\slash", "tab\there\nnewline", "__metadata", "a/b c"};
    uint8_t u8[3] = {1, 2, 255};
    int64_t i64[2] = {-5, INT64_MAX};
    float f32[2] = {1.5f, -2.5f};
    uint16_t bf16[3] = {0x3f80, 0xc000, 0x7f80};
    rt_st_tensor t[] = {
        {.name = names[0], .dtype = RT_ST_U8, .rank = 1, .shape = {3}, .data = u8},
        {.name = names[1], .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = f32}, /* offset 3: unaligned */
        {.name = names[2], .dtype = RT_ST_I64, .rank = 2, .shape = {1, 2}, .data = i64},
        {.name = names[3], .dtype = RT_ST_BF16, .rank = 6, .shape = {1, 1, 3, 1, 1, 1}, .data = bf16},
        {.name = names[4], .dtype = RT_ST_F32, .rank = 1, .shape = {0}, .data = NULL},
        {.name = names[5], .dtype = RT_ST_F32, .rank = 0, .data = f32},
    };
    char err[512];
    const char *path = tmp_path("uni.safetensors");
    ok(rt_st_write(path, t, 6, NULL, 0, err, sizeof err), "write unicode names and mixed dtypes");
    rt_st_file *f = rt_st_open(path, err, sizeof err);
    ok(f && rt_st_count(f) == 6, "read back");
    if (!f) { diag("%s", err); return; }
    int found = 0;
    for (int i = 0; i < 6; i++) {
        const rt_st_tensor *x = rt_st_find(f, names[i]);
        found += x && x == rt_st_at(f, (size_t)i) && x->dtype == t[i].dtype && x->rank == t[i].rank &&
                 (x->nbytes == 0 || memcmp(x->data, t[i].data, x->nbytes) == 0);
    }
    is_int(found, 6, "every name found, dtypes and bytes identical");
    const rt_st_tensor *x = rt_st_find(f, names[1]);
    ok(x && (uintptr_t)x->data % 4 == 0, "F32 at data offset 3 is handed out aligned");
    is_int((long long)rt_st_dtype_size(RT_ST_BF16), 2, "BF16 size");
    is_str(rt_st_dtype_name(RT_ST_I64), "I64", "I64 name");
    is_str(rt_st_dtype_name(RT_ST_NDTYPES), "?", "out-of-range dtype name");
    rt_st_close(f);
    unlink(path);
}

static void test_many(void) {
    enum { N = 1000 };
    static float data[N * 7];
    static char names[N][32];
    static rt_st_tensor t[N];
    for (int i = 0; i < N * 7; i++) data[i] = (float)i * 0.001f;
    size_t at = 0;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "blocks.%d.mix.w%d", i / 10, i % 10);
        int n = i % 8; /* 0..7 elements */
        t[i] = (rt_st_tensor){.name = names[i], .dtype = RT_ST_F32, .rank = 1, .shape = {n}, .data = data + at};
        at += (size_t)n;
    }
    char err[512];
    const char *path = tmp_path("many.safetensors");
    ok(rt_st_write(path, t, N, NULL, 0, err, sizeof err), "write %d tensors", N);
    rt_st_file *f = rt_st_open(path, err, sizeof err);
    int good = 0;
    for (int i = 0; f && i < N; i++) {
        const rt_st_tensor *x = rt_st_find(f, names[i]);
        good += x == rt_st_at(f, (size_t)i) && x->numel == t[i].shape[0] &&
                (x->nbytes == 0 || memcmp(x->data, t[i].data, x->nbytes) == 0);
    }
    is_int(good, N, "all %d tensors found in order with their bytes", N);
    rt_st_close(f);
    unlink(path);
}

static void test_write_errors(void) {
    static float v[2] = {1, 2};
    char err[512];
    const char *path = tmp_path("keep.safetensors");
    rt_st_tensor good = {.name = "x", .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = v};
    ok(rt_st_write(path, &good, 1, NULL, 0, err, sizeof err), "write the file to keep");
    static const struct {
        rt_st_tensor t[2];
        int n;
        const char *want;
    } cases[] = {
        {{{.name = "a", .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = v},
          {.name = "a", .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = v}}, 2, "duplicate tensor name 'a'"},
        {{{.name = "", .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = v}}, 1, "tensor 0 has no name"},
        {{{.name = NULL, .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = v}}, 1, "tensor 0 has no name"},
        {{{.name = "__metadata__", .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = v}}, 1, "is reserved"},
        {{{.name = "bad\xff", .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = v}}, 1, "not valid UTF-8"},
        {{{.name = "n", .dtype = RT_ST_F32, .rank = 1, .shape = {2}, .data = NULL}}, 1, "tensor 'n': data is NULL"},
        {{{.name = "r", .dtype = RT_ST_F32, .rank = 7, .shape = {1}, .data = v}}, 1, "rank 7 is outside 0..6"},
        {{{.name = "r", .dtype = RT_ST_F32, .rank = -1, .shape = {1}, .data = v}}, 1, "rank -1 is outside"},
        {{{.name = "d", .dtype = RT_ST_F32, .rank = 2, .shape = {2, -1}, .data = v}}, 1, "shape[1] is negative"},
        {{{.name = "o", .dtype = RT_ST_F32, .rank = 2, .shape = {INT64_MAX, 2}, .data = v}}, 1, "shape overflows"},
        {{{.name = "t", .dtype = RT_ST_NDTYPES, .rank = 1, .shape = {2}, .data = v}}, 1, "unknown dtype"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        ok(!rt_st_write(path, cases[i].t, (size_t)cases[i].n, NULL, 0, err, sizeof err), "bad write %zu refused", i);
        like(err, cases[i].want, "bad write %zu message", i);
    }
    rt_st_kv dup[] = {{"k", "1"}, {"k", "2"}};
    ok(!rt_st_write(path, &good, 1, dup, 2, err, sizeof err), "duplicate metadata key refused");
    like(err, "duplicate metadata key 'k'", "duplicate metadata key message");
    rt_st_kv badm[] = {{"k", "\xc3"}};
    ok(!rt_st_write(path, &good, 1, badm, 1, err, sizeof err), "invalid UTF-8 metadata refused");
    like(err, "keep.safetensors: metadata entry 'k' is not valid UTF-8", "metadata message names the file");
    ok(!rt_st_write("/nonexistent-dir-iclc/w.safetensors", &good, 1, NULL, 0, err, sizeof err),
       "missing directory refused");
    like(err, "cannot create a temporary file", "missing directory message");
    rt_st_file *f = rt_st_open(path, err, sizeof err);
    ok(f && rt_st_count(f) == 1 && memcmp(rt_st_at(f, 0)->data, v, sizeof v) == 0,
       "failed writes left the existing file untouched");
    rt_st_close(f);
    is_int(dir_entries(), 1, "failed writes left no temporary file");
    unlink(path);
}

/* ---- malformed files ---- */

/* 8-byte length + header + dlen data bytes (0, 1, 2, ...). */
static unsigned char *build(const char *header, size_t hlen, size_t dlen, size_t *len) {
    *len = 8 + hlen + dlen;
    unsigned char *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, header, hlen);
    for (size_t i = 0; i < dlen; i++) b[8 + hlen + i] = (unsigned char)i;
    return b;
}

#define A8 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

static void test_malformed(void) {
    static const struct {
        const char *header;
        size_t dlen;
        const char *want;
    } cases[] = {
        /* sanity: the base case is accepted (want NULL) */
        {"{" A8 ",\"b\":{\"dtype\":\"F32\",\"shape\":[1,3],\"data_offsets\":[8,20]}}", 20, NULL},
        {"\x01\x02garbage", 0, "m.st: header is not valid JSON: byte 0 (line 1, column 1): expected a JSON value"},
        {"not json at all", 0, "header is not valid JSON"},
        {"{\"a\":", 0, "header is not valid JSON: byte 5"},
        {"[1, 2]", 0, "header is an array, expected a JSON object"},
        {"\"str\"", 0, "header is a string, expected a JSON object"},
        {" {" A8 "}", 8, "header must begin with '{' (found byte 0x20)"},
        {"{" A8 "} x", 8, "unexpected 'x' after the JSON value"},
        {"{" A8 "}", 12, "4 trailing bytes after the last tensor's data (data section is 12 bytes, tensors cover 8)"},
        {"{}", 4, "4 trailing bytes"},
        {"{\"a\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': unknown dtype \"F31\""},
        {"{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype \"f32\""},
        {"{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': dtype is a number"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
         "tensor 'a': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8"},
        {"{\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "shape [2] of I64 needs 16 bytes"},
        {"{" A8 ",\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[4,16]}}", 16,
         "tensor 'b': data_offsets [4, 16] overlap tensor 'a' [0, 8]"},
        {"{" A8 ",\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8, "tensor 'z': data_offsets [4, 4] overlap"},
        {"{" A8 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlap tensor 'a'"},
        {"{" A8 ",\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]}}", 16,
         "tensor 'b': data_offsets [8, 20] are out of range: the data section has 16 bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[100,100]}}", 0, "are out of range"},
        {"{" A8 ",\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]}}", 24,
         "hole in the data section: bytes [8, 12) belong to no tensor (before tensor 'b')"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "bytes [0, 4) belong to no tensor"},
        {"{" A8 "," A8 "}", 8, "duplicate key \"a\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
         "tensor 'a': shape [4294967296, 4294967296] overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775807],\"data_offsets\":[0,0]}}", 0, "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}}", 0,
         "shape[0] is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "shape[0] is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 0, "shape[0] is not a non-negative"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "shape[0] is not a non-negative"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "shape is a number, expected an array"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
         "shape has rank 7, more than the supported 6"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "data_offsets [8, 0] end before they begin"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets must be an array [begin, end]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, "data_offsets must be an array"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "two non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e30]}}", 8, "two non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor 'a': missing \"data_offsets\""},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': missing \"dtype\""},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "tensor 'a': missing \"shape\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "tensor 'a': unknown field \"x\""},
        {"{\"a\":\"F32\"}", 0, "tensor 'a': entry is a string, expected an object"},
        {"{\"a\":[]}", 0, "tensor 'a': entry is an array"},
        {"{\"__metadata__\":[]}", 0, "\"__metadata__\" is an array, expected an object of strings"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "\"__metadata__\" entry 'k' is a number, expected a string"},
        {"{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, "contains a NUL character"},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "a tensor has an empty name"},
        {"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "name contains a NUL character"},
        {"{\"\xff\":{}}", 0, "invalid UTF-8 byte 0xFF"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\\u0000\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "tensor 'a': unknown field \"dtype\""},
        {"{\"__metadata__\":{},\"__metadata__\\u0000\":{}}", 0, "tensor '__metadata__': name contains a NUL"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, "expected a string key"},
        {"{\"a\":{\"b\":{\"c\":{\"d\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
         0, "nesting deeper than 128 levels"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        unsigned char *b = build(cases[i].header, strlen(cases[i].header), cases[i].dlen, &len);
        char err[512] = "";
        rt_st_file *f = rt_st_parse(b, len, "m.st", err, sizeof err);
        if (!cases[i].want) {
            ok(f != NULL, "malformed table base case %zu accepted", i);
            if (!f) diag("%s", err);
        } else {
            ok(f == NULL, "malformed %zu rejected", i);
            like(err, cases[i].want, "malformed %zu: %.60s", i, cases[i].want);
            like(err, "m.st: ", "malformed %zu: message names the file", i);
        }
        rt_st_close(f);
        free(b);
    }

    /* Header-length field problems, built by hand. */
    char err[512];
    unsigned char b[64] = {0};
    ok(!rt_st_parse(b, 0, "m.st", err, sizeof err), "0-byte file rejected");
    like(err, "m.st: file is 0 bytes, too short for the 8-byte header length", "0-byte file message");
    ok(!rt_st_parse(b, 7, "m.st", err, sizeof err), "7-byte file rejected");
    like(err, "file is 7 bytes", "7-byte file message");
    ok(!rt_st_parse(b, 8, "m.st", err, sizeof err), "header length 0 rejected");
    like(err, "header length is 0", "header length 0 message");
    b[0] = 100;
    ok(!rt_st_parse(b, 20, "m.st", err, sizeof err), "header length past the end rejected");
    like(err, "header length 100 is larger than the rest of the file (12 bytes)", "header length past the end message");
    memset(b, 0xff, 8);
    ok(!rt_st_parse(b, 20, "m.st", err, sizeof err), "header length 2^64-1 rejected");
    like(err, "header length 18446744073709551615 is larger", "huge header length message");
}

/* A valid file on disk, truncated at several points, must be refused naming the file. */
static void test_truncated_files(void) {
    float v[4] = {1, 2, 3, 4};
    rt_st_tensor t[] = {{.name = "w", .dtype = RT_ST_F32, .rank = 2, .shape = {2, 2}, .data = v}};
    rt_st_kv m[] = {{"k", "v"}};
    char err[512];
    const char *path = tmp_path("trunc.safetensors");
    ok(rt_st_write(path, t, 1, m, 1, err, sizeof err), "write the file to truncate");
    size_t len;
    unsigned char *full = slurp(path, &len);
    size_t hend = len - sizeof v;
    static const struct {
        int cut; /* bytes kept; negative: relative to the end of the header */
        const char *want;
    } cuts[] = {
        {0, "file is 0 bytes"},       {5, "file is 5 bytes"},
        {8, "is larger than the rest of the file (0 bytes)"},
        {20, "is larger than the rest of the file (12 bytes)"},
        {-1, "is larger than the rest of the file"},
        {-1000 + 3, "tensor 'w': data_offsets [0, 16] are out of range: the data section has 3 bytes"},
        {-1000 + 15, "data section has 15 bytes"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t keep = cuts[i].cut >= 0 ? (size_t)cuts[i].cut
                      : cuts[i].cut == -1 ? hend - 1
                                          : hend + (size_t)(cuts[i].cut + 1000);
        spit(path, full, keep);
        err[0] = '\0';
        rt_st_file *f = rt_st_open(path, err, sizeof err);
        ok(f == NULL, "truncated to %zu of %zu bytes: refused", keep, len);
        like(err, cuts[i].want, "truncated to %zu bytes: message", keep);
        like(err, path, "truncated to %zu bytes: message names the file", keep);
        rt_st_close(f);
    }
    /* Appended garbage is refused too. */
    unsigned char *more = malloc(len + 3);
    memcpy(more, full, len);
    memcpy(more + len, "xyz", 3);
    spit(path, more, len + 3);
    ok(!rt_st_open(path, err, sizeof err), "3 bytes appended: refused");
    like(err, "3 trailing bytes after the last tensor's data", "appended bytes message");
    free(more);
    free(full);
    unlink(path);
    ok(!rt_st_open(path, err, sizeof err), "missing file refused");
    like(err, "cannot open: No such file or directory", "missing file message");
    ok(!rt_st_open(dir, err, sizeof err), "directory refused");
    like(err, "not a regular file", "directory message");
}

/* ---- numpy oracle ---- */

static bool have_python(void) { return access(PY, X_OK) == 0 && access(ORACLE, R_OK) == 0; }

static void test_numpy_reads_ours(void) {
    if (!have_python()) { skip(3, "no " PY " or oracle script"); return; }
    enum { NW = 1000 };
    static float big[NW];
    for (int i = 0; i < NW; i++) big[i] = sinf((float)i) * 3.0f;
    float s = -1.25f;
    int64_t steps[3] = {1, -2, 1LL << 50};
    uint8_t mask[5] = {1, 0, 1, 1, 0};
    rt_st_tensor t[] = {
        {.name = "blocks.0.mamba.in_proj.weight", .dtype = RT_ST_F32, .rank = 2, .shape = {25, 40}, .data = big},
        {.name = "mask.\xe6\x9d\x83", .dtype = RT_ST_U8, .rank = 1, .shape = {5}, .data = mask},
        {.name = "scalar", .dtype = RT_ST_F32, .rank = 0, .data = &s},
        {.name = "steps", .dtype = RT_ST_I64, .rank = 1, .shape = {3}, .data = steps},
        {.name = "empty", .dtype = RT_ST_F32, .rank = 3, .shape = {2, 0, 3}, .data = NULL},
        {.name = "deep", .dtype = RT_ST_F32, .rank = 6, .shape = {1, 2, 1, 2, 1, 2}, .data = big + 100},
    };
    rt_st_kv m[] = {{"iclc_version", "0.1.0"}, {"note", "caf\xc3\xa9 \"quoted\""}};
    char err[512];
    const char *path = tmp_path("np.safetensors");
    ok(rt_st_write(path, t, 6, m, 2, err, sizeof err), "write the file for numpy");

    /* Our expected lines, in the oracle's format. */
    char want[4096] = "", line[512];
    for (size_t i = 0; i < 2; i++) {
        size_t k = (size_t)snprintf(line, sizeof line, "meta ");
        for (const char *p = m[i].key; *p; p++) k += (size_t)snprintf(line + k, sizeof line - k, "%02x", (unsigned char)*p);
        k += (size_t)snprintf(line + k, sizeof line - k, " ");
        for (const char *p = m[i].value; *p; p++) k += (size_t)snprintf(line + k, sizeof line - k, "%02x", (unsigned char)*p);
        strcat(strcat(want, line), "\n");
    }
    for (size_t i = 0; i < 6; i++) {
        size_t k = (size_t)snprintf(line, sizeof line, "tensor ");
        for (const char *p = t[i].name; *p; p++) k += (size_t)snprintf(line + k, sizeof line - k, "%02x", (unsigned char)*p);
        k += (size_t)snprintf(line + k, sizeof line - k, " %s ", rt_st_dtype_name(t[i].dtype));
        int64_t numel = 1;
        for (int d = 0; d < t[i].rank; d++) {
            k += (size_t)snprintf(line + k, sizeof line - k, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
            numel *= t[i].shape[d];
        }
        size_t nbytes = (size_t)numel * rt_st_dtype_size(t[i].dtype);
        double sum = 0;
        for (int64_t e = 0; e < numel; e++) {
            if (t[i].dtype == RT_ST_F32) sum += ((const float *)t[i].data)[e];
            else if (t[i].dtype == RT_ST_U8) sum += ((const uint8_t *)t[i].data)[e];
            else sum += (double)((const int64_t *)t[i].data)[e];
        }
        snprintf(line + k, sizeof line - k, " %08x %.17g", nbytes ? crc32(t[i].data, nbytes) : 0u, sum);
        strcat(strcat(want, line), "\n");
    }

    char cmd[512], got[4096] = "";
    snprintf(cmd, sizeof cmd, PY " " ORACLE " %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(got, 1, sizeof got - 1, p) : 0;
    got[n] = '\0';
    int status = p ? pclose(p) : -1;
    is_int(status, 0, "numpy oracle accepts our file");
    /* Sums may differ in the last bits (numpy sums pairwise): compare lines without the sum, then sums. */
    bool same = true;
    char *gs = got, *ws = want;
    for (int l = 0; l < 8 && same; l++) {
        char *ge = strchr(gs, '\n'), *we = strchr(ws, '\n');
        if (!ge || !we) { same = false; break; }
        *ge = *we = '\0';
        char *gsum = strrchr(gs, ' '), *wsum = strrchr(ws, ' ');
        if (strncmp(gs, "tensor", 6) == 0) {
            same = gsum && wsum && (size_t)(gsum - gs) == (size_t)(wsum - ws) && strncmp(gs, ws, (size_t)(gsum - gs)) == 0 &&
                   fabs(strtod(gsum, NULL) - strtod(wsum, NULL)) <= 1e-9 * fmax(1, fabs(strtod(wsum, NULL)));
        } else {
            same = strcmp(gs, ws) == 0;
        }
        if (!same) diag("oracle line %d: got '%s'\n#  want '%s'", l, gs, ws);
        gs = ge + 1;
        ws = we + 1;
    }
    ok(same && *gs == '\0', "numpy sees the same names, dtypes, shapes, bytes (crc32) and sums");
    unlink(path);
}

static void test_we_read_numpys(void) {
    if (!have_python()) { skip(6, "no " PY " or oracle script"); return; }
    const char *path = tmp_path("fromnp.safetensors");
    char cmd[512], err[512];
    snprintf(cmd, sizeof cmd, PY " " ORACLE " --write %s", path);
    is_int(system(cmd), 0, "numpy wrote a reference file");
    rt_st_file *f = rt_st_open(path, err, sizeof err);
    ok(f != NULL, "we read numpy's file (unpadded header, mixed dtypes)");
    if (!f) { diag("%s", err); skip(4, "no file"); return; }
    const rt_st_tensor *w = rt_st_find(f, "weight");
    const float *wf = w ? w->data : NULL;
    ok(w && w->rank == 2 && w->shape[0] == 2 && w->shape[1] == 3 && (uintptr_t)wf % 4 == 0 && wf[0] == -1.0f &&
           wf[5] == 1.5f,
       "F32 weight values");
    const rt_st_tensor *st = rt_st_find(f, "steps");
    ok(st && st->dtype == RT_ST_I64 && (uintptr_t)st->data % 8 == 0 && ((const int64_t *)st->data)[1] == (1LL << 40),
       "I64 at an unaligned offset is handed out aligned with its value");
    const rt_st_tensor *sc = rt_st_find(f, "scalar"), *em = rt_st_find(f, "empty");
    ok(sc && sc->rank == 0 && *(const float *)sc->data == 3.25f && em && em->numel == 0, "scalar and empty");
    is_str(rt_st_meta(f, "note"), "caf\xc3\xa9", "metadata from numpy");
    rt_st_close(f);
    unlink(path);
}

/* ---- random corruption: only clean errors or valid loads, never a crash ---- */

static void test_fuzz(void) {
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i;
    uint8_t u[3] = {1, 2, 3};
    rt_st_tensor t[] = {
        {.name = "a", .dtype = RT_ST_F32, .rank = 2, .shape = {2, 3}, .data = v},
        {.name = "b.\xc3\xa9", .dtype = RT_ST_U8, .rank = 1, .shape = {3}, .data = u},
        {.name = "c", .dtype = RT_ST_F32, .rank = 0, .data = v + 6},
        {.name = "d", .dtype = RT_ST_F32, .rank = 1, .shape = {0}, .data = NULL},
        {.name = "e", .dtype = RT_ST_F32, .rank = 1, .shape = {5}, .data = v + 7},
    };
    rt_st_kv m[] = {{"k", "v"}};
    char err[512];
    const char *path = tmp_path("fuzz.safetensors");
    ok(rt_st_write(path, t, 5, m, 1, err, sizeof err), "write the seed file");
    size_t len;
    unsigned char *seed = slurp(path, &len);
    unsigned char *buf = malloc(len);
    int loads = 0, errors = 0, bad = 0;
    enum { ITERS = 4000 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int it = 0; it < ITERS; it++) {
        memcpy(buf, seed, len);
        size_t n = len;
        int edits = 1 + (int)(rnd() % 3);
        for (int e = 0; e < edits; e++) {
            uint64_t r = rnd();
            size_t at = (size_t)(r >> 8) % n;
            switch (r % 4) {
            case 0: buf[at] ^= (unsigned char)(1u << ((r >> 4) % 8)); break;     /* bit flip */
            case 1: buf[at] = (unsigned char)(r >> 40); break;                   /* random byte */
            case 2: buf[at] = "{}[]\",:0123456789-e. \\u"[(r >> 40) % 24]; break; /* JSON-ish byte */
            default: n = at; break;                                              /* truncation */
            }
            if (n == 0) break;
        }
        err[0] = '\0';
        rt_st_file *f = rt_st_parse(buf, n, "fuzz", err, sizeof err);
        if (f) {
            /* A load must be self-consistent: names findable, sizes tile the data. */
            size_t total = 0;
            for (size_t i = 0; i < rt_st_count(f); i++) {
                const rt_st_tensor *x = rt_st_at(f, i);
                total += x->nbytes;
                if (rt_st_find(f, x->name) != x || (x->nbytes && !x->data)) bad++;
            }
            uint64_t hlen = 0;
            for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
            if (total != n - 8 - hlen) bad++; /* tensors must tile the data section exactly */
            loads++;
            rt_st_close(f);
        } else {
            errors++;
            if (strncmp(err, "fuzz: ", 6) != 0 || strlen(err) < 10) bad++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    diag("fuzz: %d iterations, %d loads, %d clean errors, %.3f s", ITERS, loads, errors,
         (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    is_int(loads + errors, ITERS, "every corrupted input was either loaded or refused");
    ok(errors > ITERS / 2 && loads > 0, "corruption mostly refused, some edits (in the data) still load");
    is_int(bad, 0, "every load self-consistent, every error message names the source");
    free(buf);
    free(seed);
    unlink(path);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/iclc-st-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("Bail out! cannot create a temporary directory\n");
        return 1;
    }
    test_round_trip();
    test_unicode_and_dtypes();
    test_many();
    test_write_errors();
    test_malformed();
    test_truncated_files();
    test_numpy_reads_ours();
    test_we_read_numpys();
    test_fuzz();
    rmdir(dir);
    return done_testing();
}
