/* cg_none and cg_structural: the codegen column's entries for ops without a value emitter. */
#include "codegen/cg_op.h"

LLVMValueRef cg_none(cg_val *v, const ir_node *n, const LLVMValueRef *in) {
    (void)v, (void)n, (void)in;
    return NULL;
}

LLVMValueRef cg_structural(cg_val *v, const ir_node *n, const LLVMValueRef *in) {
    (void)v, (void)n, (void)in;
    return NULL;
}

static cg_op_fn *const emitters[] = {
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) cg,
#include "ir/ops.def"
#undef OP
};
_Static_assert(sizeof emitters / sizeof emitters[0] == OP_COUNT, "one codegen entry per op");

cg_op_fn *cg_op_emitter(ir_op op) { return op < OP_COUNT && emitters[op] != cg_none ? emitters[op] : NULL; }

bool cg_op_supported(ir_op op) { return cg_op_emitter(op) != NULL; }
