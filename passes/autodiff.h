/* autodiff.h — reverse-mode differentiation as a graph pass (the `vjp` column of ir/ops.def).
 *
 * pass_autodiff appends the backward graph to a forward graph, in place: forward node ids do not
 * change, and every gradient is an ordinary node, so the result prints, verifies and interprets like
 * any other graph. For every differentiated param P it adds the output "grad:P" (P's own name), of P's
 * shape. Backward nodes carry the location of the forward node whose rule built them.
 *
 *   ir_graph *g = ...;                          // forward graph with an output "loss" (numel 1)
 *   if (!pass_autodiff(g, NULL)) fprintf(stderr, "%s\n", ir_error(g));
 *   ir_id dw = ir_output_find(g, "grad:blocks.0.attn.qkv.weight");
 *
 * Only nodes on a path from a differentiated param to the loss get gradient work; OPF_NODIFF ops and
 * sources (inputs, consts, iota, rand_mask) stop gradients. A param with no such path gets a zero
 * const as its gradient, so every requested param has a "grad:" output.
 */
#ifndef ICLC_PASSES_AUTODIFF_H
#define ICLC_PASSES_AUTODIFF_H

#include "ir/ir.h"

/* What pass_autodiff differentiates. All fields may be zero: loss "loss", every param. */
typedef struct ir_grad_opts {
    const char *loss;          /* output holding the scalar loss (any shape with one element); NULL = "loss" */
    const char *const *params; /* names of the params to differentiate; NULL = every param */
    int nparams;
} ir_grad_opts;

/* Appends the backward graph to g (see above). opts may be NULL. Returns false with the error in g
 * (unknown loss or param, loss with more than one element, an op without a gradient rule). */
bool pass_autodiff(ir_graph *g, const ir_grad_opts *opts);

/* The output name of param `name`'s gradient ("grad:" + name) into buf; returns buf. */
char *ir_grad_name(const char *name, char *buf, size_t len);

/* ---- VJP rules ----
 * A rule receives the forward node, the gradient of its output and which inputs want a gradient, and
 * writes the gradient of each wanted input into dx[i] (IR_NONE where none flows). It builds graph ops
 * into g with the usual builders (which propagate IR_NONE, so one check at the end suffices) and
 * returns false when g has failed. dx[i] may have input i's shape or any shape input i broadcasts to
 * (typically the node's own shape): the driver sums broadcast dims away, so elementwise rules never
 * undo broadcasting themselves. The driver adds up gradients arriving from several uses. */
typedef struct ir_vjp {
    ir_graph *g;
    ir_id node;       /* the forward node */
    ir_id dy;         /* gradient of the node's output, of the node's shape */
    const bool *need; /* need[i]: input i wants a gradient (rules may skip the others) */
    ir_id *dx;        /* out: one slot per input, preset to IR_NONE */
} ir_vjp;

typedef bool ir_vjp_fn(const ir_vjp *c);
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) ir_vjp_fn vjp;
#include "ir/ops.def"
#undef OP

#endif
