/* rt_safetensors.h — reading and writing tensors in the safetensors format (docs/formats.md).
 *
 * Layout of a file: an 8-byte little-endian unsigned header length N, N bytes of a JSON object
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * then the data section: every tensor's bytes, row-major, little-endian, at [begin, end) relative to
 * the start of the data section. The tensors tile the data section exactly (no holes, no overlap).
 *
 * Writing (atomic: a temporary file in the same directory, fsynced, renamed over `path`, the
 * directory fsynced; on any failure the temporary file is removed and `path` is untouched):
 *
 *   float w[6] = {...}, b[3] = {...};
 *   rt_st_tensor t[] = {{.name = "layer.weight", .dtype = RT_ST_F32, .rank = 2, .shape = {2, 3}, .data = w},
 *                       {.name = "layer.bias",   .dtype = RT_ST_F32, .rank = 1, .shape = {3},    .data = b}};
 *   rt_st_kv meta[] = {{"step", "100"}};
 *   char err[512];
 *   if (!rt_st_write("w.safetensors", t, 2, meta, 1, err, sizeof err)) fprintf(stderr, "%s\n", err);
 *
 * Reading (strict: any malformed file is refused with "FILE: tensor 'NAME': what is wrong"):
 *
 *   rt_st_file *f = rt_st_open("w.safetensors", err, sizeof err);
 *   if (!f) { fprintf(stderr, "iclc: %s\n", err); return 2; }
 *   const rt_st_tensor *w = rt_st_find(f, "layer.weight");
 *   if (w && w->dtype == RT_ST_F32) use((const float *)w->data, w->numel);
 *   for (size_t i = 0; i < rt_st_count(f); i++) print(rt_st_at(f, i)->name);
 *   const char *step = rt_st_meta(f, "step");   // NULL when absent
 *   rt_st_close(f);
 */
#ifndef ICLC_RUNTIME_RT_SAFETENSORS_H
#define ICLC_RUNTIME_RT_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Highest tensor rank read or written. */
#define RT_ST_MAX_RANK 6
/* Largest JSON header accepted (the safetensors reference implementation's limit). */
#define RT_ST_MAX_HEADER 100000000u

/* Element types of the format: X(enum suffix, name in the header, bytes per element). */
#define RT_ST_DTYPES(X) \
    X(F32, "F32", 4)    \
    X(F16, "F16", 2)    \
    X(BF16, "BF16", 2)  \
    X(F64, "F64", 8)    \
    X(I64, "I64", 8)    \
    X(I32, "I32", 4)    \
    X(I16, "I16", 2)    \
    X(I8, "I8", 1)      \
    X(U64, "U64", 8)    \
    X(U32, "U32", 4)    \
    X(U16, "U16", 2)    \
    X(U8, "U8", 1)      \
    X(BOOL, "BOOL", 1)

typedef enum {
#define X(e, name, size) RT_ST_##e,
    RT_ST_DTYPES(X)
#undef X
    RT_ST_NDTYPES
} rt_st_dtype;

/* The header name of a dtype ("F32"), or "?" when out of range. */
const char *rt_st_dtype_name(rt_st_dtype dtype);
/* Bytes per element (0 when out of range). */
size_t rt_st_dtype_size(rt_st_dtype dtype);

/* One tensor. For writing, fill name, dtype, rank, shape and data (numel and nbytes are ignored).
 * For reading, every field is filled; `data` points into memory owned by the rt_st_file and is
 * aligned for its dtype. */
typedef struct rt_st_tensor {
    const char *name;                /* UTF-8, non-empty, unique in the file, not "__metadata__" */
    rt_st_dtype dtype;
    int rank;                        /* 0 (a scalar) .. RT_ST_MAX_RANK */
    int64_t shape[RT_ST_MAX_RANK];   /* row-major; each >= 0 */
    const void *data;                /* numel elements, little-endian; may be NULL when nbytes == 0 */
    int64_t numel;                   /* (read) product of the shape; 1 for a scalar */
    size_t nbytes;                   /* (read) numel * dtype size */
} rt_st_tensor;

/* One metadata entry: both UTF-8 strings. */
typedef struct rt_st_kv {
    const char *key;
    const char *value;
} rt_st_kv;

/* Writes n tensors (in this order, header and data alike) and nmeta metadata entries to `path`
 * atomically. Returns false with "PATH: ..." in err when an argument is invalid (duplicate or empty
 * name, bad rank or dimension, NULL data, invalid UTF-8) or the file cannot be written. */
bool rt_st_write(const char *path, const rt_st_tensor *tensors, size_t n, const rt_st_kv *meta,
                 size_t nmeta, char *err, size_t errlen);

typedef struct rt_st_file rt_st_file;

/* Reads and checks a whole file. NULL with "PATH: ..." in err when it cannot be read or is malformed. */
rt_st_file *rt_st_open(const char *path, char *err, size_t errlen);
/* The same checks on `len` bytes in memory (copied; the caller keeps `bytes`). `label` names the
 * source in messages. */
rt_st_file *rt_st_parse(const void *bytes, size_t len, const char *label, char *err, size_t errlen);
/* Frees the file and all its tensors. NULL is allowed. */
void rt_st_close(rt_st_file *f);

/* Number of tensors. */
size_t rt_st_count(const rt_st_file *f);
/* The i-th tensor in header order (for files we write, also data order). */
const rt_st_tensor *rt_st_at(const rt_st_file *f, size_t i);
/* The tensor called `name`, or NULL. */
const rt_st_tensor *rt_st_find(const rt_st_file *f, const char *name);

/* Number of metadata entries, and the i-th of them in header order. */
size_t rt_st_meta_count(const rt_st_file *f);
rt_st_kv rt_st_meta_at(const rt_st_file *f, size_t i);
/* The metadata value of `key`, or NULL. */
const char *rt_st_meta(const rt_st_file *f, const char *key);

#endif
