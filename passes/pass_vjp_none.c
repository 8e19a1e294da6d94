/* vjp_none: the VJP column's entry for ops without a gradient rule. */
#include "passes/autodiff.h"

bool vjp_none(ir_graph *g, ir_id node, ir_id dy, ir_id *dx) {
    (void)dy, (void)dx;
    ir_errorf(g, "%s: no gradient rule", ir_ops[g->nodes[node].op].name);
    return false;
}
