/* cg_aot.h — ahead-of-time compilation of a plan into a standalone shared library (`iclc export`).
 *
 * cg_aot_build lowers the plan's kernels with the JIT's lowering (codegen/cg_lower.h) into one module,
 * emits a position-independent object from a clone of it (cg_jit_emit_object), generates a C driver
 * (the buffer table, the arena layout and the kernel list with OpenMP range splitting, plus a small strict
 * safetensors reader for the weights) and links both with `cc -shared -fopenmp` into DIR/libmodel.so.
 * The library needs only libc, libm and libgomp at run time: no LLVM, no Lua, no iclc.
 *
 * Files written to DIR: model.h (the API, documented in docs/export.md), model_driver.c, kernels.o,
 * model.map (version script: only model_* is exported), libmodel.so. The caller writes the weights
 * (safetensors, one F32 tensor per param, named as the graph's params) and any manifest. */
#ifndef ICLC_CODEGEN_CG_AOT_H
#define ICLC_CODEGEN_CG_AOT_H

#include "codegen/cg_jit.h"
#include "codegen/cg_plan.h"
#include "ir/ir.h"

typedef struct cg_aot_opts {
    const char *cpu;  /* NULL or "host": this CPU; else an LLVM CPU name such as "x86-64-v3" */
    int threads;      /* threads the plan is sized for (matmul blocking); <= 0: all cores */
    const char *cc;   /* C compiler driver; NULL: $CC, else "cc" */
    const char *input, *output; /* the graph's input and output names: NULL = "tokens", "pred" */
} cg_aot_opts;

/* What cg_aot_build did. */
typedef struct cg_aot_info {
    char cpu[64];          /* target CPU name */
    int nkerns;
    int64_t arena_bytes, scratch_bytes; /* scratch per thread */
    double ms_llvm, ms_cc;
} cg_aot_info;

/* Compiles g (verified; one input `input` f32[B,T,d_in], params, one output `output` f32[B,T,d_out]) into
 * DIR/libmodel.so. DIR must exist. cg_ok() or an error naming the step that failed. */
cg_error cg_aot_build(const ir_graph *g, const char *dir, const cg_aot_opts *opts, cg_aot_info *info);

#endif
