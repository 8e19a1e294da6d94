/* ir_graph.c — graphs, the op table, builders and errors. */
#include "ir/ir.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ---- */

const ir_op_info ir_ops[OP_COUNT] = {
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) {#name, arity, attrs, flags},
#include "ir/ops.def"
#undef OP
};

const ir_attr_info ir_attr_table[ATTR_COUNT] = {
#define ATTR(name, kind, dflt) {#name, kind},
#include "ir/attrs.def"
#undef ATTR
};

static ir_shape_fn *const shape_rules[] = {
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) shape,
#include "ir/ops.def"
#undef OP
};
_Static_assert(sizeof shape_rules / sizeof shape_rules[0] == OP_COUNT, "one shape rule per op");

bool ir_infer_shape(ir_graph *g, ir_node *n) { return shape_rules[n->op](g, n); }

ir_op ir_op_by_name(const char *name) {
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(ir_ops[i].name, name) == 0) return (ir_op)i;
    return OP_COUNT;
}

/* ---- shapes ---- */

ir_shape ir_shape_of(int rank, const int64_t *dims) {
    ir_shape s = {.rank = rank};
    for (int i = 0; i < rank && i < IR_MAX_RANK; i++) s.dim[i] = dims[i];
    return s;
}

ir_shape ir_shape_scalar(void) { return (ir_shape){0}; }

int64_t ir_numel(ir_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.rank; i++) n *= s.dim[i];
    return n;
}

bool ir_shape_eq(ir_shape a, ir_shape b) {
    if (a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; i++)
        if (a.dim[i] != b.dim[i]) return false;
    return true;
}

const char *ir_dtype_name(ir_dtype t) { return t == IR_BF16 ? "bf16" : "f32"; }

char *ir_type_str(ir_dtype t, ir_shape s, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "%s[", ir_dtype_name(t));
    for (int i = 0; i < s.rank && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%" PRId64, i ? "," : "", s.dim[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
    return buf;
}

void ir_strides(ir_shape s, int64_t *strides) {
    int64_t st = 1;
    for (int i = s.rank - 1; i >= 0; i--) {
        strides[i] = st;
        st *= s.dim[i];
    }
}

bool ir_broadcast_shapes(ir_shape a, ir_shape b, ir_shape *out) {
    ir_shape r = {.rank = a.rank > b.rank ? a.rank : b.rank};
    for (int i = 0; i < r.rank; i++) {
        int ia = a.rank - r.rank + i, ib = b.rank - r.rank + i;
        int64_t da = ia >= 0 ? a.dim[ia] : 1, db = ib >= 0 ? b.dim[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        r.dim[i] = da == 1 ? db : da;
    }
    *out = r;
    return true;
}

/* ---- graphs ---- */

ir_graph *ir_graph_new(void) { return calloc(1, sizeof(ir_graph)); }

void ir_graph_free(ir_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->nstrings; i++) free(g->strings[i]);
    for (int i = 0; i < g->nblobs; i++) free(g->blobs[i]);
    free(g->strings);
    free(g->blobs);
    free(g->nodes);
    free(g->args);
    free(g->outputs);
    free(g);
}

/* Re-points an interned string of `from` at the equal string of `to`. */
static const char *reintern(ir_graph *to, const char *s) { return s ? ir_intern(to, s) : NULL; }

ir_graph *ir_graph_clone(const ir_graph *g) {
    ir_graph *c = ir_graph_new();
    if (!c) return NULL;
    bool okay = true;
    for (ir_id i = 0; okay && i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        ir_attrs a = n->attr;
        a.name = reintern(c, a.name);
        okay = !n->attr.name || a.name;
        if (okay && a.init.kind == INIT_DATA) {
            ir_init d = ir_init_data(c, a.init.data, (int64_t)a.init.a);
            okay = d.kind == INIT_DATA;
            for (int k = 0; k < IR_INIT_MAX_POST; k++) d.post[k] = a.init.post[k];
            a.init = d;
        }
        c->loc = (ir_loc){reintern(c, n->loc.file), n->loc.line};
        okay = okay && ir_build(c, n->op, g->args + n->in_off, n->nin, &a, &n->shape) == i;
        if (okay) c->nodes[i].dtype = n->dtype;
    }
    for (int i = 0; okay && i < g->noutputs; i++) okay = ir_output_add(c, g->outputs[i].name, g->outputs[i].id);
    c->loc = (ir_loc){0};
    if (!okay) {
        ir_graph_free(c);
        return NULL;
    }
    return c;
}

/* Grows *arr (of *cap elements of size elem) to hold at least need elements. */
static bool grow(void **arr, int32_t *cap, int32_t need, size_t elem) {
    if (need <= *cap) return true;
    int32_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p) return false;
    *arr = p;
    *cap = c;
    return true;
}

const char *ir_intern(ir_graph *g, const char *s) {
    if (!s) return NULL;
    for (int i = 0; i < g->nstrings; i++)
        if (strcmp(g->strings[i], s) == 0) return g->strings[i];
    char *copy = strdup(s);
    if (!copy || !grow((void **)&g->strings, &g->cap_strings, g->nstrings + 1, sizeof(char *))) {
        free(copy);
        return NULL;
    }
    g->strings[g->nstrings++] = copy;
    return copy;
}

void ir_set_loc(ir_graph *g, const char *file, int line) {
    g->loc.file = ir_intern(g, file);
    g->loc.line = line;
}

const char *ir_error(const ir_graph *g) { return g->failed ? g->err : ""; }
bool ir_failed(const ir_graph *g) { return g->failed; }

void ir_clear_error(ir_graph *g) {
    g->failed = false;
    g->err[0] = '\0';
}

void ir_errorf(ir_graph *g, const char *fmt, ...) {
    if (g->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof g->err && g->loc.file)
        snprintf(g->err + n, sizeof g->err - (size_t)n, " (%s:%d)", g->loc.file, g->loc.line);
    g->failed = true;
}

/* ---- building ---- */

static bool valid_id(const ir_graph *g, ir_id id) { return id >= 0 && id < g->nnodes; }

ir_id ir_build(ir_graph *g, ir_op op, const ir_id *in, int nin, const ir_attrs *attrs, const ir_shape *shape) {
    if ((unsigned)op >= OP_COUNT) {
        ir_errorf(g, "unknown op %d", (int)op);
        return IR_NONE;
    }
    const ir_op_info *info = &ir_ops[op];
    for (int i = 0; i < nin; i++)
        if (!valid_id(g, in[i])) {
            /* An earlier builder failed (its message is kept) or the id is bogus. */
            if (!g->failed) ir_errorf(g, "%s: input %d is not a node of this graph (id %d)", info->name, i, in[i]);
            return IR_NONE;
        }
    if (info->arity >= 0 ? nin != info->arity : nin < 1) {
        int want = info->arity < 0 ? 1 : info->arity;
        ir_errorf(g, "%s: expects %s%d input%s, got %d", info->name, info->arity < 0 ? "at least " : "", want,
                  want == 1 ? "" : "s", nin);
        return IR_NONE;
    }
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->nnodes + 1, sizeof(ir_node)) ||
        !grow((void **)&g->args, &g->cap_args, g->nargs + nin, sizeof(ir_id))) {
        ir_errorf(g, "%s: out of memory", info->name);
        return IR_NONE;
    }
    ir_node *n = &g->nodes[g->nnodes];
    *n = (ir_node){.op = op, .dtype = IR_F32, .nin = nin, .in_off = g->nargs, .loc = g->loc};
    if (attrs) n->attr = *attrs;
    if (shape) n->shape = *shape;
    if (nin) memcpy(g->args + g->nargs, in, (size_t)nin * sizeof(ir_id));
    if (!shape_rules[op](g, n)) return IR_NONE; /* nothing committed: the slot is reused */
    g->nargs += nin;
    return g->nnodes++;
}

static ir_id build0(ir_graph *g, ir_op op, const ir_attrs *a, ir_shape s) { return ir_build(g, op, NULL, 0, a, &s); }

ir_id ir_input(ir_graph *g, const char *name, ir_shape s) {
    return build0(g, OP_input, &(ir_attrs){.name = ir_intern(g, name)}, s);
}

ir_id ir_param(ir_graph *g, const char *name, ir_shape s, ir_init init) {
    return build0(g, OP_param, &(ir_attrs){.name = ir_intern(g, name), .init = init}, s);
}

ir_id ir_const(ir_graph *g, double value, ir_shape s) { return build0(g, OP_const, &(ir_attrs){.value = value}, s); }
ir_id ir_scalar(ir_graph *g, double value) { return ir_const(g, value, ir_shape_scalar()); }
ir_id ir_iota(ir_graph *g, ir_shape s, int axis) { return build0(g, OP_iota, &(ir_attrs){.axis = axis}, s); }

ir_id ir_rand_mask(ir_graph *g, ir_shape s, double p, int64_t seed) {
    return build0(g, OP_rand_mask, &(ir_attrs){.value = p, .seed = seed}, s);
}

static bool has_flag(ir_graph *g, ir_op op, uint32_t flag, const char *what) {
    if ((unsigned)op < OP_COUNT && (ir_ops[op].flags & flag)) return true;
    if ((unsigned)op < OP_COUNT) ir_errorf(g, "%s is not %s", ir_ops[op].name, what);
    else ir_errorf(g, "op %d is not %s", (int)op, what);
    return false;
}

ir_id ir_unary(ir_graph *g, ir_op op, ir_id x) {
    if (!has_flag(g, op, OPF_UNARY, "a unary op")) return IR_NONE;
    return ir_build(g, op, &x, 1, NULL, NULL);
}

ir_id ir_binary(ir_graph *g, ir_op op, ir_id a, ir_id b) {
    if (!has_flag(g, op, OPF_BINARY, "a binary op")) return IR_NONE;
    return ir_build(g, op, (ir_id[]){a, b}, 2, NULL, NULL);
}

ir_id ir_select(ir_graph *g, ir_id c, ir_id a, ir_id b) {
    return ir_build(g, OP_select, (ir_id[]){c, a, b}, 3, NULL, NULL);
}

ir_id ir_reduce(ir_graph *g, ir_op op, ir_id x, int axis) {
    if (!has_flag(g, op, OPF_REDUCE, "a reduction")) return IR_NONE;
    return ir_build(g, op, &x, 1, &(ir_attrs){.axis = axis}, NULL);
}

ir_id ir_reshape(ir_graph *g, ir_id x, ir_shape s) { return ir_build(g, OP_reshape, &x, 1, NULL, &s); }

ir_id ir_permute(ir_graph *g, ir_id x, const int *perm) {
    ir_attrs a = {0};
    int rank = valid_id(g, x) ? g->nodes[x].shape.rank : 0;
    for (int i = 0; i < rank; i++) a.perm[i] = perm[i];
    return ir_build(g, OP_permute, &x, 1, &a, NULL);
}

ir_id ir_broadcast(ir_graph *g, ir_id x, ir_shape s) { return ir_build(g, OP_broadcast, &x, 1, NULL, &s); }

ir_id ir_slice(ir_graph *g, ir_id x, int axis, int64_t start, int64_t end) {
    return ir_build(g, OP_slice, &x, 1, &(ir_attrs){.axis = axis, .start = start, .end = end}, NULL);
}

ir_id ir_concat(ir_graph *g, const ir_id *xs, int n, int axis) {
    return ir_build(g, OP_concat, xs, n, &(ir_attrs){.axis = axis}, NULL);
}

ir_id ir_pad(ir_graph *g, ir_id x, int axis, int64_t lo, int64_t hi, double value) {
    return ir_build(g, OP_pad, &x, 1, &(ir_attrs){.axis = axis, .lo = lo, .hi = hi, .value = value}, NULL);
}

ir_id ir_matmul(ir_graph *g, ir_id a, ir_id b, bool ta, bool tb) {
    return ir_build(g, OP_matmul, (ir_id[]){a, b}, 2, &(ir_attrs){.ta = ta, .tb = tb}, NULL);
}

ir_id ir_scan(ir_graph *g, ir_id a, ir_id b, ir_id h0, int axis, bool reverse) {
    return ir_build(g, OP_scan, (ir_id[]){a, b, h0}, 3, &(ir_attrs){.axis = axis, .reverse = reverse}, NULL);
}

ir_id ir_cscan(ir_graph *g, ir_id a, ir_id b, ir_id h0, int axis, bool reverse) {
    return ir_build(g, OP_cscan, (ir_id[]){a, b, h0}, 3, &(ir_attrs){.axis = axis, .reverse = reverse}, NULL);
}

/* ---- outputs and lookup ---- */

ir_id ir_output_find(const ir_graph *g, const char *name) {
    for (int i = 0; i < g->noutputs; i++)
        if (strcmp(g->outputs[i].name, name) == 0) return g->outputs[i].id;
    return IR_NONE;
}

bool ir_output_add(ir_graph *g, const char *name, ir_id id) {
    if (!name || !name[0]) {
        ir_errorf(g, "output: needs a name");
        return false;
    }
    if (!valid_id(g, id)) {
        if (!g->failed) ir_errorf(g, "output '%s': not a node of this graph (id %d)", name, id);
        return false;
    }
    if (ir_output_find(g, name) != IR_NONE) {
        ir_errorf(g, "output '%s' is defined twice", name);
        return false;
    }
    const char *s = ir_intern(g, name);
    if (!s || !grow((void **)&g->outputs, &g->cap_outputs, g->noutputs + 1, sizeof(ir_output))) {
        ir_errorf(g, "output '%s': out of memory", name);
        return false;
    }
    g->outputs[g->noutputs++] = (ir_output){s, id};
    return true;
}

ir_id ir_find_source(const ir_graph *g, ir_op op, const char *name) {
    for (ir_id i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == op && g->nodes[i].attr.name && strcmp(g->nodes[i].attr.name, name) == 0) return i;
    return IR_NONE;
}

/* ---- initializers ---- */

ir_init ir_init_zeros(void) { return (ir_init){.kind = INIT_ZEROS}; }
ir_init ir_init_ones(void) { return (ir_init){.kind = INIT_ONES}; }
ir_init ir_init_constant(double v) { return (ir_init){.kind = INIT_CONSTANT, .a = v}; }
ir_init ir_init_normal(double mean, double std) { return (ir_init){.kind = INIT_NORMAL, .a = mean, .b = std}; }
ir_init ir_init_uniform(double lo, double hi) { return (ir_init){.kind = INIT_UNIFORM, .a = lo, .b = hi}; }

ir_init ir_init_data(ir_graph *g, const float *values, int64_t n) {
    float *copy = n > 0 ? malloc((size_t)n * sizeof(float)) : NULL;
    if ((n > 0 && !copy) || !grow((void **)&g->blobs, &g->cap_blobs, g->nblobs + 1, sizeof(float *))) {
        free(copy);
        ir_errorf(g, "param data: out of memory");
        return (ir_init){.kind = INIT_COUNT};
    }
    if (n > 0) memcpy(copy, values, (size_t)n * sizeof(float));
    g->blobs[g->nblobs++] = copy;
    return (ir_init){.kind = INIT_DATA, .a = (double)n, .data = copy};
}

/* ---- structural hash ---- */

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0xBF58476D1CE4E5B9ull;
}

static uint64_t mix_str(uint64_t h, const char *s) {
    for (; s && *s; s++) h = mix(h, (uint8_t)*s);
    return mix(h, 0xFF);
}

static uint64_t mix_f64(uint64_t h, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return mix(h, bits);
}

uint64_t ir_graph_hash(const ir_graph *g) {
    uint64_t h = 0x1C1C;
    for (ir_id i = 0; i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        const ir_attrs *a = &n->attr;
        h = mix(h, (uint64_t)n->op);
        h = mix(h, (uint64_t)n->dtype);
        h = mix(h, (uint64_t)n->shape.rank);
        for (int d = 0; d < n->shape.rank; d++) h = mix(h, (uint64_t)n->shape.dim[d]);
        for (int k = 0; k < n->nin; k++) h = mix(h, (uint64_t)ir_in(g, n, k));
        h = mix_str(h, a->name);
        h = mix(h, (uint64_t)a->init.kind);
        h = mix_f64(mix_f64(h, a->init.a), a->init.b);
        h = mix(mix(h, (uint64_t)a->init.post[0]), (uint64_t)a->init.post[1]);
        if (a->init.kind == INIT_DATA)
            for (int64_t k = 0; k < (int64_t)a->init.a; k++) h = mix_f64(h, a->init.data[k]);
        h = mix_f64(h, a->value);
        h = mix(mix(mix(h, (uint64_t)a->seed), (uint64_t)a->axis), (uint64_t)a->start);
        h = mix(mix(mix(h, (uint64_t)a->end), (uint64_t)a->lo), (uint64_t)a->hi);
        for (int d = 0; d < IR_MAX_RANK; d++) h = mix(h, (uint64_t)a->perm[d]);
        h = mix(h, ir_attrs_flags(a));
    }
    for (int i = 0; i < g->noutputs; i++) h = mix(mix_str(h, g->outputs[i].name), (uint64_t)g->outputs[i].id);
    return h;
}
