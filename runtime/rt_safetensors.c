/* rt_safetensors.c — the safetensors writer (atomic) and strict reader.
 *
 * Reader, in order: file size >= 8; header length N <= RT_ST_MAX_HEADER and <= size - 8; the header
 * is valid JSON (rt_json: strict, no duplicate keys) and an object; "__metadata__" maps strings to
 * strings; every other member is {"dtype", "shape", "data_offsets"} and nothing else, with a known
 * dtype, rank <= RT_ST_MAX_RANK, non-negative dimensions whose byte size does not overflow, and
 * 0 <= begin <= end <= data size with end - begin == numel * dtype size; finally the tensors, sorted
 * by offsets, tile the data section [0, size - 8 - N) exactly: no hole, no overlap, nothing after.
 * Only then is the data read, into a 64-byte-aligned buffer.
 */
#include "runtime/rt_safetensors.h"

#include "runtime/rt_json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rt_safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

#define DATA_ALIGN 64

static const struct {
    const char *name;
    size_t size;
} dtype_table[] = {
#define X(e, name, size) {name, size},
    RT_ST_DTYPES(X)
#undef X
};
_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == RT_ST_NDTYPES, "dtype table out of step");

const char *rt_st_dtype_name(rt_st_dtype dtype) {
    return (unsigned)dtype < RT_ST_NDTYPES ? dtype_table[dtype].name : "?";
}

size_t rt_st_dtype_size(rt_st_dtype dtype) {
    return (unsigned)dtype < RT_ST_NDTYPES ? dtype_table[dtype].size : 0;
}

/* Writes "label: message" into err. Always returns false/NULL-friendly false. */
static bool fail(char *err, size_t errlen, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail(char *err, size_t errlen, const char *label, const char *fmt, ...) {
    if (!err || errlen == 0) return false;
    int k = snprintf(err, errlen, "%s: ", label ? label : "<safetensors>");
    if (k < 0 || (size_t)k >= errlen) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return false;
}

/* numel of shape[0..rank) and numel * esize in *nbytes; false when either overflows. */
static bool shape_bytes(const int64_t *shape, int rank, size_t esize, int64_t *numel, size_t *nbytes) {
    int64_t n = 1;
    bool zero = false;
    for (int i = 0; i < rank; i++) {
        if (shape[i] == 0) zero = true;
        else if (!zero && n > INT64_MAX / shape[i]) return false;
        else if (!zero) n *= shape[i];
    }
    if (zero) n = 0;
    if ((uint64_t)n > SIZE_MAX / esize) return false;
    *numel = n;
    *nbytes = (size_t)n * esize;
    return true;
}

/* "[2, 3]" into buf. */
static const char *shape_str(const int64_t *shape, int rank, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < rank && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

/* ---- name index: open addressing over tensor names ---- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Builds a table of `cap` slots (a power of two >= 2n) of indices into t; returns it, or NULL on OOM.
 * When dup is non-NULL, stores there the index of the first name seen twice (or (size_t)-1). */
static size_t *index_build(const rt_st_tensor *t, size_t n, size_t *cap_out, size_t *dup) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    size_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return NULL;
    for (size_t i = 0; i < cap; i++) slot[i] = (size_t)-1;
    if (dup) *dup = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)hash_str(t[i].name) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            if (slot[h] == (size_t)-1) { slot[h] = i; break; }
            if (strcmp(t[slot[h]].name, t[i].name) == 0) {
                if (dup && *dup == (size_t)-1) *dup = i;
                break;
            }
        }
    }
    *cap_out = cap;
    return slot;
}

/* ---- reader ---- */

struct rt_st_file {
    rt_json_doc *doc;      /* owns every name, metadata key and value */
    rt_st_tensor *t;       /* header order */
    size_t n;
    rt_st_kv *meta;
    size_t nmeta;
    unsigned char *data;   /* the data section, DATA_ALIGN-aligned */
    size_t data_len;
    void **copies;         /* aligned copies of tensors whose offset is not a multiple of their size */
    size_t ncopies;
    size_t *index;         /* name -> tensor slot table */
    size_t index_cap;
    uint64_t *begin;       /* data_offsets begin of each tensor */
};

void rt_st_close(rt_st_file *f) {
    if (!f) return;
    rt_json_free(f->doc);
    free(f->t);
    free(f->meta);
    free(f->data);
    for (size_t i = 0; i < f->ncopies; i++) free(f->copies[i]);
    free(f->copies);
    free(f->index);
    free(f->begin);
    free(f);
}

size_t rt_st_count(const rt_st_file *f) { return f ? f->n : 0; }

const rt_st_tensor *rt_st_at(const rt_st_file *f, size_t i) { return f && i < f->n ? &f->t[i] : NULL; }

const rt_st_tensor *rt_st_find(const rt_st_file *f, const char *name) {
    if (!f || !name || !f->index) return NULL;
    for (size_t h = (size_t)hash_str(name) & (f->index_cap - 1);; h = (h + 1) & (f->index_cap - 1)) {
        size_t i = f->index[h];
        if (i == (size_t)-1) return NULL;
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    }
}

size_t rt_st_meta_count(const rt_st_file *f) { return f ? f->nmeta : 0; }

rt_st_kv rt_st_meta_at(const rt_st_file *f, size_t i) {
    rt_st_kv none = {NULL, NULL};
    return f && i < f->nmeta ? f->meta[i] : none;
}

const char *rt_st_meta(const rt_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

/* True when member i of object o is exactly `key` (keys may hold NUL bytes). */
static bool key_is(const rt_json *o, size_t i, const char *key) {
    return o->key_lengths[i] == strlen(key) && memcmp(o->keys[i], key, o->key_lengths[i]) == 0;
}

/* A tensor name in messages (bounded). */
#define NAMEFMT "'%.200s'"

/* Reads the "__metadata__" object into f->meta. */
static bool read_metadata(rt_st_file *f, const rt_json *m, const char *label, char *err, size_t errlen) {
    if (m->kind != RT_JSON_OBJECT)
        return fail(err, errlen, label, "\"__metadata__\" is %s, expected an object of strings",
                    rt_json_kind_name(m->kind));
    f->meta = calloc(m->count ? m->count : 1, sizeof *f->meta);
    if (!f->meta) return fail(err, errlen, label, "out of memory");
    for (size_t i = 0; i < m->count; i++) {
        const rt_json *v = m->items[i];
        if (v->kind != RT_JSON_STRING)
            return fail(err, errlen, label, "\"__metadata__\" entry " NAMEFMT " is %s, expected a string",
                        m->keys[i], rt_json_kind_name(v->kind));
        if (strlen(m->keys[i]) != m->key_lengths[i] || strlen(v->string) != v->length)
            return fail(err, errlen, label, "\"__metadata__\" entry " NAMEFMT " contains a NUL character",
                        m->keys[i]);
        f->meta[f->nmeta++] = (rt_st_kv){m->keys[i], v->string};
    }
    return true;
}

/* Reads one tensor entry `e` called `name` into *t and its offsets into *begin, checking everything
 * that can be checked without the other tensors. */
static bool read_entry(const rt_json *e, const char *name, size_t data_len, rt_st_tensor *t, uint64_t *begin,
                       const char *label, char *err, size_t errlen) {
#define BAD(...) return fail(err, errlen, label, "tensor " NAMEFMT ": " __VA_ARGS__)
    if (e->kind != RT_JSON_OBJECT)
        BAD("entry is %s, expected an object with \"dtype\", \"shape\" and \"data_offsets\"", name,
            rt_json_kind_name(e->kind));
    const rt_json *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (size_t i = 0; i < e->count; i++) {
        if (key_is(e, i, "dtype")) dtype = e->items[i];
        else if (key_is(e, i, "shape")) shape = e->items[i];
        else if (key_is(e, i, "data_offsets")) offsets = e->items[i];
        else BAD("unknown field \"%.60s\" (expected only dtype, shape, data_offsets)", name, e->keys[i]);
    }
    if (!dtype) BAD("missing \"dtype\"", name);
    if (!shape) BAD("missing \"shape\"", name);
    if (!offsets) BAD("missing \"data_offsets\"", name);

    if (dtype->kind != RT_JSON_STRING) BAD("dtype is %s, expected a string", name, rt_json_kind_name(dtype->kind));
    t->dtype = RT_ST_NDTYPES;
    for (int d = 0; d < RT_ST_NDTYPES; d++)
        if (strcmp(dtype->string, dtype_table[d].name) == 0 && strlen(dtype->string) == dtype->length)
            t->dtype = (rt_st_dtype)d;
    if (t->dtype == RT_ST_NDTYPES)
        BAD("unknown dtype \"%.20s\" (known: F32 F16 BF16 F64 I64 I32 I16 I8 U64 U32 U16 U8 BOOL)", name,
            dtype->string);

    if (shape->kind != RT_JSON_ARRAY) BAD("shape is %s, expected an array of integers", name, rt_json_kind_name(shape->kind));
    if (shape->count > RT_ST_MAX_RANK)
        BAD("shape has rank %zu, more than the supported %d", name, shape->count, RT_ST_MAX_RANK);
    t->rank = (int)shape->count;
    for (int i = 0; i < t->rank; i++) {
        const rt_json *d = shape->items[i];
        if (d->kind != RT_JSON_NUMBER || !d->is_int || d->integer < 0)
            BAD("shape[%d] is not a non-negative integer", name, i);
        t->shape[i] = d->integer;
    }
    char sb[160];
    size_t esize = dtype_table[t->dtype].size;
    if (!shape_bytes(t->shape, t->rank, esize, &t->numel, &t->nbytes))
        BAD("shape %s overflows (too many elements)", name, shape_str(t->shape, t->rank, sb, sizeof sb));

    if (offsets->kind != RT_JSON_ARRAY || offsets->count != 2)
        BAD("data_offsets must be an array [begin, end] of two integers", name);
    const rt_json *b = offsets->items[0], *en = offsets->items[1];
    if (b->kind != RT_JSON_NUMBER || !b->is_int || b->integer < 0 || en->kind != RT_JSON_NUMBER || !en->is_int ||
        en->integer < 0)
        BAD("data_offsets must be two non-negative integers", name);
    uint64_t ob = (uint64_t)b->integer, oe = (uint64_t)en->integer;
    if (oe < ob) BAD("data_offsets [%llu, %llu] end before they begin", name, (unsigned long long)ob, (unsigned long long)oe);
    if (oe > data_len)
        BAD("data_offsets [%llu, %llu] are out of range: the data section has %zu bytes", name,
            (unsigned long long)ob, (unsigned long long)oe, data_len);
    if (oe - ob != t->nbytes)
        BAD("shape %s of %s needs %zu bytes but data_offsets [%llu, %llu] span %llu", name,
            shape_str(t->shape, t->rank, sb, sizeof sb), dtype_table[t->dtype].name, t->nbytes,
            (unsigned long long)ob, (unsigned long long)oe, (unsigned long long)(oe - ob));
    *begin = ob;
    return true;
#undef BAD
}

typedef struct {
    uint64_t begin, end;
    size_t i;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Checks that the tensors tile [0, data_len) exactly. */
static bool check_coverage(const rt_st_file *f, size_t data_len, const char *label, char *err, size_t errlen) {
    span *s = malloc((f->n ? f->n : 1) * sizeof *s);
    if (!s) return fail(err, errlen, label, "out of memory");
    for (size_t i = 0; i < f->n; i++) s[i] = (span){f->begin[i], f->begin[i] + f->t[i].nbytes, i};
    qsort(s, f->n, sizeof *s, span_cmp);
    uint64_t at = 0;
    size_t prev = (size_t)-1;
    bool okay = true;
    for (size_t k = 0; k < f->n && okay; k++) {
        const rt_st_tensor *t = &f->t[s[k].i];
        if (s[k].begin > at) {
            okay = fail(err, errlen, label,
                        "hole in the data section: bytes [%llu, %llu) belong to no tensor (before tensor " NAMEFMT
                        ")",
                        (unsigned long long)at, (unsigned long long)s[k].begin, t->name);
        } else if (s[k].begin < at) {
            okay = fail(err, errlen, label,
                        "tensor " NAMEFMT ": data_offsets [%llu, %llu] overlap tensor " NAMEFMT " [%llu, %llu]",
                        t->name, (unsigned long long)s[k].begin, (unsigned long long)s[k].end,
                        f->t[prev].name, (unsigned long long)f->begin[prev],
                        (unsigned long long)(f->begin[prev] + f->t[prev].nbytes));
        }
        at = s[k].end;
        prev = s[k].i;
    }
    if (okay && at != data_len)
        okay = fail(err, errlen, label,
                    "%llu trailing bytes after the last tensor's data (data section is %zu bytes, tensors cover %llu)",
                    (unsigned long long)(data_len - at), data_len, (unsigned long long)at);
    free(s);
    return okay;
}

/* Parses and checks the header (hdr, hlen bytes) of a file whose data section has data_len bytes. */
static rt_st_file *read_header(const char *hdr, size_t hlen, size_t data_len, const char *label, char *err,
                               size_t errlen) {
    rt_st_file *f = calloc(1, sizeof *f);
    if (!f) { fail(err, errlen, label, "out of memory"); return NULL; }
    char jerr[256];
    f->doc = rt_json_parse(hdr, hlen, jerr, sizeof jerr);
    if (!f->doc) {
        fail(err, errlen, label, "header is not valid JSON: %s", jerr);
        goto bad;
    }
    const rt_json *root = rt_json_root(f->doc);
    if (root->kind != RT_JSON_OBJECT) {
        fail(err, errlen, label, "header is %s, expected a JSON object", rt_json_kind_name(root->kind));
        goto bad;
    }
    if (hdr[0] != '{') {
        fail(err, errlen, label, "header must begin with '{' (found byte 0x%02X)", (unsigned char)hdr[0]);
        goto bad;
    }
    f->t = calloc(root->count ? root->count : 1, sizeof *f->t);
    f->begin = calloc(root->count ? root->count : 1, sizeof *f->begin);
    if (!f->t || !f->begin) { fail(err, errlen, label, "out of memory"); goto bad; }
    for (size_t i = 0; i < root->count; i++) {
        const char *name = root->keys[i];
        if (key_is(root, i, "__metadata__")) {
            if (!read_metadata(f, root->items[i], label, err, errlen)) goto bad;
            continue;
        }
        if (root->key_lengths[i] == 0) { fail(err, errlen, label, "a tensor has an empty name"); goto bad; }
        if (strlen(name) != root->key_lengths[i]) {
            fail(err, errlen, label, "tensor " NAMEFMT ": name contains a NUL character", name);
            goto bad;
        }
        rt_st_tensor *t = &f->t[f->n];
        t->name = name;
        if (!read_entry(root->items[i], name, data_len, t, &f->begin[f->n], label, err, errlen)) goto bad;
        f->n++;
    }
    if (!check_coverage(f, data_len, label, err, errlen)) goto bad;
    f->index = index_build(f->t, f->n, &f->index_cap, NULL);
    if (!f->index) { fail(err, errlen, label, "out of memory"); goto bad; }
    return f;
bad:
    rt_st_close(f);
    return NULL;
}

/* Points each tensor at its bytes in f->data, copying to an aligned buffer when the offset is not a
 * multiple of the element size. */
static bool attach_data(rt_st_file *f, const char *label, char *err, size_t errlen) {
    f->copies = calloc(f->n ? f->n : 1, sizeof *f->copies);
    if (!f->copies) return fail(err, errlen, label, "out of memory");
    for (size_t i = 0; i < f->n; i++) {
        rt_st_tensor *t = &f->t[i];
        size_t esize = dtype_table[t->dtype].size;
        if (t->nbytes == 0) { t->data = f->data; continue; }
        if (f->begin[i] % esize == 0) { t->data = f->data + f->begin[i]; continue; }
        void *c = aligned_alloc(DATA_ALIGN, (t->nbytes + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN);
        if (!c) return fail(err, errlen, label, "out of memory");
        memcpy(c, f->data + f->begin[i], t->nbytes);
        f->copies[f->ncopies++] = c;
        t->data = c;
    }
    return true;
}

/* An aligned buffer of at least n bytes (never NULL for n == 0 unless out of memory). */
static unsigned char *alloc_data(size_t n) {
    size_t sz = (n + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
    return aligned_alloc(DATA_ALIGN, sz ? sz : DATA_ALIGN);
}

static uint64_t load_le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* Checks the 8-byte header length of a file of `size` bytes. */
static bool check_header_len(uint64_t hlen, uint64_t size, const char *label, char *err, size_t errlen) {
    if (hlen > size - 8)
        return fail(err, errlen, label,
                    "header length %llu is larger than the rest of the file (%llu bytes): truncated or not a "
                    "safetensors file",
                    (unsigned long long)hlen, (unsigned long long)(size - 8));
    if (hlen > RT_ST_MAX_HEADER)
        return fail(err, errlen, label, "header length %llu exceeds the limit of %u bytes", (unsigned long long)hlen,
                    RT_ST_MAX_HEADER);
    if (hlen == 0) return fail(err, errlen, label, "header length is 0: the JSON header is empty");
    return true;
}

rt_st_file *rt_st_parse(const void *bytes, size_t len, const char *label, char *err, size_t errlen) {
    const unsigned char *b = bytes;
    if (len < 8) {
        fail(err, errlen, label, "file is %zu bytes, too short for the 8-byte header length (truncated?)", len);
        return NULL;
    }
    uint64_t hlen = load_le64(b);
    if (!check_header_len(hlen, len, label, err, errlen)) return NULL;
    size_t data_len = len - 8 - (size_t)hlen;
    rt_st_file *f = read_header((const char *)b + 8, (size_t)hlen, data_len, label, err, errlen);
    if (!f) return NULL;
    f->data = alloc_data(data_len);
    f->data_len = data_len;
    if (!f->data) {
        fail(err, errlen, label, "out of memory for %zu bytes of data", data_len);
        rt_st_close(f);
        return NULL;
    }
    if (data_len) memcpy(f->data, b + 8 + hlen, data_len);
    if (!attach_data(f, label, err, errlen)) { rt_st_close(f); return NULL; }
    return f;
}

/* Reads exactly n bytes; false at end of file or on an error (errno set, 0 at end of file). */
static bool read_all(int fd, void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = read(fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = 0;
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static void read_error(const char *what, char *err, size_t errlen, const char *path) {
    if (errno) fail(err, errlen, path, "cannot read %s: %s", what, strerror(errno));
    else fail(err, errlen, path, "unexpected end of file while reading %s (file changed while being read?)", what);
}

rt_st_file *rt_st_open(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, errlen, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    rt_st_file *f = NULL;
    char *hdr = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) { fail(err, errlen, path, "cannot stat: %s", strerror(errno)); goto out; }
    if (!S_ISREG(st.st_mode)) { fail(err, errlen, path, "not a regular file"); goto out; }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        fail(err, errlen, path, "file is %llu bytes, too short for the 8-byte header length (truncated?)",
             (unsigned long long)size);
        goto out;
    }
    unsigned char lenb[8];
    if (!read_all(fd, lenb, 8)) { read_error("the header length", err, errlen, path); goto out; }
    uint64_t hlen = load_le64(lenb);
    if (!check_header_len(hlen, size, path, err, errlen)) goto out;
    if (size - 8 - hlen > SIZE_MAX) { fail(err, errlen, path, "file too large"); goto out; }
    size_t data_len = (size_t)(size - 8 - hlen);
    hdr = malloc((size_t)hlen);
    if (!hdr) { fail(err, errlen, path, "out of memory for a %llu-byte header", (unsigned long long)hlen); goto out; }
    if (!read_all(fd, hdr, (size_t)hlen)) { read_error("the header", err, errlen, path); goto out; }
    f = read_header(hdr, (size_t)hlen, data_len, path, err, errlen);
    if (!f) goto out;
    f->data = alloc_data(data_len);
    f->data_len = data_len;
    if (!f->data) { fail(err, errlen, path, "out of memory for %zu bytes of data", data_len); goto bad; }
    if (!read_all(fd, f->data, data_len)) { read_error("the tensor data", err, errlen, path); goto bad; }
    unsigned char extra;
    ssize_t k;
    while ((k = read(fd, &extra, 1)) < 0 && errno == EINTR) {}
    if (k != 0) { fail(err, errlen, path, "file grew while being read"); goto bad; }
    if (!attach_data(f, path, err, errlen)) goto bad;
    goto out;
bad:
    rt_st_close(f);
    f = NULL;
out:
    free(hdr);
    close(fd);
    return f;
}

/* ---- writer ---- */

/* Checks the writer's arguments; the byte size of each tensor in nbytes[]. */
static bool check_args(const char *path, const rt_st_tensor *t, size_t n, const rt_st_kv *meta, size_t nmeta,
                       size_t *nbytes, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (!name || !*name) return fail(err, errlen, path, "tensor %zu has no name", i);
        if (!rt_json_utf8_valid(name, strlen(name)))
            return fail(err, errlen, path, "tensor %zu: name is not valid UTF-8", i);
        if (strcmp(name, "__metadata__") == 0)
            return fail(err, errlen, path, "tensor %zu: the name \"__metadata__\" is reserved", i);
        if ((unsigned)t[i].dtype >= RT_ST_NDTYPES)
            return fail(err, errlen, path, "tensor " NAMEFMT ": unknown dtype %d", name, (int)t[i].dtype);
        if (t[i].rank < 0 || t[i].rank > RT_ST_MAX_RANK)
            return fail(err, errlen, path, "tensor " NAMEFMT ": rank %d is outside 0..%d", name, t[i].rank,
                        RT_ST_MAX_RANK);
        for (int d = 0; d < t[i].rank; d++)
            if (t[i].shape[d] < 0)
                return fail(err, errlen, path, "tensor " NAMEFMT ": shape[%d] is negative (%lld)", name, d,
                            (long long)t[i].shape[d]);
        int64_t numel;
        if (!shape_bytes(t[i].shape, t[i].rank, dtype_table[t[i].dtype].size, &numel, &nbytes[i]))
            return fail(err, errlen, path, "tensor " NAMEFMT ": shape overflows", name);
        if (nbytes[i] && !t[i].data) return fail(err, errlen, path, "tensor " NAMEFMT ": data is NULL", name);
    }
    size_t cap, dup;
    size_t *idx = index_build(t, n, &cap, &dup);
    if (!idx) return fail(err, errlen, path, "out of memory");
    free(idx);
    if (dup != (size_t)-1) return fail(err, errlen, path, "duplicate tensor name " NAMEFMT, t[dup].name);
    for (size_t i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value) return fail(err, errlen, path, "metadata entry %zu is NULL", i);
        if (!rt_json_utf8_valid(meta[i].key, strlen(meta[i].key)) ||
            !rt_json_utf8_valid(meta[i].value, strlen(meta[i].value)))
            return fail(err, errlen, path, "metadata entry " NAMEFMT " is not valid UTF-8", meta[i].key);
        for (size_t j = 0; j < i; j++)
            if (strcmp(meta[i].key, meta[j].key) == 0)
                return fail(err, errlen, path, "duplicate metadata key " NAMEFMT, meta[i].key);
    }
    return true;
}

/* The JSON header (without its padding). */
static bool build_header(rt_jw *w, const rt_st_tensor *t, size_t n, const rt_st_kv *meta, size_t nmeta,
                         const size_t *nbytes) {
    rt_jw_begin_object(w);
    if (nmeta) {
        rt_jw_key(w, "__metadata__");
        rt_jw_begin_object(w);
        for (size_t i = 0; i < nmeta; i++) {
            rt_jw_key(w, meta[i].key);
            rt_jw_string(w, meta[i].value);
        }
        rt_jw_end_object(w);
    }
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        rt_jw_key(w, t[i].name);
        rt_jw_begin_object(w);
        rt_jw_key(w, "dtype");
        rt_jw_string(w, dtype_table[t[i].dtype].name);
        rt_jw_key(w, "shape");
        rt_jw_begin_array(w);
        for (int d = 0; d < t[i].rank; d++) rt_jw_int(w, t[i].shape[d]);
        rt_jw_end_array(w);
        rt_jw_key(w, "data_offsets");
        rt_jw_begin_array(w);
        rt_jw_int(w, (int64_t)at);
        rt_jw_int(w, (int64_t)(at + nbytes[i]));
        rt_jw_end_array(w);
        rt_jw_end_object(w);
        at += nbytes[i];
    }
    rt_jw_end_object(w);
    return rt_jw_result(w, NULL) != NULL;
}

static bool write_all(int fd, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (k == 0) errno = EIO;
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* fsyncs the directory that holds path (so the rename is durable). */
static bool sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc == 0 || errno == EINVAL; /* some file systems cannot fsync a directory */
}

bool rt_st_write(const char *path, const rt_st_tensor *tensors, size_t n, const rt_st_kv *meta, size_t nmeta,
                 char *err, size_t errlen) {
    if (!path || !*path) return fail(err, errlen, "<safetensors>", "no output path");
    if (n && !tensors) return fail(err, errlen, path, "tensors is NULL");
    if (nmeta && !meta) return fail(err, errlen, path, "metadata is NULL");
    size_t *nbytes = calloc(n ? n : 1, sizeof *nbytes);
    if (!nbytes) return fail(err, errlen, path, "out of memory");
    rt_jw w;
    rt_jw_init(&w, 0);
    bool okay = false;
    int fd = -1;
    char tmp[PATH_MAX];
    tmp[0] = '\0';
    if (!check_args(path, tensors, n, meta, nmeta, nbytes, err, errlen)) goto out;
    if (!build_header(&w, tensors, n, meta, nmeta, nbytes)) {
        fail(err, errlen, path, "out of memory building the header");
        goto out;
    }
    if (w.len > RT_ST_MAX_HEADER) {
        fail(err, errlen, path, "header of %zu bytes exceeds the limit of %u", w.len, RT_ST_MAX_HEADER);
        goto out;
    }
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp) {
        tmp[0] = '\0';
        fail(err, errlen, path, "path too long");
        goto out;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        fail(err, errlen, path, "cannot create a temporary file %s: %s", tmp, strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    /* Spaces after the closing brace (valid trailing JSON whitespace) make 8 + N a multiple of 8,
     * so the data section starts 8-byte aligned. */
    static const char spaces[8] = "        ";
    size_t pad = (8 - w.len % 8) % 8;
    uint64_t hlen = (uint64_t)(w.len + pad);
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(hlen >> (8 * i));
    bool wrote = fchmod(fd, 0644) == 0 && write_all(fd, lenb, 8) && write_all(fd, w.buf, w.len) &&
                 write_all(fd, spaces, pad);
    for (size_t i = 0; i < n && wrote; i++)
        if (nbytes[i]) wrote = write_all(fd, tensors[i].data, nbytes[i]);
    if (!wrote || fsync(fd) != 0) {
        fail(err, errlen, path, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    int rc = close(fd);
    fd = -1;
    if (rc != 0) { fail(err, errlen, path, "cannot write %s: %s", tmp, strerror(errno)); goto out; }
    if (rename(tmp, path) != 0) {
        fail(err, errlen, path, "cannot rename %s to it: %s", tmp, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    if (!sync_dir(path)) {
        fail(err, errlen, path, "written, but cannot fsync its directory: %s", strerror(errno));
        goto out;
    }
    okay = true;
out:
    if (fd >= 0) close(fd);
    if (tmp[0]) unlink(tmp);
    rt_jw_free(&w);
    free(nbytes);
    return okay;
}
