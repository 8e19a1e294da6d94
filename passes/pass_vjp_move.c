/* pass_vjp_move.c — VJP rules of reductions and movement ops.
 *
 * Reductions keep their axis with size 1, so the gradient of a reduction is dy broadcast back along
 * that axis. Movement ops move gradients the opposite way: slice <-> pad, concat -> slices,
 * permute -> the inverse permutation, reshape -> reshape back. */
#include "passes/vjp.h"

bool vjp_sum(const ir_vjp *c) {
    c->dx[0] = ir_broadcast(c->g, c->dy, vjp_in_shape(c, 0));
    return !c->g->failed;
}

bool vjp_mean(const ir_vjp *c) {
    ir_shape s = vjp_in_shape(c, 0);
    int64_t len = s.dim[vjp_node(c)->attr.axis];
    c->dx[0] = ir_broadcast(c->g, scale_(c->g, c->dy, 1.0 / (double)len), s);
    return !c->g->failed;
}

/* rmax: dy goes to the maximal elements, split evenly between ties (a valid subgradient that does not
 * depend on which tied element the kernel happens to pick). */
bool vjp_rmax(const ir_vjp *c) {
    ir_graph *g = c->g;
    int axis = (int)vjp_node(c)->attr.axis;
    ir_id hit = ir_binary(g, OP_eq, vjp_in(c, 0), c->node);
    ir_id share = div_(g, c->dy, ir_reduce(g, OP_sum, hit, axis));
    c->dx[0] = mul_(g, hit, share);
    return !g->failed;
}

bool vjp_reshape(const ir_vjp *c) {
    c->dx[0] = ir_reshape(c->g, c->dy, vjp_in_shape(c, 0));
    return !c->g->failed;
}

bool vjp_permute(const ir_vjp *c) {
    const ir_node *n = vjp_node(c);
    int inv[IR_MAX_RANK];
    for (int i = 0; i < n->shape.rank; i++) inv[n->attr.perm[i]] = i;
    c->dx[0] = ir_permute(c->g, c->dy, inv);
    return !c->g->failed;
}

/* broadcast: dy as is; the driver sums the stretched dims back to the input's shape. */
bool vjp_broadcast(const ir_vjp *c) {
    c->dx[0] = c->dy;
    return true;
}

bool vjp_slice(const ir_vjp *c) {
    const ir_node *n = vjp_node(c);
    int64_t len = vjp_in_shape(c, 0).dim[n->attr.axis];
    c->dx[0] = ir_pad(c->g, c->dy, (int)n->attr.axis, n->attr.start, len - n->attr.end, 0.0);
    return !c->g->failed;
}

bool vjp_concat(const ir_vjp *c) {
    const ir_node *n = vjp_node(c);
    int axis = (int)n->attr.axis, nin = n->nin;
    int64_t at = 0;
    for (int i = 0; i < nin; i++) {
        int64_t len = vjp_in_shape(c, i).dim[axis];
        if (c->need[i]) c->dx[i] = ir_slice(c->g, c->dy, axis, at, at + len);
        at += len;
    }
    return !c->g->failed;
}

/* pad: the fill value is a constant; the input's gradient is the middle of dy. */
bool vjp_pad(const ir_vjp *c) {
    const ir_node *n = vjp_node(c);
    int64_t len = vjp_in_shape(c, 0).dim[n->attr.axis];
    c->dx[0] = ir_slice(c->g, c->dy, (int)n->attr.axis, n->attr.lo, n->attr.lo + len);
    return !c->g->failed;
}
