/* pass_vjp_elem.c — VJP rules of the elementwise ops (unary, binary, select).
 *
 * x is the input, y the node's own value (reused where the derivative is a function of y), dy the
 * incoming gradient. Binary rules return gradients in the output's (broadcast) shape; the driver sums
 * them back to each operand's shape. Derivatives at kinks follow the interpreter's choice of branch. */
#include "passes/vjp.h"

#include <math.h>

/* Unary rules: dx = dy * f'(x). X = input, Y = node, G = graph. */
#define UNARY_VJP(op, expr)                                            \
    bool vjp_##op(const ir_vjp *c) {                                   \
        ir_graph *G = c->g;                                            \
        ir_id X = vjp_in(c, 0), Y = c->node, dy = c->dy;               \
        (void)X, (void)Y, (void)dy;                                    \
        c->dx[0] = (expr);                                             \
        return !G->failed;                                             \
    }

UNARY_VJP(neg, neg_(G, dy))
UNARY_VJP(exp, mul_(G, dy, Y))
UNARY_VJP(log, div_(G, dy, X))
/* d sqrt(x) = 1 / (2 sqrt(x)) */
UNARY_VJP(sqrt, div_(G, scale_(G, dy, 0.5), Y))
/* d x^-1/2 = -x^-3/2 / 2 = -y^3 / 2 */
UNARY_VJP(rsqrt, mul_(G, scale_(G, dy, -0.5), mul_(G, Y, ir_unary(G, OP_square, Y))))
UNARY_VJP(tanh, mul_(G, dy, sub_(G, k_(G, 1), ir_unary(G, OP_square, Y))))
UNARY_VJP(sigmoid, mul_(G, dy, mul_(G, Y, sub_(G, k_(G, 1), Y))))
/* relu: gradient 1 where x > 0 (the interpreter's branch), 0 elsewhere */
UNARY_VJP(relu, mul_(G, dy, ir_binary(G, OP_gt, X, k_(G, 0))))
/* erf: 2/sqrt(pi) exp(-x^2) */
UNARY_VJP(erf, mul_(G, scale_(G, dy, 2.0 / sqrt(M_PI)), ir_unary(G, OP_exp, neg_(G, ir_unary(G, OP_square, X)))))
UNARY_VJP(abs, mul_(G, dy, ir_unary(G, OP_sign, X)))
/* sign is piecewise constant: no gradient flows */
UNARY_VJP(sign, IR_NONE)
UNARY_VJP(square, mul_(G, dy, scale_(G, X, 2)))
UNARY_VJP(cos, neg_(G, mul_(G, dy, ir_unary(G, OP_sin, X))))
UNARY_VJP(sin, mul_(G, dy, ir_unary(G, OP_cos, X)))
#undef UNARY_VJP

/* gelu (tanh form): y = x/2 (1 + t), t = tanh(u), u = c (x + 0.044715 x^3), c = sqrt(2/pi);
 * y' = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2). */
bool vjp_gelu(const ir_vjp *c) {
    ir_graph *g = c->g;
    const double k = 0.7978845608028654, a = 0.044715;
    ir_id x = vjp_in(c, 0), x2 = ir_unary(g, OP_square, x);
    ir_id u = scale_(g, mul_(g, x, add_(g, k_(g, 1), scale_(g, x2, a))), k);
    ir_id t = ir_unary(g, OP_tanh, u);
    ir_id du = scale_(g, add_(g, k_(g, 1), scale_(g, x2, 3 * a)), k);
    ir_id dt = mul_(g, sub_(g, k_(g, 1), ir_unary(g, OP_square, t)), du);
    ir_id d = scale_(g, add_(g, add_(g, k_(g, 1), t), mul_(g, x, dt)), 0.5);
    c->dx[0] = mul_(g, c->dy, d);
    return !g->failed;
}

/* silu: y = x s, s = sigmoid(x); y' = s (1 + x (1 - s)). */
bool vjp_silu(const ir_vjp *c) {
    ir_graph *g = c->g;
    ir_id x = vjp_in(c, 0), s = ir_unary(g, OP_sigmoid, x);
    ir_id d = mul_(g, s, add_(g, k_(g, 1), mul_(g, x, sub_(g, k_(g, 1), s))));
    c->dx[0] = mul_(g, c->dy, d);
    return !g->failed;
}

/* softplus: y' = sigmoid(x), and exactly 1 above the threshold 20 where y = x. */
bool vjp_softplus(const ir_vjp *c) {
    ir_graph *g = c->g;
    ir_id x = vjp_in(c, 0);
    ir_id d = ir_select(g, ir_binary(g, OP_gt, x, k_(g, 20)), k_(g, 1), ir_unary(g, OP_sigmoid, x));
    c->dx[0] = mul_(g, c->dy, d);
    return !g->failed;
}

/* ---- binary ---- */

bool vjp_add(const ir_vjp *c) {
    c->dx[0] = c->dy;
    c->dx[1] = c->dy;
    return true;
}

bool vjp_sub(const ir_vjp *c) {
    c->dx[0] = c->dy;
    if (c->need[1]) c->dx[1] = neg_(c->g, c->dy);
    return !c->g->failed;
}

bool vjp_mul(const ir_vjp *c) {
    if (c->need[0]) c->dx[0] = mul_(c->g, c->dy, vjp_in(c, 1));
    if (c->need[1]) c->dx[1] = mul_(c->g, c->dy, vjp_in(c, 0));
    return !c->g->failed;
}

/* y = a / b: da = dy / b, db = -dy a / b^2 = -dy y / b. */
bool vjp_div(const ir_vjp *c) {
    ir_graph *g = c->g;
    ir_id b = vjp_in(c, 1);
    if (c->need[0]) c->dx[0] = div_(g, c->dy, b);
    if (c->need[1]) c->dx[1] = neg_(g, div_(g, mul_(g, c->dy, c->node), b));
    return !g->failed;
}

/* max/min route dy to the operand the interpreter picked: a on ties (a >= b for max, a <= b for min). */
static bool vjp_pick(const ir_vjp *c, ir_op pick_a, ir_op pick_b) {
    ir_graph *g = c->g;
    ir_id a = vjp_in(c, 0), b = vjp_in(c, 1);
    if (c->need[0]) c->dx[0] = mul_(g, c->dy, ir_binary(g, pick_a, a, b));
    if (c->need[1]) c->dx[1] = mul_(g, c->dy, ir_binary(g, pick_b, a, b));
    return !g->failed;
}
bool vjp_max(const ir_vjp *c) { return vjp_pick(c, OP_ge, OP_lt); }
bool vjp_min(const ir_vjp *c) { return vjp_pick(c, OP_le, OP_gt); }

/* select(c, a, b): the condition gets no gradient; dy goes to a where c != 0, to b elsewhere. */
bool vjp_select(const ir_vjp *c) {
    ir_graph *g = c->g;
    ir_id cond = vjp_in(c, 0);
    if (c->need[1]) c->dx[1] = ir_select(g, cond, c->dy, k_(g, 0));
    if (c->need[2]) c->dx[2] = ir_select(g, cond, k_(g, 0), c->dy);
    return !g->failed;
}
