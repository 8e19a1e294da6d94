/* autodiff_passes.c — time of pass_autodiff, pass_adam and the cleanup passes on a deep synthetic model
 * (a residual MLP stack with layer norms and a softmax cross-entropy head, L layers).
 *
 *   build/bench/autodiff_passes [L]      (default 48 layers) */
#include "ir/ir.h"
#include "passes/adam.h"
#include "passes/autodiff.h"
#include "passes/passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ir_shape sh(int r, int64_t a, int64_t b, int64_t c) { return ir_shape_of(r, (int64_t[]){a, b, c}); }

int main(int argc, char **argv) {
    int L = argc > 1 ? atoi(argv[1]) : 48;
    enum { B = 8, T = 16, D = 32, C = 10 };
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", sh(3, B, T, D)), t = ir_input(g, "target", sh(3, B, T, C));
    for (int l = 0; l < L; l++) {
        char n1[64], n2[64], n3[64];
        snprintf(n1, sizeof n1, "blocks.%d.ln.weight", l);
        snprintf(n2, sizeof n2, "blocks.%d.fc.weight", l);
        snprintf(n3, sizeof n3, "blocks.%d.fc.bias", l);
        ir_set_loc(g, "bench.lua", 10 + l);
        ir_id mu = ir_reduce(g, OP_mean, x, 2);
        ir_id xc = ir_binary(g, OP_sub, x, mu);
        ir_id var = ir_reduce(g, OP_mean, ir_unary(g, OP_square, xc), 2);
        ir_id xn = ir_binary(g, OP_mul, xc, ir_unary(g, OP_rsqrt, ir_binary(g, OP_add, var, ir_scalar(g, 1e-5))));
        xn = ir_binary(g, OP_mul, xn, ir_param(g, n1, ir_shape_of(1, (int64_t[]){D}), ir_init_ones()));
        ir_id h = ir_matmul(g, xn, ir_param(g, n2, sh(2, D, D, 0), ir_init_normal(0, 0.02)), false, true);
        h = ir_unary(g, OP_gelu, ir_binary(g, OP_add, h, ir_param(g, n3, ir_shape_of(1, (int64_t[]){D}), ir_init_zeros())));
        x = ir_binary(g, OP_add, x, h);
    }
    ir_id z = ir_matmul(g, x, ir_param(g, "head.weight", sh(2, C, D, 0), ir_init_normal(0, 0.02)), false, true);
    ir_id zs = ir_binary(g, OP_sub, z, ir_reduce(g, OP_rmax, z, 2));
    ir_id logp = ir_binary(g, OP_sub, zs, ir_unary(g, OP_log, ir_reduce(g, OP_sum, ir_unary(g, OP_exp, zs), 2)));
    ir_id nll = ir_reduce(g, OP_sum, ir_binary(g, OP_mul, logp, t), 2);
    ir_output_add(g, "loss", ir_unary(g, OP_neg, ir_reduce(g, OP_mean, ir_reduce(g, OP_mean, nll, 0), 1)));
    if (ir_failed(g)) {
        fprintf(stderr, "%s\n", ir_error(g));
        return 1;
    }
    int32_t nf = g->nnodes;
    ir_adam_opts o = ir_adam_defaults();
    double t0 = now();
    bool ok = pass_autodiff(g, NULL);
    double t1 = now();
    int32_t nb = g->nnodes;
    ok = ok && pass_adam(g, &o);
    double t2 = now();
    int32_t na = g->nnodes;
    ok = ok && pass_simplify(g, NULL);
    double t3 = now();
    int32_t ns = g->nnodes;
    ok = ok && pass_cse(g, NULL);
    double t4 = now();
    int32_t nc = g->nnodes;
    ok = ok && pass_dce(g, NULL) && ir_verify(g);
    double t5 = now();
    if (!ok) {
        fprintf(stderr, "%s\n", ir_error(g));
        return 1;
    }
    printf("layers %d: forward %d nodes\n", L, nf);
    printf("  autodiff  %8.2f ms  -> %d nodes\n", 1e3 * (t1 - t0), nb);
    printf("  adam      %8.2f ms  -> %d nodes\n", 1e3 * (t2 - t1), na);
    printf("  simplify  %8.2f ms  -> %d nodes\n", 1e3 * (t3 - t2), ns);
    printf("  cse       %8.2f ms  -> %d nodes\n", 1e3 * (t4 - t3), nc);
    printf("  dce+verify%8.2f ms  -> %d nodes\n", 1e3 * (t5 - t4), g->nnodes);
    ir_graph_free(g);
    return 0;
}
