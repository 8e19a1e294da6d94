/* pass_fuse_attn.c — causal softmax attention -> `attention` (nn.causal_attention).
 *
 * Pattern (B batch, H heads, L tokens, hd head size; q, k, v [B,H,L,hd]):
 *   s0 = matmul(q, k, tb) [* c | / c]                  scale c: a one-element const (1 when absent)
 *   s  = select(mask, fill, s0) | select(mask, s0, fill)   fill <= -1e9, mask a constant [L,L] that keeps
 *                                                          exactly the keys j <= i (evaluated, not guessed)
 *   p  = exp(s - rmax(s, 3)) / sum(exp(..), 3)
 *   o  = matmul(p, v)                                  the root
 * The fused op works in the token-major layout [B,L,H,hd] that the model has before its head permutes:
 * inputs that are permute{0,2,1,3} of such a tensor are taken from before the permute, others get one,
 * and the output is permuted back (which cancels the model's own permute of o). */
#include "passes/fuse.h"

#include <math.h>
#include <stdlib.h>

static bool is_rank4(const fuse_ctx *c, ir_id x, void *u) {
    (void)u;
    return fz_shape(c, x).rank == 4;
}

static bool is_one_const(const fuse_ctx *c, ir_id x, void *u) {
    (void)u;
    double v;
    return fz_const(c, x, &v) && ir_numel(fz_shape(c, x)) == 1;
}

/* The mask keeps exactly j <= i: keep[i][j] = (mask != 0) == keep_where_nonzero. */
static bool causal_mask(fuse_ctx *c, ir_id mask, bool keep_where_nonzero, int64_t L) {
    ir_shape s = fz_shape(c, mask);
    if (s.rank < 2 || s.dim[s.rank - 1] != L || s.dim[s.rank - 2] != L || ir_numel(s) != L * L) return false;
    double *m = malloc((size_t)(L > 0 ? L * L : 1) * sizeof *m);
    bool okay = m && fz_eval_const(c, mask, m, L * L);
    for (int64_t i = 0; okay && i < L; i++)
        for (int64_t j = 0; okay && j < L; j++) okay = ((m[i * L + j] != 0) == keep_where_nonzero) == (j <= i);
    free(m);
    return okay;
}

static const int64_t SWAP12[IR_MAX_RANK] = {0, 2, 1, 3};

static bool is_swap12(const ir_node *n) {
    if (n->op != OP_permute || n->shape.rank != 4) return false;
    for (int i = 0; i < 4; i++)
        if (n->attr.perm[i] != SWAP12[i]) return false;
    return true;
}

/* x [B,H,L,hd] of the old graph in the layout [B,L,H,hd] of the new one. */
static ir_id token_major(ir_graph *ng, const ir_graph *g, const ir_id *newid, ir_id x) {
    if (is_swap12(&g->nodes[x])) return newid[ir_in(g, &g->nodes[x], 0)];
    return ir_permute(ng, newid[x], (int[]){0, 2, 1, 3});
}

static ir_id emit_attention(ir_graph *ng, const ir_id *newid, const fuse_match *m) {
    const ir_graph *g = m->old;
    ir_attrs a = {.value = m->attrs.value};
    ir_id q = token_major(ng, g, newid, m->leaf[0]), k = token_major(ng, g, newid, m->leaf[1]);
    ir_id v = token_major(ng, g, newid, m->leaf[2]);
    ir_id o = ir_build(ng, OP_attention, (ir_id[]){q, k, v}, 3, &a, NULL);
    return ir_permute(ng, o, (int[]){0, 2, 1, 3});
}

void fuse_match_attention(fuse_ctx *c, ir_id root) {
    const ir_node *r = fz_node(c, root);
    if (r->op != OP_matmul || r->attr.ta || r->attr.tb || r->shape.rank != 4) return;
    ir_id p = fz_in(c, root, 0), v = fz_in(c, root, 1);
    if (fz_shape(c, v).rank != 4 || !fz_is(c, p, OP_div)) return;
    ir_id e = fz_in(c, p, 0), se = fz_in(c, p, 1);
    if (!fz_is(c, e, OP_exp) || !fz_is(c, se, OP_sum) || fz_in(c, se, 0) != e || fz_node(c, se)->attr.axis != 3) return;
    ir_id sb = fz_in(c, e, 0);
    if (!fz_is(c, sb, OP_sub)) return;
    ir_id s = fz_in(c, sb, 0), mx = fz_in(c, sb, 1);
    if (!fz_is(c, mx, OP_rmax) || fz_in(c, mx, 0) != s || fz_node(c, mx)->attr.axis != 3) return;
    if (!fz_is(c, s, OP_select)) return;
    ir_id mask = fz_in(c, s, 0), s0 = IR_NONE, fill = IR_NONE;
    double fv;
    bool keep_nonzero;
    if (fz_const(c, fz_in(c, s, 1), &fv) && !fz_const(c, fz_in(c, s, 2), &(double){0}))
        fill = fz_in(c, s, 1), s0 = fz_in(c, s, 2), keep_nonzero = false;
    else if (fz_const(c, fz_in(c, s, 2), &fv))
        fill = fz_in(c, s, 2), s0 = fz_in(c, s, 1), keep_nonzero = true;
    else
        return;
    if (!(fv <= -1e9) || ir_numel(fz_shape(c, fill)) != 1) return;
    /* the scale */
    ir_id qk = s0, kc;
    double scale = 1;
    int ninterior = 0;
    ir_id interior[12];
    if (fz_binary(c, s0, OP_mul, is_rank4, NULL, &qk, &kc) && is_one_const(c, kc, NULL)) {
        fz_const(c, kc, &scale);
        interior[ninterior++] = s0;
    } else if (fz_is(c, s0, OP_div) && is_one_const(c, fz_in(c, s0, 1), NULL)) {
        qk = fz_in(c, s0, 0);
        fz_const(c, fz_in(c, s0, 1), &scale);
        scale = 1 / scale;
        interior[ninterior++] = s0;
    }
    const ir_node *mm = fz_node(c, qk);
    if (mm->op != OP_matmul || mm->attr.ta || !mm->attr.tb || mm->shape.rank != 4) return;
    ir_id q = fz_in(c, qk, 0), k = fz_in(c, qk, 1);
    ir_shape qs = fz_shape(c, q);
    int64_t L = qs.dim[2];
    if (qs.rank != 4 || !ir_shape_eq(qs, fz_shape(c, k)) || !ir_shape_eq(qs, fz_shape(c, v))) return;
    if (!ir_shape_eq(fz_shape(c, s), mm->shape) || mm->shape.dim[3] != L) return;
    if (!causal_mask(c, mask, keep_nonzero, L)) return;
    ir_id more[] = {qk, s, mx, sb, e, se, p};
    for (int i = 0; i < 7; i++) interior[ninterior++] = more[i];
    fuse_match m = {.root = root, .op = OP_attention, .leaf = {q, k, v}, .nleaf = 3, .emit = emit_attention};
    m.attrs.value = scale;
    fuse_accept(c, &m, interior, ninterior);
}

/* ---- attention_lse (after autodiff): attention + its VJP's attention_lse -> one attention_fwd ---- */

/* P = attention_fwd(q, k, v); the attention's value is P's first B L H hd floats. */
static ir_id emit_fwd_output(ir_graph *ng, const ir_id *newid, const fuse_match *m) {
    ir_id q = newid[m->leaf[0]];
    ir_shape s = ng->nodes[q].shape;
    ir_id p = ir_build(ng, OP_attention_fwd, (ir_id[]){q, newid[m->leaf[1]], newid[m->leaf[2]]}, 3, &m->attrs, NULL);
    return ir_reshape(ng, ir_slice(ng, p, 0, 0, ir_numel(s)), s);
}

/* The row statistics: the rest of P, found through the attention's rebuilt value (reshape of a slice of P). */
static ir_id emit_fwd_lse(ir_graph *ng, const ir_id *newid, const fuse_match *m) {
    const ir_node *o = &ng->nodes[newid[m->leaf[0]]];
    const ir_node *sl = &ng->nodes[ir_in(ng, o, 0)];
    ir_id p = ir_in(ng, sl, 0);
    ir_shape s = o->shape;
    int64_t n = ir_numel(s);
    return ir_reshape(ng, ir_slice(ng, p, 0, n, n + n / s.dim[3]), ir_shape_of(3, s.dim));
}

void fuse_match_attention_lse(fuse_ctx *c, ir_id root) {
    const ir_node *r = fz_node(c, root);
    if (r->op != OP_attention_lse) return;
    ir_id q = fz_in(c, root, 0), k = fz_in(c, root, 1);
    for (ir_id x = 0; x < root; x++) {
        const ir_node *a = fz_node(c, x);
        if (a->op != OP_attention || c->taken[x] || fz_in(c, x, 0) != q || fz_in(c, x, 1) != k ||
            a->attr.value != r->attr.value)
            continue;
        fuse_match mo = {.root = x, .op = OP_attention_fwd, .leaf = {q, k, fz_in(c, x, 2)}, .nleaf = 3, .emit = emit_fwd_output};
        fuse_match ml = {.root = root, .op = OP_attention_fwd, .leaf = {x}, .nleaf = 1, .emit = emit_fwd_lse};
        mo.attrs.value = ml.attrs.value = a->attr.value;
        if (fuse_accept(c, &mo, NULL, 0)) fuse_accept(c, &ml, NULL, 0);
        return;
    }
}
