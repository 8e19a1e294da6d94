/* ir_parse.c — reads the text form written by ir/ir_print.c back into a graph (grammar: docs/ir.md).
 *
 *   %3 = matmul %0, %1 {tb=true} : f32[64,82,128] loc("models.lua":57)
 *   output "y" = %3
 *
 * A hand-written recursive-descent parser, one statement per line; `#` starts a comment. Every node is
 * built through ir_build, so the shape rules check it exactly as they check graphs built from Lua; the
 * declared type must then equal the inferred one. Node ids are consecutive from %0 and an operand must
 * name an earlier node. A node without a loc(...) clause has no location (so print(parse(text)) == text);
 * parse errors always carry the IR file's own line and column:
 *
 *   model.ir:4:16: expected an op name, got 'matmull' (did you mean matmul?)
 *   model.ir:7:1: matmul: inner dims differ: f32[4,3] x f32[4,5]
 */
#include "ir/ir.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDENT_MAX 64 /* longest identifier (op, attribute, dtype, init kind) */

typedef struct parser {
    const char *p;          /* next unread byte */
    const char *line_start; /* first byte of the current line */
    int line;               /* 1-based */
    const char *file;
    char *err;
    size_t errlen;
    bool failed;
    ir_graph *g;
    char *str; /* scratch: the last quoted string read */
    size_t str_cap;
    float *data; /* scratch: data(...) values */
    size_t data_cap;
    ir_id *ins; /* scratch: operand ids */
    size_t ins_cap;
} parser;

/* ---- errors ---- */

static void fail_at(parser *P, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_at(parser *P, const char *at, const char *fmt, ...) {
    if (P->failed) return;
    P->failed = true;
    if (!P->err || P->errlen == 0) return;
    int n = snprintf(P->err, P->errlen, "%s:%d:%d: ", P->file, P->line, (int)(at - P->line_start) + 1);
    if (n < 0 || (size_t)n >= P->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->err + n, P->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
static bool is_word_char(char c) { return is_ident_char(c) || c == '.' || c == '+' || c == '-'; }

/* A short description of what stands at `at`, for "got ...": 'token', end of line or end of input. */
static const char *describe(const char *at, char *buf, size_t len) {
    if (*at == '\0') return "end of input";
    if (*at == '\n' || *at == '#') return "end of line";
    size_t n = 1;
    if (*at == '\\' && at[1] && at[1] != '\n') n = 2;
    else if (is_word_char(*at) || *at == '%') {
        while (n < 24 && is_word_char(at[n])) n++;
    } else if (*at == '"') {
        while (n < 24 && at[n] && at[n] != '\n' && at[n] != '"') n++;
        if (at[n] == '"') n++;
    }
    size_t o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; i < n && o + 6 < len; i++) {
        unsigned char c = (unsigned char)at[i];
        if (c < 0x20 || c >= 0x7f) o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    if (is_word_char(*at) && is_word_char(at[n]) && o + 5 < len) o += (size_t)snprintf(buf + o, len - o, "...");
    if (o + 2 > len) o = len - 2;
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* Records "expected WHAT, got TOKEN" at `at`. */
static bool expected(parser *P, const char *at, const char *what) {
    char buf[128];
    fail_at(P, at, "expected %s, got %s", what, describe(at, buf, sizeof buf));
    return false;
}

/* ---- scanning ---- */

static void skip_ws(parser *P) {
    while (*P->p == ' ' || *P->p == '\t' || *P->p == '\r') P->p++;
}

static bool at_eol(parser *P) {
    skip_ws(P);
    return *P->p == '\n' || *P->p == '#' || *P->p == '\0';
}

/* Ends a statement: an optional comment up to the newline (which the caller consumes) or the end of input. */
static bool end_line(parser *P, const char *what) {
    if (!at_eol(P)) return expected(P, P->p, what);
    while (*P->p && *P->p != '\n') P->p++;
    return true;
}

static bool expect_char(parser *P, char c, const char *what) {
    skip_ws(P);
    if (*P->p != c) return expected(P, P->p, what);
    P->p++;
    return true;
}

/* Reads an identifier into buf (IDENT_MAX bytes); `at` gets its position. */
static bool parse_ident(parser *P, char *buf, const char **at, const char *what) {
    skip_ws(P);
    *at = P->p;
    if (!is_ident_start(*P->p)) return expected(P, P->p, what);
    size_t n = 0;
    while (is_ident_char(P->p[n])) n++;
    if (n >= IDENT_MAX) {
        fail_at(P, P->p, "identifier is longer than %d characters", IDENT_MAX - 1);
        return false;
    }
    memcpy(buf, P->p, n);
    buf[n] = '\0';
    P->p += n;
    return true;
}

/* The identifier at the current position equals word (not consumed). */
static bool peek_word(parser *P, const char *word) {
    skip_ws(P);
    size_t n = strlen(word);
    return strncmp(P->p, word, n) == 0 && !is_ident_char(P->p[n]);
}

/* A decimal integer: [-]digits (the minus only when allow_neg). */
static bool parse_int(parser *P, int64_t *v, bool allow_neg, const char *what) {
    skip_ws(P);
    const char *at = P->p;
    if (!(is_digit(*at) || (allow_neg && *at == '-' && is_digit(at[1])))) return expected(P, at, what);
    errno = 0;
    char *end;
    long long x = strtoll(at, &end, 10);
    if (is_word_char(*end)) return expected(P, at, what);
    if (errno == ERANGE) {
        char buf[128];
        fail_at(P, at, "expected %s, got %s (out of the 64-bit integer range)", what, describe(at, buf, sizeof buf));
        return false;
    }
    *v = (int64_t)x;
    P->p = end;
    return true;
}

/* A number in any form strtod reads (decimal, exponent, hex float, inf, nan), optionally signed.
 * With as_f32 the value is read as a float (strtof: no double rounding) and must fit one. */
static bool parse_number(parser *P, double *v, bool as_f32, const char *what) {
    skip_ws(P);
    const char *at = P->p;
    const char *s = at + (*at == '-' || *at == '+');
    if (!(is_digit(*s) || *s == '.' || *s == 'i' || *s == 'I' || *s == 'n' || *s == 'N')) return expected(P, at, what);
    errno = 0;
    char *end;
    double x = as_f32 ? (double)strtof(at, &end) : strtod(at, &end);
    if (end == at || is_word_char(*end)) return expected(P, at, what);
    if (errno == ERANGE && isinf(x)) {
        char buf[128];
        fail_at(P, at, "expected %s, got %s (out of the %s range)", what, describe(at, buf, sizeof buf),
                as_f32 ? "f32" : "f64");
        return false;
    }
    *v = x;
    P->p = end;
    return true;
}

/* Grows a scratch array to hold need elements. */
static bool reserve(parser *P, void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    void *q = realloc(*arr, c * elem);
    if (!q) {
        fail_at(P, P->p, "out of memory");
        return false;
    }
    *arr = q;
    *cap = c;
    return true;
}

static int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A quoted string with the printer's escapes (\" \\ \n \t \xHH) into P->str. */
static bool parse_string(parser *P, const char *what) {
    skip_ws(P);
    if (*P->p != '"') return expected(P, P->p, what);
    const char *open = P->p++;
    size_t n = 0;
    for (;;) {
        char c = *P->p;
        if (c == '\0' || c == '\n') {
            fail_at(P, open, "unterminated string (a string ends on its own line with '\"')");
            return false;
        }
        if (!reserve(P, (void **)&P->str, &P->str_cap, n + 1, 1)) return false;
        if (c == '"') break;
        if ((unsigned char)c < 0x20 && c != '\t') {
            fail_at(P, P->p, "control character \\x%02x in a string (write it as \\x%02x)", (unsigned char)c,
                    (unsigned char)c);
            return false;
        }
        if (c != '\\') {
            P->str[n++] = c;
            P->p++;
            continue;
        }
        const char *esc = P->p;
        char e = P->p[1];
        if (e == '"' || e == '\\') P->str[n++] = e;
        else if (e == 'n') P->str[n++] = '\n';
        else if (e == 't') P->str[n++] = '\t';
        else if (e == 'x' && hex_value(P->p[2]) >= 0 && hex_value(P->p[3]) >= 0) {
            int v = hex_value(P->p[2]) * 16 + hex_value(P->p[3]);
            if (v == 0) {
                fail_at(P, esc, "\\x00 is not allowed in a string");
                return false;
            }
            P->str[n++] = (char)v;
            P->p += 2;
        } else {
            char buf[128];
            fail_at(P, esc, "expected an escape (\\\" \\\\ \\n \\t \\xHH), got %s", describe(esc, buf, sizeof buf));
            return false;
        }
        P->p += 2;
    }
    P->p++;
    P->str[n] = '\0';
    return true;
}

/* The scratch string, interned in the graph. */
static const char *intern_str(parser *P) {
    const char *s = ir_intern(P->g, P->str);
    if (!s) fail_at(P, P->p, "out of memory");
    return s;
}

/* %N: a node reference; `at` gets its position. */
static bool parse_ref(parser *P, int64_t *id, const char **at, const char *what) {
    skip_ws(P);
    *at = P->p;
    if (*P->p != '%' || !is_digit(P->p[1])) return expected(P, P->p, what);
    P->p++;
    if (!parse_int(P, id, false, what)) return false;
    if (*id > INT32_MAX) {
        fail_at(P, *at, "node id %%%" PRId64 " is out of range", *id);
        return false;
    }
    return true;
}

/* An operand: a node defined on an earlier line. */
static bool parse_operand(parser *P, ir_id *id) {
    int64_t v;
    const char *at;
    if (!parse_ref(P, &v, &at, "an operand (%N)")) return false;
    if (v >= P->g->nnodes) {
        char buf[128];
        fail_at(P, at, "expected an operand defined on an earlier line (%%0..%%%d), got %s", P->g->nnodes - 1,
                describe(at, buf, sizeof buf));
        return false;
    }
    *id = (ir_id)v;
    return true;
}

/* ---- ops and attributes ---- */

/* Edit distance between two short strings (both < IDENT_MAX). */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b), row[IDENT_MAX + 1];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* "unknown op" with the nearest valid names: up to 4, within edit distance max(1, len/3). */
static void fail_unknown_op(parser *P, const char *at, const char *name) {
    char near[256] = "";
    size_t n = 0;
    int most = (int)strlen(name) / 3, shown = 0;
    if (most < 1) most = 1;
    for (int d = 0; d <= most; d++)
        for (int i = 0; i < OP_COUNT; i++)
            if (edit_distance(name, ir_ops[i].name) == d && shown++ < 4)
                n += (size_t)snprintf(near + n, sizeof near - n, "%s%s", n ? ", " : "", ir_ops[i].name);
    char buf[128];
    if (n) fail_at(P, at, "expected an op name, got %s (did you mean %s?)", describe(at, buf, sizeof buf), near);
    else fail_at(P, at, "expected an op name, got %s (the ops are listed in docs/ir.md)", describe(at, buf, sizeof buf));
}

/* The attribute names of op, ", "-separated, into buf. */
static const char *attr_list(ir_op op, char *buf, size_t len) {
    size_t n = 0;
    buf[0] = '\0';
    for (int id = 0; id < ATTR_COUNT && n < len; id++)
        if (ir_ops[op].attrs & (1u << id))
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", ir_attr_table[id].name);
    return buf;
}

/* The int64 field of a (seed, axis, start, end, lo, hi); NULL for other attributes. */
static int64_t *int_field(ir_attrs *a, int id) {
    switch ((ir_attr_id)id) {
    case ATTR_ID_seed: return &a->seed;
    case ATTR_ID_axis: return &a->axis;
    case ATTR_ID_start: return &a->start;
    case ATTR_ID_end: return &a->end;
    case ATTR_ID_lo: return &a->lo;
    case ATTR_ID_hi: return &a->hi;
    default: return NULL;
    }
}

/* The bool field of a (reverse, ta, tb); NULL for other attributes. */
static bool *bool_field(ir_attrs *a, int id) {
    switch ((ir_attr_id)id) {
    case ATTR_ID_reverse: return &a->reverse;
    case ATTR_ID_ta: return &a->ta;
    case ATTR_ID_tb: return &a->tb;
    case ATTR_ID_softplus: return &a->softplus;
    default: return NULL;
    }
}

#define INIT_FORMS "an initializer (zeros, ones, constant(v), normal(mean, std), uniform(lo, hi), data(v, ...))"

/* init=KIND[(args)]{|transform} */
static bool parse_init(parser *P, ir_init *out) {
    char kind[IDENT_MAX];
    const char *at;
    if (!parse_ident(P, kind, &at, INIT_FORMS)) return false;
    ir_init in = {0};
    if (strcmp(kind, "zeros") == 0) in = ir_init_zeros();
    else if (strcmp(kind, "ones") == 0) in = ir_init_ones();
    else if (strcmp(kind, "constant") == 0 || strcmp(kind, "normal") == 0 || strcmp(kind, "uniform") == 0) {
        in.kind = kind[0] == 'c' ? INIT_CONSTANT : kind[0] == 'n' ? INIT_NORMAL : INIT_UNIFORM;
        if (!expect_char(P, '(', "'('") || !parse_number(P, &in.a, false, "a number")) return false;
        if (in.kind != INIT_CONSTANT && (!expect_char(P, ',', "','") || !parse_number(P, &in.b, false, "a number")))
            return false;
        if (!expect_char(P, ')', "')'")) return false;
    } else if (strcmp(kind, "data") == 0) {
        size_t n = 0;
        if (!expect_char(P, '(', "'('")) return false;
        skip_ws(P);
        if (*P->p != ')') {
            for (;;) {
                double v;
                if (!reserve(P, (void **)&P->data, &P->data_cap, n + 1, sizeof(float)) ||
                    !parse_number(P, &v, true, "a number"))
                    return false;
                P->data[n++] = (float)v;
                skip_ws(P);
                if (*P->p != ',') break;
                P->p++;
            }
        }
        if (!expect_char(P, ')', "',' or ')'")) return false;
        in = ir_init_data(P->g, P->data, (int64_t)n);
        if (in.kind != INIT_DATA) {
            fail_at(P, at, "out of memory");
            return false;
        }
    } else {
        return expected(P, at, INIT_FORMS);
    }
    for (int k = 0;; k++) {
        skip_ws(P);
        if (*P->p != '|') break;
        P->p++;
        char post[IDENT_MAX];
        const char *pat;
        if (!parse_ident(P, post, &pat, "a transform (exp, softplus_inv)")) return false;
        ir_init_post t = ir_init_post_by_name(post);
        if (t == INIT_POST_COUNT) return expected(P, pat, "a transform (exp, softplus_inv)");
        if (k >= IR_INIT_MAX_POST) {
            fail_at(P, pat, "an initializer takes at most %d transforms", IR_INIT_MAX_POST);
            return false;
        }
        in.post[k] = t;
    }
    *out = in;
    return true;
}

/* The rest of "[i, ...]" after its '[': at most IR_MAX_RANK integers into vals. `what` names one integer,
 * `list` and `unit` the list and its entries ("perm", "entries"). */
static bool parse_int_list(parser *P, int64_t *vals, int *count, bool allow_neg, const char *what, const char *list,
                           const char *unit) {
    *count = 0;
    skip_ws(P);
    if (*P->p == ']') {
        P->p++;
        return true;
    }
    for (;;) {
        skip_ws(P);
        if (*count == IR_MAX_RANK) {
            fail_at(P, P->p, "%s has more than %d %s", list, IR_MAX_RANK, unit);
            return false;
        }
        if (!parse_int(P, &vals[(*count)++], allow_neg, what)) return false;
        skip_ws(P);
        if (*P->p == ']') break;
        if (!expect_char(P, ',', "',' or ']'")) return false;
    }
    P->p++;
    return true;
}

/* The value of attribute id into a. */
static bool parse_attr_value(parser *P, int id, ir_attrs *a, int *perm_count) {
    switch (ir_attr_table[id].kind) {
    case ATTR_STR:
        if (!parse_string(P, "a quoted string")) return false;
        a->name = intern_str(P);
        return a->name != NULL;
    case ATTR_INIT: return parse_init(P, &a->init);
    case ATTR_F64: return parse_number(P, &a->value, false, "a number");
    case ATTR_INT: return parse_int(P, int_field(a, id), true, "an integer");
    case ATTR_PERM:
        return expect_char(P, '[', "'['") && parse_int_list(P, a->perm, perm_count, true, "an integer", "perm", "entries");
    case ATTR_BOOL: {
        char word[IDENT_MAX];
        const char *at;
        if (!parse_ident(P, word, &at, "true or false")) return false;
        if (strcmp(word, "true") != 0 && strcmp(word, "false") != 0) return expected(P, at, "true or false");
        *bool_field(a, id) = word[0] == 't';
        return true;
    }
    }
    return false;
}

/* {name=value, ...}; every non-boolean attribute of op is required. */
static bool parse_attrs(parser *P, ir_op op, ir_attrs *a, int *perm_count, const char **name_at) {
    uint32_t seen = 0, mask = ir_ops[op].attrs;
    char list[256];
    skip_ws(P);
    if (*P->p == '{' && !mask) {
        char what[64];
        snprintf(what, sizeof what, "':' (%s takes no attributes)", ir_ops[op].name);
        return expected(P, P->p, what);
    }
    if (*P->p == '{') {
        P->p++;
        for (;;) {
            char word[IDENT_MAX];
            const char *at;
            if (!parse_ident(P, word, &at, "an attribute name")) return false;
            int id = 0;
            while (id < ATTR_COUNT && strcmp(ir_attr_table[id].name, word) != 0) id++;
            if (id == ATTR_COUNT || !(mask & (1u << id))) {
                char buf[128];
                fail_at(P, at, "expected an attribute of %s (%s), got %s", ir_ops[op].name,
                        attr_list(op, list, sizeof list), describe(at, buf, sizeof buf));
                return false;
            }
            if (seen & (1u << id)) {
                fail_at(P, at, "attribute %s is given twice", word);
                return false;
            }
            seen |= 1u << id;
            if (id == ATTR_ID_name) *name_at = at;
            if (!expect_char(P, '=', "'='") || !parse_attr_value(P, id, a, perm_count)) return false;
            skip_ws(P);
            if (*P->p == '}') break;
            if (!expect_char(P, ',', "',' or '}'")) return false;
        }
        P->p++;
    }
    skip_ws(P);
    for (int id = 0; id < ATTR_COUNT; id++)
        if ((mask & (1u << id)) && !(seen & (1u << id)) && ir_attr_table[id].kind != ATTR_BOOL) {
            char what[320];
            snprintf(what, sizeof what, "attribute %s= (%s needs %s)", ir_attr_table[id].name, ir_ops[op].name,
                     attr_list(op, list, sizeof list));
            return expected(P, P->p, what);
        }
    return true;
}

/* : f32[d, ...]; `what` says what else could have stood before the ':'. */
static bool parse_type(parser *P, ir_shape *s, const char **at, const char *what) {
    if (!expect_char(P, ':', what)) return false;
    char word[IDENT_MAX];
    if (!parse_ident(P, word, at, "a type (f32[dims])")) return false;
    if (strcmp(word, "f32") != 0) return expected(P, *at, "a type (f32[dims])");
    if (*P->p != '[') return expected(P, P->p, "'[' right after the dtype");
    P->p++;
    *s = (ir_shape){0};
    return parse_int_list(P, s->dim, &s->rank, false, "a dimension (an integer >= 0)", "a type",
                          "dimensions");
}

/* Optional loc("file":line) into *loc. */
static bool parse_loc(parser *P, ir_loc *loc) {
    *loc = (ir_loc){0};
    if (!peek_word(P, "loc")) return true;
    P->p += 3;
    int64_t line;
    if (!expect_char(P, '(', "'('") || !parse_string(P, "a quoted file name")) return false;
    loc->file = intern_str(P);
    if (!loc->file || !expect_char(P, ':', "':'")) return false;
    const char *at = P->p;
    if (!parse_int(P, &line, true, "a line number")) return false;
    if (line > INT_MAX || line < INT_MIN) {
        fail_at(P, at, "line number %" PRId64 " is out of range", line);
        return false;
    }
    loc->line = (int)line;
    return expect_char(P, ')', "')'");
}

/* %N = op [%a, ...] [{attrs}] : type [loc(...)] */
static bool parse_node(parser *P) {
    ir_graph *g = P->g;
    int64_t id;
    const char *id_at, *op_at, *type_at, *name_at = NULL;
    char want[32];
    snprintf(want, sizeof want, "%%%d", g->nnodes);
    if (!parse_ref(P, &id, &id_at, want)) return false;
    if (id != g->nnodes) {
        char buf[128];
        fail_at(P, id_at, "expected %s (node ids count up from %%0 by one), got %s", want, describe(id_at, buf, sizeof buf));
        return false;
    }
    char word[IDENT_MAX];
    if (!expect_char(P, '=', "'='") || !parse_ident(P, word, &op_at, "an op name")) return false;
    ir_op op = ir_op_by_name(word);
    if (op == OP_COUNT) {
        fail_unknown_op(P, op_at, word);
        return false;
    }
    size_t nin = 0;
    skip_ws(P);
    if (*P->p == '%') {
        for (;;) {
            if (!reserve(P, (void **)&P->ins, &P->ins_cap, nin + 1, sizeof(ir_id)) || !parse_operand(P, &P->ins[nin]))
                return false;
            nin++;
            skip_ws(P);
            if (*P->p != ',') break;
            P->p++;
        }
        if (nin > INT32_MAX / 2) {
            fail_at(P, op_at, "too many operands");
            return false;
        }
    }
    ir_attrs a = {0};
    int perm_count = -1;
    skip_ws(P);
    bool braces = *P->p == '{';
    if (!parse_attrs(P, op, &a, &perm_count, &name_at)) return false;
    ir_shape declared;
    /* what could have stood where the ':' was expected */
    const char *what = braces ? "':'" : ir_ops[op].attrs ? "',', '{' or ':'" : "',' or ':'";
    if (!braces && nin == 0) what = ir_ops[op].attrs ? "an operand, '{' or ':'" : "an operand or ':'";
    if (!parse_type(P, &declared, &type_at, what)) return false;
    ir_loc loc;
    if (!parse_loc(P, &loc) || !end_line(P, "loc(\"file\":line) or the end of the line")) return false;

    if (perm_count >= 0 && nin >= 1 && perm_count != g->nodes[P->ins[0]].shape.rank) {
        char t[96];
        const ir_node *x = &g->nodes[P->ins[0]];
        fail_at(P, op_at, "permute: perm has %d entries for %s of rank %d", perm_count,
                ir_type_str(x->dtype, x->shape, t, sizeof t), x->shape.rank);
        return false;
    }
    g->loc = loc;
    ir_id got = ir_build(g, op, P->ins, (int)nin, &a, &declared);
    g->loc = (ir_loc){0};
    if (got == IR_NONE) {
        fail_at(P, op_at, "%s", ir_error(g));
        return false;
    }
    const ir_node *n = &g->nodes[got];
    if (!ir_shape_eq(n->shape, declared)) {
        char t1[96], t2[96];
        fail_at(P, type_at, "expected type %s (inferred from the inputs), got %s",
                ir_type_str(n->dtype, n->shape, t1, sizeof t1), ir_type_str(n->dtype, declared, t2, sizeof t2));
        return false;
    }
    if (name_at && ir_find_source(g, op, n->attr.name) != got) {
        fail_at(P, name_at, "%s name \"%s\" is already used by %%%d", ir_ops[op].name, n->attr.name,
                ir_find_source(g, op, n->attr.name));
        return false;
    }
    return true;
}

/* output "name" = %N */
static bool parse_output(parser *P) {
    const char *at;
    int64_t id;
    P->p += strlen("output");
    skip_ws(P);
    const char *name_at = P->p;
    if (!parse_string(P, "a quoted output name")) return false;
    const char *name = intern_str(P);
    if (!name || !expect_char(P, '=', "'='") || !parse_ref(P, &id, &at, "a node (%N)")) return false;
    if (id >= P->g->nnodes) {
        char buf[128];
        fail_at(P, at, "expected a node defined on an earlier line (%%0..%%%d), got %s", P->g->nnodes - 1,
                describe(at, buf, sizeof buf));
        return false;
    }
    if (!end_line(P, "the end of the line")) return false;
    if (!ir_output_add(P->g, name, (ir_id)id)) {
        fail_at(P, name_at, "%s", ir_error(P->g));
        return false;
    }
    return true;
}

static ir_graph *parse_all(parser *P) {
    while (!P->failed) {
        skip_ws(P);
        if (*P->p == '%') parse_node(P);
        else if (peek_word(P, "output")) parse_output(P);
        else if (!at_eol(P)) expected(P, P->p, "a node line (%N = op ...), an output line or a comment");
        else end_line(P, "");
        if (P->failed) break;
        if (*P->p == '\0') break;
        P->p++; /* the newline */
        P->line++;
        P->line_start = P->p;
    }
    if (!P->failed && P->g->nnodes == 0) expected(P, P->p, "a node line (%0 = op ...)");
    if (!P->failed && !ir_verify(P->g)) { /* builders check every node; this is a safety net */
        if (P->err && P->errlen) snprintf(P->err, P->errlen, "%s: %s", P->file, ir_error(P->g));
        P->failed = true;
    }
    if (P->failed) return NULL;
    P->g->loc = (ir_loc){0};
    ir_graph *g = P->g;
    P->g = NULL;
    return g;
}

ir_graph *ir_parse(const char *text, const char *filename, char *err, size_t errlen) {
    parser P = {.p = text ? text : "", .line = 1, .file = filename ? filename : "<input>", .err = err, .errlen = errlen};
    P.line_start = P.p;
    if (err && errlen) err[0] = '\0';
    P.g = ir_graph_new();
    ir_graph *g = NULL;
    if (!P.g) fail_at(&P, P.p, "out of memory");
    else g = parse_all(&P);
    ir_graph_free(P.g);
    free(P.str);
    free(P.data);
    free(P.ins);
    return g;
}
