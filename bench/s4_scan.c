/* bench/s4_scan.c — the JIT kernels of s4_scan and s4_scan_grad (codegen/cg_fused_s4.c) alone: minimum
 * time over repetitions (robust on a shared machine) and GFLOP/s counted as 8 (forward) and 30 (backward)
 * flops per (b, t, h, mode) as the range estimate does.
 *
 *   build/bench/s4_scan [B L H M] [--threads N] [--reps R]      default 64 82 64 8 (s4 tiny), 1 thread, 50
 *   ICLC_JIT_CPU=x86-64-v3 build/bench/s4_scan                  the AVX2 kernels */
#include "ir/ir.h"
#include "runtime/rt_exec.h"
#include "runtime/rt_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ir_shape S3(int64_t a, int64_t b, int64_t c) { return ir_shape_of(3, (int64_t[]){a, b, c}); }

/* Min ms of one run of op on [B, L, H] x M over reps runs (after one warm-up); -1 on failure. */
static double time_op(ir_op op, int64_t B, int64_t L, int64_t H, int64_t M, int threads, int reps) {
    ir_graph *g = ir_graph_new();
    ir_id in[6] = {ir_input(g, "u", S3(B, L, H)), ir_input(g, "a", S3(H, M, 2)), ir_input(g, "b", S3(H, M, 2)),
                   ir_input(g, "w", S3(H, M, 2)), ir_input(g, "D", ir_shape_of(1, (int64_t[]){H})), ir_input(g, "dy", S3(B, L, H))};
    bool grad = op == OP_s4_scan_grad;
    ir_output_add(g, "y", ir_build(g, op, in, 5 + grad, &(ir_attrs){.value = 2}, NULL));
    char err[1024] = "";
    rt_plan *p = rt_plan_compile(rt_executor_find("jit"), g, &(rt_plan_opts){.threads = threads}, err, sizeof err);
    ir_graph_free(g);
    if (!p) {
        fprintf(stderr, "s4_scan bench: %s\n", err);
        return -1;
    }
    for (int i = 0; i < p->nbuffers; i++) {
        rt_buffer *b = &p->buffers[i];
        if (b->is_output) continue;
        for (int64_t k = 0; k < ir_numel(b->shape); k++) /* |a| <= 0.7 * sqrt(2) < 1: a stable system */
            b->data[k] = (float)(0.7 * sin(0.37 * (double)k + (double)i));
    }
    double best = INFINITY;
    for (int r = 0; r <= reps; r++) {
        double t0 = rt_now();
        if (!rt_plan_run(p, 1, err, sizeof err)) {
            fprintf(stderr, "s4_scan bench: %s\n", err);
            best = -1;
            break;
        }
        double t = rt_now() - t0;
        if (r > 0 && t < best) best = t;
    }
    rt_plan_free(p);
    return best < 0 ? -1 : 1e3 * best;
}

int main(int argc, char **argv) {
    int64_t dims[4] = {64, 82, 64, 8};
    int threads = 1, reps = 50, nd = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (nd < 4) dims[nd++] = atoll(argv[i]);
    }
    int64_t B = dims[0], L = dims[1], H = dims[2], M = dims[3];
    double cells = (double)B * (double)L * (double)H * (double)M;
    printf("s4_scan bench: B %lld L %lld H %lld M %lld, %d threads, min of %d runs, load average %.2f\n", (long long)B,
           (long long)L, (long long)H, (long long)M, threads, reps, rt_loadavg());
    ir_op ops[2] = {OP_s4_scan, OP_s4_scan_grad};
    for (int i = 0; i < 2; i++) {
        double ms = time_op(ops[i], B, L, H, M, threads, reps);
        if (ms < 0) return 1;
        printf("  %-13s %8.3f ms  %6.1f GFLOP/s\n", ir_ops[ops[i]].name, ms, cells * (i ? 30 : 8) / (ms * 1e6));
    }
    return 0;
}
