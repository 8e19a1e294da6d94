/* rt_bench.h — the pieces of `iclc bench` that are not printing: building a model's training and
 * evaluation graphs for a task shape, counting a graph's FLOPs, listing its matmul shapes, filling a
 * plan's buffers, and process memory readings.
 *
 * FLOP count of one run of a graph (rt_bench_flops), by op class of ir/ops.def:
 *   matmul                 2 * M * N * K * (product of the output's batch dims)
 *   unary, binary, select  1 per output element (exp, tanh, ... count 1 as well)
 *   sum, mean, rmax        1 per input element
 *   scan                   2 per element (h = a h + b)
 *   cscan                  4 per float of the (re, im) tensor (complex multiply-add = 8 per complex element)
 *   movement, sources      0
 * The same count is used for every executor, so GFLOP/s compare like with like (a fused kernel that
 * skips work still gets credit for the graph's FLOPs). */
#ifndef ICLC_RUNTIME_RT_BENCH_H
#define ICLC_RUNTIME_RT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"
#include "runtime/rt_exec.h"
#include "runtime/rt_model.h"
#include "tasks/task.h"

/* FLOPs of one run of g: total and the part done by matmuls. */
typedef struct rt_flops {
    double total, matmul;
    int64_t n_matmul; /* matmul nodes */
} rt_flops;
rt_flops rt_bench_flops(const ir_graph *g);

/* The training graph of model m for B prompts of N points of task t: the model's forward graph, fused
 * (pass_fuse) except for the patterns named in no_fuse ("a,b", "all" = unfused) and those whose fused
 * ops executor ex cannot run (ex NULL: no such check), then the task's loss (output "loss"), gradients
 * and the Adam update (passes/adam.h defaults: clip 10): the passes `iclc train` runs.
 * Inputs: "tokens", "target:<head>", "mask:<head>", "adam:lr", "adam:step", params, "adam:m:P",
 * "adam:v:P"; outputs "loss", "pred", "new:P", "adam:m_new:P", "adam:v_new:P", "grad_norm".
 * skipped (may be NULL, skipped_len bytes) receives the patterns left unfused. NULL + message on error. */
ir_graph *build_training_graph(const rt_model_spec *m, const task *t, int64_t B, int64_t N, const rt_executor *ex,
                               const char *no_fuse, char *skipped, size_t skipped_len, char *err, size_t errlen);
/* The evaluation graph: forward only (rt_model_build with training off), fused the same way, output "pred". */
ir_graph *build_eval_graph(const rt_model_spec *m, const task *t, int64_t B, int64_t N, const rt_executor *ex,
                           const char *no_fuse, char *err, size_t errlen);

/* One matmul shape of a graph, normalised for a GEMM library: batch dims merged where the strides
 * allow, and batch dims over which B is broadcast folded into M (when A is not transposed). Strides
 * are in elements of dense row-major operands; 0 = broadcast. */
enum { RT_MM_MAX_BATCH = 4 };
typedef struct rt_mm_shape {
    int64_t M, N, K;
    bool ta, tb;
    int n_batch;
    int64_t batch[RT_MM_MAX_BATCH];
    int64_t a_stride[RT_MM_MAX_BATCH], b_stride[RT_MM_MAX_BATCH], c_stride[RT_MM_MAX_BATCH];
    int64_t a_numel, b_numel, c_numel; /* elements of the dense operands */
    int count;                         /* how many matmul nodes of the graph have this shape */
    double flops;                      /* of one call */
} rt_mm_shape;

/* The distinct matmul shapes of g (malloc'd array, *n entries; free()), most FLOPs first. NULL with
 * *n = 0 when there are none or on allocation failure. */
rt_mm_shape *rt_bench_matmul_shapes(const ir_graph *g, int *n);

/* Fills a compiled training or evaluation plan: params from their initializers (seed), Adam moments 0,
 * adam:lr = lr, and declares the carries new:P -> P, adam:m_new:P -> adam:m:P, adam:v_new:P ->
 * adam:v:P. false + message on error. */
bool rt_bench_plan_setup(rt_plan *p, uint64_t seed, double lr, char *err, size_t errlen);
/* Samples the batch of `step` of task t (state: the end of the curriculum) into the plan's "tokens",
 * "target:*" and "mask:*" buffers and sets adam:step = step + 1 when present. */
bool rt_bench_plan_feed(rt_plan *p, const task *t, int64_t B, int64_t N, uint64_t seed, int64_t step, char *err,
                        size_t errlen);

/* Process memory in bytes from /proc/self/status: resident now (VmRSS) and the peak (VmHWM); -1 when
 * unavailable. rt_bench_reset_peak() restarts the peak at the current RSS (Linux clear_refs 5). */
int64_t rt_bench_rss(void);
int64_t rt_bench_peak_rss(void);
bool rt_bench_reset_peak(void);

/* Monotonic seconds. */
double rt_bench_now(void);

#endif
