/* attn.c — the fused attention kernels alone (codegen/cg_fused_attn.c) on one shape through the JIT executor:
 * ms per call (minimum over repetitions) and GFLOP/s of the useful causal work (2 hd flops per (query, key <=
 * query) pair and matrix product: 2 products forward, 1 for lse, 5 for the gradient).
 *
 *   build/bench/attn [B L H hd threads reps]      default 64 82 2 32 1 20 (the tiny transformer) */
#include "ir/ir.h"
#include "runtime/rt_bench.h"
#include "runtime/rt_exec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int64_t a[6] = {64, 82, 2, 32, 1, 20};
    for (int i = 1; i < argc && i <= 6; i++) a[i - 1] = atoll(argv[i]);
    int64_t B = a[0], L = a[1], H = a[2], hd = a[3];
    ir_op ops[3] = {OP_attention, OP_attention_lse, OP_attention_grad};
    double mults[3] = {2, 1, 5};
    printf("B %lld L %lld H %lld hd %lld, %lld threads\n", (long long)B, (long long)L, (long long)H, (long long)hd, (long long)a[4]);
    for (int o = 0; o < 3; o++) {
        ir_graph *g = ir_graph_new();
        ir_shape s = ir_shape_of(4, (int64_t[]){B, L, H, hd});
        ir_id q = ir_input(g, "q", s), k = ir_input(g, "k", s), v = ir_input(g, "v", s);
        ir_attrs at = {.value = 1 / sqrt((double)hd)};
        ir_id y = ops[o] == OP_attention       ? ir_build(g, ops[o], (ir_id[]){q, k, v}, 3, &at, NULL)
                  : ops[o] == OP_attention_lse ? ir_build(g, ops[o], (ir_id[]){q, k}, 2, &at, NULL)
                                               : ir_build(g, ops[o],
                                                          (ir_id[]){q, k, v, ir_input(g, "o", s),
                                                                    ir_input(g, "lse", ir_shape_of(3, (int64_t[]){B, L, H})),
                                                                    ir_input(g, "do", s)},
                                                          6, &at, NULL);
        ir_output_add(g, "y", y);
        char err[1024] = "";
        double t0 = rt_bench_now();
        rt_plan *p = rt_plan_compile(rt_executor_find("jit"), g, &(rt_plan_opts){.threads = (int)a[4]}, err, sizeof err);
        double tc = rt_bench_now() - t0;
        if (!p) {
            fprintf(stderr, "attn: %s\n", err);
            return 1;
        }
        for (int i = 0; i < p->nbuffers; i++) /* small values (lse 0: probabilities <= 1) */
            if (!p->buffers[i].is_output)
                for (int64_t e = 0; e < ir_numel(p->buffers[i].shape); e++) p->buffers[i].data[e] = (float)(0.5 * sin(0.37 * (double)e + i));
        double best = INFINITY;
        for (int r = 0; r < a[5]; r++) {
            t0 = rt_bench_now();
            if (!rt_plan_run(p, 1, err, sizeof err)) {
                fprintf(stderr, "attn: %s\n", err);
                return 1;
            }
            double t = rt_bench_now() - t0;
            best = t < best ? t : best;
        }
        double flop = mults[o] * 2.0 * (double)hd * (double)(L * (L + 1) / 2) * (double)(B * H);
        printf("  %-16s %8.3f ms  %6.1f GFLOP/s  (compile %.0f ms)\n", ir_ops[ops[o]].name, 1e3 * best, flop / best * 1e-9, 1e3 * tc);
        rt_plan_free(p);
        ir_graph_free(g);
    }
    return 0;
}
