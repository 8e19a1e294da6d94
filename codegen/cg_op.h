/* cg_op.h — the codegen column of ir/ops.def.
 *
 * For an elementwise op the column names its value emitter: given the op's input values (float or
 * <n x float>, all of one type) it builds the result at the builder's position and returns it. The
 * planner (codegen/cg_plan.c) decides which ops share a loop; the loop generator (codegen/cg_lower.c)
 * walks the fused expression and calls these emitters, so a new elementwise op is one function here.
 *
 * Ops the planner lowers by family — sources, movement (index maps), reductions, matmul, scans — name
 * cg_structural (it is never called). cg_none marks an op without any kernel: the JIT refuses a graph
 * that contains one, with the op's name in the message. */
#ifndef ICLC_CODEGEN_CG_OP_H
#define ICLC_CODEGEN_CG_OP_H

#include <stdbool.h>

#include <llvm-c/Core.h>

#include "codegen/cg_jit.h"
#include "ir/ir.h"

/* What a value emitter may use. */
typedef struct cg_val {
    cg_jit *jit;
    LLVMBuilderRef b;
    LLVMModuleRef m;
} cg_val;

typedef LLVMValueRef cg_op_fn(cg_val *v, const ir_node *n, const LLVMValueRef *in);
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) cg_op_fn cg;
#include "ir/ops.def"
#undef OP

/* The emitter of op (NULL for cg_none; cg_structural for family-lowered ops). */
cg_op_fn *cg_op_emitter(ir_op op);
/* true when op has a kernel (its column is not cg_none). */
bool cg_op_supported(ir_op op);

/* Transcendental functions of one float (or float vector) value: the one place that chooses between
 * LLVM intrinsics / libm and our own approximations (codegen/cg_math.h once available).
 * fn: "exp", "log", "tanh", "erf", "sin", "cos", "log1p". */
LLVMValueRef cg_math1(cg_val *v, const char *fn, LLVMValueRef x);

#endif
