/* pass_fuse_conv.c — the depthwise causal convolution -> `causal_conv1d` / `causal_conv1d_silu`
 * (nn.causal_conv1d, optionally followed by its SiLU).
 *
 * Pattern (x [B,L,E], w [E,1,K], bias [E]):
 *   xp = pad(x, axis 1, lo K-1, hi 0, value 0)
 *   y  = bias + sum_j slice(xp, 1, j, j+L) * reshape(slice(w, 2, j, j+1), [E])     j = 0..K-1
 * as a tree of adds (any shape of tree, any operand order, every tap exactly once, at most one bias term
 * of shape [E]; none = zero bias), and silu(y) when the SiLU is y's only reader. */
#include "passes/fuse.h"

enum { MAX_TAPS = 32 };

typedef struct conv_scan {
    ir_id interior[FUSE_MAX_INTERIOR];
    int n;
    ir_id xp, w, bias;
    int64_t K, L, E;
    bool seen[MAX_TAPS];
    bool bad;
} conv_scan;

/* term = slice(xp, 1, j, j+L) * reshape(slice(w, 2, j, j+1), [E]) in either order: records tap j. */
static bool tap(const fuse_ctx *c, ir_id term, conv_scan *s) {
    if (!fz_is(c, term, OP_mul)) return false;
    for (int k = 0; k < 2; k++) {
        ir_id xs = fz_in(c, term, k), wr = fz_in(c, term, 1 - k);
        if (!fz_is(c, xs, OP_slice) || !fz_is(c, wr, OP_reshape) || !fz_shape_is(c, wr, 1, (int64_t[]){s->E})) continue;
        ir_id xp = fz_in(c, xs, 0), ws = fz_in(c, wr, 0);
        const ir_node *xn = fz_node(c, xs), *wn = fz_node(c, ws);
        if (!fz_is(c, xp, OP_pad) || wn->op != OP_slice || wn->attr.axis != 2 || xn->attr.axis != 1) continue;
        const ir_node *pn = fz_node(c, xp);
        ir_id w = fz_in(c, ws, 0);
        int64_t K = pn->attr.lo + 1, j = xn->attr.start;
        if (pn->attr.axis != 1 || pn->attr.hi != 0 || pn->attr.value != 0 || K > MAX_TAPS) continue;
        if (!fz_shape_is(c, w, 3, (int64_t[]){s->E, 1, K}) || wn->attr.start != j || wn->attr.end != j + 1) continue;
        if (xn->attr.end != j + s->L || j < 0 || j >= K) continue;
        if (s->xp == IR_NONE) s->xp = xp, s->w = w, s->K = K;
        if (s->xp != xp || s->w != w || s->seen[j]) return false;
        s->seen[j] = true;
        ir_id more[] = {term, xs, wr, ws};
        for (int i = 0; i < 4 && s->n < FUSE_MAX_INTERIOR; i++) s->interior[s->n++] = more[i];
        return true;
    }
    return false;
}

/* Walks the add tree under x (x itself is the root or an interior add). */
static void walk(const fuse_ctx *c, ir_id x, bool is_root, conv_scan *s) {
    if (s->bad) return;
    bool inner_add = fz_is(c, x, OP_add) && fz_shape_is(c, x, 3, (int64_t[]){fz_shape(c, x).dim[0], s->L, s->E});
    if (inner_add && (is_root || c->uses[x] == 1)) {
        if (!is_root) {
            if (s->n >= FUSE_MAX_INTERIOR) {
                s->bad = true;
                return;
            }
            s->interior[s->n++] = x;
        }
        walk(c, fz_in(c, x, 0), false, s);
        walk(c, fz_in(c, x, 1), false, s);
        return;
    }
    if (tap(c, x, s)) return;
    if (s->bias == IR_NONE && fz_shape_is(c, x, 1, (int64_t[]){s->E})) {
        s->bias = x;
        return;
    }
    s->bad = true;
}

static ir_id emit_conv(ir_graph *ng, const ir_id *newid, const fuse_match *m) {
    ir_id x = newid[m->leaf[0]];
    int64_t E = ng->nodes[x].shape.dim[2], K = m->old->nodes[m->leaf[1]].shape.dim[2];
    ir_id w = ir_reshape(ng, newid[m->leaf[1]], ir_shape_of(2, (int64_t[]){E, K}));
    ir_id b = m->leaf[2] != IR_NONE ? newid[m->leaf[2]] : ir_const(ng, 0.0, ir_shape_of(1, (int64_t[]){E}));
    return ir_build(ng, m->op, (ir_id[]){x, w, b}, 3, NULL, NULL);
}

void fuse_match_causal_conv1d(fuse_ctx *c, ir_id root) {
    ir_shape ys = fz_shape(c, root);
    if (!fz_is(c, root, OP_add) || ys.rank != 3) return;
    conv_scan s = {.n = 0, .xp = IR_NONE, .w = IR_NONE, .bias = IR_NONE, .L = ys.dim[1], .E = ys.dim[2]};
    walk(c, root, true, &s);
    if (s.bad || s.xp == IR_NONE) return;
    for (int64_t j = 0; j < s.K; j++)
        if (!s.seen[j]) return;
    ir_id x = fz_in(c, s.xp, 0);
    if (!ir_shape_eq(fz_shape(c, x), ys) || s.n >= FUSE_MAX_INTERIOR) return;
    s.interior[s.n++] = s.xp;
    fuse_match m = {.root = root, .op = OP_causal_conv1d, .leaf = {x, s.w, s.bias}, .nleaf = 3, .emit = emit_conv};
    ir_id act = c->user[root];
    if (act != IR_NONE && fz_is(c, act, OP_silu) && !c->taken[act]) { /* take the SiLU in too */
        s.interior[s.n++] = root;
        m.root = act, m.op = OP_causal_conv1d_silu;
    }
    fuse_accept(c, &m, s.interior, s.n);
}
