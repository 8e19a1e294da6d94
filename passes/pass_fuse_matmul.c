/* pass_fuse_matmul.c — matmul epilogues: bias, GELU/SiLU and residual adds folded into the matmul's store
 * (what cg_matmul's epilogue hook applies to the accumulator tile before it is written).
 *
 *   act(matmul(A, W) + bias)          -> matmul_bias_gelu / matmul_bias_silu
 *   R + (matmul(A, W) + bias)         -> matmul_bias_res
 *   matmul(A, W) + bias               -> matmul_bias
 *   R + matmul(A, W)                  -> matmul_res
 * W has rank 2 (a weight; batched products stay plain), bias is [N] exactly, R has the output's shape
 * exactly (no broadcasting), adds in either operand order. The largest form around a node wins.
 *
 * slice_matmul: the column slices of one projection become projections by the weight's row slices,
 *
 *   slice(matmul(A, W) [+ bias], last axis, a, b)  ->  matmul(A, W[a:b]) [+ bias[a:b]]
 *
 * when every reader of the product is such a slice, SLICE_MIN columns wide or more, and together they read
 * no more columns than the product has. Mamba's in_proj (x | z) and attention's qkv projection (q | k | v)
 * are written this way: their slices feed kernels that read whole rows (conv, scan, attention), so each
 * slice was a copy, and their gradients met again in a concatenation (pad + add); after the rewrite each
 * part is its own dense product and gradient. With nn.lua's weight layout (W [N, K], tb) a row slice of W
 * is contiguous: a view, no copy. */
#include "passes/fuse.h"

enum { SLICE_MIN = 32 }; /* narrower parts would run the matmul kernel at one vector of columns */

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

/* Whether every reader of x is a last-axis slice at least SLICE_MIN wide and together they read at most
 * all of x's columns (x no graph output). */
static bool read_by_slices_only(const fuse_ctx *c, ir_id x) {
    const ir_graph *g = c->g;
    int last = fz_shape(c, x).rank - 1;
    int64_t cols = 0;
    int32_t seen = 0;
    for (ir_id j = x + 1; j < g->nnodes; j++) {
        const ir_node *n = &g->nodes[j];
        for (int k = 0; k < n->nin; k++) {
            if (ir_in(g, n, k) != x) continue;
            if (n->op != OP_slice || n->attr.axis != last || n->attr.end - n->attr.start < SLICE_MIN) return false;
            cols += n->attr.end - n->attr.start, seen++;
        }
    }
    return seen == c->uses[x] && cols <= fz_shape(c, x).dim[last];
}

static ir_id emit_slice_mm(ir_graph *ng, const ir_id *newid, const fuse_match *m) {
    int64_t a = m->attrs.start, b = m->attrs.end;
    ir_id w = ir_slice(ng, newid[m->leaf[1]], m->attrs.tb ? 0 : 1, a, b);
    ir_id y = ir_matmul(ng, newid[m->leaf[0]], w, m->attrs.ta, m->attrs.tb);
    return m->nleaf == 3 ? ir_binary(ng, OP_add, y, ir_slice(ng, newid[m->leaf[2]], 0, a, b)) : y;
}

void fuse_match_slice_matmul(fuse_ctx *c, ir_id root) {
    const ir_node *r = fz_node(c, root);
    if (r->op != OP_slice || r->attr.axis != r->shape.rank - 1) return;
    ir_id x = fz_in(c, root, 0), mm = x, bias = IR_NONE;
    if (!is_mm(c, mm, NULL)) {
        if (!mm_bias(c, x, &mm, &bias) || c->uses[mm] != 1) return;
    }
    if (!read_by_slices_only(c, x)) return;
    const ir_node *mn = fz_node(c, mm);
    fuse_match m = {.root = root, .op = OP_matmul, .leaf = {fz_in(c, mm, 0), fz_in(c, mm, 1)}, .nleaf = 2,
                    .emit = emit_slice_mm};
    m.attrs.ta = mn->attr.ta, m.attrs.tb = mn->attr.tb, m.attrs.start = r->attr.start, m.attrs.end = r->attr.end;
    if (bias != IR_NONE) m.leaf[m.nleaf++] = bias;
    fuse_accept(c, &m, NULL, 0); /* the product is shared by the sibling slices; it dies once they all match */
}
