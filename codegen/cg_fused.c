/* cg_fused.c — kernels of the fused ops (see cg_fused.h); each follows its interpreter in ir/ir_fused.c.
 *
 * Dimension names: B batch, L tokens, E channels, N state size. */
#include "codegen/cg_fused.h"
#include "codegen/cg_fb.h"
#include "codegen/cg_fused_attn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const ir_shape *in_shape(const ir_graph *g, const ir_node *n, int i) { return &g->nodes[ir_in(g, n, i)].shape; }

/* ---- selective scan ---- */

static bool is_sscan(ir_op op) { return op == OP_selective_scan || op == OP_selective_scan_gated; }
static bool is_sscan_grad(ir_op op) { return op == OP_selective_scan_grad || op == OP_selective_scan_gated_grad; }

/* Chunk length of the backward's checkpoints (as the interpreter): ~sqrt(L). */
static int64_t chunk_len(int64_t L) {
    int64_t c = 1;
    while (c * c < L) c++;
    return c;
}

/* Per item (b, e): h = 0; for t: h = exp(delta A[e]) h + delta u Bm[b,t]; y = h . Cm[b,t] + D[e] u (* silu z). */
static void emit_sscan(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                       LLVMValueRef out, const LLVMValueRef *in) {
    int64_t L = in_shape(g, n, 0)->dim[1], E = in_shape(g, n, 0)->dim[2], N = in_shape(g, n, 2)->dim[1];
    bool gated = n->op == OP_selective_scan_gated;
    LLVMValueRef u = in[0], dl = in[1], A = in[2], Bm = in[3], Cm = in[4], Dk = in[5], z = gated ? in[6] : NULL;
    LLVMValueRef h = stack(f, N, "h"), yv = stack(f, 1, "y");
    cg_loop it, tl, kl;
    loop(f, &it, begin, end_, "item");
    LLVMValueRef b = LLVMBuildUDiv(f->b, it.iv, I(f, E), ""), e = LLVMBuildURem(f->b, it.iv, I(f, E), "");
    zero(f, h, I(f, 0), N);
    LLVMValueRef De = ld(f, Dk, e), Ae = imul(f, e, I(f, N));
    loop_n(f, &tl, L, "t");
    LLVMValueRef bt = iadd(f, imul(f, b, I(f, L)), tl.iv);
    LLVMValueRef i = iadd(f, imul(f, bt, I(f, E)), e), r = imul(f, bt, I(f, N));
    LLVMValueRef d = ld(f, dl, i), uu = ld(f, u, i), du = fmul(f, d, uu);
    st(f, yv, I(f, 0), F(f, 0));
    loop_n(f, &kl, N, "k");
    LLVMValueRef a = fexp(f, fmul(f, d, ld(f, A, iadd(f, Ae, kl.iv))));
    LLVMValueRef hk = ffma(f, a, ld(f, h, kl.iv), fmul(f, du, ld(f, Bm, iadd(f, r, kl.iv))));
    st(f, h, kl.iv, hk);
    acc(f, yv, I(f, 0), fmul(f, hk, ld(f, Cm, iadd(f, r, kl.iv))));
    end(f, &kl);
    LLVMValueRef y = fadd(f, ld(f, yv, I(f, 0)), fmul(f, uu, De));
    if (gated) {
        LLVMValueRef zi = ld(f, z, i);
        y = fmul(f, y, fmul(f, zi, fsigmoid(f, zi)));
    }
    st(f, out, i, y);
    end(f, &tl);
    it.no_unroll = 1;
    end(f, &it);
}

/* h_t of step t (flat index i, Bm row r) from hp into hn. */
static void sscan_step(fb *f, LLVMValueRef hn, LLVMValueRef hn0, LLVMValueRef hp, LLVMValueRef hp0, LLVMValueRef d,
                       LLVMValueRef du, LLVMValueRef A, LLVMValueRef Ae, LLVMValueRef Bm, LLVMValueRef r, int64_t N) {
    cg_loop kl;
    loop_n(f, &kl, N, "k");
    LLVMValueRef a = fexp(f, fmul(f, d, ld(f, A, iadd(f, Ae, kl.iv))));
    st(f, hn, iadd(f, hn0, kl.iv),
       ffma(f, a, ld(f, hp, iadd(f, hp0, kl.iv)), fmul(f, du, ld(f, Bm, iadd(f, r, kl.iv)))));
    end(f, &kl);
}

/* The interpreter's reverse-time backward (ir/ir_fused.c interp_selective_scan_grad), serial over (b, e). */
static void emit_sscan_grad(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                            LLVMValueRef out, const LLVMValueRef *in) {
    int64_t B = in_shape(g, n, 0)->dim[0], L = in_shape(g, n, 0)->dim[1], E = in_shape(g, n, 0)->dim[2];
    int64_t N = in_shape(g, n, 2)->dim[1];
    bool gated = n->op == OP_selective_scan_gated_grad;
    LLVMValueRef u = in[0], dl = in[1], A = in[2], Bm = in[3], Cm = in[4], Dk = in[5], z = gated ? in[6] : NULL;
    LLVMValueRef dyo = in[n->nin - 1];
    int64_t BLE = B * L * E, BLN = B * L * N;
    int64_t o_dd = BLE, o_dA = 2 * BLE, o_dB = o_dA + E * N, o_dC = o_dB + BLN, o_dD = o_dC + BLN, o_dz = o_dD + E;
    int64_t C = chunk_len(L), nchunks = L ? (L + C - 1) / C : 0;
    LLVMValueRef ck = stack(f, nchunks * N, "ck"), hs = stack(f, (C + 1) * N, "hs"), gr = stack(f, N, "g");
    LLVMValueRef a1 = stack(f, N, "a1"), yv = stack(f, 1, "y"), sv = stack(f, 2, "s");
    /* per (b, e): dA[e] and dD[e] accumulated locally; per step: dBm and dCm rows before they are added to
     * the output (the hot loop then only touches stack arrays and read-only inputs: it vectorises) */
    LLVMValueRef dAl = stack(f, N, "dA"), dDl = stack(f, 1, "dD"), gB = stack(f, N, "gB"), gC = stack(f, N, "gC");
    cg_loop it, bl, el, cl, tl, kl;
    loop(f, &it, begin, end_, "item"); /* one item: the whole gradient */
    zero(f, out, I(f, 0), ir_numel(n->shape));
    loop_n(f, &bl, B, "b");
    loop_n(f, &el, E, "e");
    LLVMValueRef b = bl.iv, e = el.iv, Ae = imul(f, e, I(f, N)), De = ld(f, Dk, e);
    /* forward sweep, a checkpoint at the start of every chunk */
    zero(f, hs, I(f, 0), N);
    loop_n(f, &cl, nchunks, "c");
    LLVMValueRef t0 = imul(f, cl.iv, I(f, C));
    copy(f, ck, imul(f, cl.iv, I(f, N)), hs, I(f, 0), N);
    LLVMValueRef t1 = iadd(f, t0, I(f, C));
    t1 = LLVMBuildSelect(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, t1, I(f, L), ""), t1, I(f, L), "");
    loop(f, &tl, t0, t1, "t");
    LLVMValueRef bt = iadd(f, imul(f, b, I(f, L)), tl.iv), i = iadd(f, imul(f, bt, I(f, E)), e);
    LLVMValueRef d = ld(f, dl, i);
    sscan_step(f, hs, I(f, 0), hs, I(f, 0), d, fmul(f, d, ld(f, u, i)), A, Ae, Bm, imul(f, bt, I(f, N)), N);
    end(f, &tl);
    end(f, &cl);
    zero(f, gr, I(f, 0), N);
    zero(f, a1, I(f, 0), N);
    zero(f, dAl, I(f, 0), N);
    st(f, dDl, I(f, 0), F(f, 0));
    /* chunks from the last: recompute the chunk's states, walk it backwards */
    loop_n(f, &cl, nchunks, "rc");
    LLVMValueRef c = isub(f, I(f, nchunks - 1), cl.iv);
    t0 = imul(f, c, I(f, C));
    t1 = iadd(f, t0, I(f, C));
    t1 = LLVMBuildSelect(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, t1, I(f, L), ""), t1, I(f, L), "");
    copy(f, hs, I(f, 0), ck, imul(f, c, I(f, N)), N);
    loop(f, &tl, t0, t1, "rt");
    {
        LLVMValueRef bt2 = iadd(f, imul(f, b, I(f, L)), tl.iv), i2 = iadd(f, imul(f, bt2, I(f, E)), e);
        LLVMValueRef hp0 = imul(f, isub(f, tl.iv, t0), I(f, N)), d2 = ld(f, dl, i2);
        sscan_step(f, hs, iadd(f, hp0, I(f, N)), hs, hp0, d2, fmul(f, d2, ld(f, u, i2)), A, Ae, Bm, imul(f, bt2, I(f, N)), N);
    }
    end(f, &tl);
    loop(f, &tl, I(f, 0), isub(f, t1, t0), "bt");
    LLVMValueRef t = isub(f, isub(f, t1, I(f, 1)), tl.iv);
    bt = iadd(f, imul(f, b, I(f, L)), t);
    i = iadd(f, imul(f, bt, I(f, E)), e);
    LLVMValueRef r = imul(f, bt, I(f, N)), hp0 = imul(f, isub(f, t, t0), I(f, N)), hc0 = iadd(f, hp0, I(f, N));
    LLVMValueRef dy = ld(f, dyo, i), uu = ld(f, u, i), dyi = dy;
    if (gated) { /* y_out = y silu(z): recompute y from the state */
        st(f, yv, I(f, 0), fmul(f, uu, De));
        loop_n(f, &kl, N, "ky");
        acc(f, yv, I(f, 0), fmul(f, ld(f, hs, iadd(f, hc0, kl.iv)), ld(f, Cm, iadd(f, r, kl.iv))));
        end(f, &kl);
        LLVMValueRef y = ld(f, yv, I(f, 0)), zi = ld(f, z, i), s = fsigmoid(f, zi);
        LLVMValueRef dz = fmul(f, fmul(f, fmul(f, dy, y), s), fadd(f, F(f, 1), fmul(f, zi, fsub(f, F(f, 1), s))));
        st(f, out, iadd(f, I(f, o_dz), i), dz);
        dyi = fmul(f, fmul(f, dy, zi), s);
    }
    d = ld(f, dl, i);
    acc(f, dDl, I(f, 0), fmul(f, dyi, uu)); /* dD[e] */
    st(f, sv, I(f, 0), fmul(f, dyi, De)); /* du */
    st(f, sv, I(f, 1), F(f, 0));          /* ddelta */
    LLVMValueRef du_ = fmul(f, d, uu);
    loop_n(f, &kl, N, "kg");
    {
        LLVMValueRef k = kl.iv, Ak = ld(f, A, iadd(f, Ae, k)), a = fexp(f, fmul(f, d, Ak));
        LLVMValueRef Bk = ld(f, Bm, iadd(f, r, k));
        LLVMValueRef gk = fadd(f, fmul(f, dyi, ld(f, Cm, iadd(f, r, k))), fmul(f, ld(f, a1, k), ld(f, gr, k)));
        st(f, gr, k, gk);
        st(f, a1, k, a);
        st(f, gC, k, fmul(f, dyi, ld(f, hs, iadd(f, hc0, k))));
        LLVMValueRef da = fmul(f, fmul(f, gk, ld(f, hs, iadd(f, hp0, k))), a);
        acc(f, sv, I(f, 1), fadd(f, fmul(f, da, Ak), fmul(f, fmul(f, gk, uu), Bk)));
        acc(f, dAl, k, fmul(f, da, d));
        st(f, gB, k, fmul(f, gk, du_));
        acc(f, sv, I(f, 0), fmul(f, fmul(f, gk, d), Bk));
    }
    end(f, &kl);
    loop_n(f, &kl, N, "kBC");
    acc(f, out, iadd(f, I(f, o_dB), iadd(f, r, kl.iv)), ld(f, gB, kl.iv));
    acc(f, out, iadd(f, I(f, o_dC), iadd(f, r, kl.iv)), ld(f, gC, kl.iv));
    end(f, &kl);
    st(f, out, i, ld(f, sv, I(f, 0)));
    st(f, out, iadd(f, I(f, o_dd), i), ld(f, sv, I(f, 1)));
    end(f, &tl);
    end(f, &cl);
    loop_n(f, &kl, N, "kA");
    acc(f, out, iadd(f, I(f, o_dA), iadd(f, Ae, kl.iv)), ld(f, dAl, kl.iv));
    end(f, &kl);
    acc(f, out, iadd(f, I(f, o_dD), e), ld(f, dDl, I(f, 0)));
    el.no_unroll = bl.no_unroll = it.no_unroll = 1;
    end(f, &el);
    end(f, &bl);
    end(f, &it);
}

/* ---- depthwise causal conv1d ---- */

static bool is_conv(ir_op op) { return op == OP_causal_conv1d || op == OP_causal_conv1d_silu; }
static bool is_conv_grad(ir_op op) { return op == OP_causal_conv1d_grad || op == OP_causal_conv1d_silu_grad; }

/* First tap j of step t whose source s = t - K + 1 + j is >= 0. */
static LLVMValueRef first_tap(fb *f, LLVMValueRef t, int64_t K) {
    LLVMValueRef j = isub(f, I(f, K - 1), t);
    return LLVMBuildSelect(f->b, LLVMBuildICmp(f->b, LLVMIntSGT, j, I(f, 0), ""), j, I(f, 0), "");
}

/* Pre-activation z[b,t,e] = bias[e] + sum_j w[e,j] x[b, t-K+1+j, e] (bt = b L + t, jlo = first_tap). */
static LLVMValueRef conv_z(fb *f, LLVMValueRef x, LLVMValueRef w, LLVMValueRef bias, LLVMValueRef bt, LLVMValueRef e,
                           LLVMValueRef jlo, int64_t E, int64_t K, LLVMValueRef zv) {
    cg_loop jl;
    st(f, zv, I(f, 0), ld(f, bias, e));
    loop(f, &jl, jlo, I(f, K), "j");
    LLVMValueRef s = iadd(f, bt, isub(f, jl.iv, I(f, K - 1))); /* b L + t - K + 1 + j */
    acc(f, zv, I(f, 0), fmul(f, ld(f, x, iadd(f, imul(f, s, I(f, E)), e)), ld(f, w, iadd(f, imul(f, e, I(f, K)), jl.iv))));
    end(f, &jl);
    return ld(f, zv, I(f, 0));
}

/* Items (b, t); channels e inner (unit stride). */
static void emit_conv(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                      LLVMValueRef out, const LLVMValueRef *in) {
    int64_t L = in_shape(g, n, 0)->dim[1], E = in_shape(g, n, 0)->dim[2], K = in_shape(g, n, 1)->dim[1];
    LLVMValueRef zv = stack(f, 1, "z");
    cg_loop it, el;
    loop(f, &it, begin, end_, "item");
    LLVMValueRef t = LLVMBuildURem(f->b, it.iv, I(f, L), ""), jlo = first_tap(f, t, K);
    loop_n(f, &el, E, "e");
    LLVMValueRef z = conv_z(f, in[0], in[1], in[2], it.iv, el.iv, jlo, E, K, zv);
    if (n->op == OP_causal_conv1d_silu) z = fmul(f, z, fsigmoid(f, z));
    st(f, out, iadd(f, imul(f, it.iv, I(f, E)), el.iv), z);
    end(f, &el);
    it.no_unroll = 1;
    end(f, &it);
}

/* The interpreter's backward per channel: items = channels e (dx[.., e], dw[e], dbias[e] belong to one
 * item, so the split has no race); batch and time inside. */
static void emit_conv_grad(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                           LLVMValueRef out, const LLVMValueRef *in) {
    int64_t B = in_shape(g, n, 0)->dim[0], L = in_shape(g, n, 0)->dim[1], E = in_shape(g, n, 0)->dim[2];
    int64_t K = in_shape(g, n, 1)->dim[1], o_dw = B * L * E, o_db = o_dw + E * K;
    LLVMValueRef x = in[0], w = in[1], dy = in[3], zv = stack(f, 1, "z");
    cg_loop it, bt, jl;
    loop(f, &it, begin, end_, "e");
    LLVMValueRef e = it.iv;
    zero(f, out, iadd(f, I(f, o_dw), imul(f, e, I(f, K))), K);
    st(f, out, iadd(f, I(f, o_db), e), F(f, 0));
    loop_n(f, &bt, B * L, "z");
    st(f, out, iadd(f, imul(f, bt.iv, I(f, E)), e), F(f, 0));
    end(f, &bt);
    loop_n(f, &bt, B * L, "bt");
    LLVMValueRef t = LLVMBuildURem(f->b, bt.iv, I(f, L), ""), jlo = first_tap(f, t, K);
    LLVMValueRef dz = ld(f, dy, iadd(f, imul(f, bt.iv, I(f, E)), e));
    if (n->op == OP_causal_conv1d_silu_grad) {
        LLVMValueRef z = conv_z(f, x, w, in[2], bt.iv, e, jlo, E, K, zv), sg = fsigmoid(f, z);
        dz = fmul(f, dz, fmul(f, sg, fadd(f, F(f, 1), fmul(f, z, fsub(f, F(f, 1), sg)))));
    }
    acc(f, out, iadd(f, I(f, o_db), e), dz);
    loop(f, &jl, jlo, I(f, K), "j");
    LLVMValueRef xi = iadd(f, imul(f, iadd(f, bt.iv, isub(f, jl.iv, I(f, K - 1))), I(f, E)), e);
    LLVMValueRef wi = iadd(f, imul(f, e, I(f, K)), jl.iv);
    acc(f, out, xi, fmul(f, ld(f, w, wi), dz));
    acc(f, out, iadd(f, I(f, o_dw), wi), fmul(f, dz, ld(f, x, xi)));
    end(f, &jl);
    bt.no_unroll = it.no_unroll = 1;
    end(f, &bt);
    end(f, &it);
}

/* ---- LayerNorm over the last axis (rows R of width D) ---- */

/* Mean and 1/sqrt(var + eps) of the row at x[off ..] (mean of the centred squares), via sv[0..1]. */
static void ln_stats(fb *f, LLVMValueRef x, LLVMValueRef off, int64_t D, double eps, LLVMValueRef sv, LLVMValueRef *mu,
                     LLVMValueRef *rstd) {
    cg_loop l;
    st(f, sv, I(f, 0), F(f, 0));
    st(f, sv, I(f, 1), F(f, 0));
    loop_n(f, &l, D, "m");
    acc(f, sv, I(f, 0), ld(f, x, iadd(f, off, l.iv)));
    end(f, &l);
    *mu = fmul(f, ld(f, sv, I(f, 0)), F(f, (float)(1.0 / (double)D)));
    loop_n(f, &l, D, "v");
    LLVMValueRef c = fsub(f, ld(f, x, iadd(f, off, l.iv)), *mu);
    acc(f, sv, I(f, 1), fmul(f, c, c));
    end(f, &l);
    LLVMValueRef var = fadd(f, fmul(f, ld(f, sv, I(f, 1)), F(f, (float)(1.0 / (double)D))), F(f, (float)eps));
    *rstd = LLVMBuildFDiv(f->b, F(f, 1), cg_intrinsic(f->v->jit, f->b, f->v->m, "llvm.sqrt", &f->f32, 1, &var, 1), "");
}

static int64_t ln_width(const ir_graph *g, const ir_node *n) {
    const ir_shape *x = in_shape(g, n, 0);
    return x->dim[x->rank - 1];
}

/* Items = rows. */
static void emit_ln(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                    LLVMValueRef out, const LLVMValueRef *in) {
    int64_t D = ln_width(g, n);
    LLVMValueRef sv = stack(f, 2, "s"), mu, rstd;
    cg_loop it, l;
    loop(f, &it, begin, end_, "row");
    LLVMValueRef off = imul(f, it.iv, I(f, D));
    ln_stats(f, in[0], off, D, n->attr.value, sv, &mu, &rstd);
    loop_n(f, &l, D, "d");
    LLVMValueRef xh = fmul(f, fsub(f, ld(f, in[0], iadd(f, off, l.iv)), mu), rstd);
    st(f, out, iadd(f, off, l.iv), fadd(f, fmul(f, xh, ld(f, in[1], l.iv)), ld(f, in[2], l.iv)));
    end(f, &l);
    it.no_unroll = 1;
    end(f, &it);
}

/* The interpreter's backward, serial (dw and db sum over rows). */
static void emit_ln_grad(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                         LLVMValueRef out, const LLVMValueRef *in) {
    int64_t D = ln_width(g, n), R = D ? ir_numel(*in_shape(g, n, 0)) / D : 0, o_dw = R * D, o_db = o_dw + D;
    LLVMValueRef x = in[0], w = in[1], dy = in[3], sv = stack(f, 4, "s"), mu, rstd;
    cg_loop it, rl, l;
    loop(f, &it, begin, end_, "item");
    zero(f, out, I(f, 0), ir_numel(n->shape));
    loop_n(f, &rl, R, "r");
    LLVMValueRef off = imul(f, rl.iv, I(f, D));
    ln_stats(f, x, off, D, n->attr.value, sv, &mu, &rstd);
    st(f, sv, I(f, 2), F(f, 0));
    st(f, sv, I(f, 3), F(f, 0));
    loop_n(f, &l, D, "d");
    {
        LLVMValueRef i = iadd(f, off, l.iv), xh = fmul(f, fsub(f, ld(f, x, i), mu), rstd), dyi = ld(f, dy, i);
        LLVMValueRef gh = fmul(f, dyi, ld(f, w, l.iv));
        acc(f, sv, I(f, 2), gh);
        acc(f, sv, I(f, 3), fmul(f, gh, xh));
        acc(f, out, iadd(f, I(f, o_dw), l.iv), fmul(f, dyi, xh));
        acc(f, out, iadd(f, I(f, o_db), l.iv), dyi);
    }
    end(f, &l);
    LLVMValueRef mg = fmul(f, ld(f, sv, I(f, 2)), F(f, (float)(1.0 / (double)D)));
    LLVMValueRef mgx = fmul(f, ld(f, sv, I(f, 3)), F(f, (float)(1.0 / (double)D)));
    loop_n(f, &l, D, "dx");
    {
        LLVMValueRef i = iadd(f, off, l.iv), xh = fmul(f, fsub(f, ld(f, x, i), mu), rstd);
        LLVMValueRef gh = fmul(f, ld(f, dy, i), ld(f, w, l.iv));
        st(f, out, i, fmul(f, rstd, fsub(f, fsub(f, gh, mg), fmul(f, xh, mgx))));
    }
    end(f, &l);
    rl.no_unroll = it.no_unroll = 1;
    end(f, &rl);
    end(f, &it);
}

/* ---- matmul epilogues ---- */

cg_error cg_fused_mm_epilogue(cg_mm_epilogue_ctx *ctx, LLVMValueRef *acc) {
    ir_op op = (ir_op)(intptr_t)ctx->user;
    bool bias = op != OP_matmul_res, res = op == OP_matmul_res || op == OP_matmul_bias_res;
    cg_val v = {ctx->jit, ctx->b, ctx->mod};
    LLVMValueRef R = NULL;
    if (res) { /* the residual of this batch: [M, N] at batch * M * N */
        int64_t MN = ctx->desc->M * ctx->desc->N;
        R = cg_gep_f32(ctx->jit, ctx->b, ctx->extra[bias ? 1 : 0], LLVMBuildMul(ctx->b, ctx->batch, cg_i64(ctx->jit, MN), ""));
    }
    for (int c = 0; c < ctx->nvec; c++) {
        LLVMValueRef bv = bias ? cg_mm_epi_load_cols(ctx, ctx->extra[0], c) : NULL;
        for (int r = 0; r < ctx->rows; r++) {
            LLVMValueRef z = acc[r * ctx->nvec + c];
            if (bias) z = LLVMBuildFAdd(ctx->b, z, bv, "");
            if (op == OP_matmul_bias_gelu) z = cg_gelu(&v, NULL, &z);
            if (op == OP_matmul_bias_silu) z = cg_silu(&v, NULL, &z);
            if (res) z = LLVMBuildFAdd(ctx->b, cg_mm_epi_load_tile(ctx, R, ctx->desc->N, r, c), z, "");
            acc[r * ctx->nvec + c] = z;
        }
    }
    return cg_ok();
}

/* ---- the interface ---- */

bool cg_fused_has_kernel(ir_op op) { return is_sscan(op) || is_sscan_grad(op) || is_conv(op) || is_conv_grad(op) || op == OP_layernorm ||
                                            op == OP_layernorm_grad || cg_attn_has_kernel(op); }

void cg_fused_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work) {
    *range = 1, *work = 1;
    if (cg_attn_has_kernel(n->op)) cg_attn_range(g, n, range, work);
    else if (is_sscan(n->op) || is_sscan_grad(n->op)) {
        const ir_shape *u = in_shape(g, n, 0);
        int64_t B = u->dim[0], L = u->dim[1], E = u->dim[2], N = in_shape(g, n, 2)->dim[1];
        *range = is_sscan(n->op) ? B * E : (B * E > 0);
        *work = B * L * E * (N ? N : 1) * (is_sscan(n->op) ? 4 : 12);
    } else if (is_conv(n->op) || is_conv_grad(n->op)) {
        const ir_shape *x = in_shape(g, n, 0);
        int64_t B = x->dim[0], L = x->dim[1], E = x->dim[2], K = in_shape(g, n, 1)->dim[1];
        *range = is_conv(n->op) ? B * L : E;
        *work = B * L * E * K * (is_conv(n->op) ? 2 : 6);
    } else if (n->op == OP_layernorm || n->op == OP_layernorm_grad) {
        int64_t D = ln_width(g, n), R = D ? ir_numel(*in_shape(g, n, 0)) / D : 0;
        *range = n->op == OP_layernorm ? R : (R > 0);
        *work = R * D * (n->op == OP_layernorm ? 6 : 14);
    }
}

void cg_fused_emit(cg_val *v, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                   LLVMValueRef out, const LLVMValueRef *in) {
    fb f = {.v = v, .b = v->b, .f32 = LLVMFloatTypeInContext(cg_jit_context(v->jit))};
    if (cg_attn_has_kernel(n->op)) cg_attn_emit(v, g, n, begin, end_, out, in);
    else if (is_sscan(n->op)) emit_sscan(&f, g, n, begin, end_, out, in);
    else if (is_sscan_grad(n->op)) emit_sscan_grad(&f, g, n, begin, end_, out, in);
    else if (is_conv(n->op)) emit_conv(&f, g, n, begin, end_, out, in);
    else if (is_conv_grad(n->op)) emit_conv_grad(&f, g, n, begin, end_, out, in);
    else if (n->op == OP_layernorm) emit_ln(&f, g, n, begin, end_, out, in);
    else if (n->op == OP_layernorm_grad) emit_ln_grad(&f, g, n, begin, end_, out, in);
}
