/* pass_fuse_matmul.c — matmul epilogues: bias, GELU/SiLU and residual adds folded into the matmul's store
 * (what cg_matmul's epilogue hook applies to the accumulator tile before it is written).
 *
 *   act(matmul(A, W) + bias)          -> matmul_bias_gelu / matmul_bias_silu
 *   R + (matmul(A, W) + bias)         -> matmul_bias_res
 *   matmul(A, W) + bias               -> matmul_bias
 *   R + matmul(A, W)                  -> matmul_res
 * W has rank 2 (a weight; batched products stay plain), bias is [N] exactly, R has the output's shape
 * exactly (no broadcasting), adds in either operand order. The largest form around a node wins. */
#include "passes/fuse.h"

/* x = matmul(A, W) with W of rank 2 (free, read once: checked by fuse_accept). */
static bool is_mm(const fuse_ctx *c, ir_id x, void *u) {
    (void)u;
    return fz_is(c, x, OP_matmul) && fz_shape(c, fz_in(c, x, 1)).rank == 2 && !c->taken[x];
}

/* x = matmul(A, W) + bias [N]: sets *mm, *bias. */
static bool mm_bias(const fuse_ctx *c, ir_id x, ir_id *mm, ir_id *bias) {
    if (!fz_binary(c, x, OP_add, is_mm, NULL, mm, bias)) return false;
    ir_shape s = fz_shape(c, *mm);
    return fz_shape_is(c, *bias, 1, (int64_t[]){s.dim[s.rank - 1]}) && ir_shape_eq(fz_shape(c, x), s);
}

static bool accept(fuse_ctx *c, ir_id root, ir_op op, ir_id mm, ir_id bias, ir_id res, const ir_id *interior, int n) {
    const ir_node *mn = fz_node(c, mm);
    fuse_match m = {.root = root, .op = op, .leaf = {fz_in(c, mm, 0), fz_in(c, mm, 1)}, .nleaf = 2};
    m.attrs.ta = mn->attr.ta, m.attrs.tb = mn->attr.tb;
    if (bias != IR_NONE) m.leaf[m.nleaf++] = bias;
    if (res != IR_NONE) m.leaf[m.nleaf++] = res;
    return fuse_accept(c, &m, interior, n);
}

void fuse_match_matmul_epilogue(fuse_ctx *c, ir_id root) {
    ir_id mm, bias, inner;
    const ir_node *r = fz_node(c, root);
    if (r->op == OP_gelu || r->op == OP_silu) {
        inner = fz_in(c, root, 0);
        if (mm_bias(c, inner, &mm, &bias))
            accept(c, root, r->op == OP_gelu ? OP_matmul_bias_gelu : OP_matmul_bias_silu, mm, bias, IR_NONE,
                   (ir_id[]){inner, mm}, 2);
        return;
    }
    if (r->op != OP_add) return;
    for (int k = 0; k < 2; k++) { /* R + (matmul + bias) */
        ir_id res = fz_in(c, root, 1 - k);
        inner = fz_in(c, root, k);
        if (ir_shape_eq(fz_shape(c, res), r->shape) && mm_bias(c, inner, &mm, &bias) &&
            accept(c, root, OP_matmul_bias_res, mm, bias, res, (ir_id[]){inner, mm}, 2))
            return;
    }
    if (mm_bias(c, root, &mm, &bias) && accept(c, root, OP_matmul_bias, mm, bias, IR_NONE, (ir_id[]){mm}, 1)) return;
    for (int k = 0; k < 2; k++) { /* R + matmul */
        ir_id res = fz_in(c, root, 1 - k);
        mm = fz_in(c, root, k);
        if (is_mm(c, mm, NULL) && ir_shape_eq(fz_shape(c, res), r->shape) && ir_shape_eq(fz_shape(c, mm), r->shape) &&
            accept(c, root, OP_matmul_res, mm, IR_NONE, res, (ir_id[]){mm}, 1))
            return;
    }
}
