/* test_gradcheck.c — every op's VJP against central finite differences in double.
 *
 * Table driven: a case names an op, its operands (shape, value domain) and attributes; the test builds
 * loss = sum(op(operands) * w) with random weights w, differentiates it with pass_autodiff and checks every
 * gradient element (tests/gradcheck.h). Adding an op = one row in `cases`; the coverage test fails for an op
 * with inputs that has no row. Then a few whole graphs: fan-out, a chain, dropout, an MLP with softmax and
 * cross-entropy. */
#include "ir/interp.h"
#include "ir/ir.h"
#include "ir/philox.h"
#include "passes/autodiff.h"
#include "tests/gradcheck.h"
#include "tests/tap.h"

#include <math.h>
#include <string.h>

/* Value domains of operands, chosen away from kinks and outside the ops' domains' edges. */
typedef enum dom {
    D_ANY,  /* N(0, 1) */
    D_POS,  /* U[0.5, 2] (log, sqrt, rsqrt, divisors) */
    D_AWAY, /* +-U[0.3, 1.5]: away from 0 (relu, abs, sign) */
    D_BIG,  /* U[21, 24]: softplus above its threshold */
    D_HALF, /* N(0, 0.25): scan coefficients */
    D_MASK, /* 0 or 1, an input (select's condition): never differentiated */
} dom;

#define SH(...) {.rank = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), .dim = {__VA_ARGS__}}
#define SCALAR {.rank = 0}

typedef struct operand {
    ir_shape shape;
    dom dom;
} operand;

typedef struct gcase {
    const char *label;
    ir_op op;
    int nin;
    operand in[4];
    ir_attrs attr;
    ir_shape shape; /* given output shape (reshape, broadcast) */
} gcase;

#define U(op, d) {#op, OP_##op, 1, {{SH(2, 3), d}}, {0}, {0}}
#define B(label, op, sa, da, sb, db) {label, OP_##op, 2, {{sa, da}, {sb, db}}, {0}, {0}}

static const gcase cases[] = {
    /* unary */
    U(neg, D_ANY), U(exp, D_ANY), U(log, D_POS), U(sqrt, D_POS), U(rsqrt, D_POS), U(tanh, D_ANY),
    U(sigmoid, D_ANY), U(relu, D_AWAY), U(gelu, D_ANY), U(erf, D_ANY), U(silu, D_ANY), U(softplus, D_ANY),
    {"softplus above 20", OP_softplus, 1, {{SH(2, 3), D_BIG}}, {0}, {0}},
    U(abs, D_AWAY), U(sign, D_AWAY), U(square, D_ANY), U(cos, D_ANY), U(sin, D_ANY),
    /* binary: same shapes, one side broadcast, both broadcast with rank promotion, scalar */
    B("add", add, SH(2, 3), D_ANY, SH(2, 3), D_ANY),
    B("add [2,3,4]+[4]", add, SH(2, 3, 4), D_ANY, SH(4), D_ANY),
    B("add [2,1,4]+[3,1]", add, SH(2, 1, 4), D_ANY, SH(3, 1), D_ANY),
    B("sub [3,1]-[2,1,4]", sub, SH(3, 1), D_ANY, SH(2, 1, 4), D_ANY),
    B("sub []-[2,3]", sub, SCALAR, D_ANY, SH(2, 3), D_ANY),
    B("mul", mul, SH(2, 3), D_ANY, SH(2, 3), D_ANY),
    B("mul [2,1,4]*[3,1]", mul, SH(2, 1, 4), D_ANY, SH(3, 1), D_ANY),
    B("mul [1,3]*[]", mul, SH(1, 3), D_ANY, SCALAR, D_ANY),
    B("div", div, SH(2, 3), D_ANY, SH(2, 3), D_POS),
    B("div [2,1,4]/[3,1]", div, SH(2, 1, 4), D_ANY, SH(3, 1), D_AWAY),
    B("max", max, SH(3, 4), D_ANY, SH(3, 4), D_ANY),
    B("max [2,3,4],[3,1]", max, SH(2, 3, 4), D_ANY, SH(3, 1), D_ANY),
    B("min", min, SH(3, 4), D_ANY, SH(3, 4), D_ANY),
    B("min [4],[2,3,1]", min, SH(4), D_ANY, SH(2, 3, 1), D_ANY),
    B("lt", lt, SH(2, 3), D_ANY, SH(2, 3), D_ANY), B("le", le, SH(2, 3), D_ANY, SH(3), D_ANY),
    B("gt", gt, SH(2, 3), D_ANY, SH(2, 3), D_ANY), B("ge", ge, SH(2, 3), D_ANY, SH(2, 3), D_ANY),
    B("eq", eq, SH(2, 3), D_ANY, SH(2, 3), D_ANY), B("ne", ne, SH(2, 3), D_ANY, SH(2, 3), D_ANY),
    {"select", OP_select, 3, {{SH(2, 3), D_MASK}, {SH(2, 3), D_ANY}, {SH(2, 3), D_ANY}}, {0}, {0}},
    {"select broadcast", OP_select, 3, {{SH(2, 1, 4), D_MASK}, {SH(3, 1), D_ANY}, {SH(4), D_ANY}}, {0}, {0}},
    /* reductions over every axis */
    {"sum axis 0", OP_sum, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = 0}, {0}},
    {"sum axis 1", OP_sum, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = 1}, {0}},
    {"sum axis 2", OP_sum, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = 2}, {0}},
    {"mean axis 0", OP_mean, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = 0}, {0}},
    {"mean axis 1", OP_mean, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = 1}, {0}},
    {"mean axis -1", OP_mean, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = -1}, {0}},
    {"rmax axis 0", OP_rmax, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = 0}, {0}},
    {"rmax axis 1", OP_rmax, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = 1}, {0}},
    {"rmax axis 2", OP_rmax, 1, {{SH(2, 3, 4), D_ANY}}, {.axis = 2}, {0}},
    /* movement */
    {"reshape", OP_reshape, 1, {{SH(2, 3, 4), D_ANY}}, {0}, SH(4, 6)},
    {"permute", OP_permute, 1, {{SH(2, 3, 4), D_ANY}}, {.perm = {2, 0, 1}}, {0}},
    {"permute 4d", OP_permute, 1, {{SH(2, 3, 1, 2), D_ANY}}, {.perm = {1, 3, 0, 2}}, {0}},
    {"broadcast", OP_broadcast, 1, {{SH(3, 1), D_ANY}}, {0}, SH(2, 3, 4)},
    {"broadcast scalar", OP_broadcast, 1, {{SCALAR, D_ANY}}, {0}, SH(2, 3)},
    {"slice axis 1", OP_slice, 1, {{SH(2, 5, 3), D_ANY}}, {.axis = 1, .start = 1, .end = 4}, {0}},
    {"slice axis 0", OP_slice, 1, {{SH(4, 3), D_ANY}}, {.axis = 0, .start = 0, .end = 1}, {0}},
    {"concat axis 1", OP_concat, 3, {{SH(2, 1, 3), D_ANY}, {SH(2, 2, 3), D_ANY}, {SH(2, 3, 3), D_ANY}}, {.axis = 1}, {0}},
    {"concat axis -1", OP_concat, 2, {{SH(2, 3), D_ANY}, {SH(2, 1), D_ANY}}, {.axis = -1}, {0}},
    {"pad axis 1", OP_pad, 1, {{SH(2, 3, 2), D_ANY}}, {.axis = 1, .lo = 1, .hi = 2, .value = 0.5}, {0}},
    {"pad axis 0", OP_pad, 1, {{SH(3, 2), D_ANY}}, {.axis = 0, .lo = 0, .hi = 1}, {0}},
    /* matmul: every ta/tb combination, broadcast batch dims, rank promotion */
    {"matmul", OP_matmul, 2, {{SH(3, 4), D_ANY}, {SH(4, 5), D_ANY}}, {0}, {0}},
    {"matmul ta", OP_matmul, 2, {{SH(4, 3), D_ANY}, {SH(4, 5), D_ANY}}, {.ta = true}, {0}},
    {"matmul tb", OP_matmul, 2, {{SH(3, 4), D_ANY}, {SH(5, 4), D_ANY}}, {.tb = true}, {0}},
    {"matmul ta tb", OP_matmul, 2, {{SH(4, 3), D_ANY}, {SH(5, 4), D_ANY}}, {.ta = true, .tb = true}, {0}},
    {"matmul batch [2,1,3,4]x[5,4,2]", OP_matmul, 2, {{SH(2, 1, 3, 4), D_ANY}, {SH(5, 4, 2), D_ANY}}, {0}, {0}},
    {"matmul batch ta [2,4,3]x[4,2]", OP_matmul, 2, {{SH(2, 4, 3), D_ANY}, {SH(4, 2), D_ANY}}, {.ta = true}, {0}},
    {"matmul batch tb [3,4]x[2,1,5,4]", OP_matmul, 2, {{SH(3, 4), D_ANY}, {SH(2, 1, 5, 4), D_ANY}}, {.tb = true}, {0}},
    {"matmul batch ta tb [1,3,4,2]x[2,1,3,4]", OP_matmul, 2, {{SH(1, 3, 4, 2), D_ANY}, {SH(2, 1, 3, 4), D_ANY}},
     {.ta = true, .tb = true}, {0}},
    /* recurrences: along a middle axis with nonzero h0, both directions; first and last axes; T = 1 */
    {"scan axis 1", OP_scan, 3, {{SH(2, 5, 3), D_HALF}, {SH(2, 5, 3), D_ANY}, {SH(2, 1, 3), D_ANY}}, {.axis = 1}, {0}},
    {"scan axis 1 reverse", OP_scan, 3, {{SH(2, 5, 3), D_HALF}, {SH(2, 5, 3), D_ANY}, {SH(2, 1, 3), D_ANY}},
     {.axis = 1, .reverse = true}, {0}},
    {"scan axis 0", OP_scan, 3, {{SH(4, 3), D_HALF}, {SH(4, 3), D_ANY}, {SH(1, 3), D_ANY}}, {.axis = 0}, {0}},
    {"scan axis -1 reverse", OP_scan, 3, {{SH(2, 4), D_HALF}, {SH(2, 4), D_ANY}, {SH(2, 1), D_ANY}},
     {.axis = -1, .reverse = true}, {0}},
    {"scan T=1", OP_scan, 3, {{SH(2, 1, 3), D_HALF}, {SH(2, 1, 3), D_ANY}, {SH(2, 1, 3), D_ANY}}, {.axis = 1}, {0}},
    {"cscan axis 1", OP_cscan, 3, {{SH(2, 4, 3, 2), D_HALF}, {SH(2, 4, 3, 2), D_ANY}, {SH(2, 1, 3, 2), D_ANY}},
     {.axis = 1}, {0}},
    {"cscan axis 1 reverse", OP_cscan, 3,
     {{SH(2, 4, 3, 2), D_HALF}, {SH(2, 4, 3, 2), D_ANY}, {SH(2, 1, 3, 2), D_ANY}}, {.axis = 1, .reverse = true}, {0}},
    {"cscan axis 0", OP_cscan, 3, {{SH(5, 2), D_HALF}, {SH(5, 2), D_ANY}, {SH(1, 2), D_ANY}}, {.axis = 0}, {0}},
    {"cscan T=1 reverse", OP_cscan, 3, {{SH(1, 3, 2), D_HALF}, {SH(1, 3, 2), D_ANY}, {SH(1, 3, 2), D_ANY}},
     {.axis = 0, .reverse = true}, {0}},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* One draw of domain d for element e of a stream. */
static double draw(dom d, philox_key key, int64_t e) {
    philox_ctr r = philox_block(key, 0, (uint64_t)e);
    double u = philox_unit24(r.c[0]), z0, z1;
    philox_normal2(r, &z0, &z1);
    switch (d) {
    case D_ANY: return z0;
    case D_POS: return 0.5 + 1.5 * u;
    case D_AWAY: return (r.c[1] & 1 ? 1 : -1) * (0.3 + 1.2 * u);
    case D_BIG: return 21 + 3 * u;
    case D_HALF: return 0.5 * z0;
    case D_MASK: return (double)(r.c[1] & 1);
    }
    return 0;
}

/* Fills a case's mask operands (inputs "c<i>") with 0/1. */
static void fill_masks(const ir_graph *g, ir_values *v, void *user) {
    const gcase *c = user;
    for (int i = 0; i < c->nin; i++) {
        if (c->in[i].dom != D_MASK) continue;
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        ir_id id = ir_find_source(g, OP_input, name);
        philox_key key = philox_make_key(99, (uint32_t)i);
        for (int64_t e = 0; e < ir_numel(g->nodes[id].shape); e++) v->t[id].data[e] = draw(D_MASK, key, e);
    }
}

/* Builds the forward graph of a case: operands as params "x<i>" with drawn data (masks as inputs). */
static ir_graph *build_case(const gcase *c, int idx) {
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "cases.lua", idx + 1);
    ir_id in[4];
    for (int i = 0; i < c->nin; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s%d", c->in[i].dom == D_MASK ? "c" : "x", i);
        if (c->in[i].dom == D_MASK) {
            in[i] = ir_input(g, name, c->in[i].shape);
            continue;
        }
        int64_t n = ir_numel(c->in[i].shape);
        float vals[256];
        philox_key key = philox_make_key(1234 + (uint64_t)idx, (uint32_t)i);
        for (int64_t e = 0; e < n && e < 256; e++) vals[e] = (float)draw(c->in[i].dom, key, e);
        in[i] = ir_param(g, name, c->in[i].shape, ir_init_data(g, vals, n));
    }
    ir_id y = ir_build(g, c->op, in, c->nin, &c->attr, &c->shape);
    if (gc_add_weighted_loss(g, y, "w") == IR_NONE) diag("%s: %s", c->label, ir_error(g));
    return g;
}

static void test_cases(void) {
    for (int i = 0; i < NCASES; i++) {
        ir_graph *g = build_case(&cases[i], i);
        if (ir_failed(g)) ok(0, "%s: build: %s", cases[i].label, ir_error(g));
        else {
            char label[128];
            snprintf(label, sizeof label, "%s, simplified", cases[i].label);
            gradcheck(g, &(gc_opts){.seed = 5, .fill = fill_masks, .user = (void *)&cases[i]}, cases[i].label);
            gradcheck(g, &(gc_opts){.seed = 5, .fill = fill_masks, .user = (void *)&cases[i], .cleanup = true}, label);
        }
        ir_graph_free(g);
    }
}

/* Every op with inputs has a row. */
static void test_coverage(void) {
    int missing = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        if (ir_ops[op].arity == 0) continue;
        if (ir_ops[op].flags & OPF_FUSED) continue; /* against their patterns and finite differences: tests/test_fuse_ops.c */
        bool found = false;
        for (int i = 0; i < NCASES && !found; i++) found = cases[i].op == (ir_op)op;
        if (!found) diag("op %s has no gradcheck case", ir_ops[op].name), missing++;
    }
    is_int(missing, 0, "every op with inputs has a gradcheck case");
}

/* ---- whole graphs ---- */

static ir_shape sh2(int64_t a, int64_t b) { return ir_shape_of(2, (int64_t[]){a, b}); }

/* x used three times (fan-out) and a chain of unary ops; the loss is a rank-0 scalar. */
static void test_fanout_chain(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_param(g, "x", sh2(3, 4), ir_init_normal(0, 1));
    ir_id a = ir_unary(g, OP_tanh, x), b = ir_binary(g, OP_mul, x, x), c = ir_unary(g, OP_sin, x);
    ir_id s = ir_binary(g, OP_add, ir_binary(g, OP_add, a, b), c);
    ir_id chain = ir_unary(g, OP_exp, ir_unary(g, OP_sigmoid, ir_unary(g, OP_tanh, s)));
    ir_id w = ir_input(g, "w", sh2(3, 4));
    ir_id l = ir_reduce(g, OP_sum, ir_reduce(g, OP_sum, ir_binary(g, OP_mul, chain, w), 1), 0);
    ir_output_add(g, "loss", ir_reshape(g, l, ir_shape_scalar()));
    ok(!ir_failed(g), "fan-out graph builds %s", ir_error(g));
    gradcheck(g, &(gc_opts){.seed = 11}, "fan-out + chain");
    ir_graph_free(g);
}

/* Dropout: rand_mask is a constant wrt the params (the same draw for a fixed step). */
static void test_dropout(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_param(g, "x", sh2(4, 5), ir_init_normal(0, 1));
    ir_id m = ir_rand_mask(g, sh2(4, 5), 0.3, 17);
    ir_id y = ir_unary(g, OP_square, ir_binary(g, OP_mul, x, m));
    ir_output_add(g, "loss", ir_reduce(g, OP_sum, ir_reduce(g, OP_sum, y, 0), 1));
    gradcheck(g, &(gc_opts){.seed = 3, .step = 4}, "dropout");
    ir_graph_free(g);
}

/* One-hot targets for the MLP: class (b * 2) % C. */
static void fill_onehot(const ir_graph *g, ir_values *v, void *user) {
    (void)user;
    ir_id t = ir_find_source(g, OP_input, "target");
    int64_t B = g->nodes[t].shape.dim[0], C = g->nodes[t].shape.dim[1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++) v->t[t].data[b * C + c] = c == (b * 2) % C;
}

/* x[B,D] -> tanh(x W1^T + b1) -> relu-free logits W2 -> log-softmax -> mean cross-entropy. */
static void test_mlp(void) {
    enum { Bn = 4, D = 3, H = 5, C = 3 };
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "mlp.lua", 1);
    ir_id x = ir_input(g, "x", sh2(Bn, D)), t = ir_input(g, "target", sh2(Bn, C));
    ir_id w1 = ir_param(g, "l1.weight", sh2(H, D), ir_init_normal(0, 0.8));
    ir_id b1 = ir_param(g, "l1.bias", ir_shape_of(1, (int64_t[]){H}), ir_init_normal(0, 0.5));
    ir_id w2 = ir_param(g, "l2.weight", sh2(H, C), ir_init_normal(0, 0.8));
    ir_id h = ir_unary(g, OP_gelu, ir_binary(g, OP_add, ir_matmul(g, x, w1, false, true), b1));
    ir_id z = ir_matmul(g, h, w2, false, false);                              /* [B,C] */
    ir_id zs = ir_binary(g, OP_sub, z, ir_reduce(g, OP_rmax, z, 1));          /* stable */
    ir_id lse = ir_unary(g, OP_log, ir_reduce(g, OP_sum, ir_unary(g, OP_exp, zs), 1));
    ir_id logp = ir_binary(g, OP_sub, zs, lse);
    ir_id nll = ir_unary(g, OP_neg, ir_reduce(g, OP_sum, ir_binary(g, OP_mul, logp, t), 1)); /* [B,1] */
    ir_output_add(g, "loss", ir_reduce(g, OP_mean, ir_reduce(g, OP_mean, nll, 0), 1));
    ok(!ir_failed(g), "MLP builds %s", ir_error(g));
    gradcheck(g, &(gc_opts){.seed = 21, .fill = fill_onehot}, "mlp+softmax+xent");
    gradcheck(g, &(gc_opts){.seed = 21, .fill = fill_onehot, .cleanup = true}, "mlp+softmax+xent, simplified");
    gradcheck(g, &(gc_opts){.seed = 22, .fill = fill_onehot, .max_elems = 3}, "mlp subset");
    ir_graph_free(g);
}

static ir_shape sh3(int64_t a, int64_t b, int64_t c) { return ir_shape_of(3, (int64_t[]){a, b, c}); }
static ir_shape sh4(int64_t a, int64_t b, int64_t c, int64_t d) { return ir_shape_of(4, (int64_t[]){a, b, c, d}); }

/* LayerNorm over the last axis of x [.., D] with gain and bias params. */
static ir_id layer_norm(ir_graph *g, ir_id x, int64_t D, const char *prefix) {
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", prefix);
    snprintf(bn, sizeof bn, "%s.bias", prefix);
    int last = g->nodes[x].shape.rank - 1;
    ir_id xc = ir_binary(g, OP_sub, x, ir_reduce(g, OP_mean, x, last));
    ir_id var = ir_reduce(g, OP_mean, ir_unary(g, OP_square, xc), last);
    ir_id xn = ir_binary(g, OP_mul, xc, ir_unary(g, OP_rsqrt, ir_binary(g, OP_add, var, ir_scalar(g, 1e-5))));
    ir_id w = ir_param(g, wn, ir_shape_of(1, (int64_t[]){D}), ir_init_normal(1, 0.2));
    return ir_binary(g, OP_add, ir_binary(g, OP_mul, xn, w), ir_param(g, bn, ir_shape_of(1, (int64_t[]){D}), ir_init_normal(0, 0.2)));
}

/* A pre-norm causal self-attention block: x [B,T,E] -> x + proj(softmax(mask(q k^T / sqrt(hd))) v),
 * heads split by reshape + permute, the causal mask from iota + ge + select. */
static void test_attention_block(void) {
    enum { Bn = 2, T = 4, E = 6, H = 2, HD = 3 };
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "attn.lua", 1);
    ir_id x = ir_input(g, "x", sh3(Bn, T, E));
    ir_id xn = layer_norm(g, x, E, "ln");
    ir_id qkv = ir_matmul(g, xn, ir_param(g, "qkv.weight", sh2(3 * E, E), ir_init_normal(0, 0.4)), false, true);
    ir_id heads[3];
    for (int i = 0; i < 3; i++) { /* [B,T,E] -> [B,H,T,HD] */
        ir_id part = ir_reshape(g, ir_slice(g, qkv, 2, i * E, (i + 1) * E), sh4(Bn, T, H, HD));
        heads[i] = ir_permute(g, part, (int[]){0, 2, 1, 3});
    }
    ir_id att = ir_binary(g, OP_mul, ir_matmul(g, heads[0], heads[1], false, true), ir_scalar(g, 1 / sqrt(HD)));
    ir_id causal = ir_binary(g, OP_ge, ir_iota(g, sh2(T, T), 0), ir_iota(g, sh2(T, T), 1)); /* row >= col */
    att = ir_select(g, causal, att, ir_scalar(g, -1e9));
    ir_id e = ir_unary(g, OP_exp, ir_binary(g, OP_sub, att, ir_reduce(g, OP_rmax, att, 3)));
    ir_id p = ir_binary(g, OP_div, e, ir_reduce(g, OP_sum, e, 3));
    ir_id y = ir_permute(g, ir_matmul(g, p, heads[2], false, false), (int[]){0, 2, 1, 3}); /* [B,T,H,HD] */
    y = ir_matmul(g, ir_reshape(g, y, sh3(Bn, T, E)), ir_param(g, "proj.weight", sh2(E, E), ir_init_normal(0, 0.4)), false, true);
    gc_add_weighted_loss(g, ir_binary(g, OP_add, x, y), "w");
    ok(!ir_failed(g), "attention block builds %s", ir_error(g));
    gradcheck(g, &(gc_opts){.seed = 31, .cleanup = true}, "attention block");
    ir_graph_free(g);
}

/* A Mamba-like selective scan: dt = softplus(x Wdt + bias), a = exp(dt * A), b = dt * x * Bproj, h by
 * scan along time (axis 1), y = (h . C) * silu(gate). */
static void test_selective_scan_block(void) {
    enum { Bn = 2, T = 5, D = 3 };
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "ssm.lua", 1);
    ir_id x = ir_input(g, "x", sh3(Bn, T, D));
    ir_id dt = ir_unary(g, OP_softplus, ir_binary(g, OP_add, ir_matmul(g, x, ir_param(g, "dt.weight", sh2(D, D), ir_init_normal(0, 0.5)), false, false),
                                                  ir_param(g, "dt.bias", ir_shape_of(1, (int64_t[]){D}), ir_init_normal(-1, 0.3))));
    ir_id A = ir_unary(g, OP_neg, ir_unary(g, OP_exp, ir_param(g, "A_log", ir_shape_of(1, (int64_t[]){D}), ir_init_normal(0, 0.5))));
    ir_id a = ir_unary(g, OP_exp, ir_binary(g, OP_mul, dt, A));
    ir_id b = ir_binary(g, OP_mul, ir_binary(g, OP_mul, dt, x), ir_param(g, "B", sh2(T, D), ir_init_normal(0, 1)));
    ir_id h = ir_scan(g, a, b, ir_const(g, 0, sh3(Bn, 1, D)), 1, false);
    ir_id gate = ir_unary(g, OP_silu, ir_matmul(g, x, ir_param(g, "gate.weight", sh2(D, D), ir_init_normal(0, 0.5)), false, true));
    ir_id y = ir_binary(g, OP_mul, ir_binary(g, OP_mul, h, ir_param(g, "C", ir_shape_of(1, (int64_t[]){D}), ir_init_normal(0, 1))), gate);
    gc_add_weighted_loss(g, y, "w");
    ok(!ir_failed(g), "selective-scan block builds %s", ir_error(g));
    gradcheck(g, &(gc_opts){.seed = 41, .cleanup = true}, "selective-scan block");
    ir_graph_free(g);
}

/* softmax(x) . w written two ways: with rmax + exp + sum + div, and as exp(x - logsumexp(x)); and a
 * third graph that differs (no max subtraction changes nothing, but a missing division does). */
static ir_graph *softmax_graph(int variant) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_param(g, "x", sh2(3, 4), ir_init_normal(0, 1));
    ir_id p;
    if (variant == 0) {
        ir_id e = ir_unary(g, OP_exp, ir_binary(g, OP_sub, x, ir_reduce(g, OP_rmax, x, 1)));
        p = ir_binary(g, OP_div, e, ir_reduce(g, OP_sum, e, 1));
    } else if (variant == 1) {
        ir_id lse = ir_unary(g, OP_log, ir_reduce(g, OP_sum, ir_unary(g, OP_exp, x), 1));
        p = ir_unary(g, OP_exp, ir_binary(g, OP_sub, x, lse));
    } else {
        p = ir_unary(g, OP_exp, x);
    }
    gc_add_weighted_loss(g, p, "w");
    return g;
}

static void test_compare(void) {
    ir_graph *a = softmax_graph(0), *b = softmax_graph(1), *c = softmax_graph(2);
    char err[256] = "";
    double same = gc_compare(a, b, &(gc_opts){.seed = 8}, err, sizeof err);
    ok(same >= 0 && same < 1e-12, "two softmax formulations: same loss and gradients (max diff %.2g) %s", same, err);
    double differ = gc_compare(a, c, &(gc_opts){.seed = 8}, err, sizeof err);
    ok(differ > 1e-3, "a different function is told apart (max diff %.2g)", differ);
    ir_graph_free(a);
    ir_graph_free(b);
    ir_graph_free(c);
}

/* An exact gradient: d sum(x^2)/dx is 2x bit for bit (mul by a constant 2 of x). */
static void test_exact(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_param(g, "x", sh2(2, 2), ir_init_normal(0, 1));
    ir_output_add(g, "loss", ir_reduce(g, OP_sum, ir_reduce(g, OP_sum, ir_unary(g, OP_square, x), 0), 1));
    ir_id map[8];
    char err[256];
    ir_graph *full = pass_extract(g, NULL, 0, true, map, err, sizeof err);
    pass_autodiff(full, NULL);
    ir_values *v = ir_values_new(full);
    ir_values_init_params(full, v, 1);
    ir_interp(full, v, NULL, err, sizeof err);
    const double *gx = v->t[ir_output_find(full, "grad:x")].data, *xv = v->t[ir_find_source(full, OP_param, "x")].data;
    int exact = 0;
    for (int i = 0; i < 4; i++) exact += gx[i] == 2 * xv[i];
    is_int(exact, 4, "d sum(x^2)/dx = 2x exactly");
    ir_values_free(v);
    ir_graph_free(full);
    ir_graph_free(g);
}

/* The comparison at the heart of the check can fail. */
static void test_comparator(void) {
    ok(gc_close(1.0, 1.0 + 5e-7, 1e-6, 1e-6) && gc_close(0, 5e-7, 1e-6, 1e-6), "close values pass");
    ok(!gc_close(1.0, 1.001, 1e-6, 1e-6) && !gc_close(0, 1e-5, 1e-6, 1e-6), "a 1e-3 relative or 1e-5 absolute error fails");
    ok(!gc_close(NAN, 1.0, 1e-6, 1e-6) && !gc_close(1.0, NAN, 1e-6, 1e-6), "NaN fails");
}

int main(void) {
    test_comparator();
    test_coverage();
    test_cases();
    test_fanout_chain();
    test_dropout();
    test_mlp();
    test_attention_block();
    test_selective_scan_block();
    test_exact();
    test_compare();
    return done_testing();
}
