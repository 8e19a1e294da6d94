/* cg_fused_attn.c — JIT kernels of the fused causal attention ops (attention, attention_lse, attention_grad);
 * the semantics are the interpreter's (ir/ir_fused.c interp_attention*), see docs/fusion.md.
 *
 * Dimension names: B batch, L tokens, H heads, hd head width; q, k, v, o, do are [B, L, H, hd] (row (b, t, h)
 * at ((b L + t) H + h) hd, so consecutive tokens of one head are RS = H hd apart), lse is [B, L, H].
 * W = the vector width in floats (16 with AVX-512, 8 with AVX2).
 *
 * Forward and lse: items (b, h, query block of QB = 16 queries). Vectors run along the block's queries
 * (QV = QB / W vectors per key), so the online softmax is vertical arithmetic: per key block of KB keys,
 *   S[k] = sum_d qt[d] * k[j0+k][d]         (qt = the query block transposed and pre-scaled, on the stack;
 *                                            a QV x KB tile of accumulators, key values broadcast)
 *   m' = max(m, max_k S[k]),  a = e^(m - m'),  P[k] = e^(S[k] - m'),  l = a l + sum_k P[k]
 *   ot[d] = a ot[d] + sum_k P[k] * v[j0+k][d] (ot = the output block transposed, on the stack)
 * Key blocks wholly at or below the block's first query need no mask; the rest (the diagonal) select -inf
 * for keys after the query (their probabilities exactly 0) and read clamped key rows past L (masked, so
 * never used). Query rows past L read row L - 1; their copies are stored before row L - 1's own values.
 * The softmax's exp is vexp_neg (below), not cg_math's general one (1.8x faster lse on AVX2).
 *
 * Backward: items (b, h), so dk and dv of a head belong to one item (no races, deterministic). Vectors run
 * along keys: per key block of W keys (kt, vt transposed on the stack, dkt, dvt accumulated there), for
 * query rows i >= j0 in tiles of R rows:
 *   S, dP = q_i . kt, do_i . vt;  P = e^(c S - lse_i) (0 after the query);  dS = P (dP - D_i), D_i = do_i . o_i
 *   dvt[d] += sum_r P_r do_r[d];  dkt[d] += sum_r dS_r q_r[d];  dq_r[d..] += c sum_k dS_r[k] k[j0+k][d..]
 * (dq along hd in vectors of W, the rest of hd scalar). When hd is a multiple of W, kt and vt are W x W
 * blocks of key rows through a register transpose (cg_transpose) and dk, dv go back the same way, whole
 * row pieces stored; otherwise per d from W scalar loads, stored lane by lane (LLVM's gathers/scatters for
 * these loops were slow, and slow to compile at hd = W). The transposes took the grad from 6.2 to 4.4 ms
 * (B64 L82 H8 hd16, 1 thread, AVX-512), a third of it spent inserting and extracting lanes before. c dS goes
 * through memory with a volatile store, so dq's lane broadcasts are loads (load ports) rather than the
 * register permutes LLVM forwards them into (64 per tile on the FMA's port). The forward's qt and output
 * use the same transposes. Only per-item scratch of a few hd x W blocks and one L-vector (D) lives on the stack; no L x L
 * matrix anywhere. Measured and dropped: 6 or 8 rows per tile, 32-key blocks (2 key vectors) on AVX-512:
 * no faster. */
#include "codegen/cg_fused_attn.h"
#include "codegen/cg_fb.h"

#include <stdint.h>
#include <stdlib.h>

enum {
    ATT_QB = 16, /* queries per forward item (a multiple of every vector width: the range is CPU-independent;
                    32, two AVX-512 vectors per key, measured no faster) */
    ATT_QVMAX = 8, /* query vectors per item at the narrowest width (4 lanes) */
    ATT_RMAX = 8, /* most query rows per backward tile */
};

typedef struct att {
    fb f;
    int W, QV, KB;     /* lanes, query vectors per key (QB / W), keys per forward key block */
    int R;             /* query rows per backward tile */
    LLVMTypeRef vt;    /* <W x float> */
    LLVMTypeRef i32;
    int64_t B, L, H, hd, RS;
    float c;           /* softmax scale */
} att;

static const ir_shape *in_shape(const ir_graph *g, const ir_node *n, int i) { return &g->nodes[ir_in(g, n, i)].shape; }

static att att_of(cg_val *v, const ir_graph *g, const ir_node *n) {
    const ir_shape *q = in_shape(g, n, 0);
    const cg_cpu *cpu = cg_jit_cpu(v->jit);
    att a = {.f = {.v = v, .b = v->b, .f32 = LLVMFloatTypeInContext(cg_jit_context(v->jit))}};
    a.W = cpu->vec_floats >= 16 ? 16 : cpu->vec_floats >= 8 ? 8 : 4;
    a.QV = ATT_QB / a.W;
    a.KB = (cpu->n_vec_regs - a.QV - 2) / a.QV; /* QV x KB score accumulators + QV queries + 1 key in registers */
    a.KB = a.KB > 8 ? 8 : a.KB < 2 ? 2 : a.KB;
    a.R = 4; /* 6 and 8 measured no faster on AVX-512 */
    a.vt = cg_vec_type(v->jit, a.W);
    a.i32 = LLVMInt32TypeInContext(cg_jit_context(v->jit));
    a.B = q->dim[0], a.L = q->dim[1], a.H = q->dim[2], a.hd = q->dim[3], a.RS = a.H * a.hd;
    a.c = (float)n->attr.value;
    return a;
}

/* ---- vector helpers: cg_fb.h's at this kernel's width W (at_: the names are cg_fb.h's) ---- */

static LLVMValueRef at_vsplat(att *a, LLVMValueRef x) { return vsplat(&a->f, x, a->W); }
static LLVMValueRef at_vconst(att *a, float x) { return vconst(&a->f, x, a->W); }
static LLVMValueRef at_vninf(att *a) { return at_vconst(a, strtof("-inf", NULL)); } /* (math.h's names clash with cg_fb.h's) */
/* W floats at p[i] (unaligned). */
static LLVMValueRef at_vld(att *a, LLVMValueRef p, LLVMValueRef i) { return vld(&a->f, a->W, p, i); }
static void at_vst(att *a, LLVMValueRef p, LLVMValueRef i, LLVMValueRef x) { vst(&a->f, a->W, p, i, x); }
/* p[i] broadcast to every lane. */
static LLVMValueRef at_vbc(att *a, LLVMValueRef p, LLVMValueRef i) { return at_vsplat(a, ld(&a->f, p, i)); }
static LLVMValueRef at_vfma(att *a, LLVMValueRef x, LLVMValueRef y, LLVMValueRef z) { return vfma(&a->f, x, y, z); }
/* max(x, y) as one compare and select (no NaN reordering: scores are never NaN for finite inputs) */
static LLVMValueRef at_vmax(att *a, LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildSelect(a->f.b, LLVMBuildFCmp(a->f.b, LLVMRealOGT, x, y, ""), x, y, "");
}
/* e^x for x <= 0 (or -inf) as softmax needs it: x clamped at -80 (e^-80 ~ 2e-35 stands for anything
 * smaller, -inf included: negligible next to a row sum >= 1 or to probabilities <= 1), n = round(x / ln2),
 * r = x - n ln2 in two parts, e^r by its Taylor polynomial to r^7 (|r| <= ln2 / 2: truncation error
 * 5e-9 relative, below the float rounding), and 2^n added to the exponent bits (n >= -116: no
 * denormals). ~16 vector ops; cg_math's exp also handles overflow, denormal results and NaN. Measured at
 * the tiny shape: attention_lse 0.52 vs 0.57 ms with AVX-512 (cg_math scales with vscalefps there),
 * 0.72 vs 1.31 ms on an x86-64-v3 (AVX2) jit; attention 1.0 vs 1.05 and 1.43 vs 1.98 ms. */
static LLVMValueRef vexp_neg(att *a, LLVMValueRef x) {
    fb *f = &a->f;
    LLVMTypeRef it = LLVMVectorType(a->i32, (unsigned)a->W);
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer kept in the low bits */
    x = at_vmax(a, x, at_vconst(a, -80.0f));
    LLVMValueRef t = at_vfma(a, x, at_vconst(a, 1.44269504088896341f), at_vconst(a, magic));
    LLVMValueRef n = fsub(f, t, at_vconst(a, magic));
    LLVMValueRef r = at_vfma(a, n, at_vconst(a, -0.693145751953125f), x); /* ln2 = 0.693145751953125 + 1.42860682e-6 */
    r = at_vfma(a, n, at_vconst(a, -1.42860682030941723e-6f), r);
    static const float c[6] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 1.0f / 2};
    LLVMValueRef poly = at_vconst(a, c[0]);
    for (int i = 1; i < 6; i++) poly = at_vfma(a, poly, r, at_vconst(a, c[i]));
    LLVMValueRef p = fadd(f, at_vfma(a, fmul(f, r, r), poly, r), at_vconst(a, 1.0f));
    LLVMValueRef mbits = LLVMBuildBitCast(f->b, at_vconst(a, magic), it, "");
    LLVMValueRef ni = LLVMBuildSub(f->b, LLVMBuildBitCast(f->b, t, it, ""), mbits, "");
    LLVMValueRef sh = LLVMBuildShl(f->b, ni, cg_splat(f->b, LLVMConstInt(a->i32, 23, 0), a->W), "");
    return LLVMBuildBitCast(f->b, LLVMBuildAdd(f->b, LLVMBuildBitCast(f->b, p, it, ""), sh, ""), a->vt, "");
}
/* A vector variable on the stack (promoted to a register by mem2reg). */
static LLVMValueRef at_vvar(att *a, const char *name) { return LLVMBuildAlloca(a->f.b, a->vt, name); }
static LLVMValueRef at_vget(att *a, LLVMValueRef var) { return LLVMBuildLoad2(a->f.b, a->vt, var, ""); }
static void at_vset(att *a, LLVMValueRef var, LLVMValueRef x) { LLVMBuildStore(a->f.b, x, var); }
/* Lane mask lane >= lo (lo an i64 value, clamped into i32 range by the callers' shapes). */
static LLVMValueRef lanes_from(att *a, LLVMValueRef lo, bool ge) {
    LLVMValueRef iota[16];
    for (int i = 0; i < a->W; i++) iota[i] = LLVMConstInt(a->i32, (unsigned long long)i, 0);
    LLVMValueRef lov = cg_splat(a->f.b, LLVMBuildTrunc(a->f.b, lo, a->i32, ""), a->W);
    return LLVMBuildICmp(a->f.b, ge ? LLVMIntSGE : LLVMIntSLE, LLVMConstVector(iota, (unsigned)a->W), lov, "");
}
static LLVMValueRef imin(fb *f, LLVMValueRef x, int64_t y) { return min_i(f, x, I(f, y)); }
/* Columns d0 .. d0 + W of W rows src[off[r] ..] (times scale, if any) transposed into a block: dst[base +
 * d stride + r] = src[off[r] + d0 + d] (hd a multiple of W: one register transpose instead of lane inserts). */
static void rows_to_block(att *a, LLVMValueRef src, const LLVMValueRef *off, int64_t d0, LLVMValueRef scale, LLVMValueRef dst,
                          int64_t base, int64_t stride) {
    fb *f = &a->f;
    LLVMValueRef x[16];
    for (int r = 0; r < a->W; r++) {
        x[r] = at_vld(a, src, iadd(f, off[r], I(f, d0)));
        if (scale) x[r] = fmul(f, x[r], scale);
    }
    cg_transpose(f->b, a->W, x);
    for (int d = 0; d < a->W; d++) at_vst(a, dst, I(f, base + d * stride), x[d]);
}

/* The inverse: dst[off[r] + d0 + d] = src[base + d stride + r] (times scale), rows stored from the last
 * down, so a row that several clamped offsets share ends with the value of its own (lowest) r. */
static void block_to_rows(att *a, LLVMValueRef src, int64_t base, int64_t stride, LLVMValueRef scale, LLVMValueRef dst,
                          const LLVMValueRef *off, int64_t d0) {
    fb *f = &a->f;
    LLVMValueRef x[16];
    for (int d = 0; d < a->W; d++) {
        x[d] = at_vld(a, src, I(f, base + d * stride));
        if (scale) x[d] = fmul(f, x[d], scale);
    }
    cg_transpose(f->b, a->W, x);
    for (int r = a->W - 1; r >= 0; r--) at_vst(a, dst, iadd(f, off[r], I(f, d0)), x[r]);
}

static void loop_step(fb *f, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi, int64_t step, const char *name) {
    cg_loop_begin(f->v->jit, f->b, l, lo, hi, I(f, step), name);
}

/* ---- forward and lse ---- */

typedef struct fwd {
    LLVMValueRef qt, ot;                    /* hd x QB floats: query block (scaled) and output, transposed */
    LLVMValueRef m[ATT_QVMAX], l[ATT_QVMAX]; /* running max and sum per query vector */
    LLVMValueRef sacc[ATT_QVMAX * 8];        /* score accumulators [v * KB + k] */
    LLVMValueRef base, i0, k_in, v_in;      /* head base offset, first query, key and value pointers */
} fwd;

/* max (is_max) or sum of t[0..n) as a pairwise tree; t is overwritten. */
static LLVMValueRef tree(att *a, LLVMValueRef *t, int n, bool is_max) {
    while (n > 1) {
        int h = 0;
        for (int k = 0; k + 1 < n; k += 2) t[h++] = is_max ? at_vmax(a, t[k], t[k + 1]) : fadd(&a->f, t[k], t[k + 1]);
        if (n & 1) t[h++] = t[n - 1];
        n = h;
    }
    return t[0];
}

/* One key block at j0 (masked: the diagonal, keys may pass the queries or L). */
static void fwd_block(att *a, fwd *w, LLVMValueRef j0, bool masked, bool with_pv) {
    fb *f = &a->f;
    int QV = a->QV, KB = a->KB;
    LLVMValueRef koff[16];
    for (int k = 0; k < KB; k++) {
        LLVMValueRef j = iadd(f, j0, I(f, k));
        if (masked) j = imin(f, j, a->L - 1);
        koff[k] = iadd(f, w->base, imul(f, j, I(f, a->RS)));
    }
    for (int i = 0; i < QV * KB; i++) at_vset(a, w->sacc[i], at_vconst(a, 0));
    cg_loop dl;
    loop_n(f, &dl, a->hd, "qk");
    {
        LLVMValueRef qv[ATT_QVMAX];
        for (int v = 0; v < QV; v++) qv[v] = at_vld(a, w->qt, iadd(f, imul(f, dl.iv, I(f, ATT_QB)), I(f, v * a->W)));
        for (int k = 0; k < KB; k++) {
            LLVMValueRef kb = at_vbc(a, w->k_in, iadd(f, koff[k], dl.iv));
            for (int v = 0; v < QV; v++) at_vset(a, w->sacc[v * KB + k], at_vfma(a, qv[v], kb, at_vget(a, w->sacc[v * KB + k])));
        }
    }
    end(f, &dl);
    LLVMValueRef p[ATT_QVMAX * 8], keep[ATT_QVMAX * 8], alpha[ATT_QVMAX];
    LLVMValueRef ninf = at_vninf(a), zero_ = at_vconst(a, 0);
    for (int v = 0; v < QV; v++) {
        LLVMValueRef m = at_vget(a, w->m[v]), t[8];
        for (int k = 0; k < KB; k++) {
            LLVMValueRef s = at_vget(a, w->sacc[v * KB + k]);
            if (masked) { /* key j0 + k after query i0 + v W + lane: lane < j0 + k - i0 - v W */
                keep[v * KB + k] = lanes_from(a, isub(f, iadd(f, j0, I(f, k - v * a->W)), w->i0), true);
                s = LLVMBuildSelect(f->b, keep[v * KB + k], s, ninf, "");
            }
            p[v * KB + k] = t[k] = s;
        }
        LLVMValueRef mn = at_vmax(a, m, tree(a, t, KB, true)); /* trees: log2(KB) deep chains, not KB */
        alpha[v] = vexp_neg(a, fsub(f, m, mn));
        for (int k = 0; k < KB; k++) {
            p[v * KB + k] = vexp_neg(a, fsub(f, p[v * KB + k], mn));
            if (masked) /* exactly 0 (not e^-80: its products with v would be denormal, and slow) */
                p[v * KB + k] = LLVMBuildSelect(f->b, keep[v * KB + k], p[v * KB + k], zero_, "");
            t[k] = p[v * KB + k];
        }
        at_vset(a, w->l[v], vfma(f, at_vget(a, w->l[v]), alpha[v], tree(a, t, KB, false)));
        at_vset(a, w->m[v], mn);
    }
    if (!with_pv) return;
    loop_n(f, &dl, a->hd, "pv");
    {
        /* two chains per query vector (even and odd keys): half the FMA latency per d */
        LLVMValueRef o[ATT_QVMAX][2];
        for (int v = 0; v < QV; v++) {
            o[v][0] = fmul(f, at_vld(a, w->ot, iadd(f, imul(f, dl.iv, I(f, ATT_QB)), I(f, v * a->W))), alpha[v]);
            o[v][1] = NULL;
        }
        for (int k = 0; k < KB; k++) {
            LLVMValueRef vb = at_vbc(a, w->v_in, iadd(f, koff[k], dl.iv));
            for (int v = 0; v < QV; v++)
                o[v][k & 1] = o[v][k & 1] ? at_vfma(a, p[v * KB + k], vb, o[v][k & 1]) : fmul(f, p[v * KB + k], vb);
        }
        for (int v = 0; v < QV; v++)
            at_vst(a, w->ot, iadd(f, imul(f, dl.iv, I(f, ATT_QB)), I(f, v * a->W)), o[v][1] ? fadd(f, o[v][0], o[v][1]) : o[v][0]);
    }
    end(f, &dl);
}

/* attention (with_pv), attention_lse (with_lse) or both (attention_fwd: lse after the output): items (b, h,
 * query block). */
static void emit_fwd(att *a, LLVMValueRef begin, LLVMValueRef end_, LLVMValueRef out, const LLVMValueRef *in, bool with_pv,
                     bool with_lse) {
    fb *f = &a->f;
    int64_t NQ = (a->L + ATT_QB - 1) / ATT_QB, hd = a->hd;
    fwd w = {.k_in = in[1], .v_in = with_pv ? in[2] : NULL};
    w.qt = stack(f, hd * ATT_QB, "qt");
    w.ot = with_pv ? stack(f, hd * ATT_QB, "ot") : NULL;
    LLVMValueRef rowv = stack(f, ATT_QB, "row");
    for (int v = 0; v < a->QV; v++) w.m[v] = at_vvar(a, "m"), w.l[v] = at_vvar(a, "l");
    for (int i = 0; i < a->QV * a->KB; i++) w.sacc[i] = at_vvar(a, "s");
    cg_loop it, rl, dl, kl;
    loop(f, &it, begin, end_, "item");
    LLVMValueRef qb = LLVMBuildURem(f->b, it.iv, I(f, NQ), ""), bh = LLVMBuildUDiv(f->b, it.iv, I(f, NQ), "");
    LLVMValueRef h = LLVMBuildURem(f->b, bh, I(f, a->H), ""), b = LLVMBuildUDiv(f->b, bh, I(f, a->H), "");
    w.i0 = imul(f, qb, I(f, ATT_QB));
    w.base = imul(f, iadd(f, imul(f, b, I(f, a->L * a->H)), h), I(f, hd));
    LLVMValueRef nvalid = imin(f, isub(f, I(f, a->L), w.i0), ATT_QB);
    /* query rows i0 + r clamped to L - 1 (rows past L compute copies of row L - 1, never stored) */
    LLVMValueRef qoff[ATT_QB];
    for (int r = 0; r < ATT_QB; r++) qoff[r] = iadd(f, w.base, imul(f, imin(f, iadd(f, w.i0, I(f, r)), a->L - 1), I(f, a->RS)));
    if (hd % a->W == 0) { /* qt[d][r] = c q[i0 + r][d]: W x W blocks of rows through a register transpose */
        for (int v = 0; v < a->QV; v++)
            for (int64_t d0 = 0; d0 < hd; d0 += a->W)
                rows_to_block(a, in[0], qoff + v * a->W, d0, at_vconst(a, a->c), w.qt, d0 * ATT_QB + v * a->W, ATT_QB);
    } else { /* (LLVM vectorises this loop with gathers: faster here than building the vectors from scalar loads) */
        loop_n(f, &rl, ATT_QB, "qr");
        LLVMValueRef qrow = iadd(f, w.base, imul(f, imin(f, iadd(f, w.i0, rl.iv), a->L - 1), I(f, a->RS)));
        loop_n(f, &dl, hd, "qd");
        st(f, w.qt, iadd(f, imul(f, dl.iv, I(f, ATT_QB)), rl.iv), fmul(f, ld(f, in[0], iadd(f, qrow, dl.iv)), F(f, a->c)));
        end(f, &dl);
        end(f, &rl);
    }
    if (with_pv) zero(f, w.ot, I(f, 0), hd * ATT_QB);
    for (int v = 0; v < a->QV; v++) at_vset(a, w.m[v], at_vninf(a)), at_vset(a, w.l[v], at_vconst(a, 0));
    /* key blocks wholly at or before query i0: no mask; then the diagonal up to the last query */
    LLVMValueRef nfull = LLVMBuildUDiv(f->b, iadd(f, w.i0, I(f, 1)), I(f, a->KB), "");
    LLVMValueRef jfull = imul(f, nfull, I(f, a->KB));
    loop_step(f, &kl, I(f, 0), jfull, a->KB, "kf");
    fwd_block(a, &w, kl.iv, false, with_pv);
    kl.no_unroll = 1;
    end(f, &kl);
    loop_step(f, &kl, jfull, iadd(f, w.i0, nvalid), a->KB, "kd");
    fwd_block(a, &w, kl.iv, true, with_pv);
    kl.no_unroll = 1;
    end(f, &kl);
    if (with_pv) { /* o = ot / l, transposed back */
        LLVMValueRef inv[ATT_QVMAX];
        for (int v = 0; v < a->QV; v++) inv[v] = LLVMBuildFDiv(f->b, at_vconst(a, 1), at_vget(a, w.l[v]), "");
        /* per d: each query vector scaled, its lanes stored to the rows; the clamped rows past L first (from
         * the last lane down), so row L - 1 ends with its own value. With hd a multiple of W: W x W blocks
         * through a register transpose, whole row pieces stored. */
        if (hd % a->W == 0) {
            for (int v = a->QV - 1; v >= 0; v--)
                for (int64_t d0 = 0; d0 < hd; d0 += a->W)
                    block_to_rows(a, w.ot, d0 * ATT_QB + v * a->W, ATT_QB, inv[v], out, qoff + v * a->W, d0);
        } else {
            loop_n(f, &dl, hd, "on");
            for (int v = a->QV - 1; v >= 0; v--) {
                LLVMValueRef x = fmul(f, at_vld(a, w.ot, iadd(f, imul(f, dl.iv, I(f, ATT_QB)), I(f, v * a->W))), inv[v]);
                for (int r = a->W - 1; r >= 0; r--)
                    st(f, out, iadd(f, qoff[v * a->W + r], dl.iv), LLVMBuildExtractElement(f->b, x, LLVMConstInt(a->i32, (unsigned long long)r, 0), ""));
            }
            dl.no_unroll = 1;
            end(f, &dl);
        }
    }
    if (with_lse) { /* lse = m + log l (after the output when both) */
        LLVMValueRef lse_out = with_pv ? cg_gep_f32(f->v->jit, f->b, out, I(f, a->B * a->L * a->RS)) : out;
        for (int v = 0; v < a->QV; v++)
            at_vst(a, rowv, I(f, v * a->W), fadd(f, at_vget(a, w.m[v]), cg_math1(f->v, "log", at_vget(a, w.l[v]))));
        loop(f, &rl, I(f, 0), nvalid, "lr");
        LLVMValueRef li = iadd(f, imul(f, iadd(f, imul(f, b, I(f, a->L)), iadd(f, w.i0, rl.iv)), I(f, a->H)), h);
        st(f, lse_out, li, ld(f, rowv, rl.iv));
        end(f, &rl);
    }
    it.no_unroll = 1;
    end(f, &it);
}

/* ---- backward ---- */

typedef struct bwd {
    LLVMValueRef kt, vt, dkt, dvt, dsv, Dv; /* hd x W (kt, vt, dkt, dvt), R x W (c dS), L (D_i) */
    LLVMValueRef s[ATT_RMAX], dp[ATT_RMAX];       /* accumulators */
    LLVMValueRef q, k, lse, dO, dq;         /* input pointers, dq = out */
    LLVMValueRef base, lbase, j0;           /* head base, lse base (b L H + h), first key */
    LLVMValueRef koff[16];                  /* key rows (clamped to L - 1) */
} bwd;

/* Query rows i .. i + R - 1 against the key block. */
static void bwd_tile(att *a, bwd *w, LLVMValueRef i, int R) {
    fb *f = &a->f;
    int64_t hd = a->hd, W = a->W;
    LLVMValueRef row[ATT_RMAX];
    for (int r = 0; r < R; r++) {
        row[r] = iadd(f, w->base, imul(f, iadd(f, i, I(f, r)), I(f, a->RS)));
        at_vset(a, w->s[r], at_vconst(a, 0));
        at_vset(a, w->dp[r], at_vconst(a, 0));
    }
    cg_loop dl;
    loop_n(f, &dl, hd, "sd");
    {
        LLVMValueRef kv = at_vld(a, w->kt, imul(f, dl.iv, I(f, W))), vv = at_vld(a, w->vt, imul(f, dl.iv, I(f, W)));
        for (int r = 0; r < R; r++) {
            at_vset(a, w->s[r], at_vfma(a, at_vbc(a, w->q, iadd(f, row[r], dl.iv)), kv, at_vget(a, w->s[r])));
            at_vset(a, w->dp[r], at_vfma(a, at_vbc(a, w->dO, iadd(f, row[r], dl.iv)), vv, at_vget(a, w->dp[r])));
        }
    }
    end(f, &dl);
    LLVMValueRef p[ATT_RMAX], ds[ATT_RMAX], zero_ = at_vconst(a, 0), cv = at_vconst(a, a->c);
    for (int r = 0; r < R; r++) {
        LLVMValueRef ir = iadd(f, i, I(f, r));
        LLVMValueRef lse = at_vbc(a, w->lse, iadd(f, w->lbase, imul(f, ir, I(f, a->H))));
        LLVMValueRef e = vexp_neg(a, fsub(f, fmul(f, at_vget(a, w->s[r]), cv), lse)); /* <= 0 up to rounding */
        p[r] = LLVMBuildSelect(f->b, lanes_from(a, isub(f, ir, w->j0), false), e, zero_, ""); /* key j0 + lane <= i */
        ds[r] = fmul(f, p[r], fsub(f, at_vget(a, w->dp[r]), at_vbc(a, w->Dv, ir)));
        /* c dS to memory, volatile: dq below broadcasts its lanes with loads (load ports), not the register
         * lane permutes LLVM would forward them into (64 of them per tile, on the FMA's port) */
        LLVMValueRef st_ = LLVMBuildStore(f->b, fmul(f, ds[r], cv), cg_gep_f32(f->v->jit, f->b, w->dsv, I(f, r * W)));
        LLVMSetAlignment(st_, 4);
        LLVMSetVolatile(st_, 1);
    }
    loop_n(f, &dl, hd, "kv");
    {
        LLVMValueRef di = imul(f, dl.iv, I(f, W)), dv = at_vld(a, w->dvt, di), dk = at_vld(a, w->dkt, di);
        for (int r = 0; r < R; r++) {
            dv = at_vfma(a, p[r], at_vbc(a, w->dO, iadd(f, row[r], dl.iv)), dv);
            dk = at_vfma(a, ds[r], at_vbc(a, w->q, iadd(f, row[r], dl.iv)), dk);
        }
        at_vst(a, w->dvt, di, dv);
        at_vst(a, w->dkt, di, dk);
    }
    end(f, &dl);
    /* dq rows along hd: vectors of W, then the scalar rest */
    int64_t hdv = hd / W * W;
    if (hdv) {
        loop_step(f, &dl, I(f, 0), I(f, hdv), W, "qv");
        LLVMValueRef acc[ATT_RMAX][2]; /* two chains per row (even and odd keys) */
        for (int r = 0; r < R; r++) acc[r][0] = at_vld(a, w->dq, iadd(f, row[r], dl.iv)), acc[r][1] = NULL;
        for (int k = 0; k < W; k++) {
            LLVMValueRef kv = at_vld(a, w->k, iadd(f, w->koff[k], dl.iv));
            for (int r = 0; r < R; r++) {
                LLVMValueRef d = at_vbc(a, w->dsv, I(f, r * W + k));
                acc[r][k & 1] = acc[r][k & 1] ? at_vfma(a, d, kv, acc[r][k & 1]) : fmul(f, d, kv);
            }
        }
        for (int r = 0; r < R; r++) at_vst(a, w->dq, iadd(f, row[r], dl.iv), fadd(f, acc[r][0], acc[r][1]));
        end(f, &dl);
    }
    if (hdv < hd) {
        loop(f, &dl, I(f, hdv), I(f, hd), "qs");
        for (int r = 0; r < R; r++) {
            LLVMValueRef x = ld(f, w->dq, iadd(f, row[r], dl.iv));
            for (int k = 0; k < W; k++) x = ffma(f, ld(f, w->dsv, I(f, r * W + k)), ld(f, w->k, iadd(f, w->koff[k], dl.iv)), x);
            st(f, w->dq, iadd(f, row[r], dl.iv), x);
        }
        end(f, &dl);
    }
}

/* attention_grad: items (b, h); out = [dq | dk | dv]. */
static void emit_bwd(att *a, LLVMValueRef begin, LLVMValueRef end_, LLVMValueRef out, const LLVMValueRef *in) {
    fb *f = &a->f;
    int64_t hd = a->hd, W = a->W, L = a->L, N = a->B * L * a->RS;
    bwd w = {.q = in[0], .k = in[1], .lse = in[4], .dO = in[5], .dq = out};
    LLVMValueRef v_in = in[2], o_in = in[3];
    w.kt = stack(f, hd * W, "kt"), w.vt = stack(f, hd * W, "vt");
    w.dkt = stack(f, hd * W, "dkt"), w.dvt = stack(f, hd * W, "dvt");
    w.dsv = stack(f, ATT_RMAX * W, "ds"), w.Dv = stack(f, L, "D");
    LLVMValueRef sv = stack(f, 1, "dot");
    for (int r = 0; r < a->R; r++) w.s[r] = at_vvar(a, "s"), w.dp[r] = at_vvar(a, "dp");
    cg_loop it, tl, dl, kl, rl;
    loop(f, &it, begin, end_, "item");
    LLVMValueRef h = LLVMBuildURem(f->b, it.iv, I(f, a->H), ""), b = LLVMBuildUDiv(f->b, it.iv, I(f, a->H), "");
    w.lbase = iadd(f, imul(f, b, I(f, L * a->H)), h);
    w.base = imul(f, w.lbase, I(f, hd));
    /* dq = 0, D_t = do_t . o_t */
    loop_n(f, &tl, L, "t");
    LLVMValueRef row = iadd(f, w.base, imul(f, tl.iv, I(f, a->RS)));
    zero(f, out, row, hd);
    st(f, sv, I(f, 0), F(f, 0));
    loop_n(f, &dl, hd, "D");
    acc(f, sv, I(f, 0), fmul(f, ld(f, w.dO, iadd(f, row, dl.iv)), ld(f, o_in, iadd(f, row, dl.iv))));
    end(f, &dl);
    st(f, w.Dv, tl.iv, ld(f, sv, I(f, 0)));
    end(f, &tl);
    /* key blocks of W keys */
    loop_step(f, &kl, I(f, 0), I(f, L), W, "kb");
    w.j0 = kl.iv;
    for (int k = 0; k < W; k++)
        w.koff[k] = iadd(f, w.base, imul(f, imin(f, iadd(f, w.j0, I(f, k)), L - 1), I(f, a->RS)));
    if (hd % W == 0) { /* kt[d][k] = k[j0 + k][d]: W x W blocks of rows through a register transpose */
        for (int64_t d0 = 0; d0 < hd; d0 += W) {
            rows_to_block(a, w.k, w.koff, d0, NULL, w.kt, d0 * W, W);
            rows_to_block(a, v_in, w.koff, d0, NULL, w.vt, d0 * W, W);
        }
    } else {
        loop_n(f, &dl, hd, "tr"); /* kt[d][k] = k[j0 + k][d]: W scalar loads into one vector */
        {
            LLVMValueRef kv = LLVMGetPoison(a->vt), vv = kv;
            for (int k = 0; k < W; k++) {
                LLVMValueRef lane = LLVMConstInt(a->i32, (unsigned long long)k, 0);
                kv = LLVMBuildInsertElement(f->b, kv, ld(f, w.k, iadd(f, w.koff[k], dl.iv)), lane, "");
                vv = LLVMBuildInsertElement(f->b, vv, ld(f, v_in, iadd(f, w.koff[k], dl.iv)), lane, "");
            }
            at_vst(a, w.kt, imul(f, dl.iv, I(f, W)), kv);
            at_vst(a, w.vt, imul(f, dl.iv, I(f, W)), vv);
        }
        dl.no_unroll = 1;
        end(f, &dl);
    }
    zero(f, w.dkt, I(f, 0), hd * W);
    zero(f, w.dvt, I(f, 0), hd * W);
    /* query rows j0 .. L - 1: tiles of R, then single rows */
    LLVMValueRef ntile = LLVMBuildUDiv(f->b, isub(f, I(f, L), w.j0), I(f, a->R), "");
    LLVMValueRef iend = iadd(f, w.j0, imul(f, ntile, I(f, a->R)));
    loop_step(f, &rl, w.j0, iend, a->R, "rt");
    bwd_tile(a, &w, rl.iv, a->R);
    rl.no_unroll = 1;
    end(f, &rl);
    loop(f, &rl, iend, I(f, L), "r1");
    bwd_tile(a, &w, rl.iv, 1);
    rl.no_unroll = 1;
    end(f, &rl);
    /* dk = c dkt, dv = dvt (transposed back): per d, the lanes to the key rows, the clamped keys past L first
     * (from the last lane down), so row L - 1 ends with its own value */
    if (hd % W == 0) { /* W x W blocks back through a register transpose; rows from the last key down */
        for (int64_t d0 = 0; d0 < hd; d0 += W) {
            block_to_rows(a, w.dkt, d0 * W, W, at_vconst(a, a->c), cg_gep_f32(f->v->jit, f->b, out, I(f, N)), w.koff, d0);
            block_to_rows(a, w.dvt, d0 * W, W, NULL, cg_gep_f32(f->v->jit, f->b, out, I(f, 2 * N)), w.koff, d0);
        }
    } else {
        loop_n(f, &dl, hd, "kd");
        {
            LLVMValueRef dk = fmul(f, at_vld(a, w.dkt, imul(f, dl.iv, I(f, W))), at_vconst(a, a->c)), dv = at_vld(a, w.dvt, imul(f, dl.iv, I(f, W)));
            for (int k = (int)W - 1; k >= 0; k--) {
                LLVMValueRef lane = LLVMConstInt(a->i32, (unsigned long long)k, 0), oi = iadd(f, w.koff[k], dl.iv);
                st(f, out, iadd(f, I(f, N), oi), LLVMBuildExtractElement(f->b, dk, lane, ""));
                st(f, out, iadd(f, I(f, 2 * N), oi), LLVMBuildExtractElement(f->b, dv, lane, ""));
            }
        }
        dl.no_unroll = 1;
        end(f, &dl);
    }
    kl.no_unroll = 1;
    end(f, &kl);
    it.no_unroll = 1;
    end(f, &it);
}

/* ---- interface ---- */

bool cg_attn_has_kernel(ir_op op) {
    return op == OP_attention || op == OP_attention_lse || op == OP_attention_fwd || op == OP_attention_grad;
}

void cg_attn_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work) {
    const ir_shape *q = in_shape(g, n, 0);
    int64_t B = q->dim[0], L = q->dim[1], H = q->dim[2], hd = q->dim[3];
    int64_t pairs = B * H * (L * (L + 1) / 2 + L * ATT_QB / 2) * (hd ? hd : 1); /* (query, key) pairs x hd */
    if (n->op == OP_attention_grad) *range = B * H, *work = pairs * 10;
    else *range = B * H * ((L + ATT_QB - 1) / ATT_QB), *work = pairs * (n->op == OP_attention_lse ? 2 : 4);
}

void cg_attn_emit(cg_val *v, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_, LLVMValueRef out,
                  const LLVMValueRef *in) {
    att a = att_of(v, g, n);
    if (n->op == OP_attention_grad) emit_bwd(&a, begin, end_, out, in);
    else emit_fwd(&a, begin, end_, out, in, n->op != OP_attention_lse, n->op != OP_attention);
}
