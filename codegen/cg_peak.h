/* cg_peak.h — the measured fp32 FMA peak of this machine: the denominator of
 * every "% of peak" that iclc prints.
 *
 * A generated kernel runs 12 independent chains of vector FMAs
 * (acc_j = acc_j * x + y) on the widest vector type the CPU has (16 floats with
 * AVX-512, 8 with AVX2/FMA, else 4), enough chains to cover the FMA latency
 * times the number of FMA pipes on current x86 cores. It is timed on 1 thread
 * and on all threads (OpenMP, one call per thread, the runtime's way). */
#ifndef ICLC_CODEGEN_CG_PEAK_H
#define ICLC_CODEGEN_CG_PEAK_H

#include <stdint.h>

#include "codegen/cg_jit.h"

enum { CG_PEAK_CHAINS = 12 };

typedef struct cg_peak_result {
    int vec_floats;      /* floats per vector used by the kernel */
    int threads;         /* thread count of the "all threads" measurement */
    int64_t iters;       /* loop iterations per thread and run */
    double gflops_1;     /* best of 3 runs, 1 thread */
    double gflops_all;   /* best of 3 runs, `threads` threads */
    int check_ok;        /* every thread's result equals the C recurrence */
} cg_peak_result;

/* Builds "iclc_fma_peak" into a new module of jit (once per jit), then
 * measures. threads <= 0 means omp_get_max_threads(); iters <= 0 picks about
 * 0.1 s per run. */
cg_error cg_peak_measure(cg_jit *jit, int threads, int64_t iters, cg_peak_result *out);

#endif
