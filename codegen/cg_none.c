/* cg_none: the codegen column's entry for ops without a kernel generator yet. */
#include "codegen/cg_op.h"

bool cg_none(struct cg_kernel_ctx *ctx, const ir_graph *g, ir_id node) {
    (void)ctx, (void)g, (void)node;
    return false;
}
