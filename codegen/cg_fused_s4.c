/* cg_fused_s4.c — kernels of s4_scan and s4_scan_grad (see cg_fused_s4.h); each follows its interpreter in
 * ir/ir_fused.c (interp_s4_scan, interp_s4_scan_grad).
 *
 * Dimension names: B batch, L tokens, H channels, M complex modes; W vector lanes (consecutive channels h0 ..
 * h0 + W of u[b, t, :] are contiguous), G modes whose complex state one pass over time keeps in registers,
 * C the chunk length of the backward's checkpoints (~sqrt(L)).
 *
 * The op's state is s_t = a s_t-1 + b u_t and y_t = value sum_m (wr sr + wi si) + D u_t. The kernels run
 * the recurrence on z_t = a z_t-1 + u_t instead (complex per mode, z_-1 = 0): s_t = b z_t, so
 * y_t = value sum_m (qr zr + qi zi) + D u_t with q = (wr br + wi bi, wi br - wr bi). That drops the b u
 * product from every step (6 instead of 9 vector operations per mode and step forward); the backward takes
 * the adjoint of z and maps dq back to db, dw once per channel at the end. Per W-block of channels the parameters are first transposed into a stack table
 * P[m][4] of vectors (a re/im, value q re/im; one lane per channel); the modes are then taken G at a time,
 * each group one pass over time that adds its share of y (or du) into the output. */
#include "codegen/cg_fused_s4.h"
#include "codegen/cg_fb.h"

enum { GMAX = 8, S4_HS_BYTES = 32 << 10, S4_HS_MAX = 64 << 10, S4_CK_BYTES = 128 << 10, S4_P_BYTES = 32 << 10, S4_TILE = 128 };
enum { P_AR, P_AI, P_QR, P_QI, NP }; /* table P per mode; the gradient table GA has the same layout:
                                        da, sum dy z (dq / value) */
enum { P_NAI = NP, NPR };                         /* registers per mode: the table's and -Im a */

typedef struct s4k {
    fb f;
    LLVMTypeRef vt;              /* <W x float> */
    int W, lanes;                /* vector width; active lanes of the block being emitted (<= W) */
    LLVMValueRef mask;           /* <W x i1> of the active lanes when lanes < W */
    int64_t B, L, H, M, C, nch;  /* nch: chunks of the backward */
    float k;                     /* the op's value attribute */
    LLVMValueRef u, a, bb, w, D, dy, out;
    LLVMValueRef P, GA, ck, hs;  /* stack arrays of vectors: params, gradient sums, checkpoints, chunk states */
    LLVMValueRef Z;              /* forward: every mode's state between time tiles (2 M vectors) */
    LLVMValueRef GADJ;           /* backward: every mode's adjoint between chunks (2 M vectors) */
    bool ck_all;                 /* backward: ck holds every group's checkpoints, chunk loop outermost */
    LLVMValueRef Pw;             /* the current W-block's table in P */
    bool cached;                 /* P holds the tables of all W-blocks (filled once per call) */
    LLVMValueRef sv[2 * GMAX], gv[2 * GMAX], av[NP * GMAX], dd; /* vector variables (registers after mem2reg) */
} s4k;

/* ---- vector helpers ---- */

static LLVMValueRef vzero(s4k *s) { return LLVMConstNull(s->vt); }
static LLVMValueRef vmul(s4k *s, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(s->f.b, a, b, ""); }
static LLVMValueRef vneg(s4k *s, LLVMValueRef a) { return LLVMBuildFNeg(s->f.b, a, ""); }
static LLVMValueRef xfma(s4k *s, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) { return vfma(&s->f, a, b, c); }

static LLVMValueRef i32c(s4k *s, int x) { return LLVMConstInt(LLVMInt32TypeInContext(cg_jit_context(s->f.v->jit)), (unsigned)x, 0); }

/* W channels of a data tensor from float index i (masked to the active lanes in a tail block). */
static LLVMValueRef xld(s4k *s, LLVMValueRef p, LLVMValueRef i) {
    if (s->lanes == s->W) return vld(&s->f, s->W, p, i);
    LLVMValueRef q = cg_gep_f32(s->f.v->jit, s->f.b, p, i);
    LLVMTypeRef ov[2] = {s->vt, LLVMTypeOf(q)};
    LLVMValueRef args[4] = {q, i32c(s, 4), s->mask, vzero(s)};
    return cg_intrinsic(s->f.v->jit, s->f.b, s->f.v->m, "llvm.masked.load", ov, 2, args, 4);
}

static void xst(s4k *s, LLVMValueRef p, LLVMValueRef i, LLVMValueRef x) {
    if (s->lanes == s->W) {
        vst(&s->f, s->W, p, i, x);
        return;
    }
    LLVMValueRef q = cg_gep_f32(s->f.v->jit, s->f.b, p, i);
    LLVMTypeRef ov[2] = {s->vt, LLVMTypeOf(q)};
    LLVMValueRef args[4] = {x, q, i32c(s, 4), s->mask};
    cg_intrinsic(s->f.v->jit, s->f.b, s->f.v->m, "llvm.masked.store", ov, 2, args, 4);
}

/* Prefetches the cache line of p[i] into L1 (rw 1: for writing). */
static void prefetch(s4k *s, LLVMValueRef p, LLVMValueRef i, int rw) { fb_prefetch(&s->f, p, i, rw, 3); }

/* Vector j of a stack array of vectors. */
static LLVMValueRef sgep(s4k *s, LLVMValueRef arr, LLVMValueRef j) { return LLVMBuildGEP2(s->f.b, s->vt, arr, &j, 1, ""); }
static LLVMValueRef sld(s4k *s, LLVMValueRef arr, LLVMValueRef j) { return LLVMBuildLoad2(s->f.b, s->vt, sgep(s, arr, j), ""); }
static void sst(s4k *s, LLVMValueRef arr, LLVMValueRef j, LLVMValueRef x) { LLVMBuildStore(s->f.b, x, sgep(s, arr, j)); }

/* Vector variables: one alloca each, promoted to SSA registers by mem2reg. */
static LLVMValueRef get(s4k *s, LLVMValueRef var) { return LLVMBuildLoad2(s->f.b, s->vt, var, ""); }
static void set(s4k *s, LLVMValueRef var, LLVMValueRef x) { LLVMBuildStore(s->f.b, x, var); }

/* x[0] + .. + x[n-1] as a balanced tree (short dependency chains); x is overwritten. */
static LLVMValueRef tree_sum(s4k *s, LLVMValueRef *x, int n) {
    while (n > 1) {
        for (int i = 0; i < n / 2; i++) x[i] = LLVMBuildFAdd(s->f.b, x[2 * i], x[2 * i + 1], "");
        if (n % 2) x[n / 2] = x[n - 1];
        n = (n + 1) / 2;
    }
    return x[0];
}

/* min(x, hi) for i64 x. */
static LLVMValueRef imin(s4k *s, LLVMValueRef x, LLVMValueRef hi) { return min_i(&s->f, x, hi); }

/* ---- shared pieces ---- */

/* P[m][c] lanes j < lanes = parameter c of channel h0 + j, mode m (value * q for q); other lanes 0. */
static void fill_params(s4k *s, LLVMValueRef h0) {
    fb *f = &s->f;
    if (s->lanes < s->W) zero(f, s->Pw, I(f, 0), s->M * NP * s->W);
    cg_loop ml, jl;
    loop_n(f, &ml, s->M, "pm");
    loop_n(f, &jl, s->lanes, "pj");
    LLVMValueRef src = imul(f, iadd(f, imul(f, iadd(f, h0, jl.iv), I(f, s->M)), ml.iv), I(f, 2)); /* (h M + m) 2 */
    LLVMValueRef dst = iadd(f, imul(f, ml.iv, I(f, NP * s->W)), jl.iv);
    LLVMValueRef src1 = iadd(f, src, I(f, 1));
    LLVMValueRef br = ld(f, s->bb, src), bi = ld(f, s->bb, src1), wr = ld(f, s->w, src), wi = ld(f, s->w, src1);
    LLVMValueRef qr = fadd(f, fmul(f, wr, br), fmul(f, wi, bi)), qi = fsub(f, fmul(f, wi, br), fmul(f, wr, bi));
    st(f, s->Pw, iadd(f, dst, I(f, P_AR * s->W)), ld(f, s->a, src));
    st(f, s->Pw, iadd(f, dst, I(f, P_AI * s->W)), ld(f, s->a, src1));
    st(f, s->Pw, iadd(f, dst, I(f, P_QR * s->W)), fmul(f, F(f, s->k), qr));
    st(f, s->Pw, iadd(f, dst, I(f, P_QI * s->W)), fmul(f, F(f, s->k), qi));
    jl.no_unroll = 1;
    end(f, &jl);
    end(f, &ml);
}

/* The group's parameters (modes m0 .. m0 + G) from P into registers pa[j * NPR + c]. */
static void load_params(s4k *s, LLVMValueRef m0, int G, LLVMValueRef *pa) {
    fb *f = &s->f;
    LLVMValueRef base = imul(f, m0, I(f, NP));
    for (int j = 0; j < G; j++) {
        for (int c = 0; c < NP; c++) pa[j * NPR + c] = sld(s, s->Pw, iadd(f, base, I(f, j * NP + c)));
        pa[j * NPR + P_NAI] = vneg(s, pa[j * NPR + P_AI]);
    }
}

/* One step of the group's states: z = a z + x (complex, per mode); the new states in nr[j], ni[j]. */
static void step(s4k *s, const LLVMValueRef *pa, int G, LLVMValueRef x, LLVMValueRef *nr, LLVMValueRef *ni) {
    for (int j = 0; j < G; j++) {
        const LLVMValueRef *p = pa + j * NPR;
        LLVMValueRef sr = get(s, s->sv[2 * j]), si = get(s, s->sv[2 * j + 1]);
        LLVMValueRef r = xfma(s, p[P_AR], sr, xfma(s, p[P_NAI], si, x));
        LLVMValueRef i = xfma(s, p[P_AR], si, vmul(s, p[P_AI], sr));
        set(s, s->sv[2 * j], r);
        set(s, s->sv[2 * j + 1], i);
        if (nr) nr[j] = r, ni[j] = i;
    }
}

/* ---- forward ---- */

/* Modes m0 .. m0 + G of the W-block at float index base = (b L) H + h0, steps t0 .. t1: out[t] += value
 * sum (qr zr + qi zi); the states continue from and return to the stack array Z. */
static void fwd_group(s4k *s, LLVMValueRef base, LLVMValueRef m0, int G, LLVMValueRef t0, LLVMValueRef t1) {
    fb *f = &s->f;
    LLVMValueRef pa[GMAX * NPR], nr[GMAX], ni[GMAX], parts[GMAX + 1], z0 = imul(f, m0, I(f, 2));
    load_params(s, m0, G, pa);
    for (int j = 0; j < 2 * G; j++) set(s, s->sv[j], sld(s, s->Z, iadd(f, z0, I(f, j))));
    cg_loop tl;
    loop(f, &tl, t0, t1, "t");
    LLVMValueRef i = iadd(f, base, imul(f, tl.iv, I(f, s->H)));
    LLVMValueRef x = xld(s, s->u, i);
    parts[0] = xld(s, s->out, i);
    step(s, pa, G, x, nr, ni);
    for (int j = 0; j < G; j++) parts[1 + j] = xfma(s, pa[j * NPR + P_QR], nr[j], vmul(s, pa[j * NPR + P_QI], ni[j]));
    xst(s, s->out, i, tree_sum(s, parts, G + 1));
    tl.no_unroll = 1;
    end(f, &tl);
    for (int j = 0; j < 2 * G; j++) sst(s, s->Z, iadd(f, z0, I(f, j)), get(s, s->sv[j]));
}

/* Batch b, channels h0 .. h0 + lanes, in tiles of S4_TILE steps (the tile's u and y stay in L1 while every
 * group of modes passes over it): y = D u, then every group adds its part. The first pass prefetches the
 * next item's lines (float index nbase = its (b L) H + h0: strided lines the hardware prefetchers miss). */
static void fwd_block(s4k *s, LLVMValueRef b, LLVMValueRef h0, LLVMValueRef nbase, int G) {
    fb *f = &s->f;
    if (!s->cached) fill_params(s, h0);
    LLVMValueRef base = iadd(f, imul(f, b, I(f, s->L * s->H)), h0), Dv = xld(s, s->D, h0);
    zero(f, s->Z, I(f, 0), 2 * s->M * s->W);
    cg_loop cl, tl, gl;
    loop_n(f, &cl, (s->L + S4_TILE - 1) / S4_TILE, "tile");
    LLVMValueRef t0 = imul(f, cl.iv, I(f, S4_TILE)), t1 = imin(s, iadd(f, t0, I(f, S4_TILE)), I(f, s->L));
    loop(f, &tl, t0, t1, "td");
    LLVMValueRef i = iadd(f, base, imul(f, tl.iv, I(f, s->H))), ni = iadd(f, nbase, imul(f, tl.iv, I(f, s->H)));
    prefetch(s, s->u, ni, 0);
    prefetch(s, s->out, ni, 1);
    xst(s, s->out, i, vmul(s, Dv, xld(s, s->u, i)));
    tl.no_unroll = 1;
    end(f, &tl);
    int64_t ng = s->M / G, rem = s->M % G;
    if (ng) {
        loop_n(f, &gl, ng, "grp");
        fwd_group(s, base, imul(f, gl.iv, I(f, G)), G, t0, t1);
        gl.no_unroll = 1;
        end(f, &gl);
    }
    if (rem) fwd_group(s, base, I(f, ng * G), (int)rem, t0, t1);
    cl.no_unroll = 1;
    end(f, &cl);
}

/* ---- backward ---- */

/* Checkpoint vector j of chunk c for the group at mode m0: per mode (c M + m) 2 when every group's
 * checkpoints are kept (s->ck_all), else per group c 2 G. */
static LLVMValueRef ck_at(s4k *s, LLVMValueRef c, LLVMValueRef m0, int G, int j) {
    fb *f = &s->f;
    if (s->ck_all) return iadd(f, imul(f, iadd(f, imul(f, c, I(f, s->M)), m0), I(f, 2)), I(f, j));
    return iadd(f, imul(f, c, I(f, 2 * G)), I(f, j));
}

/* Modes m0 .. m0 + G of the W-block at base (batch b): the forward sweep, a checkpoint at the start of
 * every chunk (the state before step c C). */
static void bwd_sweep(s4k *s, LLVMValueRef base, LLVMValueRef m0, int G) {
    fb *f = &s->f;
    int64_t C = s->C, nch = s->nch;
    LLVMValueRef pa[GMAX * NPR];
    load_params(s, m0, G, pa);
    for (int j = 0; j < 2 * G; j++) set(s, s->sv[j], vzero(s));
    cg_loop cl, tl;
    if (nch > 1) {
        loop_n(f, &cl, nch - 1, "fc");
        for (int j = 0; j < 2 * G; j++) sst(s, s->ck, ck_at(s, cl.iv, m0, G, j), get(s, s->sv[j]));
        LLVMValueRef t0 = imul(f, cl.iv, I(f, C));
        loop(f, &tl, t0, iadd(f, t0, I(f, C)), "ft");
        step(s, pa, G, xld(s, s->u, iadd(f, base, imul(f, tl.iv, I(f, s->H)))), NULL, NULL);
        tl.no_unroll = 1;
        end(f, &tl);
        cl.no_unroll = 1;
        end(f, &cl);
    }
    for (int j = 0; j < 2 * G; j++) sst(s, s->ck, ck_at(s, I(f, nch - 1), m0, G, j), get(s, s->sv[j]));
}

/* Modes m0 .. m0 + G, chunk c: recompute the chunk's states into hs from its checkpoint, then walk it
 * backwards with the interpreter's adjoint for z, g_t = value dy_t q + conj(a) g_t+1 (carried in GADJ
 * between chunks): du[t] += sum Re g_t; the sums da = g conj(z_t-1) and dy z (in GA). */
static void bwd_chunk(s4k *s, LLVMValueRef base, LLVMValueRef m0, int G, LLVMValueRef c) {
    fb *f = &s->f;
    int64_t S = 2 * G, C = s->C;
    LLVMValueRef pa[GMAX * NPR], parts[GMAX + 1];
    load_params(s, m0, G, pa);
    LLVMValueRef gbase = imul(f, m0, I(f, NP)), abase = imul(f, m0, I(f, 2));
    for (int q = 0; q < NP * G; q++) set(s, s->av[q], sld(s, s->GA, iadd(f, gbase, I(f, q))));
    for (int j = 0; j < 2 * G; j++) set(s, s->gv[j], sld(s, s->GADJ, iadd(f, abase, I(f, j))));
    LLVMValueRef t0 = imul(f, c, I(f, C)), t1 = imin(s, iadd(f, t0, I(f, C)), I(f, s->L));
    for (int j = 0; j < S; j++) {
        LLVMValueRef x = sld(s, s->ck, ck_at(s, c, m0, G, j));
        set(s, s->sv[j], x);
        sst(s, s->hs, I(f, j), x);
    }
    cg_loop tl;
    loop(f, &tl, t0, t1, "rt");
    {
        step(s, pa, G, xld(s, s->u, iadd(f, base, imul(f, tl.iv, I(f, s->H)))), NULL, NULL);
        LLVMValueRef o = imul(f, iadd(f, isub(f, tl.iv, t0), I(f, 1)), I(f, S));
        for (int j = 0; j < S; j++) sst(s, s->hs, iadd(f, o, I(f, j)), get(s, s->sv[j]));
    }
    tl.no_unroll = 1;
    end(f, &tl);
    loop(f, &tl, I(f, 0), isub(f, t1, t0), "bt");
    {
        LLVMValueRef t = isub(f, isub(f, t1, I(f, 1)), tl.iv), r = isub(f, t, t0);
        LLVMValueRef i = iadd(f, base, imul(f, t, I(f, s->H)));
        LLVMValueRef g = xld(s, s->dy, i);
        LLVMValueRef op = imul(f, r, I(f, S)), oc = iadd(f, op, I(f, S));
        parts[0] = xld(s, s->out, i);
        for (int j = 0; j < G; j++) {
            const LLVMValueRef *p = pa + j * NPR;
            LLVMValueRef *A = s->av + j * NP;
            LLVMValueRef spr = sld(s, s->hs, iadd(f, op, I(f, 2 * j))), spi = sld(s, s->hs, iadd(f, op, I(f, 2 * j + 1)));
            LLVMValueRef scr = sld(s, s->hs, iadd(f, oc, I(f, 2 * j))), sci = sld(s, s->hs, iadd(f, oc, I(f, 2 * j + 1)));
            LLVMValueRef gr0 = get(s, s->gv[2 * j]), gi0 = get(s, s->gv[2 * j + 1]);
            /* g = value dy q + conj(a) g_next */
            LLVMValueRef gr = xfma(s, p[P_AR], gr0, xfma(s, p[P_AI], gi0, vmul(s, p[P_QR], g)));
            LLVMValueRef gi = xfma(s, p[P_AR], gi0, xfma(s, p[P_NAI], gr0, vmul(s, p[P_QI], g)));
            set(s, s->gv[2 * j], gr);
            set(s, s->gv[2 * j + 1], gi);
            /* da += g conj(z_prev), dq / value += dy z */
            set(s, A[P_AR], xfma(s, gr, spr, xfma(s, gi, spi, get(s, A[P_AR]))));
            set(s, A[P_AI], xfma(s, gi, spr, xfma(s, vneg(s, gr), spi, get(s, A[P_AI]))));
            set(s, A[P_QR], xfma(s, g, scr, get(s, A[P_QR])));
            set(s, A[P_QI], xfma(s, g, sci, get(s, A[P_QI])));
            parts[1 + j] = gr;
        }
        xst(s, s->out, i, tree_sum(s, parts, G + 1));
    }
    tl.no_unroll = 1;
    end(f, &tl);
    for (int q = 0; q < NP * G; q++) sst(s, s->GA, iadd(f, gbase, I(f, q)), get(s, s->av[q]));
    for (int j = 0; j < 2 * G; j++) sst(s, s->GADJ, iadd(f, abase, I(f, j)), get(s, s->gv[j]));
}

/* What a pass over the groups of modes does: the sweep, the chunk c, or (c NULL, !sweep) a group's sweep
 * then all its chunks from the last. */
typedef struct group_pass {
    LLVMValueRef base, c;
    bool sweep;
} group_pass;

static void group_one(s4k *s, const group_pass *gp, LLVMValueRef m0, int G) {
    fb *f = &s->f;
    if (gp->sweep) bwd_sweep(s, gp->base, m0, G);
    else if (gp->c) bwd_chunk(s, gp->base, m0, G, gp->c);
    else {
        bwd_sweep(s, gp->base, m0, G);
        cg_loop cl;
        loop_n(f, &cl, s->nch, "rc");
        bwd_chunk(s, gp->base, m0, G, isub(f, I(f, s->nch - 1), cl.iv));
        cl.no_unroll = 1;
        end(f, &cl);
    }
}

/* group_one for every group of G modes (and the remainder group). */
static void each_group(s4k *s, const group_pass *gp, int G) {
    fb *f = &s->f;
    int64_t ng = s->M / G, rem = s->M % G;
    if (ng) {
        cg_loop gl;
        loop_n(f, &gl, ng, "grp");
        group_one(s, gp, imul(f, gl.iv, I(f, G)), G);
        gl.no_unroll = 1;
        end(f, &gl);
    }
    if (rem) group_one(s, gp, I(f, ng * G), (int)rem);
}

/* Channels h0 .. h0 + lanes over every batch: du = D dy (+ the groups' parts), dD, then da, db, dw from GA
 * (dq = value sum dy z; q = (wr br + wi bi, wi br - wr bi) gives db = (dqr wr + dqi wi, dqr wi - dqi wr) and
 * dw = (dqr br - dqi bi, dqr bi + dqi br)). */
static void bwd_block(s4k *s, LLVMValueRef h0, int G) {
    fb *f = &s->f;
    int64_t BLH = s->B * s->L * s->H, HM2 = s->H * s->M * 2;
    int64_t o_da = BLH, o_db = o_da + HM2, o_dw = o_db + HM2, o_dD = o_dw + HM2;
    fill_params(s, h0);
    zero(f, s->GA, I(f, 0), s->M * NP * s->W);
    set(s, s->dd, vzero(s));
    LLVMValueRef Dv = xld(s, s->D, h0);
    cg_loop bl, tl, gl, ml, jl;
    loop_n(f, &bl, s->B, "b");
    LLVMValueRef base = iadd(f, imul(f, bl.iv, I(f, s->L * s->H)), h0);
    /* the next batch's lines, prefetched during this first pass (strided: the hardware misses them) */
    LLVMValueRef nbase = imin(s, iadd(f, base, I(f, s->L * s->H)), I(f, (s->B - 1) * s->L * s->H + s->H - 1));
    loop_n(f, &tl, s->L, "td");
    {
        LLVMValueRef i = iadd(f, base, imul(f, tl.iv, I(f, s->H))), g = xld(s, s->dy, i);
        LLVMValueRef ni = iadd(f, nbase, imul(f, tl.iv, I(f, s->H)));
        prefetch(s, s->u, ni, 0);
        prefetch(s, s->dy, ni, 0);
        prefetch(s, s->out, ni, 1);
        xst(s, s->out, i, vmul(s, Dv, g));
        set(s, s->dd, xfma(s, g, xld(s, s->u, i), get(s, s->dd)));
    }
    tl.no_unroll = 1;
    end(f, &tl);
    if (s->nch > 0) {
        zero(f, s->GADJ, I(f, 0), 2 * s->M * s->W);
        if (s->ck_all) { /* chunk-outer: every group passes over one chunk while it is in cache */
            each_group(s, &(group_pass){.base = base, .sweep = true}, G);
            loop_n(f, &gl, s->nch, "rc");
            each_group(s, &(group_pass){.base = base, .c = isub(f, I(f, s->nch - 1), gl.iv)}, G);
            gl.no_unroll = 1;
            end(f, &gl);
        } else each_group(s, &(group_pass){.base = base}, G);
    }
    bl.no_unroll = 1;
    end(f, &bl);
    xst(s, s->out, iadd(f, I(f, o_dD), h0), get(s, s->dd));
    loop_n(f, &ml, s->M, "gm");
    loop_n(f, &jl, s->lanes, "gj");
    {
        LLVMValueRef dst = imul(f, iadd(f, imul(f, iadd(f, h0, jl.iv), I(f, s->M)), ml.iv), I(f, 2));
        LLVMValueRef src = iadd(f, imul(f, ml.iv, I(f, NP * s->W)), jl.iv);
        LLVMValueRef GA = s->GA, dst1 = iadd(f, dst, I(f, 1));
        LLVMValueRef br = ld(f, s->bb, dst), bi = ld(f, s->bb, dst1), wr = ld(f, s->w, dst), wi = ld(f, s->w, dst1);
        LLVMValueRef dqr = fmul(f, F(f, s->k), ld(f, GA, iadd(f, src, I(f, P_QR * s->W))));
        LLVMValueRef dqi = fmul(f, F(f, s->k), ld(f, GA, iadd(f, src, I(f, P_QI * s->W))));
        st(f, s->out, iadd(f, I(f, o_da), dst), ld(f, GA, iadd(f, src, I(f, P_AR * s->W))));
        st(f, s->out, iadd(f, I(f, o_da + 1), dst), ld(f, GA, iadd(f, src, I(f, P_AI * s->W))));
        st(f, s->out, iadd(f, I(f, o_db), dst), fadd(f, fmul(f, dqr, wr), fmul(f, dqi, wi)));
        st(f, s->out, iadd(f, I(f, o_db + 1), dst), fsub(f, fmul(f, dqr, wi), fmul(f, dqi, wr)));
        st(f, s->out, iadd(f, I(f, o_dw), dst), fsub(f, fmul(f, dqr, br), fmul(f, dqi, bi)));
        st(f, s->out, iadd(f, I(f, o_dw + 1), dst), fadd(f, fmul(f, dqr, bi), fmul(f, dqi, br)));
    }
    jl.no_unroll = 1;
    end(f, &jl);
    end(f, &ml);
}

/* ---- the interface ---- */

bool cg_s4_has_kernel(ir_op op) { return op == OP_s4_scan || op == OP_s4_scan_grad; }

void cg_s4_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work) {
    const ir_shape *u = &g->nodes[ir_in(g, n, 0)].shape;
    int64_t B = u->dim[0], L = u->dim[1], H = u->dim[2], M = g->nodes[ir_in(g, n, 1)].shape.dim[1];
    int64_t nblk = (H + CG_S4_BLOCK - 1) / CG_S4_BLOCK;
    bool fwd = n->op == OP_s4_scan;
    *range = fwd ? B * nblk : nblk;
    *work = B * L * H * (M ? M : 1) * (fwd ? 8 : 30);
}

/* What to emit for one W-block of channels at h0 (s->lanes, s->mask set). */
typedef struct wblock_ctx {
    bool grad, fill_only;
    LLVMValueRef b, hb, noff; /* forward: batch; first channel of the item; next item's offset - hb */
    int G;
} wblock_ctx;

static void wblock(s4k *s, LLVMValueRef h0, const wblock_ctx *c) {
    fb *f = &s->f;
    if (s->cached) s->Pw = sgep(s, s->P, imul(f, LLVMBuildUDiv(f->b, h0, I(f, s->W), ""), I(f, s->M * NP)));
    if (c->fill_only) fill_params(s, h0);
    else if (c->grad) bwd_block(s, h0, c->G);
    else fwd_block(s, c->b, h0, iadd(f, c->noff, h0), c->G);
}

/* Sets s->lanes and s->mask for a block of `lanes` active channels. */
static void set_lanes(s4k *s, int lanes) {
    LLVMContextRef c = cg_jit_context(s->f.v->jit);
    s->lanes = lanes;
    s->mask = NULL;
    if (lanes < s->W) {
        LLVMValueRef bits[64];
        for (int j = 0; j < s->W; j++) bits[j] = LLVMConstInt(LLVMInt1TypeInContext(c), j < lanes, 0);
        s->mask = LLVMConstVector(bits, (unsigned)s->W);
    }
}

/* wblock for h0 = lo, lo + W, .. < hi: full blocks, and the masked tail when H % W != 0. */
static void each_wblock(s4k *s, LLVMValueRef lo, LLVMValueRef hi, const wblock_ctx *c) {
    fb *f = &s->f;
    int tail = (int)(s->H % s->W);
    cg_loop hl;
    cg_loop_begin(f->v->jit, f->b, &hl, lo, hi, I(f, s->W), "h0");
    if (tail == 0 || s->H < s->W) {
        set_lanes(s, tail == 0 ? s->W : tail);
        wblock(s, hl.iv, c);
    } else {
        LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(f->b));
        LLVMContextRef ctx = cg_jit_context(f->v->jit);
        LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(ctx, fn, "full"), part = LLVMAppendBasicBlockInContext(ctx, fn, "tail");
        LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(ctx, fn, "join");
        LLVMBuildCondBr(f->b, LLVMBuildICmp(f->b, LLVMIntSLE, iadd(f, hl.iv, I(f, s->W)), I(f, s->H), ""), full, part);
        LLVMPositionBuilderAtEnd(f->b, full);
        set_lanes(s, s->W);
        wblock(s, hl.iv, c);
        LLVMBuildBr(f->b, join);
        LLVMPositionBuilderAtEnd(f->b, part);
        set_lanes(s, tail);
        wblock(s, hl.iv, c);
        LLVMBuildBr(f->b, join);
        LLVMPositionBuilderAtEnd(f->b, join);
    }
    hl.no_unroll = 1;
    end(f, &hl);
}

void cg_s4_emit(cg_val *v, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                LLVMValueRef out, const LLVMValueRef *in) {
    const cg_cpu *cpu = cg_jit_cpu(v->jit);
    const ir_shape *us = &g->nodes[ir_in(g, n, 0)].shape;
    bool grad = n->op == OP_s4_scan_grad;
    s4k s = {.f = {.v = v, .b = v->b, .f32 = LLVMFloatTypeInContext(cg_jit_context(v->jit))},
             .W = cpu->vec_floats > 0 && cpu->vec_floats <= CG_S4_BLOCK ? cpu->vec_floats : 4,
             .B = us->dim[0], .L = us->dim[1], .H = us->dim[2], .M = g->nodes[ir_in(g, n, 1)].shape.dim[1],
             .k = (float)n->attr.value, .u = in[0], .a = in[1], .bb = in[2], .w = in[3], .D = in[4],
             .dy = grad ? in[5] : NULL, .out = out};
    fb *f = &s.f;
    s.vt = cg_vec_type(v->jit, s.W);
    /* modes per group: state (2 G) + parameters (5 G) registers forward; + adjoint and gradient sums (6 G)
     * backward. Measured (bench/s4_scan, B 64 L 82 H 64 M 8): forward G = 4, backward G = 2 are the fastest
     * with 32 registers (AVX-512) and also with 16 (AVX2; the spills cost less than the shorter groups' extra
     * passes and exposed latency) */
    int G = grad ? 2 : 4;
    if (G > s.M) G = s.M > 0 ? (int)s.M : 1;
    /* the backward keeps a group's states of one chunk (C + 1 steps) on the stack: the whole sequence when
     * that fits S4_HS_BYTES (no checkpoint sweep), else chunks of ~sqrt(L) steps; with every group's
     * checkpoints (when they fit S4_CK_BYTES, with chunks lengthened up to S4_HS_MAX bytes of states if
     * needed) the chunk loop goes outside the group loop, so the groups share each chunk's cached lines */
    int64_t vb = s.W * 4, nchmax = s.M > 0 ? S4_CK_BYTES / (2 * s.M * vb) : 1;
    s.C = fb_ceil_sqrt(s.L);
    if ((s.L + 1) * 2 * G * vb <= S4_HS_BYTES) s.C = s.L;
    else if ((s.L + s.C - 1) / s.C <= nchmax) s.ck_all = true;
    else if (nchmax > 0 && ((s.L + nchmax - 1) / nchmax + 1) * 2 * G * vb <= S4_HS_MAX) {
        s.C = (s.L + nchmax - 1) / nchmax;
        s.ck_all = true;
    }
    s.nch = s.L ? (s.L + s.C - 1) / s.C : 0;
    /* the forward's items (batch, block) would rebuild their block's table B times: when the tables of all
     * channels fit S4_P_BYTES, each call builds them all once up front instead */
    int64_t nwb = (s.H + s.W - 1) / s.W, ptab = s.M > 0 ? s.M * NP : 1;
    s.cached = !grad && nwb * ptab * s.W * 4 <= S4_P_BYTES;
    /* every stack array and variable in the entry block */
    s.P = s.Pw = LLVMBuildArrayAlloca(f->b, s.vt, I(f, s.cached ? nwb * ptab : ptab), "P");
    if (!grad) s.Z = LLVMBuildArrayAlloca(f->b, s.vt, I(f, s.M > 0 ? 2 * s.M : 1), "Z");
    if (grad) {
        s.GA = LLVMBuildArrayAlloca(f->b, s.vt, I(f, ptab), "GA");
        s.ck = LLVMBuildArrayAlloca(f->b, s.vt, I(f, (s.nch > 0 ? s.nch : 1) * 2 * (s.ck_all ? s.M : G)), "ck");
        s.GADJ = LLVMBuildArrayAlloca(f->b, s.vt, I(f, s.M > 0 ? 2 * s.M : 1), "gadj");
        s.hs = LLVMBuildArrayAlloca(f->b, s.vt, I(f, (s.C + 1) * 2 * G), "hs");
    }
    for (int j = 0; j < 2 * GMAX; j++) s.sv[j] = LLVMBuildAlloca(f->b, s.vt, "s"), s.gv[j] = LLVMBuildAlloca(f->b, s.vt, "g");
    for (int j = 0; j < NP * GMAX; j++) s.av[j] = LLVMBuildAlloca(f->b, s.vt, "ga");
    s.dd = LLVMBuildAlloca(f->b, s.vt, "dD");
    if (s.cached) each_wblock(&s, I(f, 0), I(f, s.H), &(wblock_ctx){.fill_only = true});
    int64_t nblk = (s.H + CG_S4_BLOCK - 1) / CG_S4_BLOCK;
    cg_loop it;
    loop(f, &it, begin, end_, "item");
    wblock_ctx c = {.grad = grad, .G = G};
    LLVMValueRef blk = grad ? it.iv : LLVMBuildURem(f->b, it.iv, I(f, nblk), "");
    c.b = grad ? NULL : LLVMBuildUDiv(f->b, it.iv, I(f, nblk), "");
    c.hb = imul(f, blk, I(f, CG_S4_BLOCK));
    LLVMValueRef he = imin(&s, iadd(f, c.hb, I(f, CG_S4_BLOCK)), I(f, s.H));
    if (!grad) { /* the next item's (b L) H + h0 - this item's h0 (this item's for the last) */
        LLVMValueRef nit = imin(&s, iadd(f, it.iv, I(f, 1)), isub(f, end_, I(f, 1)));
        LLVMValueRef nb = LLVMBuildUDiv(f->b, nit, I(f, nblk), ""), nblk_ = LLVMBuildURem(f->b, nit, I(f, nblk), "");
        c.noff = isub(f, iadd(f, imul(f, nb, I(f, s.L * s.H)), imul(f, nblk_, I(f, CG_S4_BLOCK))), c.hb);
    }
    each_wblock(&s, c.hb, he, &c);
    it.no_unroll = 1;
    end(f, &it);
}
