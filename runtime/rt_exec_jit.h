/* rt_exec_jit.h — the LLVM JIT executor ("jit"): lower + memory plan + compile (or load from the compile
 * cache), then run the kernel list with each kernel's range split over OpenMP threads (with 2+ threads all
 * in one parallel region, barriers only between dependent kernels). */
#ifndef ICLC_RUNTIME_RT_EXEC_JIT_H
#define ICLC_RUNTIME_RT_EXEC_JIT_H

#include "runtime/rt_exec.h"

struct cg_plan;

extern const rt_executor rt_executor_jit;

/* What a jit plan did at compile time (false when p is not a jit plan). */
typedef struct rt_jit_info {
    const struct cg_plan *plan; /* kernels, buffers, memory plan */
    bool cache_hit;             /* loaded from the compile cache: LLVM skipped */
    int threads;
    int64_t arena_bytes, scratch_bytes;
    double ms_plan, ms_llvm, ms_load; /* planning; IR + optimisation + code generation; loading */
    bool one_region;            /* the step runs in one parallel region (threads > 1, not ICLC_JIT_SYNC=kernel) */
    int barriers;               /* its barriers per step (one_region) */
    int single;                 /* kernels that run on one thread of it */
} rt_jit_info;
bool rt_jit_info_of(const rt_plan *p, rt_jit_info *out);

#endif
