/* pass_vjp_none.c — the two VJP entries that build nothing.
 *
 * vjp_nograd: sources and piecewise-constant ops (comparisons, rand_mask): no gradient flows, by design.
 * vjp_none: placeholder for an op whose rule is not written yet; differentiating through it is an error. */
#include "passes/autodiff.h"

bool vjp_nograd(const ir_vjp *c) {
    (void)c;
    return true;
}

bool vjp_none(const ir_vjp *c) {
    ir_errorf(c->g, "%s: no gradient rule (add one in the vjp column of ir/ops.def)", ir_ops[c->g->nodes[c->node].op].name);
    return false;
}
