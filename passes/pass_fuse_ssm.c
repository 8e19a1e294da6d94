/* pass_fuse_ssm.c — the state-space recurrences -> `selective_scan` (nn.selective_scan, Mamba's S6) and
 * `s4_scan` (nn.s4d). Both patterns are a `scan`/`cscan` over a state tensor with one more axis than the
 * output (B x L x E x N, B x L x H x M x 2) followed by a read-out that sums the state axis away; the fused
 * ops keep the state per (batch, channel) and never build that tensor.
 *
 * selective_scan (u, delta [B,L,E]; A [E,N]; Bm, Cm [B,L,N]; D [E]):
 *   dA  = exp(reshape(delta, [B,L,E,1]) * A)
 *   dBu = reshape(delta * u, [B,L,E,1]) * reshape(Bm, [B,L,1,N])
 *   h   = scan(dA, dBu, const 0, axis 1)
 *   y   = reshape(sum(h * reshape(Cm, [B,L,1,N]), 3), [B,L,E])  [+ u * D]   (root: the add, else the reshape)
 *   and Mamba's gate y * silu(z) (z [B,L,E]) when the SiLU is read only there -> selective_scan_gated;
 *   delta = softplus(x) read only by the pattern -> input x with attribute softplus
 * s4_scan (u [B,L,H]; a, b, w [H,M,2]; D [H]):
 *   s = cscan(broadcast(a, [B,L,H,M,2]), b * reshape(u, [B,L,H,1,1]), const 0, axis 1)
 *   y = reshape(sum(sum(s * w, 4), 3), [B,L,H]) [* k]  [+ u * D]      (the sums in either order)
 * Products match in either operand order. Without the D term the fused op gets a zero D. */
#include "passes/fuse.h"

static bool is_reshape_from(const fuse_ctx *c, ir_id x, int rank, const int64_t *dims) {
    return fz_is(c, x, OP_reshape) && fz_shape_is(c, fz_in(c, x, 0), rank, dims);
}

static bool is_zero_const(const fuse_ctx *c, ir_id x) {
    double v;
    return fz_const(c, x, &v) && v == 0;
}

static bool is_reshape(const fuse_ctx *c, ir_id x, void *u) {
    (void)u;
    return fz_is(c, x, OP_reshape);
}

static bool is_node(const fuse_ctx *c, ir_id x, void *u) {
    (void)c;
    return x == *(ir_id *)u;
}

/* The D term `skip` = u2 * d2 (either order, IR_NONE when absent) reads u and a D of shape [E]: sets *D. */
static bool skip_term(const fuse_ctx *c, ir_id u, ir_id skip, int64_t E, ir_id *D) {
    *D = IR_NONE;
    if (skip == IR_NONE) return true;
    if (!fz_is(c, skip, OP_mul)) return false;
    ir_id u2 = fz_in(c, skip, 0), d2 = fz_in(c, skip, 1);
    if (u2 != u) {
        ir_id t = u2;
        u2 = d2, d2 = t;
    }
    if (u2 != u || !fz_shape_is(c, d2, 1, (int64_t[]){E})) return false;
    *D = d2;
    return true;
}

/* Tries `try` with the root's value split as y + skip (both operand orders when the root is an add), then
 * as y alone. */
static void match_with_skip(fuse_ctx *c, ir_id root, bool (*try)(fuse_ctx *, ir_id, ir_id, ir_id)) {
    if (fz_is(c, root, OP_add))
        for (int k = 0; k < 2; k++)
            if (try(c, root, fz_in(c, root, k), fz_in(c, root, 1 - k))) return;
    try(c, root, root, IR_NONE);
}

/* The interior of a match: the pattern's nodes plus y and skip unless y is the root. */
static int finish_interior(ir_id root, ir_id y, ir_id skip, ir_id *interior, int n) {
    if (skip != IR_NONE) interior[n++] = skip;
    if (y != root) interior[n++] = y;
    return n;
}

static ir_id emit_with_zero_d(ir_graph *ng, const ir_id *newid, const fuse_match *m) {
    ir_id in[FUSE_MAX_LEAVES];
    int64_t E = ng->nodes[newid[m->leaf[0]]].shape.dim[2]; /* u [B,L,E] */
    for (int i = 0; i < m->nleaf; i++)
        in[i] = m->leaf[i] != IR_NONE ? newid[m->leaf[i]] : ir_const(ng, 0.0, ir_shape_of(1, (int64_t[]){E}));
    return ir_build(ng, m->op, in, m->nleaf, &m->attrs, NULL);
}

/* The pattern's value is `top` (= y, or y + skip); root is top, or top * silu(z) with `silu` that SiLU. */
static bool try_ss(fuse_ctx *c, ir_id root, ir_id top, ir_id y, ir_id skip, ir_id silu) {
    ir_id interior[28];
    if (!fz_is(c, y, OP_reshape) || fz_shape(c, y).rank != 3) return false;
    ir_shape ys = fz_shape(c, y);
    int64_t B = ys.dim[0], L = ys.dim[1], E = ys.dim[2];
    ir_id sum = fz_in(c, y, 0), hc, cr, h, crd;
    if (!fz_is(c, sum, OP_sum) || fz_node(c, sum)->attr.axis != 3) return false;
    hc = fz_in(c, sum, 0);
    if (!fz_binary(c, hc, OP_mul, is_reshape, NULL, &cr, &h) || !fz_is(c, h, OP_scan)) {
        if (!fz_binary(c, hc, OP_mul, NULL, NULL, &h, &cr) || !fz_is(c, h, OP_scan)) return false;
    }
    if (!fz_is(c, h, OP_scan)) return false;
    const ir_node *sc = fz_node(c, h);
    if (sc->attr.axis != 1 || sc->attr.reverse || sc->shape.rank != 4 || sc->shape.dim[0] != B || sc->shape.dim[1] != L ||
        sc->shape.dim[2] != E || !is_zero_const(c, fz_in(c, h, 2)))
        return false;
    int64_t N = sc->shape.dim[3];
    if (!is_reshape_from(c, cr, 3, (int64_t[]){B, L, N}) || !fz_shape_is(c, cr, 4, (int64_t[]){B, L, 1, N})) return false;
    crd = fz_in(c, cr, 0);
    /* dA = exp(reshape(delta) * A) */
    ir_id dA = fz_in(c, h, 0), x, dr, A;
    if (!fz_is(c, dA, OP_exp)) return false;
    x = fz_in(c, dA, 0);
    if (!fz_binary(c, x, OP_mul, is_reshape, NULL, &dr, &A) || !fz_shape_is(c, A, 2, (int64_t[]){E, N})) {
        if (!fz_binary(c, x, OP_mul, NULL, NULL, &A, &dr) || !fz_is(c, dr, OP_reshape)) return false;
    }
    if (!fz_shape_is(c, A, 2, (int64_t[]){E, N}) || !is_reshape_from(c, dr, 3, (int64_t[]){B, L, E}) ||
        !fz_shape_is(c, dr, 4, (int64_t[]){B, L, E, 1}))
        return false;
    ir_id delta = fz_in(c, dr, 0);
    /* dBu = reshape(delta * u) * reshape(Bm) */
    ir_id dbu = fz_in(c, h, 1), ur, br;
    if (!fz_is(c, dbu, OP_mul)) return false;
    ur = fz_in(c, dbu, 0), br = fz_in(c, dbu, 1);
    if (!fz_shape_is(c, ur, 4, (int64_t[]){B, L, E, 1})) {
        ir_id t = ur;
        ur = br, br = t;
    }
    if (!is_reshape_from(c, ur, 3, (int64_t[]){B, L, E}) || !fz_shape_is(c, ur, 4, (int64_t[]){B, L, E, 1}) ||
        !is_reshape_from(c, br, 3, (int64_t[]){B, L, N}) || !fz_shape_is(c, br, 4, (int64_t[]){B, L, 1, N}))
        return false;
    ir_id du = fz_in(c, ur, 0), u, d;
    if (!fz_binary(c, du, OP_mul, is_node, &delta, &d, &u)) return false;
    ir_id D;
    if (!skip_term(c, u, skip, E, &D)) return false;
    ir_id more[] = {sum, hc, h, cr, dA, x, dr, dbu, ur, br, du};
    int n = 0;
    for (int i = 0; i < 11; i++) interior[n++] = more[i];
    /* delta = softplus(x) read only here (by dr and du): the op takes x and applies the softplus itself */
    bool sp = fz_is(c, delta, OP_softplus) && c->uses[delta] == 2;
    if (sp) interior[n++] = delta;
    n = finish_interior(top, y, skip, interior, n);
    fuse_match m = {.root = root, .op = OP_selective_scan, .leaf = {u, sp ? fz_in(c, delta, 0) : delta, A, fz_in(c, br, 0), crd, D},
                    .nleaf = 6, .emit = emit_with_zero_d};
    m.attrs.softplus = sp;
    if (silu != IR_NONE) {
        if (!fz_shape_is(c, fz_in(c, silu, 0), 3, (int64_t[]){B, L, E})) return false;
        interior[n++] = top;
        interior[n++] = silu;
        m.op = OP_selective_scan_gated;
        m.leaf[m.nleaf++] = fz_in(c, silu, 0);
    }
    return fuse_accept(c, &m, interior, n);
}

static bool try_selective_scan(fuse_ctx *c, ir_id root, ir_id y, ir_id skip) { return try_ss(c, root, root, y, skip, IR_NONE); }

/* root = top * silu(z) (Mamba's gate, either order), top = y + u D or y. */
static bool match_gated(fuse_ctx *c, ir_id root) {
    if (!fz_is(c, root, OP_mul)) return false;
    for (int k = 0; k < 2; k++) {
        ir_id silu = fz_in(c, root, k), top = fz_in(c, root, 1 - k);
        if (!fz_is(c, silu, OP_silu) || !ir_shape_eq(fz_shape(c, silu), fz_shape(c, root)) ||
            !ir_shape_eq(fz_shape(c, top), fz_shape(c, root)))
            continue;
        if (fz_is(c, top, OP_add))
            for (int j = 0; j < 2; j++)
                if (try_ss(c, root, top, fz_in(c, top, j), fz_in(c, top, 1 - j), silu)) return true;
        if (try_ss(c, root, top, top, IR_NONE, silu)) return true;
    }
    return false;
}

void fuse_match_selective_scan(fuse_ctx *c, ir_id root) {
    if (!match_gated(c, root)) match_with_skip(c, root, try_selective_scan);
}

static bool try_s4_scan(fuse_ctx *c, ir_id root, ir_id y, ir_id skip) {
    ir_id interior[24];
    int n = 0;
    double k = 1;
    ir_id yr = y, kc;
    if (fz_is(c, y, OP_mul)) {
        ir_id a = fz_in(c, y, 0), b = fz_in(c, y, 1);
        if (fz_const(c, b, &k) && ir_numel(fz_shape(c, b)) == 1) yr = a, kc = b;
        else if (fz_const(c, a, &k) && ir_numel(fz_shape(c, a)) == 1) yr = b, kc = a;
        else return false;
        (void)kc;
        interior[n++] = yr; /* y itself is added by finish_interior */
    }
    if (!fz_is(c, yr, OP_reshape) || fz_shape(c, yr).rank != 3) return false;
    ir_shape ys = fz_shape(c, yr);
    int64_t B = ys.dim[0], L = ys.dim[1], H = ys.dim[2];
    ir_id s2 = fz_in(c, yr, 0);
    if (!fz_is(c, s2, OP_sum)) return false;
    ir_id s1 = fz_in(c, s2, 0);
    if (!fz_is(c, s1, OP_sum)) return false;
    int64_t a1 = fz_node(c, s1)->attr.axis, a2 = fz_node(c, s2)->attr.axis;
    if (!((a1 == 4 && a2 == 3) || (a1 == 3 && a2 == 4))) return false;
    ir_id sw = fz_in(c, s1, 0), s, w;
    if (!fz_binary(c, sw, OP_mul, NULL, NULL, &s, &w)) return false;
    if (!fz_is(c, s, OP_cscan)) {
        ir_id t = s;
        s = w, w = t;
    }
    if (!fz_is(c, s, OP_cscan)) return false;
    const ir_node *sc = fz_node(c, s);
    if (sc->attr.axis != 1 || sc->attr.reverse || sc->shape.rank != 5 || sc->shape.dim[0] != B || sc->shape.dim[1] != L ||
        sc->shape.dim[2] != H || !is_zero_const(c, fz_in(c, s, 2)))
        return false;
    int64_t M = sc->shape.dim[3], hm2[3] = {H, M, 2};
    if (!fz_shape_is(c, w, 3, hm2)) return false;
    ir_id ab = fz_in(c, s, 0), bt = fz_in(c, s, 1), ur, bb;
    if (!fz_is(c, ab, OP_broadcast) || !fz_shape_is(c, fz_in(c, ab, 0), 3, hm2)) return false;
    if (!fz_is(c, bt, OP_mul)) return false;
    ur = fz_in(c, bt, 0), bb = fz_in(c, bt, 1);
    if (!fz_shape_is(c, bb, 3, hm2)) {
        ir_id t = ur;
        ur = bb, bb = t;
    }
    if (!fz_shape_is(c, bb, 3, hm2) || !is_reshape_from(c, ur, 3, (int64_t[]){B, L, H}) ||
        !fz_shape_is(c, ur, 5, (int64_t[]){B, L, H, 1, 1}))
        return false;
    ir_id u = fz_in(c, ur, 0), D;
    if (!skip_term(c, u, skip, H, &D)) return false;
    ir_id more[] = {s2, s1, sw, s, ab, bt, ur};
    for (int i = 0; i < 7; i++) interior[n++] = more[i];
    n = finish_interior(root, y, skip, interior, n);
    fuse_match m = {.root = root, .op = OP_s4_scan, .leaf = {u, fz_in(c, ab, 0), bb, w, D}, .nleaf = 5,
                    .emit = emit_with_zero_d};
    m.attrs.value = k;
    return fuse_accept(c, &m, interior, n);
}

void fuse_match_s4_scan(fuse_ctx *c, ir_id root) { match_with_skip(c, root, try_s4_scan); }
