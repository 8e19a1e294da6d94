/* rt_json.h — a small, strict JSON reader and a JSON writer (RFC 8259), no library.
 *
 * Reader: rt_json_parse() turns text into a tree of rt_json nodes owned by one rt_json_doc; one
 * rt_json_free() releases everything (nodes, strings, arrays). It accepts exactly RFC 8259 JSON:
 *   - no comments, no trailing commas, no NaN/Infinity, no leading zeros or '+', no BOM;
 *   - strings must be valid UTF-8 (no overlong forms, no surrogates) without raw control characters;
 *     \uXXXX escapes are decoded to UTF-8, surrogate pairs combined, lone surrogates rejected;
 *   - duplicate keys in one object are rejected; objects keep their keys in text order;
 *   - nesting deeper than RT_JSON_MAX_DEPTH is rejected; numbers that overflow a double are rejected;
 *   - only whitespace may follow the value.
 * Errors read "byte 17 (line 2, column 5): expected ':' after object key, got '}'".
 *
 *   char err[256];
 *   rt_json_doc *doc = rt_json_parse(text, len, err, sizeof err);
 *   if (!doc) { fprintf(stderr, "%s: %s\n", path, err); return 2; }
 *   const rt_json *steps = rt_json_get(rt_json_root(doc), "steps");
 *   if (steps && steps->is_int) use(steps->integer);
 *   rt_json_free(doc);
 *
 * Writer: an rt_jw string builder with begin/end calls that places commas, colons and (optionally)
 * indentation, and escapes strings. It never fails midway: an allocation failure or a misuse
 * (a value where a key is due, unbalanced ends) is remembered and rt_jw_result() returns NULL.
 *
 *   rt_jw w; rt_jw_init(&w, 0);                 // 0: compact; n > 0: n spaces per level
 *   rt_jw_begin_object(&w);
 *   rt_jw_key(&w, "step");  rt_jw_int(&w, 100);
 *   rt_jw_key(&w, "loss");  rt_jw_double(&w, 0.25);
 *   rt_jw_end_object(&w);
 *   const char *s = rt_jw_result(&w, NULL);     // "{\"step\":100,\"loss\":0.25}"
 *   rt_jw_free(&w);
 */
#ifndef ICLC_RUNTIME_RT_JSON_H
#define ICLC_RUNTIME_RT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting of arrays/objects the reader accepts and the writer produces. */
#define RT_JSON_MAX_DEPTH 128

typedef enum {
    RT_JSON_NULL,
    RT_JSON_BOOL,
    RT_JSON_NUMBER,
    RT_JSON_STRING,
    RT_JSON_ARRAY,
    RT_JSON_OBJECT,
} rt_json_kind;

/* One value of a parsed document. All pointers point into memory owned by the rt_json_doc. */
typedef struct rt_json rt_json;
struct rt_json {
    rt_json_kind kind;
    size_t offset;          /* byte offset of the value's first character in the text */
    bool boolean;           /* RT_JSON_BOOL */
    double number;          /* RT_JSON_NUMBER: nearest double */
    bool is_int;            /* RT_JSON_NUMBER: the value is an integer exactly representable in int64 */
    int64_t integer;        /* RT_JSON_NUMBER with is_int: the exact value */
    const char *string;     /* RT_JSON_STRING: decoded UTF-8, NUL-terminated (may hold \u0000 inside) */
    size_t length;          /* RT_JSON_STRING: bytes in `string`, without the terminating NUL */
    size_t count;           /* RT_JSON_ARRAY / RT_JSON_OBJECT: number of elements or members */
    const rt_json *const *items;   /* elements, or member values in text order */
    const char *const *keys;       /* RT_JSON_OBJECT: member keys (decoded, NUL-terminated) */
    const size_t *key_lengths;     /* RT_JSON_OBJECT: bytes of each key */
};

typedef struct rt_json_doc rt_json_doc;

/* Parses len bytes of text (need not be NUL-terminated). Returns the document, or NULL with a message
 * "byte N (line L, column C): ..." in err (errlen > 0). */
rt_json_doc *rt_json_parse(const char *text, size_t len, char *err, size_t errlen);

/* Reads and parses a whole file; on failure NULL with "PATH: ..." (cannot open/read, or the parse
 * error) in err. */
rt_json_doc *rt_json_parse_file(const char *path, char *err, size_t errlen);

/* The root value of a document. */
const rt_json *rt_json_root(const rt_json_doc *doc);

/* Frees the document and every node and string in it. NULL is allowed. */
void rt_json_free(rt_json_doc *doc);

/* The member `key` of an object, or NULL when absent or when obj is not an object (NULL allowed). */
const rt_json *rt_json_get(const rt_json *obj, const char *key);

/* "null", "a boolean", "a number", "a string", "an array", "an object": for error messages. */
const char *rt_json_kind_name(rt_json_kind kind);

/* True when the len bytes at s are valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF). */
bool rt_json_utf8_valid(const char *s, size_t len);

/* ---- writer ---- */

typedef struct rt_jw {
    char *buf;                 /* the text so far, NUL-terminated when non-NULL */
    size_t len, cap;
    int indent;                /* spaces per level; 0 writes compact JSON */
    int depth;                 /* open containers */
    bool failed;               /* allocation failure or misuse seen */
    bool want_value;           /* a key was written, its value is due */
    unsigned char kind[RT_JSON_MAX_DEPTH + 1];  /* per depth: 'a' array, 'o' object */
    unsigned char count[RT_JSON_MAX_DEPTH + 1]; /* per depth: 1 once the container has an element */
} rt_jw;

/* Starts an empty builder; `indent` spaces per level (0: compact, one line). */
void rt_jw_init(rt_jw *w, int indent);
/* Frees the builder's text. */
void rt_jw_free(rt_jw *w);

void rt_jw_begin_object(rt_jw *w);
void rt_jw_end_object(rt_jw *w);
void rt_jw_begin_array(rt_jw *w);
void rt_jw_end_array(rt_jw *w);
/* The next member's key (inside an object, before each value). */
void rt_jw_key(rt_jw *w, const char *key);
void rt_jw_key_n(rt_jw *w, const char *key, size_t len);
/* A string value, escaped: '"', '\\' and control characters are escaped; invalid UTF-8 bytes are
 * written as U+FFFD. */
void rt_jw_string(rt_jw *w, const char *s);
void rt_jw_string_n(rt_jw *w, const char *s, size_t len);
void rt_jw_int(rt_jw *w, int64_t v);
/* The shortest decimal form that reads back as the same double; NaN and infinities become null. */
void rt_jw_double(rt_jw *w, double v);
void rt_jw_bool(rt_jw *w, bool v);
void rt_jw_null(rt_jw *w);
/* A parsed value (and everything below it), e.g. to copy part of a document. */
void rt_jw_value(rt_jw *w, const rt_json *v);

/* The finished text (NUL-terminated; its length in *len when len is non-NULL), or NULL when
 * something failed or containers are still open. The text stays owned by w. */
const char *rt_jw_result(const rt_jw *w, size_t *len);

#endif
