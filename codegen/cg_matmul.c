/* cg_matmul.c — batched SGEMM kernel generator (see cg_matmul.h).
 *
 * Names used throughout (all compile-time constants of one kernel):
 *   M, N, K      matrix sizes;  V floats per vector
 *   MR, NR       register tile: MR rows x NR vectors (NRV = NR*V columns)
 *   MC, KC, NC   cache blocks: rows per work item, K block, N block
 *   U            micro-kernel k unroll
 * Packed layouts in the scratch buffer:
 *   Bp: panel p (columns p*NRV ...) at Bp + p*kc*NRV, element (k, j) at k*NRV + j
 *   Ap: panel q (rows q*MR ...)     at Ap + q*kc*MR,  element (i, k) at k*MR + i
 */
#include "codegen/cg_matmul.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

typedef struct gen {
    cg_jit *jit;
    LLVMModuleRef m;
    LLVMContextRef c;
    LLVMBuilderRef b;
    const cg_matmul_desc *d;
    cg_matmul_sched s;
    const char *name;
    int V, MR, NR, NRV, U;
    int64_t M, N, K, MC, KC, NC, lda, ldb, ldc, nmb, nnb, bp_floats;
    LLVMTypeRef i64, i32, i1, f32, ptr, vt;
} gen;

/* ---------- small IR helpers ---------- */

static LLVMValueRef I(gen *g, int64_t v) { return cg_i64(g->jit, v); }
static LLVMValueRef add(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(g->b, a, b, ""); }
static LLVMValueRef sub(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSub(g->b, a, b, ""); }
static LLVMValueRef mul(gen *g, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(g->b, a, b, ""); }
static LLVMValueRef mulc(gen *g, LLVMValueRef a, int64_t c) { return mul(g, a, I(g, c)); }
static LLVMValueRef min64(gen *g, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""), a, b, "");
}
/* Closes a loop; the generator unrolls what it wants itself, so LLVM's
 * unroller is told to leave every matmul loop alone (compile time). */
static void loop_end(gen *g, cg_loop *l) {
    l->no_unroll = 1;
    cg_loop_end(g->b, l);
}
static LLVMValueRef gep(gen *g, LLVMValueRef p, LLVMValueRef idx) { return cg_gep_f32(g->jit, g->b, p, idx); }
static LLVMValueRef gepc(gen *g, LLVMValueRef p, int64_t idx) { return idx ? gep(g, p, I(g, idx)) : p; }

static LLVMValueRef vload(gen *g, LLVMValueRef p) {
    LLVMValueRef v = LLVMBuildLoad2(g->b, g->vt, p, "");
    LLVMSetAlignment(v, 4);
    return v;
}
static void vstore(gen *g, LLVMValueRef v, LLVMValueRef p) { LLVMSetAlignment(LLVMBuildStore(g->b, v, p), 4); }

/* Constant mask: lanes < n are on. */
static LLVMValueRef const_mask(gen *g, int n) {
    LLVMValueRef bits[16];
    for (int l = 0; l < g->V; l++) bits[l] = LLVMConstInt(g->i1, l < n, 0);
    return LLVMConstVector(bits, (unsigned)g->V);
}

/* Run-time mask: lanes l with l < n (n an i64 value, may be <= 0 or >= V). */
static LLVMValueRef dyn_mask(gen *g, LLVMValueRef n) {
    LLVMValueRef lanes[16];
    for (int l = 0; l < g->V; l++) lanes[l] = I(g, l);
    LLVMValueRef iota = LLVMConstVector(lanes, (unsigned)g->V);
    return LLVMBuildICmp(g->b, LLVMIntSLT, iota, cg_splat(g->b, n, g->V), "");
}

/* Masked vector load (zeros in the off lanes) and store. */
static LLVMValueRef mload(gen *g, LLVMValueRef p, LLVMValueRef mask) {
    LLVMTypeRef ov[2] = {g->vt, g->ptr};
    LLVMValueRef args[4] = {p, LLVMConstInt(g->i32, 4, 0), mask, LLVMConstNull(g->vt)};
    return cg_intrinsic(g->jit, g->b, g->m, "llvm.masked.load", ov, 2, args, 4);
}
static void mstore(gen *g, LLVMValueRef v, LLVMValueRef p, LLVMValueRef mask) {
    LLVMTypeRef ov[2] = {g->vt, g->ptr};
    LLVMValueRef args[4] = {v, p, LLVMConstInt(g->i32, 4, 0), mask};
    cg_intrinsic(g->jit, g->b, g->m, "llvm.masked.store", ov, 2, args, 4);
}

static LLVMValueRef fma_v(gen *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc) {
    LLVMValueRef args[3] = {a, b, acc};
    return cg_intrinsic(g->jit, g->b, g->m, "llvm.fma", &g->vt, 1, args, 3);
}

/* if (cond) { then } else { else }: returns the blocks; caller fills them and calls join. */
typedef struct ifelse {
    LLVMBasicBlockRef then_bb, else_bb, join_bb;
} ifelse;
static ifelse if_begin(gen *g, LLVMValueRef cond) {
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(g->b));
    ifelse ie = {LLVMAppendBasicBlockInContext(g->c, fn, "then"), LLVMAppendBasicBlockInContext(g->c, fn, "else"),
                 LLVMAppendBasicBlockInContext(g->c, fn, "join")};
    LLVMBuildCondBr(g->b, cond, ie.then_bb, ie.else_bb);
    LLVMPositionBuilderAtEnd(g->b, ie.then_bb);
    return ie;
}
static void if_else(gen *g, ifelse *ie) {
    LLVMBuildBr(g->b, ie->join_bb);
    LLVMPositionBuilderAtEnd(g->b, ie->else_bb);
}
static void if_end(gen *g, ifelse *ie) {
    LLVMBuildBr(g->b, ie->join_bb);
    LLVMPositionBuilderAtEnd(g->b, ie->join_bb);
}

/* ---------- packing ---------- */

/* dst[k*W + j] = j < nvalid ? src[k*ld + j] : 0   for k < kc, j < W (W constant). */
static void emit_pack_copy(gen *g, LLVMValueRef dst, LLVMValueRef src, int64_t ld, int W, LLVMValueRef nvalid,
                           LLVMValueRef kc) {
    int nv = (W + g->V - 1) / g->V;
    ifelse ie = if_begin(g, LLVMBuildICmp(g->b, LLVMIntEQ, nvalid, I(g, W), ""));
    for (int path = 0; path < 2; path++) { /* 0: all W columns valid, 1: the first nvalid */
        cg_loop l;
        cg_loop_begin(g->jit, g->b, &l, I(g, 0), kc, I(g, 1), "pk");
        LLVMValueRef s = gep(g, src, mulc(g, l.iv, ld)), t = gep(g, dst, mulc(g, l.iv, W));
        for (int v = 0; v < nv; v++) {
            int lanes = W - v * g->V < g->V ? W - v * g->V : g->V;
            LLVMValueRef sm = lanes == g->V ? NULL : const_mask(g, lanes);
            LLVMValueRef x;
            if (path == 0) x = sm ? mload(g, gepc(g, s, v * g->V), sm) : vload(g, gepc(g, s, v * g->V));
            else {
                LLVMValueRef lm = dyn_mask(g, sub(g, nvalid, I(g, v * g->V)));
                if (sm) lm = LLVMBuildAnd(g->b, lm, sm, "");
                x = mload(g, gepc(g, s, v * g->V), lm);
            }
            if (sm) mstore(g, x, gepc(g, t, v * g->V), sm);
            else vstore(g, x, gepc(g, t, v * g->V));
        }
        loop_end(g, &l);
        if (path == 0) if_else(g, &ie);
    }
    if_end(g, &ie);
}

/* dst[k*W + j] = j < nvalid ? src[j*ld + k] : 0   for k < kc, j < W: a transposing
 * copy, V x V blocks through registers, scalar edges. */
static void emit_pack_transpose(gen *g, LLVMValueRef dst, LLVMValueRef src, int64_t ld, int W, LLVMValueRef nvalid,
                                LLVMValueRef kc) {
    int V = g->V;
    LLVMValueRef jfull = mulc(g, LLVMBuildSDiv(g->b, nvalid, I(g, V), ""), V); /* rows in full V-blocks */
    LLVMValueRef kfull = mulc(g, LLVMBuildSDiv(g->b, kc, I(g, V), ""), V);
    if (W >= V) {
        cg_loop lj, lk;
        cg_loop_begin(g->jit, g->b, &lj, I(g, 0), jfull, I(g, V), "tj");
        cg_loop_begin(g->jit, g->b, &lk, I(g, 0), kfull, I(g, V), "tk");
        LLVMValueRef r[16];
        LLVMValueRef s = gep(g, src, add(g, mulc(g, lj.iv, ld), lk.iv));
        for (int t = 0; t < V; t++) r[t] = vload(g, gepc(g, s, t * ld));
        cg_transpose(g->b, g->V, r);
        LLVMValueRef d = gep(g, dst, add(g, mulc(g, lk.iv, W), lj.iv));
        for (int t = 0; t < V; t++) vstore(g, r[t], gepc(g, d, (int64_t)t * W));
        loop_end(g, &lk);
        /* k tail of these rows */
        cg_loop lk2;
        cg_loop_begin(g->jit, g->b, &lk2, kfull, kc, I(g, 1), "tk2");
        for (int t = 0; t < V; t++) {
            LLVMValueRef j = add(g, lj.iv, I(g, t));
            LLVMValueRef x = LLVMBuildLoad2(g->b, g->f32, gep(g, src, add(g, mulc(g, j, ld), lk2.iv)), "");
            LLVMBuildStore(g->b, x, gep(g, dst, add(g, mulc(g, lk2.iv, W), j)));
        }
        loop_end(g, &lk2);
        loop_end(g, &lj);
    } else {
        jfull = I(g, 0);
    }
    if (W % V == 0) {
        /* columns [jfull, W) of every k row: zero them with whole vectors (lanes
         * past nvalid must read as 0), then copy rows [jfull, nvalid) */
        cg_loop lk, lc;
        cg_loop_begin(g->jit, g->b, &lk, I(g, 0), kc, I(g, 1), "tz");
        cg_loop_begin(g->jit, g->b, &lc, jfull, I(g, W), I(g, V), "tzc");
        vstore(g, LLVMConstNull(g->vt), gep(g, dst, add(g, mulc(g, lk.iv, W), lc.iv)));
        loop_end(g, &lc);
        loop_end(g, &lk);
        cg_loop lj;
        cg_loop_begin(g->jit, g->b, &lj, jfull, nvalid, I(g, 1), "tj2");
        cg_loop_begin(g->jit, g->b, &lk, I(g, 0), kc, I(g, 1), "tk3");
        LLVMValueRef x = LLVMBuildLoad2(g->b, g->f32, gep(g, src, add(g, mulc(g, lj.iv, ld), lk.iv)), "");
        LLVMBuildStore(g->b, x, gep(g, dst, add(g, mulc(g, lk.iv, W), lj.iv)));
        loop_end(g, &lk);
        loop_end(g, &lj);
        return;
    }
    /* narrow panels (W not a multiple of V): rows j in [jfull, W), copy or zero */
    cg_loop lj;
    cg_loop_begin(g->jit, g->b, &lj, jfull, I(g, W), I(g, 1), "tj2");
    ifelse ie = if_begin(g, LLVMBuildICmp(g->b, LLVMIntSLT, lj.iv, nvalid, ""));
    for (int path = 0; path < 2; path++) {
        cg_loop lk;
        cg_loop_begin(g->jit, g->b, &lk, I(g, 0), kc, I(g, 1), "tk3");
        LLVMValueRef x = path == 0 ? LLVMBuildLoad2(g->b, g->f32, gep(g, src, add(g, mulc(g, lj.iv, ld), lk.iv)), "")
                                   : cg_f32(g->jit, 0.0f);
        LLVMBuildStore(g->b, x, gep(g, dst, add(g, mulc(g, lk.iv, W), lj.iv)));
        loop_end(g, &lk);
        if (path == 0) if_else(g, &ie);
    }
    if_end(g, &ie);
    loop_end(g, &lj);
}

/* ---------- micro-kernel ---------- */

/* Micro-kernel parameters: a, b, c, kc, load_c, last, batch, row, col, extra... */
enum { MK_A, MK_B, MK_C, MK_KC, MK_LOADC, MK_LAST, MK_BATCH, MK_ROW, MK_COL, MK_EXTRA };

typedef struct mk_shape {
    int rows;   /* tile rows, <= MR */
    int nv;     /* vectors per row */
    int tail;   /* valid lanes of the last vector */
} mk_shape;

/* One k step: acc[i*nv+v] += A(i, k) * B(k, v). */
static void mk_step(gen *g, const mk_shape *sh, LLVMValueRef a, LLVMValueRef bp, LLVMValueRef k, LLVMValueRef *acc) {
    int64_t a_rs, a_ks, b_ks = g->s.pack_b > 0 ? g->NRV : g->ldb;
    if (g->s.pack_a > 0) a_rs = 1, a_ks = g->MR;
    else if (g->d->trans_a) a_rs = 1, a_ks = g->lda;
    else a_rs = g->lda, a_ks = 1;
    LLVMValueRef bk = gep(g, bp, mulc(g, k, b_ks)), ak = gep(g, a, mulc(g, k, a_ks));
    LLVMValueRef bv[CG_MM_MAX_NR];
    for (int v = 0; v < sh->nv; v++) {
        LLVMValueRef p = gepc(g, bk, v * g->V);
        /* in-place B: the last vector of an edge tile must not read past the row */
        if (g->s.pack_b <= 0 && v == sh->nv - 1 && sh->tail < g->V) bv[v] = mload(g, p, const_mask(g, sh->tail));
        else bv[v] = vload(g, p);
    }
    for (int i = 0; i < sh->rows; i++) {
        LLVMValueRef s = LLVMBuildLoad2(g->b, g->f32, gepc(g, ak, i * a_rs), "");
        LLVMValueRef sp = cg_splat(g->b, s, g->V);
        for (int v = 0; v < sh->nv; v++) acc[i * sh->nv + v] = fma_v(g, sp, bv[v], acc[i * sh->nv + v]);
    }
}

/* A read in place (rows of lda floats): the k loop of a tile fetches the next tile's MR rows, spread over
 * its iterations (k0 = the iteration's first k, `unroll` steps each), line q of them at row q % MR, float
 * 16 (q / MR): MR kc / 16 lines in MR unroll / 16 hints per iteration. The hardware prefetchers follow a
 * row once it is being read but not the jump to the next tile's six rows, and in a training step A comes
 * from memory, not cache. With the operands flushed (bench/matmul --cold, 2 threads) while this shared
 * machine's memory was slow: [5248 x 512 x 256] B^T 270 -> 304 GFLOP/s, [5248 x 48 x 512] B^T 96 -> 272,
 * Mamba standard step -7%; with fast memory the large shapes and the step were equal, the narrow shape
 * still faster (docs/codegen.md). A transposed or packed is left to the hardware (hints for the
 * transposed case measured no gain). */
static void prefetch_next_a(gen *g, LLVMValueRef a, LLVMValueRef k0, int unroll) {
    if (g->s.pack_a > 0 || g->d->trans_a) return;
    int per = (g->MR * unroll + 15) / 16;
    LLVMValueRef it = LLVMBuildUDiv(g->b, k0, I(g, unroll), "");
    for (int p = 0; p < per; p++) {
        LLVMValueRef q = add(g, mulc(g, it, per), I(g, p));
        LLVMValueRef row = add(g, LLVMBuildURem(g->b, q, I(g, g->MR), ""), I(g, g->MR)); /* the next tile's */
        LLVMValueRef off = add(g, mulc(g, row, g->lda), mulc(g, LLVMBuildUDiv(g->b, q, I(g, g->MR), ""), 16));
        cg_prefetch(g->jit, g->b, g->m, a, off, 0, 2); /* may lie past A (the last tile): never faults */
    }
}

/* A k loop over [lo, hi) in steps of `unroll`, accumulators carried in phis. */
static void mk_kloop(gen *g, const mk_shape *sh, LLVMValueRef a, LLVMValueRef bp, LLVMValueRef lo, LLVMValueRef hi,
                     int unroll, LLVMValueRef *acc) {
    int n = sh->rows * sh->nv;
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    cg_loop l;
    cg_loop_begin(g->jit, g->b, &l, lo, unroll > 1 ? sub(g, hi, I(g, unroll - 1)) : hi, I(g, unroll), "k");
    LLVMValueRef phi[CG_MM_MAX_MR * CG_MM_MAX_NR];
    LLVMPositionBuilderBefore(g->b, LLVMGetFirstInstruction(l.head));
    for (int i = 0; i < n; i++) {
        phi[i] = LLVMBuildPhi(g->b, g->vt, "acc");
        LLVMAddIncoming(phi[i], &acc[i], &pre, 1);
    }
    LLVMPositionBuilderAtEnd(g->b, l.body);
    LLVMValueRef cur[CG_MM_MAX_MR * CG_MM_MAX_NR];
    memcpy(cur, phi, sizeof(LLVMValueRef) * (size_t)n);
    for (int u = 0; u < unroll; u++) mk_step(g, sh, a, bp, add(g, l.iv, I(g, u)), cur);
    if (unroll > 1) prefetch_next_a(g, a, l.iv, unroll);
    LLVMBasicBlockRef end = LLVMGetInsertBlock(g->b);
    for (int i = 0; i < n; i++) LLVMAddIncoming(phi[i], &cur[i], &end, 1);
    loop_end(g, &l);
    memcpy(acc, phi, sizeof(LLVMValueRef) * (size_t)n); /* values on exit */
}

/* Loads (masked for the tail) C row i vector v of the tile at c. */
static LLVMValueRef c_load(gen *g, const mk_shape *sh, LLVMValueRef c, int i, int v) {
    LLVMValueRef p = gepc(g, c, i * g->ldc + v * g->V);
    return v == sh->nv - 1 && sh->tail < g->V ? mload(g, p, const_mask(g, sh->tail)) : vload(g, p);
}
static void c_store(gen *g, const mk_shape *sh, LLVMValueRef c, int i, int v, LLVMValueRef x) {
    LLVMValueRef p = gepc(g, c, i * g->ldc + v * g->V);
    if (v == sh->nv - 1 && sh->tail < g->V) mstore(g, x, p, const_mask(g, sh->tail));
    else vstore(g, x, p);
}

/* The store phase for one (load_c, last) combination. */
static cg_error mk_store(gen *g, const mk_shape *sh, LLVMValueRef fn, const LLVMValueRef *acc_in, int load_c,
                         int last) {
    int n = sh->rows * sh->nv;
    LLVMValueRef acc[CG_MM_MAX_MR * CG_MM_MAX_NR];
    memcpy(acc, acc_in, sizeof(LLVMValueRef) * (size_t)n);
    LLVMValueRef c = LLVMGetParam(fn, MK_C);
    if (load_c)
        for (int i = 0; i < sh->rows; i++)
            for (int v = 0; v < sh->nv; v++) acc[i * sh->nv + v] = LLVMBuildFAdd(g->b, acc[i * sh->nv + v], c_load(g, sh, c, i, v), "");
    if (last && g->d->epilogue) {
        cg_mm_epilogue_ctx ctx = {
            .jit = g->jit, .mod = g->m, .b = g->b, .desc = g->d, .vec = g->V, .rows = sh->rows, .nvec = sh->nv,
            .tail_lanes = sh->tail, .batch = LLVMGetParam(fn, MK_BATCH), .row = LLVMGetParam(fn, MK_ROW),
            .col = LLVMGetParam(fn, MK_COL), .user = g->d->epilogue_user};
        for (int i = 0; i < g->d->n_extra_bufs; i++) ctx.extra[i] = LLVMGetParam(fn, (unsigned)(MK_EXTRA + i));
        cg_error e = g->d->epilogue(&ctx, acc);
        if (e.failed) return e;
        for (int i = 0; i < n; i++)
            if (!acc[i] || LLVMTypeOf(acc[i]) != g->vt) return cg_errorf("%s: epilogue returned a value of the wrong type", g->name);
    }
    for (int i = 0; i < sh->rows; i++)
        for (int v = 0; v < sh->nv; v++) c_store(g, sh, c, i, v, acc[i * sh->nv + v]);
    return cg_ok();
}

/* Emits the micro-kernel function for a tile shape; returns it in *out. */
static cg_error emit_micro(gen *g, const mk_shape *sh, LLVMValueRef *out) {
    LLVMTypeRef params[MK_EXTRA + CG_MAX_BUFS] = {g->ptr, g->ptr, g->ptr, g->i64, g->i1, g->i1, g->i64, g->i64, g->i64};
    int np = MK_EXTRA + g->d->n_extra_bufs;
    for (int i = MK_EXTRA; i < np; i++) params[i] = g->ptr;
    LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(g->c), params, (unsigned)np, 0);
    char name[300];
    snprintf(name, sizeof name, "%s.mk%dx%dt%d", g->name, sh->rows, sh->nv, sh->tail);
    LLVMValueRef fn = LLVMAddFunction(g->m, name, fty);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    cg_jit_set_fn_attrs(g->jit, fn);
    for (unsigned i = 0; i < 3; i++) {
        unsigned kind = LLVMGetEnumAttributeKindForName("noalias", 7);
        LLVMAddAttributeAtIndex(fn, i + 1, LLVMCreateEnumAttribute(g->c, kind, 0));
    }
    LLVMBuilderRef saved = g->b;
    g->b = LLVMCreateBuilderInContext(g->c);
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->c, fn, "entry"));

    int n = sh->rows * sh->nv;
    LLVMValueRef acc[CG_MM_MAX_MR * CG_MM_MAX_NR];
    for (int i = 0; i < n; i++) acc[i] = LLVMConstNull(g->vt);
    LLVMValueRef a = LLVMGetParam(fn, MK_A), bp = LLVMGetParam(fn, MK_B), kc = LLVMGetParam(fn, MK_KC);
    LLVMValueRef kmain = g->U > 1 ? sub(g, kc, LLVMBuildSRem(g->b, kc, I(g, g->U), "")) : kc;
    mk_kloop(g, sh, a, bp, I(g, 0), kc, g->U, acc);
    if (g->U > 1) mk_kloop(g, sh, a, bp, kmain, kc, 1, acc);

    /* store phase: switch on (load_c, last) over the combinations that can
     * occur (one K block: just one, so the optimiser sees less code) */
    int one_block = g->K <= g->KC, acc_c = g->d->accumulate;
    LLVMValueRef sel = add(g, mulc(g, LLVMBuildZExt(g->b, LLVMGetParam(fn, MK_LOADC), g->i64, ""), 2),
                           LLVMBuildZExt(g->b, LLVMGetParam(fn, MK_LAST), g->i64, ""));
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->c, fn, "done");
    LLVMValueRef sw = NULL;
    cg_error e = cg_ok();
    for (int combo = 0; combo < 4 && !e.failed; combo++) {
        int load_c = combo >> 1, last = combo & 1;
        if ((acc_c && !load_c) || (one_block && (!last || load_c != acc_c))) continue;
        LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->c, fn, "st");
        if (!sw) sw = LLVMBuildSwitch(g->b, sel, bb, 4); /* the first possible combo is the default */
        else LLVMAddCase(sw, I(g, combo), bb);
        LLVMPositionBuilderAtEnd(g->b, bb);
        e = mk_store(g, sh, fn, acc, load_c, last);
        LLVMBuildBr(g->b, done);
    }
    LLVMMoveBasicBlockAfter(done, LLVMGetLastBasicBlock(fn));
    LLVMPositionBuilderAtEnd(g->b, done);
    LLVMBuildRetVoid(g->b);
    LLVMDisposeBuilder(g->b);
    g->b = saved;
    *out = fn;
    return e;
}

/* ---------- the kernel ---------- */

/* Calls micro-kernel fn for the tile (args as in the MK_ enum). */
static void call_micro(gen *g, LLVMValueRef fn, LLVMValueRef *args) {
    int np = MK_EXTRA + g->d->n_extra_bufs;
    LLVMBuildCall2(g->b, LLVMGlobalGetValueType(fn), fn, args, (unsigned)np, "");
}

/* What the tile loops need to address one tile. */
typedef struct tile_env {
    LLVMValueRef Ab, Bb, Cb, Bp, Ap; /* batch bases of A, B, C; packed panels */
    LLVMValueRef jc, pc, i0, kc;     /* block origin and depth */
    LLVMValueRef load_c, last, batch;
    LLVMValueRef *extra;             /* epilogue buffers */
} tile_env;

/* Calls micro-kernel fn on the tile at (i0 + ir, jc + jr) of the current block. */
static void tile_call(gen *g, const tile_env *t, LLVMValueRef fn, LLVMValueRef jr, LLVMValueRef ir) {
    const cg_matmul_desc *d = g->d;
    LLVMValueRef col = add(g, t->jc, jr), row = add(g, t->i0, ir);
    LLVMValueRef bptr = g->s.pack_b > 0 ? gep(g, t->Bp, mul(g, LLVMBuildSDiv(g->b, jr, I(g, g->NRV), ""), mulc(g, t->kc, g->NRV)))
                                        : gep(g, t->Bb, add(g, mulc(g, t->pc, g->ldb), col));
    LLVMValueRef aptr;
    if (g->s.pack_a > 0) aptr = gep(g, t->Ap, mul(g, LLVMBuildSDiv(g->b, ir, I(g, g->MR), ""), mulc(g, t->kc, g->MR)));
    else if (d->trans_a) aptr = gep(g, t->Ab, add(g, mulc(g, t->pc, g->lda), row));
    else aptr = gep(g, t->Ab, add(g, mulc(g, row, g->lda), t->pc));
    LLVMValueRef cptr = gep(g, t->Cb, add(g, mulc(g, row, g->ldc), col));
    LLVMValueRef args[MK_EXTRA + CG_MAX_BUFS] = {aptr, bptr, cptr, t->kc, t->load_c, t->last, t->batch, row, col};
    for (int i = 0; i < d->n_extra_bufs; i++) args[MK_EXTRA + i] = t->extra[i];
    call_micro(g, fn, args);
}

static cg_error emit_kernel(gen *g) {
    const cg_matmul_desc *d = g->d;
    int V = g->V, MR = g->MR, NRV = g->NRV;
    /* micro-kernel variants: [rows edge][cols edge] */
    LLVMValueRef mk[2][2] = {{NULL, NULL}, {NULL, NULL}};
    int medge = (int)(g->M % MR), nedge = (int)(g->N % NRV);
    cg_error e = cg_ok();
    for (int re = 0; re < 2 && !e.failed; re++)
        for (int ce = 0; ce < 2 && !e.failed; ce++) {
            if ((re && !medge) || (ce && !nedge)) continue;
            if ((!re && g->M < MR) || (!ce && g->N < NRV)) continue; /* full tile never occurs */
            int cols = ce ? nedge : NRV;
            mk_shape sh = {re ? medge : MR, (cols + V - 1) / V, cols - ((cols + V - 1) / V - 1) * V};
            e = emit_micro(g, &sh, &mk[re][ce]);
        }
    if (e.failed) { /* leave the module as it was */
        for (int i = 0; i < 4; i++)
            if (mk[i / 2][i % 2]) LLVMDeleteFunction(mk[i / 2][i % 2]);
        return e;
    }
    if (!mk[0][0] && !mk[0][1] && !mk[1][0] && !mk[1][1]) return cg_errorf("%s: no micro-kernel variant", g->name);

    cg_kernel k;
    e = cg_kernel_begin(g->jit, g->m, g->name, CG_MM_BUF_EXTRA + d->n_extra_bufs, &k);
    if (e.failed) {
        for (int i = 0; i < 4; i++)
            if (mk[i / 2][i % 2]) LLVMDeleteFunction(mk[i / 2][i % 2]);
        return e;
    }
    g->b = k.b;
    LLVMValueRef A = k.bufs[CG_MM_BUF_A], B = k.bufs[CG_MM_BUF_B], C = k.bufs[CG_MM_BUF_C];
    LLVMValueRef Bp = k.bufs[CG_MM_BUF_SCRATCH], Ap = gepc(g, Bp, g->bp_floats);

    /* for item = begin; item < end; item += row blocks of this (batch, column block) in the range */
    cg_loop li;
    cg_loop_begin(g->jit, g->b, &li, k.begin, k.end, I(g, 1), "item");
    /* item = (batch * nnb + column block) * nmb + row block */
    LLVMValueRef outer = LLVMBuildSDiv(g->b, li.iv, I(g, g->nmb), "");
    LLVMValueRef bidx = LLVMBuildSDiv(g->b, outer, I(g, g->nnb), "batch");
    LLVMValueRef jb = LLVMBuildSRem(g->b, outer, I(g, g->nnb), "jb");
    LLVMValueRef ib0 = LLVMBuildSRem(g->b, li.iv, I(g, g->nmb), "ib0");
    LLVMValueRef ib1 = min64(g, I(g, g->nmb), add(g, ib0, sub(g, k.end, li.iv)));
    li.step = sub(g, ib1, ib0);
    /* batch offsets */
    LLVMValueRef offa = I(g, 0), offb = I(g, 0), offc = I(g, 0), t = bidx;
    for (int dd = d->n_batch - 1; dd >= 0; dd--) {
        LLVMValueRef id = LLVMBuildSRem(g->b, t, I(g, d->batch[dd]), "");
        t = LLVMBuildSDiv(g->b, t, I(g, d->batch[dd]), "");
        offa = add(g, offa, mulc(g, id, d->a_bstride[dd]));
        offb = add(g, offb, mulc(g, id, d->b_bstride[dd]));
        offc = add(g, offc, mulc(g, id, d->c_bstride[dd]));
    }
    LLVMValueRef Ab = gep(g, A, offa), Bb = gep(g, B, offb), Cb = gep(g, C, offc);

    cg_loop lpc, lib;
    LLVMValueRef jc = mulc(g, jb, g->NC);
    LLVMValueRef nc = min64(g, I(g, g->NC), sub(g, I(g, g->N), jc));
    cg_loop_begin(g->jit, g->b, &lpc, I(g, 0), I(g, g->K), I(g, g->KC), "pc");
    LLVMValueRef kc = min64(g, I(g, g->KC), sub(g, I(g, g->K), lpc.iv));
    LLVMValueRef load_c, last;
    if (g->K <= g->KC) { /* one K block: constants, so the unused store paths fold away */
        load_c = LLVMConstInt(g->i1, (unsigned long long)d->accumulate, 0);
        last = LLVMConstInt(g->i1, 1, 0);
    } else {
        load_c = d->accumulate ? LLVMConstInt(g->i1, 1, 0) : LLVMBuildICmp(g->b, LLVMIntNE, lpc.iv, I(g, 0), "");
        last = LLVMBuildICmp(g->b, LLVMIntEQ, add(g, lpc.iv, kc), I(g, g->K), "");
    }
    if (g->s.pack_b > 0) {
        cg_loop lp;
        cg_loop_begin(g->jit, g->b, &lp, I(g, 0), nc, I(g, NRV), "pb");
        LLVMValueRef ncols = min64(g, I(g, NRV), sub(g, nc, lp.iv));
        LLVMValueRef dst = gep(g, Bp, mul(g, mul(g, LLVMBuildSDiv(g->b, lp.iv, I(g, NRV), ""), kc), I(g, NRV)));
        LLVMValueRef col = add(g, jc, lp.iv);
        if (!d->trans_b)
            emit_pack_copy(g, dst, gep(g, Bb, add(g, mulc(g, lpc.iv, g->ldb), col)), g->ldb, NRV, ncols, kc);
        else
            emit_pack_transpose(g, dst, gep(g, Bb, add(g, mulc(g, col, g->ldb), lpc.iv)), g->ldb, NRV, ncols, kc);
        loop_end(g, &lp);
    }
    cg_loop_begin(g->jit, g->b, &lib, ib0, ib1, I(g, 1), "ib");
    LLVMValueRef i0 = mulc(g, lib.iv, g->MC);
    LLVMValueRef mc = min64(g, I(g, g->MC), sub(g, I(g, g->M), i0));
    if (g->s.pack_a > 0) {
        cg_loop lq;
        cg_loop_begin(g->jit, g->b, &lq, I(g, 0), mc, I(g, MR), "pa");
        LLVMValueRef rows = min64(g, I(g, MR), sub(g, mc, lq.iv));
        LLVMValueRef dst = gep(g, Ap, mul(g, mul(g, LLVMBuildSDiv(g->b, lq.iv, I(g, MR), ""), kc), I(g, MR)));
        LLVMValueRef row = add(g, i0, lq.iv);
        if (d->trans_a)
            emit_pack_copy(g, dst, gep(g, Ab, add(g, mulc(g, lpc.iv, g->lda), row)), g->lda, MR, rows, kc);
        else
            emit_pack_transpose(g, dst, gep(g, Ab, add(g, mulc(g, row, g->lda), lpc.iv)), g->lda, MR, rows, kc);
        loop_end(g, &lq);
    }
    /* tile loops: full tiles in loops, the edge column panel and edge row tile
     * after them (no per-tile branches for the optimiser to unswitch) */
    tile_env te = {Ab, Bb, Cb, Bp, Ap, jc, lpc.iv, i0, kc, load_c, last, bidx, k.bufs + CG_MM_BUF_EXTRA};
    LLVMValueRef nc_full = mulc(g, LLVMBuildSDiv(g->b, nc, I(g, NRV), ""), NRV);
    LLVMValueRef mc_full = mulc(g, LLVMBuildSDiv(g->b, mc, I(g, MR), ""), MR);
    for (int ce = 0; ce < 2; ce++) {
        if (!mk[0][ce] && !mk[1][ce]) continue;
        cg_loop ljr;
        ifelse has_edge;
        LLVMValueRef jr;
        if (!ce) {
            cg_loop_begin(g->jit, g->b, &ljr, I(g, 0), nc_full, I(g, NRV), "jr");
            jr = ljr.iv;
        } else {
            has_edge = if_begin(g, LLVMBuildICmp(g->b, LLVMIntSLT, nc_full, nc, ""));
            jr = nc_full;
        }
        if (mk[0][ce]) {
            cg_loop lir;
            cg_loop_begin(g->jit, g->b, &lir, I(g, 0), mc_full, I(g, MR), "ir");
            tile_call(g, &te, mk[0][ce], jr, lir.iv);
            loop_end(g, &lir);
        }
        if (mk[1][ce]) {
            ifelse re = if_begin(g, LLVMBuildICmp(g->b, LLVMIntSLT, mc_full, mc, ""));
            tile_call(g, &te, mk[1][ce], jr, mc_full);
            if_else(g, &re);
            if_end(g, &re);
        }
        if (!ce) loop_end(g, &ljr);
        else {
            if_else(g, &has_edge);
            if_end(g, &has_edge);
        }
    }
    loop_end(g, &lib);
    loop_end(g, &lpc);
    loop_end(g, &li);
    cg_kernel_end(&k);
    g->b = NULL;
    return cg_ok();
}

/* ---------- schedule, info, entry points ---------- */

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

static int64_t batch_count(const cg_matmul_desc *d) {
    int64_t n = 1;
    for (int i = 0; i < d->n_batch; i++) n *= d->batch[i];
    return n;
}

/* Checks the problem description; fills dense leading dimensions. */
static cg_error check_desc(const cg_matmul_desc *d, cg_matmul_desc *out) {
    *out = *d;
    if (d->M < 1 || d->N < 1 || d->K < 1) return cg_errorf("matmul: sizes must be >= 1 (M=%lld N=%lld K=%lld)",
                                                            (long long)d->M, (long long)d->N, (long long)d->K);
    if (d->n_batch < 0 || d->n_batch > CG_MM_MAX_BATCH) return cg_errorf("matmul: %d batch dims (max %d)", d->n_batch, CG_MM_MAX_BATCH);
    if (d->n_extra_bufs < 0 || d->n_extra_bufs > CG_MAX_BUFS - CG_MM_BUF_EXTRA)
        return cg_errorf("matmul: %d extra buffers (max %d)", d->n_extra_bufs, CG_MAX_BUFS - CG_MM_BUF_EXTRA);
    if (!out->lda) out->lda = d->trans_a ? d->M : d->K;
    if (!out->ldb) out->ldb = d->trans_b ? d->K : d->N;
    if (!out->ldc) out->ldc = d->N;
    if (out->lda < (d->trans_a ? d->M : d->K)) return cg_errorf("matmul: lda %lld too small", (long long)out->lda);
    if (out->ldb < (d->trans_b ? d->K : d->N)) return cg_errorf("matmul: ldb %lld too small", (long long)out->ldb);
    if (out->ldc < d->N) return cg_errorf("matmul: ldc %lld < N %lld", (long long)out->ldc, (long long)d->N);
    for (int i = 0; i < d->n_batch; i++) {
        if (d->batch[i] < 1) return cg_errorf("matmul: batch dim %d is %lld", i, (long long)d->batch[i]);
        if (d->batch[i] > 1 && d->c_bstride[i] == 0)
            return cg_errorf("matmul: C batch stride 0 on dim %d would reduce over the batch; fold it into K", i);
    }
    return cg_ok();
}

cg_error cg_matmul_sched_resolve(const cg_cpu *cpu, const cg_matmul_desc *d, const cg_matmul_sched *s,
                                 cg_matmul_sched *out) {
    cg_matmul_sched z = {0};
    if (!s) s = &z;
    cg_matmul_sched r = *s;
    if (!r.vec) r.vec = cpu->vec_floats;
    if (r.vec != 4 && r.vec != 8 && r.vec != 16) return cg_errorf("matmul schedule: vec %d is not 4, 8 or 16", r.vec);
    if (r.vec > cpu->vec_floats) return cg_errorf("matmul schedule: vec %d wider than the CPU's %d", r.vec, cpu->vec_floats);
    int regs = r.vec == 16 ? cpu->n_vec_regs : 16;
    int64_t nvN = ceil_div(d->N, r.vec);
    /* register tile: MR*NR accumulators + NR B vectors + 1 broadcast fit the
     * registers; with 32 registers 6x4 (or 8x3 when N splits into thirds, e.g.
     * 82 columns = 2 x 3 vectors) measured best, 12x2 / 16x1 for narrow N */
    if (!r.nr) {
        if (regs >= 32 && nvN >= 4) r.nr = nvN % 4 != 0 && nvN % 3 == 0 ? 3 : 4;
        else r.nr = nvN >= 2 ? 2 : 1;
    }
    if (!r.mr) {
        r.mr = (regs - r.nr - 1) / r.nr;
        if (r.mr > 16) r.mr = 16;
        if (regs >= 32 && r.nr == 2) r.mr = 12;
        if (regs >= 32 && r.nr == 3) r.mr = 8;
        if (r.mr > d->M) r.mr = (int)d->M;
    }
    if (r.mr < 1 || r.mr > CG_MM_MAX_MR) return cg_errorf("matmul schedule: mr %d out of 1..%d", r.mr, CG_MM_MAX_MR);
    if (r.nr < 1 || r.nr > CG_MM_MAX_NR) return cg_errorf("matmul schedule: nr %d out of 1..%d", r.nr, CG_MM_MAX_NR);
    int64_t nrv = (int64_t)r.nr * r.vec;
    if (!r.kc) r.kc = d->K <= 512 ? (int)d->K : 256;
    if (r.kc > d->K) r.kc = (int)d->K;
    if (r.kc < 1) return cg_errorf("matmul schedule: kc %d < 1", r.kc);
    if (!r.threads) r.threads = omp_get_max_threads();
    int64_t nb = batch_count(d), threads = r.threads > 1 ? r.threads : 1;
    /* With few batches the threads need several blocks of one matrix: split
     * the side whose operand is bigger (each thread then reads all of the
     * other operand and its share of this one). */
    int need_split = threads > 1 && nb < 4 * threads;
    int split_n = need_split && d->N > d->M && d->N >= threads * nrv;
    if (!r.nc) {
        int64_t nc = (1 << 20) / 4 / r.kc; /* B block of about 1 MB */
        nc = nc / nrv * nrv;
        if (nc < nrv) nc = nrv;
        if (nc > round_up(d->N, nrv)) nc = round_up(d->N, nrv);
        if (split_n) {
            int64_t blocks = round_up(ceil_div(d->N, nc), threads);
            nc = round_up(ceil_div(d->N, blocks), nrv);
        }
        r.nc = (int)nc;
    }
    r.nc = (int)round_up(r.nc, nrv);
    if (!r.mc) { /* rows per work item: at most ~192, and enough items for the threads */
        int64_t blocks = ceil_div(d->M, 192);
        if (need_split && !split_n) blocks = round_up(blocks, threads);
        r.mc = (int)round_up(ceil_div(d->M, blocks), r.mr);
    }
    r.mc = (int)round_up(r.mc, r.mr);
    if (r.mc > round_up(d->M, r.mr)) r.mc = (int)round_up(d->M, r.mr);
    if (!r.pack_a) r.pack_a = -1;
    if (!r.pack_b) r.pack_b = 1; /* measured: contiguous B panels win even without a transpose */
    if (d->trans_b) r.pack_b = 1;
    if (!r.k_unroll) r.k_unroll = 2; /* measured: 4 is no faster, compiles slower, and loses on K=82 */
    if (r.k_unroll < 1 || r.k_unroll > 16) return cg_errorf("matmul schedule: k_unroll %d out of 1..16", r.k_unroll);
    *out = r;
    return cg_ok();
}

/* Sizes of the packed B and A panels in floats (each rounded to 64 bytes). */
static void panel_floats(const cg_matmul_desc *d, const cg_matmul_sched *s, int64_t *bp, int64_t *ap) {
    int64_t nrv = (int64_t)s->nr * s->vec, kc_eff = s->kc < d->K ? s->kc : d->K;
    int64_t nc_eff = s->nc < round_up(d->N, nrv) ? s->nc : round_up(d->N, nrv);
    *bp = s->pack_b > 0 ? round_up(kc_eff * nc_eff, 16) : 0;
    *ap = s->pack_a > 0 ? round_up((int64_t)s->mc * kc_eff, 16) : 0;
}

cg_error cg_matmul_plan(const cg_cpu *cpu, const cg_matmul_desc *desc, const cg_matmul_sched *sched,
                        cg_matmul_info *info) {
    cg_matmul_desc d;
    cg_error e = check_desc(desc, &d);
    if (e.failed) return e;
    cg_matmul_sched s;
    e = cg_matmul_sched_resolve(cpu, &d, sched, &s);
    if (e.failed) return e;
    int64_t bp, ap;
    panel_floats(&d, &s, &bp, &ap);
    info->n_items = batch_count(&d) * ceil_div(d.N, s.nc) * ceil_div(d.M, s.mc);
    info->scratch_bytes = (bp + ap) * 4;
    info->flops = 2.0 * (double)d.M * (double)d.N * (double)d.K * (double)batch_count(&d);
    info->sched = s;
    info->n_extra_bufs = d.n_extra_bufs;
    return cg_ok();
}

cg_error cg_matmul_emit(cg_jit *jit, LLVMModuleRef m, const char *name, const cg_matmul_desc *desc,
                        const cg_matmul_sched *sched, cg_matmul_info *info) {
    cg_matmul_info inf;
    cg_error e = cg_matmul_plan(cg_jit_cpu(jit), desc, sched, &inf);
    if (e.failed) return cg_errorf("%s: %s", name, e.msg);
    cg_matmul_desc d;
    check_desc(desc, &d); /* fills the default leading dimensions */
    gen g = {.jit = jit, .m = m, .c = cg_jit_context(jit), .d = &d, .name = name, .s = inf.sched};
    g.V = g.s.vec, g.MR = g.s.mr, g.NR = g.s.nr, g.NRV = g.NR * g.V, g.U = g.s.k_unroll;
    g.M = d.M, g.N = d.N, g.K = d.K, g.MC = g.s.mc, g.KC = g.s.kc, g.NC = g.s.nc;
    g.lda = d.lda, g.ldb = d.ldb, g.ldc = d.ldc;
    g.nmb = ceil_div(g.M, g.MC);
    g.nnb = ceil_div(g.N, g.NC);
    int64_t ap;
    panel_floats(&d, &g.s, &g.bp_floats, &ap);
    g.i64 = LLVMInt64TypeInContext(g.c), g.i32 = LLVMInt32TypeInContext(g.c), g.i1 = LLVMInt1TypeInContext(g.c);
    g.f32 = LLVMFloatTypeInContext(g.c), g.ptr = LLVMPointerTypeInContext(g.c, 0), g.vt = cg_vec_type(jit, g.V);
    e = emit_kernel(&g);
    if (e.failed) return e;
    if (info) *info = inf;
    return cg_ok();
}

LLVMValueRef cg_mm_epi_load_cols(cg_mm_epilogue_ctx *ctx, LLVMValueRef x, int v) {
    cg_jit *jit = ctx->jit;
    LLVMBuilderRef b = ctx->b;
    LLVMTypeRef vt = cg_vec_type(jit, ctx->vec);
    LLVMValueRef p = cg_gep_f32(jit, b, x, LLVMBuildAdd(b, ctx->col, cg_i64(jit, (int64_t)v * ctx->vec), ""));
    if (v == ctx->nvec - 1 && ctx->tail_lanes < ctx->vec) {
        LLVMContextRef c = cg_jit_context(jit);
        LLVMValueRef bits[16];
        for (int l = 0; l < ctx->vec; l++) bits[l] = LLVMConstInt(LLVMInt1TypeInContext(c), l < ctx->tail_lanes, 0);
        LLVMTypeRef ov[2] = {vt, LLVMPointerTypeInContext(c, 0)};
        LLVMValueRef args[4] = {p, LLVMConstInt(LLVMInt32TypeInContext(c), 4, 0), LLVMConstVector(bits, (unsigned)ctx->vec),
                                LLVMConstNull(vt)};
        return cg_intrinsic(jit, b, ctx->mod, "llvm.masked.load", ov, 2, args, 4);
    }
    LLVMValueRef ld = LLVMBuildLoad2(b, vt, p, "");
    LLVMSetAlignment(ld, 4);
    return ld;
}

LLVMValueRef cg_mm_epi_load_tile(cg_mm_epilogue_ctx *ctx, LLVMValueRef x, int64_t ld, int r, int v) {
    LLVMValueRef off = LLVMBuildMul(ctx->b, LLVMBuildAdd(ctx->b, ctx->row, cg_i64(ctx->jit, r), ""), cg_i64(ctx->jit, ld), "");
    return cg_mm_epi_load_cols(ctx, cg_gep_f32(ctx->jit, ctx->b, x, off), v);
}

cg_error cg_matmul_run(cg_kernel_fn fn, const cg_matmul_info *info, const float *A, const float *B, float *C,
                       void *scratch, void **extra, int n_extra, int threads) {
    if (!fn || !A || !B || !C) return cg_errorf("cg_matmul_run: missing kernel or A/B/C buffer");
    if (info->scratch_bytes > 0 && !scratch)
        return cg_errorf("cg_matmul_run: the kernel needs %lld bytes of scratch per thread", (long long)info->scratch_bytes);
    if (n_extra < info->n_extra_bufs || (info->n_extra_bufs > 0 && !extra))
        return cg_errorf("cg_matmul_run: the epilogue needs %d extra buffers, got %d", info->n_extra_bufs, n_extra);
    for (int i = 0; i < info->n_extra_bufs; i++)
        if (!extra[i]) return cg_errorf("cg_matmul_run: extra buffer %d is NULL", i);
    if (threads <= 0) threads = omp_get_max_threads();
    if (threads > info->n_items) threads = (int)info->n_items;
    if (threads < 1) threads = 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        void *bufs[CG_MAX_BUFS];
        bufs[CG_MM_BUF_A] = (void *)A;
        bufs[CG_MM_BUF_B] = (void *)B;
        bufs[CG_MM_BUF_C] = C;
        bufs[CG_MM_BUF_SCRATCH] = scratch ? (char *)scratch + (size_t)t * (size_t)info->scratch_bytes : NULL;
        for (int i = 0; i < n_extra && i < CG_MAX_BUFS - CG_MM_BUF_EXTRA; i++) bufs[CG_MM_BUF_EXTRA + i] = extra[i];
        int64_t lo = info->n_items * t / T, hi = info->n_items * (t + 1) / T;
        if (lo < hi) fn(lo, hi, bufs);
    }
    return cg_ok();
}
