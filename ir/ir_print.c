/* ir_print.c — the text form of a graph. One node per line:
 *
 *   %0 = input {name="tokens"} : f32[64,82,20] loc("models.lua":12)
 *   %1 = param {name="read_in.weight", init=uniform(-0.2236, 0.2236)} : f32[128,20]
 *   %2 = param {name="dt_proj.bias", init=uniform(-6.9, -2.3)|exp|softplus_inv} : f32[256]
 *   %3 = matmul %0, %1 {tb=true} : f32[64,82,128]
 *   %4 = sum %3 {axis=2} : f32[64,82,1]
 *   output "y" = %4
 *
 * Attributes are named and listed in attrs.def order; an op's integer, number, string and initializer
 * attributes are always printed, boolean ones only when true. Numbers print in the shortest form that
 * reads back exactly (data() values as f32), so print(parse(text)) == text for printed text.
 * ir/ir_parse.c reads the same form; docs/ir.md has its grammar. */
#include "ir/ir.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 64;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
}

/* The shortest %g form (at least 6 digits) of d that reads back as exactly d. */
static void print_number(strbuf *b, double d) {
    char buf[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
    }
    sb_printf(b, "%s", buf);
}

/* The shortest %g form of f that reads back (strtof) as exactly f: data(0.1), not data(0.100000001). */
static void print_float(strbuf *b, float f) {
    char buf[40];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    sb_printf(b, "%s", buf);
}

/* A quoted string with \" \\ \n \t and \xHH escapes. */
static void print_quoted(strbuf *b, const char *s) {
    sb_printf(b, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
        else if (c == '\n') sb_printf(b, "\\n");
        else if (c == '\t') sb_printf(b, "\\t");
        else if (c < 0x20 || c == 0x7f) sb_printf(b, "\\x%02x", c);
        else sb_printf(b, "%c", c);
    }
    sb_printf(b, "\"");
}

static void print_init(strbuf *b, const ir_init *in) {
    switch (in->kind) {
    case INIT_ZEROS: sb_printf(b, "zeros"); break;
    case INIT_ONES: sb_printf(b, "ones"); break;
    case INIT_CONSTANT:
    case INIT_NORMAL:
    case INIT_UNIFORM:
        sb_printf(b, "%s(", in->kind == INIT_CONSTANT ? "constant" : in->kind == INIT_NORMAL ? "normal" : "uniform");
        print_number(b, in->a);
        if (in->kind != INIT_CONSTANT) {
            sb_printf(b, ", ");
            print_number(b, in->b);
        }
        sb_printf(b, ")");
        break;
    case INIT_DATA:
        sb_printf(b, "data(");
        for (int64_t i = 0; i < (int64_t)in->a; i++) {
            if (i) sb_printf(b, ", ");
            print_float(b, in->data[i]);
        }
        sb_printf(b, ")");
        break;
    case INIT_COUNT: sb_printf(b, "?"); break;
    }
    for (int k = 0; k < IR_INIT_MAX_POST && in->post[k] != INIT_POST_NONE; k++)
        sb_printf(b, "|%s", ir_init_post_name(in->post[k]));
}

/* Prints the attributes of n in braces (nothing when none is shown). */
static void print_attrs(strbuf *b, const ir_node *n) {
    const ir_attrs *a = &n->attr;
    uint32_t mask = ir_ops[n->op].attrs;
    int shown = 0;
    for (int id = 0; id < ATTR_COUNT; id++) {
        if (!(mask & (1u << id))) continue;
        const ir_attr_info *info = &ir_attr_table[id];
        bool flag = false;
        switch ((ir_attr_id)id) {
        case ATTR_ID_reverse: flag = a->reverse; break;
        case ATTR_ID_ta: flag = a->ta; break;
        case ATTR_ID_tb: flag = a->tb; break;
        case ATTR_ID_softplus: flag = a->softplus; break;
        default: break;
        }
        if (info->kind == ATTR_BOOL && !flag) continue;
        sb_printf(b, "%s%s=", shown++ ? ", " : " {", info->name);
        switch ((ir_attr_id)id) {
        case ATTR_ID_name: print_quoted(b, a->name); break;
        case ATTR_ID_init: print_init(b, &a->init); break;
        case ATTR_ID_value: print_number(b, a->value); break;
        case ATTR_ID_seed: sb_printf(b, "%" PRId64, a->seed); break;
        case ATTR_ID_axis: sb_printf(b, "%" PRId64, a->axis); break;
        case ATTR_ID_start: sb_printf(b, "%" PRId64, a->start); break;
        case ATTR_ID_end: sb_printf(b, "%" PRId64, a->end); break;
        case ATTR_ID_lo: sb_printf(b, "%" PRId64, a->lo); break;
        case ATTR_ID_hi: sb_printf(b, "%" PRId64, a->hi); break;
        case ATTR_ID_perm:
            sb_printf(b, "[");
            for (int d = 0; d < n->shape.rank; d++) sb_printf(b, "%s%" PRId64, d ? "," : "", a->perm[d]);
            sb_printf(b, "]");
            break;
        case ATTR_ID_reverse:
        case ATTR_ID_ta:
        case ATTR_ID_tb:
        case ATTR_ID_softplus: sb_printf(b, "true"); break;
        case ATTR_COUNT: break;
        }
    }
    if (shown) sb_printf(b, "}");
}

char *ir_print(const ir_graph *g) {
    strbuf b = {0};
    for (ir_id id = 0; id < g->nnodes; id++) {
        const ir_node *n = &g->nodes[id];
        char type[96];
        sb_printf(&b, "%%%d = %s", id, ir_ops[n->op].name);
        for (int k = 0; k < n->nin; k++) sb_printf(&b, "%s%%%d", k ? ", " : " ", ir_in(g, n, k));
        print_attrs(&b, n);
        sb_printf(&b, " : %s", ir_type_str(n->dtype, n->shape, type, sizeof type));
        if (n->loc.file) {
            sb_printf(&b, " loc(");
            print_quoted(&b, n->loc.file);
            sb_printf(&b, ":%d)", n->loc.line);
        }
        sb_printf(&b, "\n");
    }
    for (int i = 0; i < g->noutputs; i++) {
        sb_printf(&b, "output ");
        print_quoted(&b, g->outputs[i].name);
        sb_printf(&b, " = %%%d\n", g->outputs[i].id);
    }
    if (!b.s && !b.oom) sb_printf(&b, "%s", "");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
