/* vjp.h — short builders shared by the VJP rules (passes/pass_vjp_*.c). Private to passes/.
 *
 * Every helper propagates IR_NONE like the ir_* builders, so a rule writes its formula straight and
 * checks g->failed once at the end. */
#ifndef ICLC_PASSES_VJP_H
#define ICLC_PASSES_VJP_H

#include "passes/autodiff.h"

static inline const ir_node *vjp_node(const ir_vjp *c) { return &c->g->nodes[c->node]; }
/* Input i of the forward node. */
static inline ir_id vjp_in(const ir_vjp *c, int i) { return ir_in(c->g, vjp_node(c), i); }
static inline ir_shape vjp_in_shape(const ir_vjp *c, int i) { return c->g->nodes[vjp_in(c, i)].shape; }

static inline ir_id k_(ir_graph *g, double v) { return ir_scalar(g, v); }
static inline ir_id add_(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_add, a, b); }
static inline ir_id sub_(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_sub, a, b); }
static inline ir_id mul_(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_mul, a, b); }
static inline ir_id div_(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_div, a, b); }
static inline ir_id neg_(ir_graph *g, ir_id a) { return ir_unary(g, OP_neg, a); }
/* a * v for a number v. */
static inline ir_id scale_(ir_graph *g, ir_id a, double v) { return mul_(g, a, k_(g, v)); }

#endif
