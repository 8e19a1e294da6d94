/* pass_fuse_norm.c — LayerNorm over the last axis -> `layernorm` (nn.layer_norm).
 *
 * Pattern (x [..,D], w [D], b [D], eps a one-element const):
 *   xc = x - mean(x, last);  r = rsqrt(mean(square(xc), last) + eps)
 *   y  = xc * r * w + b          (every product and sum in either operand order) */
#include "passes/fuse.h"

static bool is_vec(const fuse_ctx *c, ir_id x, void *d) { return fz_shape_is(c, x, 1, (int64_t[]){*(int64_t *)d}); }
static bool is_rsqrt(const fuse_ctx *c, ir_id x, void *u) {
    (void)u;
    return fz_is(c, x, OP_rsqrt);
}
static bool is_const1(const fuse_ctx *c, ir_id x, void *u) {
    (void)u;
    double v;
    return fz_const(c, x, &v) && ir_numel(fz_shape(c, x)) == 1;
}

void fuse_match_layernorm(fuse_ctx *c, ir_id root) {
    ir_shape s = fz_shape(c, root);
    if (!fz_is(c, root, OP_add) || s.rank < 1) return;
    int64_t D = s.dim[s.rank - 1];
    int last = s.rank - 1;
    ir_id m2, b, m1, w, xc, r, va, var, eps, sq, x, mu;
    if (!fz_binary(c, root, OP_add, is_vec, &D, &b, &m2)) return;
    if (!fz_binary(c, m2, OP_mul, is_vec, &D, &w, &m1)) return;
    if (!fz_binary(c, m1, OP_mul, is_rsqrt, NULL, &r, &xc)) return;
    if (!fz_is(c, xc, OP_sub) || !ir_shape_eq(fz_shape(c, xc), s)) return;
    x = fz_in(c, xc, 0), mu = fz_in(c, xc, 1);
    if (!fz_is(c, mu, OP_mean) || fz_in(c, mu, 0) != x || fz_node(c, mu)->attr.axis != last || !ir_shape_eq(fz_shape(c, x), s))
        return;
    va = fz_in(c, r, 0);
    if (!fz_binary(c, va, OP_add, is_const1, NULL, &eps, &var) || !fz_is(c, var, OP_mean) || fz_node(c, var)->attr.axis != last)
        return;
    sq = fz_in(c, var, 0);
    if (!fz_is(c, sq, OP_square) || fz_in(c, sq, 0) != xc) return;
    fuse_match m = {.root = root, .op = OP_layernorm, .leaf = {x, w, b}, .nleaf = 3};
    fz_const(c, eps, &m.attrs.value);
    ir_id interior[] = {mu, xc, sq, var, va, r, m1, m2};
    fuse_accept(c, &m, interior, 8);
}
