/* jit_models.h — small model-like graphs built in C (an attention block and a Mamba-like block), shared
 * by tests/test_jit_train.c and bench/jit.c. Dimension names: B batch, L length, D width, H heads,
 * E inner width, N state size. Each builder adds a "loss" output (mean squared error against input "y"). */
#ifndef ICLC_TESTS_JIT_MODELS_H
#define ICLC_TESTS_JIT_MODELS_H

#include "ir/ir.h"

#include <math.h>
#include <stdio.h>

static inline ir_shape SH(int rank, const int64_t *d) { return ir_shape_of(rank, d); }
#define DIMS(...) SH((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static inline ir_id jm_param(ir_graph *g, const char *prefix, const char *name, ir_shape s, double std) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s.%s", prefix, name);
    return ir_param(g, buf, s, std > 0 ? ir_init_normal(0, std) : std == 0 ? ir_init_zeros() : ir_init_ones());
}

/* LayerNorm over the last axis of x [.., D] with gain and bias params. */
static inline ir_id jm_layernorm(ir_graph *g, const char *prefix, ir_id x, int64_t D) {
    int ax = g->nodes[x].shape.rank - 1;
    ir_id c = ir_binary(g, OP_sub, x, ir_reduce(g, OP_mean, x, ax));
    ir_id var = ir_reduce(g, OP_mean, ir_unary(g, OP_square, c), ax);
    ir_id r = ir_unary(g, OP_rsqrt, ir_binary(g, OP_add, var, ir_scalar(g, 1e-5)));
    ir_id gain = jm_param(g, prefix, "gain", DIMS(D), -1), bias = jm_param(g, prefix, "bias", DIMS(D), 0);
    return ir_binary(g, OP_add, ir_binary(g, OP_mul, ir_binary(g, OP_mul, c, r), gain), bias);
}

/* Mean squared error of pred [B, L, 1] against input "y", as output "loss" [1]. */
static inline void jm_loss(ir_graph *g, ir_id pred, int64_t B, int64_t L) {
    ir_id y = ir_input(g, "y", DIMS(B, L, 1));
    ir_id d = ir_unary(g, OP_square, ir_binary(g, OP_sub, pred, y));
    ir_output_add(g, "loss", ir_reduce(g, OP_mean, ir_reshape(g, d, DIMS(B * L)), 0));
}

/* Pre-LN transformer layer(s): causal multi-head attention + GELU MLP, residuals, linear read-out. */
static inline void jm_transformer(ir_graph *g, int64_t B, int64_t L, int64_t D, int64_t H, int layers) {
    int64_t dh = D / H;
    ir_id x = ir_input(g, "x", DIMS(B, L, D));
    ir_id keep = ir_binary(g, OP_ge, ir_iota(g, DIMS(L, L), 0), ir_iota(g, DIMS(L, L), 1));
    for (int l = 0; l < layers; l++) {
        char pre[32], p1[40], p2[40];
        snprintf(pre, sizeof pre, "blocks.%d", l);
        snprintf(p1, sizeof p1, "%s.ln1", pre);
        snprintf(p2, sizeof p2, "%s.ln2", pre);
        ir_id h = jm_layernorm(g, p1, x, D);
        ir_id qkv = ir_matmul(g, h, jm_param(g, pre, "wqkv", DIMS(3 * D, D), 0.2), false, true);
        ir_id heads[3];
        for (int k = 0; k < 3; k++) {
            ir_id s = ir_reshape(g, ir_slice(g, qkv, 2, k * D, (k + 1) * D), DIMS(B, L, H, dh));
            heads[k] = ir_permute(g, s, (int[]){0, 2, 1, 3});
        }
        ir_id sc = ir_binary(g, OP_mul, ir_matmul(g, heads[0], heads[1], false, true), ir_scalar(g, 1.0 / sqrt((double)dh)));
        sc = ir_select(g, keep, sc, ir_scalar(g, -1e9));
        ir_id e = ir_unary(g, OP_exp, ir_binary(g, OP_sub, sc, ir_reduce(g, OP_rmax, sc, 3)));
        ir_id p = ir_binary(g, OP_div, e, ir_reduce(g, OP_sum, e, 3));
        ir_id att = ir_reshape(g, ir_permute(g, ir_matmul(g, p, heads[2], false, false), (int[]){0, 2, 1, 3}), DIMS(B, L, D));
        x = ir_binary(g, OP_add, x, ir_matmul(g, att, jm_param(g, pre, "wo", DIMS(D, D), 0.2), false, false));
        ir_id m = ir_matmul(g, jm_layernorm(g, p2, x, D), jm_param(g, pre, "w1", DIMS(D, 4 * D), 0.2), false, false);
        m = ir_unary(g, OP_gelu, ir_binary(g, OP_add, m, jm_param(g, pre, "b1", DIMS(4 * D), 0)));
        x = ir_binary(g, OP_add, x, ir_matmul(g, m, jm_param(g, pre, "w2", DIMS(4 * D, D), 0.1), false, false));
    }
    jm_loss(g, ir_matmul(g, x, ir_param(g, "head", DIMS(D, 1), ir_init_normal(0, 0.2)), false, false), B, L);
}

/* Mamba-like layer(s): in-projection, SiLU, softplus step size, selective scan over L of the B x L x E x N
 * state, C read-out, D skip, SiLU gate, out-projection, residual. */
static inline void jm_mamba(ir_graph *g, int64_t B, int64_t L, int64_t D, int64_t E, int64_t N, int layers) {
    ir_id x = ir_input(g, "x", DIMS(B, L, D));
    for (int l = 0; l < layers; l++) {
        char pre[32];
        snprintf(pre, sizeof pre, "blocks.%d", l);
        ir_id xz = ir_matmul(g, x, jm_param(g, pre, "w_in", DIMS(D, 2 * E), 0.3), false, false);
        ir_id u = ir_unary(g, OP_silu, ir_slice(g, xz, 2, 0, E)), z = ir_slice(g, xz, 2, E, 2 * E);
        ir_id dt = ir_matmul(g, u, jm_param(g, pre, "w_dt", DIMS(E, E), 0.2), false, false);
        ir_id delta = ir_unary(g, OP_softplus, ir_binary(g, OP_add, dt, jm_param(g, pre, "b_dt", DIMS(E), 0)));
        ir_id A = ir_unary(g, OP_neg, ir_unary(g, OP_exp, jm_param(g, pre, "a_log", DIMS(E, N), 0.5)));
        ir_id d4 = ir_reshape(g, delta, DIMS(B, L, E, 1));
        ir_id dA = ir_unary(g, OP_exp, ir_binary(g, OP_mul, d4, A));
        ir_id Bm = ir_reshape(g, ir_matmul(g, u, jm_param(g, pre, "w_b", DIMS(E, N), 0.3), false, false), DIMS(B, L, 1, N));
        ir_id Cm = ir_reshape(g, ir_matmul(g, u, jm_param(g, pre, "w_c", DIMS(E, N), 0.3), false, false), DIMS(B, L, 1, N));
        ir_id du = ir_reshape(g, ir_binary(g, OP_mul, delta, u), DIMS(B, L, E, 1));
        ir_id h = ir_scan(g, dA, ir_binary(g, OP_mul, du, Bm), ir_const(g, 0, DIMS(B, 1, E, N)), 1, false);
        ir_id y = ir_reshape(g, ir_reduce(g, OP_sum, ir_binary(g, OP_mul, h, Cm), 3), DIMS(B, L, E));
        y = ir_binary(g, OP_add, y, ir_binary(g, OP_mul, u, jm_param(g, pre, "d", DIMS(E), -1)));
        y = ir_binary(g, OP_mul, y, ir_unary(g, OP_silu, z));
        x = ir_binary(g, OP_add, x, ir_matmul(g, y, jm_param(g, pre, "w_out", DIMS(E, D), 0.2), false, false));
    }
    jm_loss(g, ir_matmul(g, x, ir_param(g, "head", DIMS(D, 1), ir_init_normal(0, 0.2)), false, false), B, L);
}

#endif
