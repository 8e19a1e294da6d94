/* pass_vjp_contract.c — VJP rules of matmul and the linear recurrences scan and cscan.
 *
 * matmul: with op(A) = A or A^T (ta) and op(B) likewise, Y = op(A) op(B) gives
 * d op(A) = dY op(B)^T and d op(B) = op(A)^T dY; each of the four ta/tb cases is one matmul with its own
 * flags, no permute nodes. Broadcast batch dims come back in Y's batch shape; the driver sums them —
 * except for the common case of a weight (rank 2) applied to a batch of rows, A [.., M, K] not
 * transposed: there the batch dims fold into the rows (a free reshape) and dB contracts over all R = B·M
 * rows at once, instead of a batch of per-item products (K = M each, often short) and a sum over them.
 * Long R is cut into WG_CHUNKS equal chunks of at least WG_MIN_ROWS rows: a batch of chunk products
 * (items for every thread, a contraction long enough to run near peak) and a sum over the few partials.
 * The chunking is fixed by the shapes, never by the thread count, so results do not depend on it.
 * (MambaFormer small, 2 threads: the [128,128] dW products 161 -> ~300 GFLOP/s.)
 *
 * scan (forward direction): h[t] = a[t] h[t-1] + b[t], h[-1] = h0. The adjoint g[t] = dL/dh[t] obeys
 * g[t] = dy[t] + a[t+1] g[t+1] with g[T] = 0: a scan in the opposite direction over a shifted by one
 * (a zero pad at the far end). Then da[t] = g[t] h[t-1], db[t] = g[t], dh0 = a[0] g[0]. The reverse
 * direction mirrors it. cscan is the same over complex numbers with conj(a) in the adjoint scan and
 * da = g conj(h[t-1]), dh0 = conj(a[0]) g[0] (the gradient of a real loss wrt z = x + iy being
 * dL/dx + i dL/dy). */
#include "passes/vjp.h"

enum { WG_CHUNKS = 8, WG_MIN_ROWS = 256 }; /* weight gradients: chunks of the rows, and rows per chunk */
enum { NARROW = 32 };                        /* products with fewer columns are built transposed */

/* op(A) op(B) for a VJP. The matmul kernel vectorises along the output's columns, so a product with fewer
 * than NARROW columns and at least 4x as many rows is built transposed, (op(B)^T op(A)^T)^T, then put back
 * by a permute (a copy of the small result) — when A is stored transposed (a weight gradient), so that the
 * transposed product reads its big operand as stored. For Mamba's dt_proj (8 columns): dW 4.6 -> 2.6 ms
 * per step (MambaFormer small, 2 threads); its input gradient, whose transposed form would have to
 * transpose all of dY, stays as it is. */
static ir_id mm(ir_graph *g, ir_id a, ir_id b, bool ta, bool tb) {
    const ir_shape sa = g->nodes[a].shape, sb = g->nodes[b].shape;
    int ra = sa.rank, rb = sb.rank;
    if (ra < 2 || rb < 2 || !ta) return ir_matmul(g, a, b, ta, tb);
    int64_t M = sa.dim[ra - 1], N = sb.dim[rb - (tb ? 2 : 1)];
    if (N >= NARROW || M < 4 * N) return ir_matmul(g, a, b, ta, tb);
    ir_id yt = ir_matmul(g, b, a, !tb, false);
    if (g->failed) return yt;
    int r = g->nodes[yt].shape.rank, perm[IR_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = i;
    perm[r - 2] = r - 1, perm[r - 1] = r - 2;
    return ir_permute(g, yt, perm);
}

bool vjp_matmul(const ir_vjp *c) {
    ir_graph *g = c->g;
    bool ta = vjp_node(c)->attr.ta, tb = vjp_node(c)->attr.tb;
    ir_id a = vjp_in(c, 0), b = vjp_in(c, 1), dy = c->dy;
    if (c->need[0]) {
        c->dx[0] = !ta ? mm(g, dy, b, false, !tb)  /* [M,K] = dY op(B)^T */
                       : mm(g, b, dy, tb, true);   /* [K,M] = op(B) dY^T */
    }
    int ra = g->nodes[a].shape.rank;
    if (c->need[1] && !ta && ra > 2 && g->nodes[b].shape.rank == 2) {
        const ir_shape sa = g->nodes[a].shape, sy = g->nodes[dy].shape; /* copies: building nodes moves them */
        int64_t rows = 1, K = sa.dim[ra - 1], N = sy.dim[sy.rank - 1];
        for (int i = 0; i < ra - 1; i++) rows *= sa.dim[i];
        ir_id a2 = ir_reshape(g, a, ir_shape_of(2, (int64_t[]){rows, K}));
        ir_id dy2 = ir_reshape(g, dy, ir_shape_of(2, (int64_t[]){rows, N}));
        int64_t T = 1;
        for (int64_t t = WG_CHUNKS; t > 1 && T == 1; t /= 2)
            if (rows % t == 0 && rows / t >= WG_MIN_ROWS) T = t;
        if (T > 1) {
            a2 = ir_reshape(g, a2, ir_shape_of(3, (int64_t[]){T, rows / T, K}));
            dy2 = ir_reshape(g, dy2, ir_shape_of(3, (int64_t[]){T, rows / T, N}));
        }
        ir_id d = !tb ? mm(g, a2, dy2, true, false)  /* [K,N] = A^T dY over the rows (of each chunk) */
                      : mm(g, dy2, a2, true, false); /* [N,K] = dY^T A */
        if (T > 1) { /* the chunks' partials (b's shape copied before the reduce moves the nodes) */
            ir_shape sb = g->nodes[b].shape;
            d = ir_reshape(g, ir_reduce(g, OP_sum, d, 0), sb);
        }
        c->dx[1] = d;
    } else if (c->need[1]) {
        c->dx[1] = !tb ? mm(g, a, dy, !ta, false)  /* [K,N] = op(A)^T dY */
                       : mm(g, dy, a, true, ta);   /* [N,K] = dY^T op(A) */
    }
    return !g->failed;
}

/* x * conj-mask: (re, im) -> (re, -im) along the last axis. */
static ir_id conj_(ir_graph *g, ir_id x) {
    ir_id lane = ir_iota(g, ir_shape_of(1, (int64_t[]){2}), 0); /* [0, 1] */
    return mul_(g, x, sub_(g, k_(g, 1), scale_(g, lane, 2)));   /* x * [1, -1] */
}

/* Complex product x * y of tensors whose last axis holds (re, im). */
static ir_id cmul_(ir_graph *g, ir_id x, ir_id y) {
    int last = g->nodes[x].shape.rank - 1;
    ir_id xr = ir_slice(g, x, last, 0, 1), xi = ir_slice(g, x, last, 1, 2);
    ir_id yr = ir_slice(g, y, last, 0, 1), yi = ir_slice(g, y, last, 1, 2);
    ir_id re = sub_(g, mul_(g, xr, yr), mul_(g, xi, yi));
    ir_id im = add_(g, mul_(g, xr, yi), mul_(g, xi, yr));
    return ir_concat(g, (ir_id[]){re, im}, 2, last);
}

static bool vjp_recurrence(const ir_vjp *c, bool complex) {
    ir_graph *g = c->g;
    const ir_node *n = vjp_node(c);
    int ax = (int)n->attr.axis;
    bool rev = n->attr.reverse;
    ir_id a = vjp_in(c, 0), h0 = vjp_in(c, 2), y = c->node;
    int64_t T = g->nodes[a].shape.dim[ax];
    ir_shape s0 = g->nodes[h0].shape;
    ir_id gr, hprev; /* the adjoint g[t] and the state each step read, h[t-1] (h[t+1] in reverse) */
    if (T == 1) {
        gr = c->dy;
        hprev = h0;
    } else {
        /* the coefficient that carries g from its predecessor in the adjoint's direction */
        ir_id ash = !rev ? ir_pad(g, ir_slice(g, a, ax, 1, T), ax, 0, 1, 0.0)
                         : ir_pad(g, ir_slice(g, a, ax, 0, T - 1), ax, 1, 0, 0.0);
        if (complex) ash = conj_(g, ash);
        ir_id zero = ir_const(g, 0.0, s0);
        gr = complex ? ir_cscan(g, ash, c->dy, zero, ax, !rev) : ir_scan(g, ash, c->dy, zero, ax, !rev);
        hprev = !rev ? ir_concat(g, (ir_id[]){h0, ir_slice(g, y, ax, 0, T - 1)}, 2, ax)
                     : ir_concat(g, (ir_id[]){ir_slice(g, y, ax, 1, T), h0}, 2, ax);
    }
    if (c->need[0]) c->dx[0] = complex ? cmul_(g, gr, conj_(g, hprev)) : mul_(g, gr, hprev);
    c->dx[1] = gr;
    if (c->need[2]) {
        int64_t first = rev ? T - 1 : 0; /* the step that reads h0 */
        ir_id a0 = ir_slice(g, a, ax, first, first + 1), g0 = ir_slice(g, gr, ax, first, first + 1);
        c->dx[2] = complex ? cmul_(g, conj_(g, a0), g0) : mul_(g, a0, g0);
    }
    return !g->failed;
}

bool vjp_scan(const ir_vjp *c) { return vjp_recurrence(c, false); }
bool vjp_cscan(const ir_vjp *c) { return vjp_recurrence(c, true); }
