/* JIT vs interpreter for every op of ir/ops.def and for fused chains, at 1 and 2 threads; the memory
 * plan of every graph is checked. One builder per case; adding a case is one function and one row. */
#include "tests/jit_harness.h"

typedef void build_fn(ir_graph *g);

static ir_id X(ir_graph *g, const char *name, ir_shape s) { return ir_input(g, name, s); }
static void out(ir_graph *g, const char *name, ir_id id) { ir_output_add(g, name, id); }

/* ---- sources ---- */
static void b_input(ir_graph *g) { out(g, "y", X(g, "x", S(2, 3, 5, 0, 0))); }
static void b_param(ir_graph *g) {
    ir_id w = ir_param(g, "w", S(2, 4, 3, 0, 0), ir_init_normal(0, 1));
    out(g, "w_copy", w);
    out(g, "y", ir_binary(g, OP_mul, w, X(g, "x", S(1, 3, 0, 0, 0))));
}
static void b_const(ir_graph *g) {
    out(g, "c", ir_const(g, 2.5, S(2, 3, 4, 0, 0)));
    out(g, "y", ir_binary(g, OP_add, X(g, "x", S(2, 3, 4, 0, 0)), ir_scalar(g, -1.25)));
}
static void b_iota(ir_graph *g) {
    out(g, "i0", ir_iota(g, S(3, 2, 3, 5, 0), 1));
    out(g, "y", ir_binary(g, OP_mul, X(g, "x", S(2, 6, 5, 0, 0)), ir_iota(g, S(2, 6, 5, 0, 0), 1)));
}
static void b_rand_mask(ir_graph *g) {
    out(g, "m", ir_rand_mask(g, S(2, 4, 37, 0, 0), 0.3, 11));
    out(g, "y", ir_binary(g, OP_mul, X(g, "x", S(2, 4, 37, 0, 0)), ir_rand_mask(g, S(2, 4, 37, 0, 0), 0.5, 12)));
    out(g, "z", ir_binary(g, OP_add, X(g, "xb", S(2, 3, 1, 0, 0)), ir_rand_mask(g, S(2, 3, 17, 0, 0), 0.1, 13)));
}

/* ---- unary: [3, 37] (a vector tail) and a rank-0 value ---- */
#define UN(name, op)                                                                           \
    static void b_##name(ir_graph *g) {                                                        \
        out(g, "y", ir_unary(g, op, X(g, "x", S(2, 3, 37, 0, 0))));                            \
        out(g, "s", ir_unary(g, op, X(g, "x0", ir_shape_scalar())));                           \
    }
UN(neg, OP_neg)
UN(exp, OP_exp)
UN(log, OP_log)
UN(sqrt, OP_sqrt)
UN(rsqrt, OP_rsqrt)
UN(tanh, OP_tanh)
UN(sigmoid, OP_sigmoid)
UN(relu, OP_relu)
UN(gelu, OP_gelu)
UN(erf, OP_erf)
UN(silu, OP_silu)
UN(softplus, OP_softplus)
UN(abs, OP_abs)
UN(sign, OP_sign)
UN(square, OP_square)
UN(cos, OP_cos)
UN(sin, OP_sin)
#undef UN
/* softplus above 20 is x itself */
static void b_softplus_big(ir_graph *g) {
    out(g, "y", ir_unary(g, OP_softplus, ir_binary(g, OP_mul, X(g, "x", S(1, 40, 0, 0, 0)), ir_scalar(g, 15))));
}

/* ---- binary: same shapes (flat), broadcast both ways, scalar ---- */
#define BIN(name, op)                                                                                      \
    static void b_##name(ir_graph *g) {                                                                    \
        out(g, "flat", ir_binary(g, op, X(g, "a", S(2, 5, 37, 0, 0)), X(g, "b", S(2, 5, 37, 0, 0))));      \
        out(g, "bc", ir_binary(g, op, X(g, "c", S(3, 3, 1, 19, 0)), X(g, "d", S(2, 4, 1, 0, 0))));         \
        out(g, "sc", ir_binary(g, op, X(g, "e", S(1, 9, 0, 0, 0)), X(g, "f", ir_shape_scalar())));         \
    }
BIN(add, OP_add)
BIN(sub, OP_sub)
BIN(mul, OP_mul)
BIN(div, OP_div)
BIN(max, OP_max)
BIN(min, OP_min)
BIN(lt, OP_lt)
BIN(le, OP_le)
BIN(gt, OP_gt)
BIN(ge, OP_ge)
BIN(eq, OP_eq)
BIN(ne, OP_ne)
#undef BIN
static void b_select(ir_graph *g) {
    out(g, "y", ir_select(g, X(g, "c", S(2, 4, 1, 0, 0)), X(g, "a", S(2, 4, 21, 0, 0)), X(g, "b", S(1, 21, 0, 0, 0))));
}

/* ---- reductions: every axis of [5, 6, 37] over a fused chain, and a long one ---- */
#define RED(name, op)                                                                                      \
    static void b_##name(ir_graph *g) {                                                                    \
        ir_id x = X(g, "x", S(3, 5, 6, 37, 0)), w = X(g, "w", S(1, 37, 0, 0, 0));                          \
        ir_id e = ir_binary(g, OP_mul, ir_unary(g, OP_tanh, x), w);                                        \
        out(g, "r0", ir_reduce(g, op, e, 0));                                                              \
        out(g, "r1", ir_reduce(g, op, e, 1));                                                              \
        out(g, "r2", ir_reduce(g, op, e, 2));                                                              \
        out(g, "rs", ir_reduce(g, op, X(g, "v", S(1, 7, 0, 0, 0)), 0));                                    \
    }
RED(sum, OP_sum)
RED(rmax, OP_rmax)
RED(mean, OP_mean)
#undef RED
static void b_long_sum(ir_graph *g) {
    ir_id x = X(g, "x", S(2, 3, 3000, 0, 0));
    out(g, "r", ir_reduce(g, OP_sum, ir_unary(g, OP_square, x), 1));
    out(g, "c", ir_reduce(g, OP_mean, x, 0));
    out(g, "t", ir_reduce(g, OP_sum, X(g, "u", S(2, 2000, 40, 0, 0)), 0));
}

/* ---- movement ---- */
static void b_reshape(ir_graph *g) {
    ir_id x = X(g, "x", S(3, 2, 3, 4, 0));
    out(g, "r", ir_reshape(g, x, S(2, 6, 4, 0, 0)));
    ir_id e = ir_unary(g, OP_exp, x);
    out(g, "y", ir_binary(g, OP_add, ir_reshape(g, e, S(2, 4, 6, 0, 0)), X(g, "b", S(1, 6, 0, 0, 0))));
}
static void b_permute(ir_graph *g) {
    ir_id x = X(g, "x", S(3, 2, 3, 5, 0));
    out(g, "p", ir_permute(g, x, (int[]){2, 0, 1}));
    out(g, "y", ir_unary(g, OP_exp, ir_permute(g, ir_unary(g, OP_neg, x), (int[]){1, 2, 0})));
}
static void b_broadcast(ir_graph *g) {
    ir_id x = X(g, "x", S(2, 3, 1, 0, 0));
    out(g, "b", ir_broadcast(g, x, S(3, 2, 3, 7, 0)));
    out(g, "y", ir_unary(g, OP_neg, ir_broadcast(g, ir_unary(g, OP_exp, x), S(2, 3, 9, 0, 0))));
}
static void b_slice(ir_graph *g) {
    ir_id x = X(g, "x", S(2, 6, 9, 0, 0));
    out(g, "s0", ir_slice(g, x, 0, 1, 4));
    out(g, "s1", ir_unary(g, OP_exp, ir_slice(g, x, 1, 2, 9)));
}
static void b_concat(ir_graph *g) {
    ir_id a = X(g, "a", S(2, 3, 4, 0, 0)), b = X(g, "b", S(2, 3, 2, 0, 0)), c = X(g, "c", S(2, 3, 5, 0, 0));
    out(g, "c1", ir_concat(g, (ir_id[]){a, b, c}, 3, 1));
    ir_id d = X(g, "d", S(2, 2, 4, 0, 0));
    out(g, "c0", ir_unary(g, OP_exp, ir_concat(g, (ir_id[]){a, d}, 2, 0)));
}
static void b_pad(ir_graph *g) {
    ir_id x = X(g, "x", S(2, 3, 5, 0, 0));
    out(g, "p1", ir_pad(g, x, 1, 2, 1, 0.0));
    out(g, "p0", ir_unary(g, OP_exp, ir_pad(g, x, 0, 0, 3, -1.5)));
}

/* ---- contractions and recurrences ---- */
static void b_matmul(ir_graph *g) {
    ir_id a = X(g, "a", S(3, 2, 5, 7, 0)), w = X(g, "w", S(2, 7, 9, 0, 0));
    out(g, "nn", ir_matmul(g, a, w, false, false));
    out(g, "tn", ir_matmul(g, X(g, "at", S(2, 7, 5, 0, 0)), w, true, false));
    out(g, "nt", ir_matmul(g, a, X(g, "wt", S(2, 9, 7, 0, 0)), false, true));
    out(g, "bb", ir_matmul(g, X(g, "ab", S(4, 2, 1, 5, 7)), X(g, "b3", S(3, 3, 7, 9, 0)), false, false));
    /* a transposed operand as a permute view, and a fused producer that must be stored first */
    ir_id pt = ir_permute(g, X(g, "q", S(3, 2, 7, 5, 0)), (int[]){0, 2, 1});
    out(g, "pv", ir_matmul(g, pt, ir_unary(g, OP_tanh, w), false, false));
}
static void b_scan(ir_graph *g) {
    ir_id a = ir_unary(g, OP_sigmoid, X(g, "a", S(3, 2, 9, 5, 0))), b = X(g, "b", S(3, 2, 9, 5, 0));
    out(g, "f", ir_scan(g, a, b, X(g, "h", S(3, 2, 1, 5, 0)), 1, false));
    out(g, "r", ir_scan(g, a, b, ir_const(g, 0.5, S(3, 2, 1, 5, 0)), 1, true));
    ir_id a2 = ir_unary(g, OP_exp, ir_unary(g, OP_neg, X(g, "u", S(2, 4, 30, 0, 0))));
    out(g, "last", ir_scan(g, a2, X(g, "v", S(2, 4, 30, 0, 0)), X(g, "h2", S(2, 4, 1, 0, 0)), 1, false));
    out(g, "lastr", ir_scan(g, a2, X(g, "v2", S(2, 4, 30, 0, 0)), X(g, "h3", S(2, 4, 1, 0, 0)), 1, true));
}
static void b_cscan(ir_graph *g) {
    ir_id a = ir_binary(g, OP_mul, X(g, "a", S(4, 2, 9, 3, 2)), ir_scalar(g, 0.45));
    ir_id b = X(g, "b", S(4, 2, 9, 3, 2)), h = X(g, "h", S(4, 2, 1, 3, 2));
    out(g, "f", ir_cscan(g, a, b, h, 1, false));
    out(g, "r", ir_cscan(g, a, b, h, 1, true));
    out(g, "l", ir_cscan(g, X(g, "a2", S(3, 3, 50, 2, 0)), X(g, "b2", S(3, 3, 50, 2, 0)), ir_const(g, 0.25, S(3, 3, 1, 2, 0)), 1, false));
}

/* ---- fused chains ---- */
static void b_softmax(ir_graph *g) {
    ir_id x = X(g, "x", S(3, 2, 7, 33, 0));
    ir_id d = ir_binary(g, OP_sub, x, ir_reduce(g, OP_rmax, x, 2));
    ir_id e = ir_unary(g, OP_exp, d);
    out(g, "p", ir_binary(g, OP_div, e, ir_reduce(g, OP_sum, e, 2)));
}
static void b_layernorm(ir_graph *g) {
    ir_id x = X(g, "x", S(3, 2, 5, 24, 0)), gain = X(g, "g", S(1, 24, 0, 0, 0)), bias = X(g, "bias", S(1, 24, 0, 0, 0));
    ir_id c = ir_binary(g, OP_sub, x, ir_reduce(g, OP_mean, x, 2));
    ir_id var = ir_reduce(g, OP_mean, ir_unary(g, OP_square, c), 2);
    ir_id r = ir_unary(g, OP_rsqrt, ir_binary(g, OP_add, var, ir_scalar(g, 1e-5)));
    out(g, "y", ir_binary(g, OP_add, ir_binary(g, OP_mul, ir_binary(g, OP_mul, c, r), gain), bias));
}
static void b_mlp(ir_graph *g) {
    ir_id x = X(g, "x", S(2, 12, 8, 0, 0));
    ir_id w1 = ir_param(g, "w1", S(2, 16, 8, 0, 0), ir_init_normal(0, 0.3)), b1 = ir_param(g, "b1", S(1, 16, 0, 0, 0), ir_init_zeros());
    ir_id w2 = ir_param(g, "w2", S(2, 16, 4, 0, 0), ir_init_normal(0, 0.3));
    ir_id h = ir_unary(g, OP_gelu, ir_binary(g, OP_add, ir_matmul(g, x, w1, false, true), b1));
    ir_id y = ir_matmul(g, h, w2, false, false);
    out(g, "y", y);
    out(g, "loss", ir_reduce(g, OP_mean, ir_reshape(g, ir_unary(g, OP_square, y), S(1, 48, 0, 0, 0)), 0));
}

typedef struct tcase {
    const char *name;
    build_fn *build;
    fill_kind fill;
    double tol;
} tcase;

static const tcase cases[] = {
    {"input", b_input, FILL_SIGNED, 0},
    {"param", b_param, FILL_SIGNED, 1e-6},
    {"const", b_const, FILL_SIGNED, 0},
    {"iota", b_iota, FILL_SIGNED, 0},
    {"rand_mask", b_rand_mask, FILL_SIGNED, 0},
    {"neg", b_neg, FILL_SIGNED, 0},
    {"exp", b_exp, FILL_SIGNED, 1e-6},
    {"log", b_log, FILL_POS, 1e-6},
    {"sqrt", b_sqrt, FILL_POS, 1e-6},
    {"rsqrt", b_rsqrt, FILL_POS, 1e-6},
    {"tanh", b_tanh, FILL_SIGNED, 1e-6},
    {"sigmoid", b_sigmoid, FILL_SIGNED, 1e-6},
    {"relu", b_relu, FILL_SIGNED, 0},
    {"gelu", b_gelu, FILL_SIGNED, 1e-5},
    {"erf", b_erf, FILL_SIGNED, 1e-6},
    {"silu", b_silu, FILL_SIGNED, 1e-5},
    {"softplus", b_softplus, FILL_SIGNED, 1e-6},
    {"softplus>20", b_softplus_big, FILL_SIGNED, 1e-6},
    {"abs", b_abs, FILL_SIGNED, 0},
    {"sign", b_sign, FILL_INTS, 0},
    {"square", b_square, FILL_SIGNED, 0},
    {"cos", b_cos, FILL_SIGNED, 1e-6},
    {"sin", b_sin, FILL_SIGNED, 1e-6},
    {"add", b_add, FILL_SIGNED, 0},
    {"sub", b_sub, FILL_SIGNED, 0},
    {"mul", b_mul, FILL_SIGNED, 0},
    {"div", b_div, FILL_POS, 1e-7},
    {"max", b_max, FILL_INTS, 0},
    {"min", b_min, FILL_INTS, 0},
    {"lt", b_lt, FILL_INTS, 0},
    {"le", b_le, FILL_INTS, 0},
    {"gt", b_gt, FILL_INTS, 0},
    {"ge", b_ge, FILL_INTS, 0},
    {"eq", b_eq, FILL_INTS, 0},
    {"ne", b_ne, FILL_INTS, 0},
    {"select", b_select, FILL_INTS, 0},
    {"sum", b_sum, FILL_SIGNED, 1e-5},
    {"rmax", b_rmax, FILL_SIGNED, 1e-6},
    {"mean", b_mean, FILL_SIGNED, 1e-5},
    {"long reductions", b_long_sum, FILL_SIGNED, 1e-4},
    {"reshape", b_reshape, FILL_SIGNED, 1e-6},
    {"permute", b_permute, FILL_SIGNED, 1e-6},
    {"broadcast", b_broadcast, FILL_SIGNED, 1e-6},
    {"slice", b_slice, FILL_SIGNED, 1e-6},
    {"concat", b_concat, FILL_SIGNED, 1e-6},
    {"pad", b_pad, FILL_SIGNED, 1e-6},
    {"matmul", b_matmul, FILL_SIGNED, 1e-5},
    {"scan", b_scan, FILL_SIGNED, 1e-5},
    {"cscan", b_cscan, FILL_SIGNED, 1e-5},
    {"softmax", b_softmax, FILL_SIGNED, 1e-5},
    {"layernorm", b_layernorm, FILL_SIGNED, 1e-5},
    {"mlp", b_mlp, FILL_SIGNED, 1e-5},
};

int main(void) {
    /* every op of ops.def appears in some case */
    bool covered[OP_COUNT] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ir_graph *g = ir_graph_new();
        cases[i].build(g);
        if (!ok(!ir_failed(g) && ir_verify(g), "%s: graph builds %s", cases[i].name, ir_error(g))) {
            ir_graph_free(g);
            continue;
        }
        for (ir_id n = 0; n < g->nnodes; n++) covered[g->nodes[n].op] = true;
        check_graph(cases[i].name, g, cases[i].fill, cases[i].tol);
        ir_graph_free(g);
    }
    int missing = 0;
    for (int op = 0; op < OP_COUNT; op++)
        if (!covered[op] && !(ir_ops[op].flags & OPF_FUSED)) diag("op %s has no case", ir_ops[op].name), missing++;
    ok(missing == 0, "every primitive op of ops.def is covered (%d missing)", missing);
    return done_testing();
}
