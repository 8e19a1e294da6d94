/* cg_op.h — the codegen column of ir/ops.def: a kernel generator per op (filled by the code
 * generator; cg_none marks ops without a kernel yet). */
#ifndef ICLC_CODEGEN_CG_OP_H
#define ICLC_CODEGEN_CG_OP_H

#include "ir/ir.h"

struct cg_kernel_ctx; /* defined by the code generator */
typedef bool cg_op_fn(struct cg_kernel_ctx *ctx, const ir_graph *g, ir_id node);
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) cg_op_fn cg;
#include "ir/ops.def"
#undef OP

#endif
