/* cg_fused_sscan.c — kernels of selective_scan(_gated) and their _grad ops (semantics: ir/ir_fused.c).
 *
 * Dimension names: B batch, L tokens, E channels, N state size, W vector lanes (the host's vector width).
 *
 * Vector lanes run across channels: u, delta, z, y of W consecutive channels are one load or store, the
 * rows B_t and C_t (shared by all channels) are broadcasts, and state k of the W channels is one register,
 * so the recurrence needs no horizontal work (lanes across the state would need a reduction for every y).
 * A body is emitted twice, for W lanes and for one (the channels that do not fill a vector).
 *
 *   forward   items b; time in tiles of TT steps, every channel group per tile with its N states in
 *             registers (saved on the stack between tiles)
 *   backward  items b (everything of batch item b: dBm/dCm rows sum over channels, dA/dD are per-batch
 *             partials, see ir_grad_per_batch); per channel group: when the whole sequence's states fit
 *             the stack budget they are computed onto it at once and walked backwards (one exp per state
 *             element); else a forward sweep keeps a checkpoint every ~sqrt(L) steps, then chunk by chunk
 *             from the last the chunk's states (and their exp(delta A)) are recomputed and walked
 *             backwards (two exps). No B x L x E x N tensor anywhere. */
#include "codegen/cg_fb.h"

#include <stdbool.h>

/* Time steps per tile of the forward, when its streams (u, delta, z, y) exceed TILE_BYTES or the sequence
 * has TILE_STEPS steps or more (an item's rows would not stay in cache; else one tile). */
enum { TT = 32, TILE_STEPS = 256 };
#define TILE_BYTES (32.0 * 1024 * 1024)

/* One selective-scan node: sizes, operands and the packed gradient's offsets. */
typedef struct ss {
    int64_t B, L, E, N, C, nchunks; /* C: checkpoint interval of the backward */
    bool gated, sp; /* sp: input 1 is delta's pre-activation, delta = softplus(it) */
    LLVMValueRef u, dl, A, Bm, Cm, D, z, dy, out;
    LLVMValueRef dbuf, sbuf; /* sp with a prepass: this item's delta and sigmoid(input 1), [L, E] on the stack */
    int64_t o_dd, o_dA, o_dB, o_dC, o_dD, o_dz;
} ss;

/* Chunk length of the backward's checkpoints: the whole sequence when its states and exps for W lanes fit
 * in WHOLE_BYTES of stack (no checkpoint sweep at all: one exp per state element fewer), else ~sqrt(L)
 * as the interpreter. The results do not depend on it (recomputation repeats the same operations). */
#define WHOLE_BYTES (256.0 * 1024)
static int64_t chunk_len(int64_t L, int64_t N, int W) {
    if (2.0 * (double)(L + 1) * (double)N * W * 4 <= WHOLE_BYTES) return L > 0 ? L : 1;
    return fb_ceil_sqrt(L);
}

static bool is_grad(ir_op op) { return op == OP_selective_scan_grad || op == OP_selective_scan_gated_grad; }

static ss ss_of(const ir_graph *g, const ir_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    const ir_shape *u = &g->nodes[ir_in(g, n, 0)].shape;
    ss s = {.B = u->dim[0], .L = u->dim[1], .E = u->dim[2], .N = g->nodes[ir_in(g, n, 2)].shape.dim[1],
            .gated = n->op == OP_selective_scan_gated || n->op == OP_selective_scan_gated_grad, .sp = n->attr.softplus,
            .out = out};
    if (!in) return s;
    s.u = in[0], s.dl = in[1], s.A = in[2], s.Bm = in[3], s.Cm = in[4], s.D = in[5];
    s.z = s.gated ? in[6] : NULL;
    if (is_grad(n->op)) {
        s.dy = in[n->nin - 1];
        s.o_dd = ir_grad_offset(g, n, 1), s.o_dA = ir_grad_offset(g, n, 2), s.o_dB = ir_grad_offset(g, n, 3);
        s.o_dC = ir_grad_offset(g, n, 4), s.o_dD = ir_grad_offset(g, n, 5), s.o_dz = s.gated ? ir_grad_offset(g, n, 6) : 0;
    }
    return s;
}

/* Attribute softplus: delta = softplus(input 1) and, for the gradient, sigmoid(input 1). A prepass per item
 * computes them for its [L, E] rows into stack buffers, at full vector throughput, when they take at most
 * SP_BYTES; the recurrences then read delta from there (the separate softplus kernel and the gradient's
 * product with the sigmoid cost a write and a read of a [B, L, E] tensor each, and computing the softplus
 * inside the recurrence's steps lengthened their dependency chains: measured slower than both). */
#define SP_BYTES (256.0 * 1024)

static bool sp_prepass(const ss *s) { return s->sp && 4.0 * (double)(s->L * s->E) <= SP_BYTES; }

static void sp_buffers(fb *f, ss *s, bool grad) {
    if (!sp_prepass(s)) return;
    s->dbuf = stack(f, s->L * s->E, "delta");
    s->sbuf = grad ? stack(f, s->L * s->E, "sig") : NULL;
}

/* The prepass of item b: dbuf = softplus(x), sbuf = sigmoid(x) over its rows x = input 1. */
static void sp_fill(fb *f, const ss *s, LLVMValueRef b) {
    if (!sp_prepass(s)) return;
    int W = cg_jit_cpu(f->v->jit)->vec_floats;
    int64_t n = s->L * s->E, nv = n / W * W;
    LLVMValueRef row0 = imul(f, b, I(f, n));
    for (int pass = 0; pass < 2; pass++) { /* whole vectors, then the scalar rest */
        int w = pass ? 1 : W;
        cg_loop l;
        cg_loop_begin(f->v->jit, f->b, &l, I(f, pass ? nv : 0), I(f, pass ? n : nv), I(f, w), "sp");
        LLVMValueRef x = vld(f, w, s->dl, iadd(f, row0, l.iv));
        vst(f, w, s->dbuf, l.iv, cg_math1(f->v, "softplus", x));
        if (s->sbuf) vst(f, w, s->sbuf, l.iv, vsigmoid(f, x));
        l.no_unroll = 1;
        end(f, &l);
    }
}

/* delta of the w channels at element i of item b (input 1; or its softplus, from the prepass or computed
 * here); *sig: sigmoid(input 1) when wanted (grad with sp). */
static LLVMValueRef delta(fb *f, const ss *s, int w, LLVMValueRef b, LLVMValueRef i, LLVMValueRef *sig) {
    if (!s->sp) return vld(f, w, s->dl, i);
    if (sp_prepass(s)) {
        LLVMValueRef li = isub(f, i, imul(f, b, I(f, s->L * s->E)));
        if (sig) *sig = vld(f, w, s->sbuf, li);
        return vld(f, w, s->dbuf, li);
    }
    LLVMValueRef x = vld(f, w, s->dl, i);
    if (sig) *sig = vsigmoid(f, x);
    return cg_math1(f->v, "softplus", x);
}

/* Stack arrays of one body width (allocated in the entry block, before any loop). */
typedef struct arrays {
    LLVMValueRef h, ck, hs, as, gr, dA; /* as: C + 1 rows (row C: the next chunk's first); dA: N + 1 entries, dD last */
} arrays;

static arrays arrays_new(fb *f, const ss *s, int w) {
    arrays a = {.h = vstack(f, w, s->N, "h")};
    a.ck = vstack(f, w, s->nchunks * s->N, "ck");
    a.hs = vstack(f, w, (s->C + 1) * s->N, "hs");
    a.as = vstack(f, w, (s->C + 1) * s->N, "as");
    a.gr = vstack(f, w, s->N, "gr");
    a.dA = vstack(f, w, s->N + 1, "dAD"); /* dA[k], then dD */
    return a;
}

/* exp(delta A_k) of one state: cg_math's exp_fast (degree-5 polynomial, 2 of ~14 vector operations fewer;
 * the exps are most of a step's work). JIT == interpreter tests hold at 1e-5 (1e-4 for L = 300). */
static LLVMValueRef fexp_state(fb *f, LLVMValueRef x) { return cg_math1(f->v, "exp_fast", x); }

/* A[e + lane, k] for every k (lane stride N), and D[e + lane]. */
static void params(fb *f, const ss *s, int w, LLVMValueRef e, LLVMValueRef *Ak, LLVMValueRef *Dv) {
    for (int64_t k = 0; k < s->N; k++) Ak[k] = vgather(f, w, s->A, iadd(f, imul(f, e, I(f, s->N)), I(f, k)), s->N);
    *Dv = vld(f, w, s->D, e);
}

/* One step of the recurrence from state array `from` (element fo + k) into `to` (to0 + k); optionally keeps
 * exp(delta A) in `as` (as0 + k). d: delta, du: delta u, r: the row of B_t. */
static void step(fb *f, const ss *s, int w, const LLVMValueRef *Ak, LLVMValueRef d, LLVMValueRef du, LLVMValueRef r,
                 LLVMValueRef from, LLVMValueRef fo, LLVMValueRef to, LLVMValueRef to0, LLVMValueRef as, LLVMValueRef as0) {
    for (int64_t k = 0; k < s->N; k++) {
        LLVMValueRef a = fexp_state(f, fmul(f, d, Ak[k]));
        if (as) vset(f, w, as, iadd(f, as0, I(f, k)), a);
        LLVMValueRef h = vfma(f, a, vget(f, w, from, iadd(f, fo, I(f, k))), fmul(f, du, vsplat(f, ld(f, s->Bm, iadd(f, r, I(f, k))), w)));
        vset(f, w, to, iadd(f, to0, I(f, k)), h);
    }
}

/* ---- forward ---- */

/* The forward's per-width state: the local state array and the item's saved states (all channels). */
typedef struct fwd_state {
    LLVMValueRef h, saved, t0, t1;
} fwd_state;

/* Steps [t0, t1) of channels [e, e + w): the states of these channels come from and go back to `saved`
 * (state k of the group at float e N + k w), in registers in between. */
static void fwd_body(fb *f, const void *sv, int w, const void *stp, LLVMValueRef b, LLVMValueRef e) {
    const ss *s = sv;
    const fwd_state *st_ = stp;
    LLVMValueRef Ak[s->N > 0 ? s->N : 1], Dv, base = imul(f, e, I(f, s->N));
    params(f, s, w, e, Ak, &Dv);
    for (int64_t k = 0; k < s->N; k++) vset(f, w, st_->h, I(f, k), vld(f, w, st_->saved, iadd(f, base, I(f, k * w))));
    cg_loop tl;
    loop(f, &tl, st_->t0, st_->t1, "t");
    LLVMValueRef bt = iadd(f, imul(f, b, I(f, s->L)), tl.iv), i = iadd(f, imul(f, bt, I(f, s->E)), e), r = imul(f, bt, I(f, s->N));
    LLVMValueRef d = delta(f, s, w, b, i, NULL), uu = vld(f, w, s->u, i), du = fmul(f, d, uu);
    LLVMValueRef y2[2] = {fmul(f, uu, Dv), vconst(f, 0, w)}; /* two sums over k: half the fma chain's latency */
    for (int64_t k = 0; k < s->N; k++) {
        LLVMValueRef kk = I(f, k), ak = fexp_state(f, fmul(f, d, Ak[k]));
        LLVMValueRef h = vfma(f, ak, vget(f, w, st_->h, kk), fmul(f, du, vsplat(f, ld(f, s->Bm, iadd(f, r, kk)), w)));
        vset(f, w, st_->h, kk, h);
        y2[k & 1] = vfma(f, h, vsplat(f, ld(f, s->Cm, iadd(f, r, kk)), w), y2[k & 1]);
    }
    LLVMValueRef y = fadd(f, y2[0], y2[1]);
    if (s->gated) {
        LLVMValueRef zi = vld(f, w, s->z, i);
        y = fmul(f, y, fmul(f, zi, vsigmoid(f, zi)));
    }
    vst(f, w, s->out, i, y);
    tl.no_unroll = 1;
    end(f, &tl);
    for (int64_t k = 0; k < s->N; k++) vst(f, w, st_->saved, iadd(f, base, I(f, k * w)), vget(f, w, st_->h, I(f, k)));
}

/* Items b; time in tiles of TT steps, every channel group per tile: each tile reads whole rows of u,
 * delta, z (contiguous) instead of one cache line per row and group, which DRAM and the prefetchers serve
 * far better once the tensors outgrow the caches. Below TILE_BYTES one tile, the item's rows prefetched
 * first as sequential streams: measured faster (small mamba, E 256, in a training step: 7.8 ms tiled,
 * 6.7 ms untiled + prefetch; without the prefetch untiled was the slowest). */
static void emit_fwd(fb *f, ss *s, LLVMValueRef begin, LLVMValueRef end_) {
    int W = cg_jit_cpu(f->v->jit)->vec_floats;
    sp_buffers(f, s, false);
    LLVMValueRef saved = stack(f, s->E * s->N, "saved");
    fwd_state sw = {.h = vstack(f, W, s->N, "h"), .saved = saved}, s1 = {.h = vstack(f, 1, s->N, "h1"), .saved = saved};
    bool tiles = 4.0 * 4.0 * (double)(s->B * s->L * s->E) > TILE_BYTES || s->L >= TILE_STEPS;
    int64_t T = tiles ? TT : (s->L > 0 ? s->L : 1);
    cg_loop it, tt;
    loop(f, &it, begin, end_, "item");
    zero(f, saved, I(f, 0), s->E * s->N);
    if (T == s->L) { /* one tile: this item's rows, read one line per row and group below */
        LLVMValueRef row0 = imul(f, it.iv, I(f, s->L * s->E));
        fb_prefetch_range(f, s->u, row0, s->L * s->E, 0), fb_prefetch_range(f, s->dl, row0, s->L * s->E, 0);
        if (s->gated) fb_prefetch_range(f, s->z, row0, s->L * s->E, 0);
        fb_prefetch_range(f, s->out, row0, s->L * s->E, 1);
    }
    sp_fill(f, s, it.iv);
    loop_n(f, &tt, (s->L + T - 1) / T, "tile");
    sw.t0 = s1.t0 = imul(f, tt.iv, I(f, T));
    sw.t1 = s1.t1 = min_i(f, iadd(f, sw.t0, I(f, T)), I(f, s->L));
    channels(f, s, W, &sw, &s1, it.iv, I(f, 0), I(f, s->E), fwd_body);
    tt.no_unroll = 1;
    end(f, &tt);
    it.no_unroll = 1;
    end(f, &it);
}

/* ---- backward ---- */

/* Steps [t0, t1) of the chunk from the states in a->hs row 0: row j + 1 = h_(t0 + j), a->as row j = its exp(delta A). */
static void recompute(fb *f, const ss *s, int w, const arrays *a, const LLVMValueRef *Ak, LLVMValueRef b, LLVMValueRef e,
                      LLVMValueRef t0, LLVMValueRef t1, bool keep) {
    cg_loop tl;
    loop(f, &tl, t0, t1, "rt");
    LLVMValueRef bt = iadd(f, imul(f, b, I(f, s->L)), tl.iv), i = iadd(f, imul(f, bt, I(f, s->E)), e);
    LLVMValueRef d = delta(f, s, w, b, i, NULL), du = fmul(f, d, vld(f, w, s->u, i)), r = imul(f, bt, I(f, s->N));
    if (keep) {
        LLVMValueRef j = imul(f, isub(f, tl.iv, t0), I(f, s->N));
        step(f, s, w, Ak, d, du, r, a->hs, j, a->hs, iadd(f, j, I(f, s->N)), a->as, j);
    } else {
        step(f, s, w, Ak, d, du, r, a->h, I(f, 0), a->h, I(f, 0), NULL, NULL);
    }
    tl.no_unroll = 1;
    end(f, &tl);
}

/* Step t of the backward: a->hs rows j (h_t-1) and j + 1 (h_t), a->as rows j (exp(delta_t A)) and j + 1
 * (exp(delta_t+1 A), zero past the end); gr = dL/dh_t carried in reverse. Written for registers: each
 * state's terms are finished before the next state's start (the B_t/C_t broadcasts fold into their uses,
 * the dB/dC lane sums stream through fb_hsum), so only gr and a few sums stay live across k. */
static void back_step(fb *f, const ss *s, int w, const arrays *a, const LLVMValueRef *Ak, LLVMValueRef Dv, LLVMValueRef dDv,
                      LLVMValueRef b, LLVMValueRef e, LLVMValueRef t, LLVMValueRef j) {
    LLVMValueRef bt = iadd(f, imul(f, b, I(f, s->L)), t), i = iadd(f, imul(f, bt, I(f, s->E)), e), r = imul(f, bt, I(f, s->N));
    LLVMValueRef hp0 = imul(f, j, I(f, s->N)), hc0 = iadd(f, hp0, I(f, s->N));
    LLVMValueRef sig = NULL, dy = vld(f, w, s->dy, i), uu = vld(f, w, s->u, i), d = delta(f, s, w, b, i, s->sp ? &sig : NULL);
    LLVMValueRef dyi = dy, zi = NULL, sg = NULL;
    if (s->gated) { /* y_out = y silu(z): dL/dy = dy silu(z); y itself (for dz) is recomputed from the states below */
        zi = vld(f, w, s->z, i), sg = vsigmoid(f, zi);
        dyi = fmul(f, fmul(f, dy, zi), sg);
    }
    vset(f, w, dDv, I(f, 0), vfma(f, dyi, uu, vget(f, w, dDv, I(f, 0))));
    /* d(delta) = sum_k da_k A_k + u S and du = dyi D + delta S with S = sum_k g_k B_k; every sum over k runs
     * in four accumulators, so its dependency chain is a quarter as long (a step is too big for the core
     * to overlap the next one's chains with it) */
    LLVMValueRef zero = vconst(f, 0, w), S[4] = {zero, zero, zero, zero}, dd[4] = {zero, zero, zero, zero};
    LLVMValueRef y[4] = {s->gated ? fmul(f, uu, Dv) : zero, zero, zero, zero}, dud = fmul(f, d, uu);
    fb_hsum hB = fb_hsum_new(w), hC = fb_hsum_new(w); /* dBm, dCm terms of these channels, summed over lanes */
    for (int64_t k = 0; k < s->N; k++) {
        LLVMValueRef kk = I(f, k), Ck = vsplat(f, ld(f, s->Cm, iadd(f, r, kk)), w), Bk = vsplat(f, ld(f, s->Bm, iadd(f, r, kk)), w);
        LLVMValueRef hc = vget(f, w, a->hs, iadd(f, hc0, kk));
        LLVMValueRef g = vfma(f, vget(f, w, a->as, iadd(f, hc0, kk)), vget(f, w, a->gr, kk), fmul(f, dyi, Ck));
        vset(f, w, a->gr, kk, g);
        if (s->gated) y[k & 3] = vfma(f, hc, Ck, y[k & 3]);
        LLVMValueRef da = fmul(f, fmul(f, g, vget(f, w, a->hs, iadd(f, hp0, kk))), vget(f, w, a->as, iadd(f, hp0, kk)));
        S[k & 3] = vfma(f, g, Bk, S[k & 3]);
        dd[k & 3] = vfma(f, da, Ak[k], dd[k & 3]);
        vset(f, w, a->dA, kk, vfma(f, da, d, vget(f, w, a->dA, kk)));
        fb_hsum_push(f, &hC, fmul(f, dyi, hc));
        fb_hsum_push(f, &hB, fmul(f, g, dud));
    }
    LLVMValueRef Ss = fadd(f, fadd(f, S[0], S[1]), fadd(f, S[2], S[3]));
    LLVMValueRef dds = vfma(f, uu, Ss, fadd(f, fadd(f, dd[0], dd[1]), fadd(f, dd[2], dd[3])));
    LLVMValueRef du = vfma(f, d, Ss, fmul(f, dyi, Dv));
    fb_hsum_finish(f, &hC, s->out, iadd(f, I(f, s->o_dC), r));
    fb_hsum_finish(f, &hB, s->out, iadd(f, I(f, s->o_dB), r));
    if (s->gated) {
        LLVMValueRef one = vconst(f, 1, w);
        LLVMValueRef ys = fadd(f, fadd(f, y[0], y[1]), fadd(f, y[2], y[3]));
        vst(f, w, s->out, iadd(f, I(f, s->o_dz), i), fmul(f, fmul(f, fmul(f, dy, ys), sg), fadd(f, one, fmul(f, zi, fsub(f, one, sg)))));
    }
    vst(f, w, s->out, i, du);
    vst(f, w, s->out, iadd(f, I(f, s->o_dd), i), s->sp ? fmul(f, dds, sig) : dds); /* through the softplus */
}

static void grad_body(fb *f, const void *sv, int w, const void *av, LLVMValueRef b, LLVMValueRef e) {
    const ss *s = sv;
    const arrays *a = av;
    LLVMValueRef Ak[s->N > 0 ? s->N : 1], Dv, N = I(f, s->N);
    params(f, s, w, e, Ak, &Dv);
    LLVMValueRef zero = vconst(f, 0, w);
    for (int64_t k = 0; k < s->N; k++) {
        LLVMValueRef kk = I(f, k);
        vset(f, w, a->h, kk, zero), vset(f, w, a->gr, kk, zero), vset(f, w, a->dA, kk, zero);
        /* exp(delta A) one step past the end is 0 (no gradient flows back from beyond the sequence) */
        vset(f, w, a->as, I(f, (s->L - (s->nchunks - 1) * s->C) * s->N + k), zero);
    }
    LLVMValueRef dD = vat(f, w, a->dA, N); /* dD rides after dA's N entries */
    vset(f, w, a->dA, N, zero);
    /* forward sweep: a checkpoint at the start of every chunk (the last chunk's steps are not needed) */
    cg_loop cl, tl;
    loop_n(f, &cl, s->nchunks - 1, "c");
    LLVMValueRef t0 = imul(f, cl.iv, I(f, s->C)), t1 = iadd(f, t0, I(f, s->C));
    for (int64_t k = 0; k < s->N; k++) vset(f, w, a->ck, iadd(f, imul(f, cl.iv, N), I(f, k)), vget(f, w, a->h, I(f, k)));
    recompute(f, s, w, a, Ak, b, e, t0, t1, false);
    cl.no_unroll = 1;
    end(f, &cl);
    for (int64_t k = 0; k < s->N && s->nchunks > 0; k++)
        vset(f, w, a->ck, iadd(f, I(f, (s->nchunks - 1) * s->N), I(f, k)), vget(f, w, a->h, I(f, k)));
    /* chunks from the last: recompute its states, walk them backwards */
    loop_n(f, &cl, s->nchunks, "rc");
    LLVMValueRef c = isub(f, I(f, s->nchunks - 1), cl.iv);
    t0 = imul(f, c, I(f, s->C)), t1 = min_i(f, iadd(f, t0, I(f, s->C)), I(f, s->L));
    for (int64_t k = 0; k < s->N; k++) vset(f, w, a->hs, I(f, k), vget(f, w, a->ck, iadd(f, imul(f, c, N), I(f, k))));
    recompute(f, s, w, a, Ak, b, e, t0, t1, true);
    loop(f, &tl, I(f, 0), isub(f, t1, t0), "bt");
    LLVMValueRef j = isub(f, isub(f, isub(f, t1, t0), I(f, 1)), tl.iv);
    back_step(f, s, w, a, Ak, Dv, dD, b, e, iadd(f, t0, j), j);
    tl.no_unroll = 1;
    end(f, &tl);
    for (int64_t k = 0; k < s->N && s->nchunks > 1; k++) /* the previous chunk's last step reads this one's first */
        vset(f, w, a->as, I(f, s->C * s->N + k), vget(f, w, a->as, I(f, k)));
    cl.no_unroll = 1;
    end(f, &cl);
    /* this batch item's partials of dA[e + lane, k] and dD[e + lane] */
    LLVMValueRef pA = iadd(f, I(f, s->o_dA), imul(f, iadd(f, imul(f, b, I(f, s->E)), e), N));
    for (int64_t k = 0; k < s->N; k++) vscatter(f, w, s->out, iadd(f, pA, I(f, k)), s->N, vget(f, w, a->dA, I(f, k)));
    vst(f, w, s->out, iadd(f, I(f, s->o_dD), iadd(f, imul(f, b, I(f, s->E)), e)), vget(f, w, a->dA, N));
}

static void emit_grad(fb *f, ss *s, LLVMValueRef begin, LLVMValueRef end_) {
    int W = cg_jit_cpu(f->v->jit)->vec_floats;
    arrays av = arrays_new(f, s, W), a1 = arrays_new(f, s, 1);
    sp_buffers(f, s, true);
    cg_loop it;
    loop(f, &it, begin, end_, "b");
    LLVMValueRef rows = imul(f, it.iv, I(f, s->L * s->N)); /* dBm, dCm of item b accumulate over channels */
    zero(f, s->out, iadd(f, I(f, s->o_dB), rows), s->L * s->N);
    zero(f, s->out, iadd(f, I(f, s->o_dC), rows), s->L * s->N);
    LLVMValueRef row0 = imul(f, it.iv, I(f, s->L * s->E)); /* this item's rows of every [B, L, E] operand */
    LLVMValueRef ins[4] = {s->u, s->dl, s->dy, s->z};
    for (int j = 0; j < (s->gated ? 4 : 3); j++) fb_prefetch_range(f, ins[j], row0, s->L * s->E, 0);
    fb_prefetch_range(f, s->out, row0, s->L * s->E, 1); /* du, d delta (and dz) are written likewise */
    fb_prefetch_range(f, s->out, iadd(f, I(f, s->o_dd), row0), s->L * s->E, 1);
    if (s->gated) fb_prefetch_range(f, s->out, iadd(f, I(f, s->o_dz), row0), s->L * s->E, 1);
    sp_fill(f, s, it.iv);
    channels(f, s, W, &av, &a1, it.iv, I(f, 0), I(f, s->E), grad_body);
    it.no_unroll = 1;
    end(f, &it);
}

/* ---- interface ---- */

void cg_sscan_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work) {
    ss s = ss_of(g, n, NULL, NULL);
    bool grad = is_grad(n->op);
    *range = s.B;
    *work = s.B * s.L * s.E * (s.N ? s.N : 1) * (grad ? 12 : 4);
}

void cg_sscan_emit(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_, LLVMValueRef out,
                   const LLVMValueRef *in) {
    ss s = ss_of(g, n, out, in);
    s.C = chunk_len(s.L, s.N, cg_jit_cpu(f->v->jit)->vec_floats), s.nchunks = s.L ? (s.L + s.C - 1) / s.C : 0;
    if (is_grad(n->op)) emit_grad(f, &s, begin, end_);
    else emit_fwd(f, &s, begin, end_);
}
