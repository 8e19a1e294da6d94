/* test_fuse_ops.c — every fused op against its primitive decomposition, through the interpreter:
 *   1. each pattern, written with the builders exactly as frontend/nn.lua writes it, fuses into one op;
 *   2. loss and the gradient of every param agree between the fused and the unfused graph (gc_compare, and
 *      a stricter per-tensor check: max |diff| / max |value| of each gradient <= 1e-5, 1e-4 for long
 *      sequences);
 *   3. the fused graph's gradients (the fused VJPs) against central finite differences (gradcheck);
 *   4. near misses (a non-causal or missing mask, a scale that is not a constant, a non-zero initial state,
 *      a reverse scan, a padding value, a missing tap, an intermediate read elsewhere, ...) stay unfused.
 * Dimensions: B batch, L tokens, E channels, N state, H heads (S4: channels), M modes, hd head size,
 * K conv taps, D width. */
#include "ir/interp.h"
#include "passes/fuse.h"
#include "tests/gradcheck.h"
#include "tests/tap.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static ir_shape S(int rank, int64_t a, int64_t b, int64_t c, int64_t d) {
    return ir_shape_of(rank, (int64_t[]){a, b, c, d});
}
static ir_id P(ir_graph *g, const char *name, ir_shape s) { return ir_param(g, name, s, ir_init_normal(0, 1)); }
static ir_id K(ir_graph *g, double v) { return ir_scalar(g, v); }
static ir_id mul(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_mul, a, b); }
static ir_id add(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_add, a, b); }

/* Variations of the patterns, for the near misses. */
typedef struct variant {
    bool h0_one, reverse, extra_use, no_skip;       /* scans */
    bool non_causal, no_mask, param_scale, small_fill; /* attention */
    bool pad_one, drop_tap;                          /* conv */
    bool eps_param, no_silu;                         /* layernorm, conv */
    bool gate, gate_extra;                           /* Mamba's y * silu(z); the SiLU read elsewhere */
    bool delta_extra;                                /* delta = softplus(dt) also read elsewhere */
} variant;

/* ---- the patterns, as nn.lua builds them ---- */

static ir_id selective_scan(ir_graph *g, int64_t B, int64_t L, int64_t E, int64_t N, variant v) {
    ir_id u = P(g, "u", S(3, B, L, E, 0)), delta = ir_unary(g, OP_softplus, P(g, "dt", S(3, B, L, E, 0)));
    if (v.delta_extra) ir_output_add(g, "delta", delta);
    ir_id A = ir_unary(g, OP_neg, ir_unary(g, OP_exp, P(g, "A_log", S(2, E, N, 0, 0))));
    ir_id Bm = P(g, "Bm", S(3, B, L, N, 0)), Cm = P(g, "Cm", S(3, B, L, N, 0)), D = P(g, "D", S(1, E, 0, 0, 0));
    ir_id dA = ir_unary(g, OP_exp, mul(g, ir_reshape(g, delta, S(4, B, L, E, 1)), A));
    ir_id dBu = mul(g, ir_reshape(g, mul(g, delta, u), S(4, B, L, E, 1)), ir_reshape(g, Bm, S(4, B, L, 1, N)));
    ir_id h = ir_scan(g, dA, dBu, ir_const(g, v.h0_one ? 1 : 0, S(4, B, 1, E, N)), 1, v.reverse);
    ir_id y = ir_reshape(g, ir_reduce(g, OP_sum, mul(g, h, ir_reshape(g, Cm, S(4, B, L, 1, N))), 3), S(3, B, L, E, 0));
    if (v.extra_use) ir_output_add(g, "h", h);
    y = v.no_skip ? y : add(g, y, mul(g, u, D));
    if (!v.gate) return y;
    ir_id sz = ir_unary(g, OP_silu, P(g, "z", S(3, B, L, E, 0)));
    if (v.gate_extra) ir_output_add(g, "sz", sz);
    return mul(g, sz, y);
}

static ir_id s4d(ir_graph *g, int64_t B, int64_t L, int64_t H, int64_t M, variant v) {
    ir_id u = P(g, "u", S(3, B, L, H, 0));
    ir_shape hm2 = S(3, H, M, 2, 0);
    ir_id a = mul(g, P(g, "a", hm2), K(g, 0.3)), b = P(g, "b", hm2), w = P(g, "w", hm2), D = P(g, "D", S(1, H, 0, 0, 0));
    ir_id ab = ir_broadcast(g, a, ir_shape_of(5, (int64_t[]){B, L, H, M, 2}));
    ir_id bt = mul(g, b, ir_reshape(g, u, ir_shape_of(5, (int64_t[]){B, L, H, 1, 1})));
    ir_id s = ir_cscan(g, ab, bt, ir_const(g, v.h0_one ? 1 : 0, ir_shape_of(5, (int64_t[]){B, 1, H, M, 2})), 1, v.reverse);
    if (v.extra_use) ir_output_add(g, "s", s);
    ir_id y = mul(g, ir_reshape(g, ir_reduce(g, OP_sum, ir_reduce(g, OP_sum, mul(g, s, w), 4), 3), S(3, B, L, H, 0)), K(g, 2));
    return v.no_skip ? y : add(g, y, mul(g, u, D));
}

static ir_id attention(ir_graph *g, int64_t B, int64_t L, int64_t H, int64_t hd, variant v) {
    int perm[] = {0, 2, 1, 3};
    ir_id x[3];
    const char *names[] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++)
        x[i] = ir_permute(g, ir_reshape(g, P(g, names[i], S(3, B, L, H * hd, 0)), S(4, B, L, H, hd)), perm);
    ir_id c = v.param_scale ? P(g, "scale", S(0, 0, 0, 0, 0)) : K(g, 1 / sqrt((double)hd));
    ir_id s = mul(g, ir_matmul(g, x[0], x[1], false, true), c);
    if (!v.no_mask) {
        ir_id i1 = ir_iota(g, S(2, L, L, 0, 0), 1), i0 = ir_iota(g, S(2, L, L, 0, 0), 0);
        ir_id future = v.non_causal ? ir_binary(g, OP_ge, i1, i0) : ir_binary(g, OP_gt, i1, i0);
        s = ir_select(g, future, K(g, v.small_fill ? -100 : -1e30), s);
    }
    ir_id e = ir_unary(g, OP_exp, ir_binary(g, OP_sub, s, ir_reduce(g, OP_rmax, s, 3)));
    ir_id p = ir_binary(g, OP_div, e, ir_reduce(g, OP_sum, e, 3));
    if (v.extra_use) ir_output_add(g, "p", p);
    return ir_reshape(g, ir_permute(g, ir_matmul(g, p, x[2], false, false), perm), S(3, B, L, H * hd, 0));
}

static ir_id conv1d(ir_graph *g, int64_t B, int64_t L, int64_t E, int64_t Kt, variant v) {
    ir_id x = P(g, "x", S(3, B, L, E, 0)), w = P(g, "w", S(3, E, 1, Kt, 0)), y = P(g, "bias", S(1, E, 0, 0, 0));
    ir_id xp = ir_pad(g, x, 1, Kt - 1, 0, v.pad_one ? 1 : 0);
    for (int64_t j = 0; j < Kt; j++) {
        if (v.drop_tap && j == 1) continue;
        y = add(g, y, mul(g, ir_slice(g, xp, 1, j, j + L), ir_reshape(g, ir_slice(g, w, 2, j, j + 1), S(1, E, 0, 0, 0))));
    }
    return v.no_silu ? y : ir_unary(g, OP_silu, y);
}

static ir_id layernorm(ir_graph *g, int64_t B, int64_t L, int64_t D, variant v) {
    ir_id x = P(g, "x", S(3, B, L, D, 0)), w = P(g, "ln.w", S(1, D, 0, 0, 0)), b = P(g, "ln.b", S(1, D, 0, 0, 0));
    ir_id xc = ir_binary(g, OP_sub, x, ir_reduce(g, OP_mean, x, 2));
    ir_id eps = v.eps_param ? ir_unary(g, OP_exp, P(g, "eps", S(0, 0, 0, 0, 0))) : K(g, 1e-5);
    ir_id inv = ir_unary(g, OP_rsqrt, add(g, ir_reduce(g, OP_mean, ir_unary(g, OP_square, xc), 2), eps));
    if (v.extra_use) ir_output_add(g, "xc", xc);
    return add(g, mul(g, mul(g, xc, inv), w), b);
}

/* GPT-2 MLP with residual: x + (gelu(x W1 + b1) W2 + b2). */
static ir_id mlp(ir_graph *g, int64_t B, int64_t L, int64_t D, variant v) {
    ir_id x = P(g, "x", S(3, B, L, D, 0));
    ir_id h = add(g, ir_matmul(g, x, P(g, "w1", S(2, D, 3 * D, 0, 0)), false, false), P(g, "b1", S(1, 3 * D, 0, 0, 0)));
    h = v.no_silu ? ir_unary(g, OP_gelu, h) : ir_unary(g, OP_silu, h);
    ir_id o = add(g, ir_matmul(g, h, P(g, "w2", S(2, D, 3 * D, 0, 0)), false, true), P(g, "b2", S(1, D, 0, 0, 0)));
    ir_id r = add(g, x, o);
    return add(g, ir_matmul(g, r, P(g, "w3", S(2, D, D, 0, 0)), false, true), r); /* matmul + residual */
}

/* ---- checks ---- */

/* Max over the loss and each gradient of max |a - b| / max |a| (per tensor). */
static double strict_compare(const ir_graph *a, const ir_graph *b, uint64_t seed) {
    ir_graph *full[2] = {ir_graph_clone(a), ir_graph_clone(b)};
    ir_values *v[2] = {NULL, NULL};
    double worst = -1;
    char err[512];
    bool okay = true;
    for (int k = 0; k < 2 && okay; k++)
        okay = full[k] && pass_autodiff(full[k], NULL) && (v[k] = ir_values_new(full[k])) != NULL;
    if (okay) {
        ir_values_init_params(full[0], v[0], seed);
        ir_values_init_params(full[1], v[1], seed);
        gc_fill_normal(full[0], v[0], seed);
        gc_fill_normal(full[1], v[1], seed);
        okay = ir_interp(full[0], v[0], NULL, err, sizeof err) && ir_interp(full[1], v[1], NULL, err, sizeof err);
        if (!okay) diag("%s", err);
    }
    for (int k = 0; okay && k < full[0]->noutputs; k++) {
        ir_id x = full[0]->outputs[k].id, y = ir_output_find(full[1], full[0]->outputs[k].name);
        if (y == IR_NONE) continue;
        double dmax = 0, vmax = 1e-300;
        for (int64_t e = 0; e < ir_numel(full[0]->nodes[x].shape); e++) {
            dmax = fmax(dmax, fabs(v[0]->t[x].data[e] - v[1]->t[y].data[e]));
            vmax = fmax(vmax, fabs(v[0]->t[x].data[e]));
        }
        if (worst < 0) worst = 0;
        worst = fmax(worst, dmax / vmax);
    }
    for (int k = 0; k < 2; k++) {
        ir_values_free(v[k]);
        ir_graph_free(full[k]);
    }
    return worst;
}

/* The graph with y's weighted loss, fused: one `op` (count of them), then the comparisons. */
static void check(const char *label, ir_graph *g, ir_id y, ir_op op, int count, double tol, bool fd) {
    char err[1024] = "";
    gc_add_weighted_loss(g, y, "gc:w");
    ir_graph *f = ir_graph_clone(g);
    if (!ok(!ir_failed(g) && pass_fuse(f, NULL) && ir_verify(f), "%s: builds, fuses and verifies", label))
        diag("%s %s", ir_error(g), ir_error(f));
    is_int(fuse_count(f, op), count, "%s: %d %s", label, count, ir_ops[op].name);
    double d = gc_compare(g, f, &(gc_opts){.seed = 11}, err, sizeof err);
    if (d < 0) diag("%s", err);
    ok(d >= 0 && d <= tol, "%s: gc_compare loss and gradients (%.3g)", label, d);
    d = strict_compare(g, f, 12);
    ok(d >= 0 && d <= tol, "%s: every gradient within %.0e of its largest element (%.3g)", label, tol, d);
    if (fd) gradcheck(f, &(gc_opts){.seed = 13, .max_elems = 12, .rtol = 1e-5, .atol = 1e-7}, label);
    ir_graph_free(g);
    ir_graph_free(f);
}

/* A near miss: fuses nothing of `op`, and the graph computes what it did. */
static void near_miss(const char *label, ir_graph *g, ir_id y, ir_op op) {
    gc_add_weighted_loss(g, y, "gc:w");
    ir_graph *f = ir_graph_clone(g);
    ok(!ir_failed(g) && pass_fuse(f, NULL) && ir_verify(f), "near miss %s: fuse runs", label);
    is_int(fuse_count(f, op), 0, "near miss %s: no %s", label, ir_ops[op].name);
    char err[512] = "";
    double d = gc_compare(g, f, &(gc_opts){.seed = 11}, err, sizeof err);
    ok(d >= 0 && d < 1e-12, "near miss %s: same values (%.3g) %s", label, d, err);
    ir_graph_free(g);
    ir_graph_free(f);
}

#define CASE(label, builder, op, count, tol, fd, ...)                       \
    do {                                                                    \
        ir_graph *g_ = ir_graph_new();                                      \
        check(label, g_, builder(g_, __VA_ARGS__), op, count, tol, fd);     \
    } while (0)
#define MISS(label, builder, op, ...)                                       \
    do {                                                                    \
        ir_graph *g_ = ir_graph_new();                                      \
        near_miss(label, g_, builder(g_, __VA_ARGS__), op);                 \
    } while (0)

/* ---- slice_matmul: column slices of one projection ---- */

/* x [B, L, Kd] times W (tb: [N, Kd], else [Kd, N]) [+ bias], read by last-axis slices [start[i], end[i]),
 * each through its own elementwise op; y concatenates them. extra: the product is also read whole. */
typedef struct proj {
    int n;
    int64_t start[4], end[4];
    bool tb, bias, extra;
} proj;

static ir_id projection(ir_graph *g, int64_t B, int64_t L, int64_t Kd, int64_t N, proj pr) {
    ir_id x = P(g, "x", S(3, B, L, Kd, 0));
    ir_id w = P(g, "w", pr.tb ? S(2, N, Kd, 0, 0) : S(2, Kd, N, 0, 0));
    ir_id y = ir_matmul(g, x, w, false, pr.tb);
    if (pr.bias) y = add(g, y, P(g, "b", S(1, N, 0, 0, 0)));
    if (pr.extra) ir_output_add(g, "whole", y);
    ir_id part[4];
    static const ir_op ops[4] = {OP_tanh, OP_sigmoid, OP_square, OP_exp}; /* none an epilogue of matmul_bias */
    for (int i = 0; i < pr.n; i++) part[i] = ir_unary(g, ops[i], ir_slice(g, y, 2, pr.start[i], pr.end[i]));
    return pr.n == 1 ? part[0] : ir_concat(g, part, pr.n, 2);
}

/* Slices whose input is a matmul (any epilogue form), and plain matmuls, in g. */
static int sliced_products(const ir_graph *g) {
    int k = 0;
    for (ir_id i = 0; i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->op != OP_slice) continue;
        ir_op in = g->nodes[ir_in(g, n, 0)].op;
        k += in == OP_matmul || in == OP_matmul_bias || in == OP_matmul_bias_res || in == OP_matmul_res;
    }
    return k;
}

/* The rewrite: no slice of a product left, `parts` products (of op `op`), same loss and gradients. */
static void check_slices(const char *label, int64_t N, proj pr, ir_op op, int parts, bool rewritten) {
    ir_graph *g = ir_graph_new();
    gc_add_weighted_loss(g, projection(g, 2, 3, 5, N, pr), "gc:w");
    ir_graph *f = ir_graph_clone(g);
    if (!ok(!ir_failed(g) && pass_fuse(f, NULL) && ir_verify(f), "%s: builds, fuses and verifies", label))
        diag("%s %s", ir_error(g), ir_error(f));
    if (rewritten) {
        is_int(sliced_products(f), 0, "%s: no slice of a product left", label);
        is_int(fuse_count(f, op), parts, "%s: %d %s (one per slice)", label, parts, ir_ops[op].name);
    } else {
        ok(sliced_products(f) > 0, "near miss %s: the slices of the product stay", label);
    }
    char err[512] = "";
    double d = gc_compare(g, f, &(gc_opts){.seed = 11}, err, sizeof err);
    if (d < 0) diag("%s", err);
    ok(d >= 0 && d < 1e-12, "%s: loss and gradients equal (%.3g)", label, d);
    if (rewritten) gradcheck(f, &(gc_opts){.seed = 13, .max_elems = 12, .rtol = 1e-5, .atol = 1e-7}, label);
    ir_graph_free(g);
    ir_graph_free(f);
}

/* delta = softplus(dt) goes into the fused op (attribute softplus, input 1 = dt) when read only by the
 * pattern; read elsewhere too, the op takes delta as it is. Values equal either way. */
static void softplus_absorbed(bool extra) {
    const char *what = extra ? "read elsewhere" : "read only by the scan";
    ir_graph *g = ir_graph_new();
    gc_add_weighted_loss(g, selective_scan(g, 2, 5, 3, 2, (variant){.gate = true, .delta_extra = extra}), "gc:w");
    ir_graph *f = ir_graph_clone(g);
    bool fused = pass_fuse(f, NULL) && ir_verify(f);
    const ir_node *ss = NULL;
    for (ir_id i = 0; fused && i < f->nnodes; i++)
        if (f->nodes[i].op == OP_selective_scan_gated) ss = &f->nodes[i];
    ok(ss != NULL, "softplus %s: the gated scan fuses", what);
    if (ss) {
        ok(ss->attr.softplus == !extra, "softplus %s: attribute softplus %s", what, extra ? "off" : "on");
        ir_op in1 = f->nodes[ir_in(f, ss, 1)].op;
        ok(extra ? in1 == OP_softplus : in1 != OP_softplus, "softplus %s: input 1 is %s", what, extra ? "delta" : "its pre-activation");
    }
    char err[512] = "";
    double d = gc_compare(g, f, &(gc_opts){.seed = 11}, err, sizeof err);
    ok(d >= 0 && d < 1e-9, "softplus %s: same loss and gradients (%.3g) %s", what, d, err);
    if (!extra) gradcheck(f, &(gc_opts){.seed = 13, .max_elems = 12, .rtol = 1e-5, .atol = 1e-7}, "selective_scan {softplus}");
    ir_graph_free(g);
    ir_graph_free(f);
}

/* After autodiff, pass_fuse_backward merges the attention and the attention_lse its VJP built into one
 * attention_fwd; loss and gradients stay what they were. */
static void attention_lse_merged(void) {
    ir_graph *g = ir_graph_new();
    gc_add_weighted_loss(g, attention(g, 2, 5, 2, 3, (variant){0}), "gc:w");
    bool okay = pass_fuse(g, NULL) && pass_autodiff(g, NULL);
    ir_graph *f = okay ? ir_graph_clone(g) : NULL;
    okay = okay && f && pass_fuse_backward(f, NULL) && pass_dce(f, NULL) && ir_verify(f);
    if (!ok(okay, "attention + attention_lse: autodiff and fuse_backward")) diag("%s", ir_error(f ? f : g));
    is_int(fuse_count(g, OP_attention_lse), 1, "the VJP builds an attention_lse");
    if (f) {
        is_int(fuse_count(f, OP_attention_fwd), 1, "merged: one attention_fwd");
        is_int(fuse_count(f, OP_attention) + fuse_count(f, OP_attention_lse), 0, "merged: no attention or attention_lse left");
        char err[512] = "";
        ir_values *v[2] = {ir_values_new(g), ir_values_new(f)};
        double worst = -1;
        if (v[0] && v[1]) {
            for (int k = 0; k < 2; k++) ir_values_init_params(k ? f : g, v[k], 5), gc_fill_normal(k ? f : g, v[k], 5);
            if (ir_interp(g, v[0], NULL, err, sizeof err) && ir_interp(f, v[1], NULL, err, sizeof err)) {
                worst = 0;
                for (int o = 0; o < g->noutputs; o++) {
                    const ir_tensor *a = &v[0]->t[g->outputs[o].id], *b = &v[1]->t[ir_output_find(f, g->outputs[o].name)];
                    for (int64_t i = 0; i < ir_numel(a->shape); i++)
                        if (fabs(a->data[i] - b->data[i]) > worst) worst = fabs(a->data[i] - b->data[i]);
                }
            }
        }
        ok(worst >= 0 && worst < 1e-12, "merged: every output (loss and gradients) equal (%.3g) %s", worst, err);
        ir_values_free(v[0]);
        ir_values_free(v[1]);
        ir_graph_free(f);
    }
    ir_graph_free(g);
}

int main(void) {
    variant v0 = {0};
    CASE("selective_scan", selective_scan, OP_selective_scan, 1, 1e-5, true, 2, 7, 3, 4, v0);
    CASE("selective_scan without D", selective_scan, OP_selective_scan, 1, 1e-5, true, 2, 5, 3, 2, (variant){.no_skip = true});
    CASE("selective_scan gated", selective_scan, OP_selective_scan_gated, 1, 1e-5, true, 2, 7, 3, 4, (variant){.gate = true});
    CASE("selective_scan gated without D", selective_scan, OP_selective_scan_gated, 1, 1e-5, true, 2, 5, 3, 2,
         (variant){.gate = true, .no_skip = true});
    CASE("selective_scan gate read elsewhere", selective_scan, OP_selective_scan, 1, 1e-5, false, 2, 5, 3, 2,
         (variant){.gate = true, .gate_extra = true});
    CASE("selective_scan gated long (L=300)", selective_scan, OP_selective_scan_gated, 1, 1e-4, false, 1, 300, 2, 3,
         (variant){.gate = true});
    CASE("selective_scan long (L=300)", selective_scan, OP_selective_scan, 1, 1e-4, false, 1, 300, 2, 3, v0);
    CASE("s4_scan", s4d, OP_s4_scan, 1, 1e-5, true, 2, 6, 3, 2, v0);
    CASE("s4_scan long (L=257)", s4d, OP_s4_scan, 1, 1e-4, false, 1, 257, 2, 2, v0);
    CASE("attention", attention, OP_attention, 1, 1e-5, true, 2, 5, 2, 3, v0);
    CASE("attention long (L=70)", attention, OP_attention, 1, 1e-4, false, 1, 70, 2, 4, v0);
    CASE("causal_conv1d + silu", conv1d, OP_causal_conv1d_silu, 1, 1e-5, true, 2, 6, 3, 4, v0);
    CASE("causal_conv1d", conv1d, OP_causal_conv1d, 1, 1e-5, true, 2, 6, 3, 3, (variant){.no_silu = true});
    CASE("layernorm", layernorm, OP_layernorm, 1, 1e-5, true, 2, 3, 5, v0);
    CASE("matmul_bias_gelu", mlp, OP_matmul_bias_gelu, 1, 1e-5, true, 2, 3, 4, (variant){.no_silu = true});
    CASE("matmul_bias_silu", mlp, OP_matmul_bias_silu, 1, 1e-5, true, 2, 3, 4, v0);
    CASE("matmul_bias_res", mlp, OP_matmul_bias_res, 1, 1e-5, false, 2, 3, 4, v0);
    CASE("matmul_res", mlp, OP_matmul_res, 1, 1e-5, false, 2, 3, 4, v0);

    MISS("selective_scan h0 = 1", selective_scan, OP_selective_scan, 1, 4, 2, 2, (variant){.h0_one = true});
    MISS("selective_scan reversed", selective_scan, OP_selective_scan, 1, 4, 2, 2, (variant){.reverse = true});
    MISS("selective_scan states read elsewhere", selective_scan, OP_selective_scan, 1, 4, 2, 2, (variant){.extra_use = true});
    MISS("s4 h0 = 1", s4d, OP_s4_scan, 1, 4, 2, 2, (variant){.h0_one = true});
    MISS("s4 reversed", s4d, OP_s4_scan, 1, 4, 2, 2, (variant){.reverse = true});
    MISS("s4 states read elsewhere", s4d, OP_s4_scan, 1, 4, 2, 2, (variant){.extra_use = true});
    MISS("attention mask hides the diagonal", attention, OP_attention, 1, 4, 2, 2, (variant){.non_causal = true});
    MISS("attention without mask", attention, OP_attention, 1, 4, 2, 2, (variant){.no_mask = true});
    MISS("attention with a learned scale", attention, OP_attention, 1, 4, 2, 2, (variant){.param_scale = true});
    MISS("attention with fill -100", attention, OP_attention, 1, 4, 2, 2, (variant){.small_fill = true});
    MISS("attention probabilities read elsewhere", attention, OP_attention, 1, 4, 2, 2, (variant){.extra_use = true});
    MISS("conv padded with ones", conv1d, OP_causal_conv1d_silu, 1, 5, 2, 3, (variant){.pad_one = true});
    MISS("conv with a tap missing", conv1d, OP_causal_conv1d_silu, 1, 5, 2, 3, (variant){.drop_tap = true});
    MISS("layernorm with a learned eps", layernorm, OP_layernorm, 1, 3, 4, (variant){.eps_param = true});
    MISS("layernorm centred input read elsewhere", layernorm, OP_layernorm, 1, 3, 4, (variant){.extra_use = true});
    check_slices("slice_matmul x | z (W [N, K])", 72, (proj){2, {0, 32}, {32, 72}, .tb = true}, OP_matmul, 2, true);
    check_slices("slice_matmul q | k | v with bias (W [K, N])", 96, (proj){3, {0, 32, 64}, {32, 64, 96}, .bias = true},
                 OP_matmul_bias, 3, true);
    check_slices("slice_matmul two of three parts", 96, (proj){2, {0, 64}, {32, 96}, .tb = true}, OP_matmul, 2, true);
    check_slices("a slice narrower than 32 columns", 40, (proj){2, {0, 32}, {32, 40}, .tb = true}, OP_matmul, 0, false);
    check_slices("the product read whole too", 64, (proj){2, {0, 32}, {32, 64}, .tb = true, .extra = true}, OP_matmul, 0, false);
    check_slices("overlapping slices read more than the product", 64, (proj){2, {0, 16}, {48, 64}, .tb = true}, OP_matmul, 0,
                 false);
    attention_lse_merged();
    softplus_absorbed(false);
    softplus_absorbed(true);
    return done_testing();
}
