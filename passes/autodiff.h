/* autodiff.h — reverse-mode differentiation (the `vjp` column of ir/ops.def).
 *
 * A VJP rule gets the forward node, the id of the gradient of its output (dy) and writes the ids of the
 * gradients of its inputs into dx[] (IR_NONE where no gradient flows). It builds ordinary graph ops into g,
 * so the backward graph prints, verifies and interprets like any other. Returns false with an error
 * recorded in g. */
#ifndef ICLC_PASSES_AUTODIFF_H
#define ICLC_PASSES_AUTODIFF_H

#include "ir/ir.h"

typedef bool ir_vjp_fn(ir_graph *g, ir_id node, ir_id dy, ir_id *dx);
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) ir_vjp_fn vjp;
#include "ir/ops.def"
#undef OP

#endif
