/* pass_vjp_fused.c — VJP rules of the fused ops (ir/ir_fused.c).
 *
 * The IR has single-output nodes, so a fused op's backward is one `_grad` node that computes the gradients
 * of all its inputs in one sweep and returns them packed in a flat tensor (input order); each input's
 * gradient is a contiguous slice of it, reshaped. Cost: the packed tensor is the sum of the inputs' sizes
 * (what separate outputs would take) and the slices are contiguous views a code generator can alias; the
 * gradients of inputs that need none are computed anyway (cheap next to the recurrence or the scores).
 *
 * - selective_scan, s4_scan: the grad op recomputes the states in reverse, chunk by chunk from
 *   checkpoints (no B x L x E x N tensor, neither saved nor rebuilt).
 * - attention: the forward output is kept, the backward adds attention_lse (one score statistic per row:
 *   what a kernel computing both at once saves in the forward) and attention_grad, which recomputes the
 *   probabilities from it.
 * - matmul epilogues: the matmul's own VJP on dZ = dY act'(Z); with GELU/SiLU the pre-activation Z is
 *   recomputed by a matmul_bias node (one more GEMM in the backward instead of keeping Z alive). */
#include "passes/vjp.h"

/* Piece [off, off + numel(s)) of a flat packed gradient, shaped s. */
static ir_id unpack(ir_graph *g, ir_id packed, int64_t off, ir_shape s) {
    return ir_reshape(g, ir_slice(g, packed, 0, off, off + ir_numel(s)), s);
}

/* Builds the grad op `op` on (the node's inputs, dy) and hands each needed input its piece. */
static bool packed_grad(const ir_vjp *c, ir_op op) {
    ir_graph *g = c->g;
    const ir_node *n = vjp_node(c);
    int nin = n->nin;
    ir_id in[8];
    for (int i = 0; i < nin; i++) in[i] = vjp_in(c, i);
    in[nin] = c->dy;
    ir_attrs a = {.value = n->attr.value, .softplus = n->attr.softplus};
    ir_id packed = ir_build(g, op, in, nin + 1, &a, NULL);
    if (g->failed) return false;
    int64_t B = vjp_in_shape(c, 0).dim[0], offs[8];
    for (int i = 0; i < nin; i++) offs[i] = ir_grad_offset(g, ir_node_at(g, packed), i); /* before g grows */
    for (int i = 0; i < nin; i++) {
        if (!c->need[i]) continue;
        ir_shape s = vjp_in_shape(c, i);
        int64_t off = offs[i];
        if (!ir_grad_per_batch(op, i)) {
            c->dx[i] = unpack(g, packed, off, s);
            continue;
        }
        ir_shape ps = ir_shape_of(2, (int64_t[]){B, ir_numel(s)}); /* the per-batch partials, summed here */
        c->dx[i] = ir_reshape(g, ir_reduce(g, OP_sum, unpack(g, packed, off, ps), 0), s);
    }
    return !g->failed;
}

bool vjp_selective_scan(const ir_vjp *c) {
    return packed_grad(c, vjp_node(c)->op == OP_selective_scan_gated ? OP_selective_scan_gated_grad : OP_selective_scan_grad);
}
bool vjp_s4_scan(const ir_vjp *c) { return packed_grad(c, OP_s4_scan_grad); }
bool vjp_layernorm(const ir_vjp *c) { return packed_grad(c, OP_layernorm_grad); }

bool vjp_causal_conv1d(const ir_vjp *c) {
    return packed_grad(c, vjp_node(c)->op == OP_causal_conv1d_silu ? OP_causal_conv1d_silu_grad : OP_causal_conv1d_grad);
}

bool vjp_attention(const ir_vjp *c) {
    ir_graph *g = c->g;
    ir_attrs a = {.value = vjp_node(c)->attr.value};
    ir_id q = vjp_in(c, 0), k = vjp_in(c, 1), v = vjp_in(c, 2);
    ir_id lse = ir_build(g, OP_attention_lse, (ir_id[]){q, k}, 2, &a, NULL);
    ir_id grads = ir_build(g, OP_attention_grad, (ir_id[]){q, k, v, c->node, lse, c->dy}, 6, &a, NULL);
    ir_shape s = vjp_in_shape(c, 0);
    for (int i = 0; i < 3; i++)
        if (c->need[i]) c->dx[i] = ir_reshape(g, ir_slice(g, grads, 0, i, i + 1), s);
    return !g->failed;
}

/* dZ = dY gelu'(Z) (tanh form, as vjp_gelu) or dY silu'(Z). */
static ir_id act_grad(ir_graph *g, ir_op op, ir_id z, ir_id dy) {
    if (op == OP_matmul_bias_silu) {
        ir_id s = ir_unary(g, OP_sigmoid, z);
        return mul_(g, dy, mul_(g, s, add_(g, k_(g, 1), mul_(g, z, sub_(g, k_(g, 1), s)))));
    }
    const double kk = 0.7978845608028654, a = 0.044715;
    ir_id z2 = ir_unary(g, OP_square, z);
    ir_id t = ir_unary(g, OP_tanh, scale_(g, mul_(g, z, add_(g, k_(g, 1), scale_(g, z2, a))), kk));
    ir_id du = scale_(g, add_(g, k_(g, 1), scale_(g, z2, 3 * a)), kk);
    ir_id dt = mul_(g, sub_(g, k_(g, 1), ir_unary(g, OP_square, t)), du);
    return mul_(g, dy, scale_(g, add_(g, add_(g, k_(g, 1), t), mul_(g, z, dt)), 0.5));
}

bool vjp_matmul_ep(const ir_vjp *c) {
    ir_graph *g = c->g;
    const ir_node *n = vjp_node(c);
    ir_op op = n->op;
    int nin = n->nin;
    ir_id dz = c->dy;
    if (op == OP_matmul_bias_gelu || op == OP_matmul_bias_silu) {
        ir_attrs a = {.ta = n->attr.ta, .tb = n->attr.tb};
        ir_id z = ir_build(g, OP_matmul_bias, (ir_id[]){vjp_in(c, 0), vjp_in(c, 1), vjp_in(c, 2)}, 3, &a, NULL);
        dz = act_grad(g, op, z, c->dy);
    }
    ir_vjp mm = *c; /* the plain matmul's rule on dZ: it reads inputs 0, 1 and ta/tb only */
    mm.dy = dz;
    if ((c->need[0] || c->need[1]) && !vjp_matmul(&mm)) return false;
    if (op != OP_matmul_res && c->need[2]) c->dx[2] = dz; /* bias: the driver sums the rows */
    if ((op == OP_matmul_res || op == OP_matmul_bias_res) && c->need[nin - 1]) c->dx[nin - 1] = c->dy;
    return !g->failed;
}
