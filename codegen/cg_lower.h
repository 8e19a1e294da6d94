/* cg_lower.h — LLVM IR for every kernel of a plan (codegen/cg_plan.h), into one module.
 *
 * Kernel families (each function has the ABI of codegen/cg_jit.h: void k(i64 begin, i64 end, void **bufs)):
 *   loop    one fused expression tree per output element. "flat" kernels (elementwise over equal shapes
 *           or scalars) run a single unit-stride loop over FLAT_BLOCK elements per range item; others
 *           iterate rows (range = all dims but the last) with a unit-stride inner loop over the last
 *           dim, and evaluate movement ops (permute, slice, pad, concat, broadcast) as index maps.
 *   reduce  sum / rmax / mean over one axis of a fused input chain, accumulated in float: a reassociable
 *           (vectorised) register accumulator when the axis is innermost, else row-wise accumulation into
 *           the output over a block of inner elements per range item.
 *   scan    h[t] = a[t] h[t-1] + b[t] (fma) over fused inputs: range = outer x inner blocks of independent
 *           channels; time sequential; inner elements vectorised (state = the previous output row, in L1),
 *           or a register when the inner extent is 1. cscan the same over (re, im) pairs.
 *   matmul  codegen/cg_matmul.h with the plan's descriptor (bufs: A, B, C, per-thread scratch).
 * rand_mask is Philox4x32-10 in IR, bit-identical to ir/ir_interp.c; its step comes from a u64 buffer. */
#ifndef ICLC_CODEGEN_CG_LOWER_H
#define ICLC_CODEGEN_CG_LOWER_H

#include "codegen/cg_jit.h"
#include "codegen/cg_plan.h"

/* Emits the kernels of p into m (named p->kerns[i].name): all of them when select is NULL, else those
 * with select[i] != 0 (the executor compiles parts of a plan on several threads, one cg_jit each). */
cg_error cg_lower_emit(cg_jit *jit, LLVMModuleRef m, const cg_plan *p, const unsigned char *select);

#endif
