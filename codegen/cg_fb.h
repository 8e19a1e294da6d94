/* cg_fb.h — small LLVM IR builders shared by the hand-written kernels of the fused ops (codegen/cg_fused*.c):
 * scalar f32 arithmetic, loads/stores by element index, counted loops, stack arrays. Everything is emitted
 * at f->b's position; indices are i64 values. */
#ifndef ICLC_CODEGEN_CG_FB_H
#define ICLC_CODEGEN_CG_FB_H

#include <stdint.h>

#include "codegen/cg_op.h"

typedef struct fb {
    cg_val *v;
    LLVMBuilderRef b;
    LLVMTypeRef f32;
} fb;

static inline LLVMValueRef I(fb *f, int64_t x) { return cg_i64(f->v->jit, x); }
static inline LLVMValueRef F(fb *f, float x) { return cg_f32(f->v->jit, x); }
static inline LLVMValueRef iadd(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(f->b, a, b, ""); }
static inline LLVMValueRef imul(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(f->b, a, b, ""); }
static inline LLVMValueRef isub(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWSub(f->b, a, b, ""); }
static inline LLVMValueRef fadd(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(f->b, a, b, ""); }
static inline LLVMValueRef fmul(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(f->b, a, b, ""); }
static inline LLVMValueRef fsub(fb *f, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(f->b, a, b, ""); }
static inline LLVMValueRef ld(fb *f, LLVMValueRef p, LLVMValueRef i) {
    return LLVMBuildLoad2(f->b, f->f32, cg_gep_f32(f->v->jit, f->b, p, i), "");
}
static inline void st(fb *f, LLVMValueRef p, LLVMValueRef i, LLVMValueRef x) {
    LLVMBuildStore(f->b, x, cg_gep_f32(f->v->jit, f->b, p, i));
}
/* p[i] += x, the add reassociable (a reduction LLVM may vectorise). */
static inline void acc(fb *f, LLVMValueRef p, LLVMValueRef i, LLVMValueRef x) {
    LLVMValueRef q = cg_gep_f32(f->v->jit, f->b, p, i);
    LLVMValueRef s = LLVMBuildFAdd(f->b, LLVMBuildLoad2(f->b, f->f32, q, ""), x, "");
    LLVMSetFastMathFlags(s, LLVMFastMathAllowReassoc);
    LLVMBuildStore(f->b, s, q);
}
/* a * b + c with one rounding (llvm.fma). */
static inline LLVMValueRef ffma(fb *f, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[3] = {a, b, c};
    return cg_intrinsic(f->v->jit, f->b, f->v->m, "llvm.fma", &f->f32, 1, args, 3);
}
static inline LLVMValueRef fexp(fb *f, LLVMValueRef x) { return cg_math1(f->v, "exp", x); }
/* A float array of n elements on the stack (emitted where the builder is: the entry block). */
static inline LLVMValueRef stack(fb *f, int64_t n, const char *name) {
    return LLVMBuildArrayAlloca(f->b, f->f32, I(f, n > 0 ? n : 1), name);
}
static inline void loop(fb *f, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi, const char *name) {
    cg_loop_begin(f->v->jit, f->b, l, lo, hi, I(f, 1), name);
}
static inline void loop_n(fb *f, cg_loop *l, int64_t n, const char *name) { loop(f, l, I(f, 0), I(f, n), name); }
static inline void end(fb *f, cg_loop *l) { cg_loop_end(f->b, l); }
static inline void zero(fb *f, LLVMValueRef p, LLVMValueRef off, int64_t n) {
    cg_loop l;
    loop_n(f, &l, n, "z");
    st(f, p, iadd(f, off, l.iv), F(f, 0));
    end(f, &l);
}

/* ---- w-lane values: <w x float>, or float when w == 1 (one emitter serves a vector body and its scalar tail) ---- */

static inline LLVMTypeRef vty(fb *f, int w) { return w == 1 ? f->f32 : LLVMVectorType(f->f32, (unsigned)w); }
static inline LLVMValueRef vsplat(fb *f, LLVMValueRef x, int w) { return w == 1 ? x : cg_splat(f->b, x, w); }
static inline LLVMValueRef vconst(fb *f, float x, int w) { return vsplat(f, F(f, x), w); }
/* p[i .. i + w) (unaligned). */
static inline LLVMValueRef vld(fb *f, int w, LLVMValueRef p, LLVMValueRef i) {
    LLVMValueRef x = LLVMBuildLoad2(f->b, vty(f, w), cg_gep_f32(f->v->jit, f->b, p, i), "");
    LLVMSetAlignment(x, 4);
    return x;
}
static inline void vst(fb *f, int w, LLVMValueRef p, LLVMValueRef i, LLVMValueRef x) { /* w: as vld (x has it) */
    (void)w;
    LLVMSetAlignment(LLVMBuildStore(f->b, x, cg_gep_f32(f->v->jit, f->b, p, i)), 4);
}
/* Lane l = p[i + l * stride]. */
static inline LLVMValueRef vgather(fb *f, int w, LLVMValueRef p, LLVMValueRef i, int64_t stride) {
    if (w == 1) return ld(f, p, i);
    LLVMValueRef x = LLVMGetPoison(vty(f, w));
    for (int l = 0; l < w; l++)
        x = LLVMBuildInsertElement(f->b, x, ld(f, p, iadd(f, i, I(f, l * stride))), I(f, l), "");
    return x;
}
/* p[i + l * stride] = lane l. */
static inline void vscatter(fb *f, int w, LLVMValueRef p, LLVMValueRef i, int64_t stride, LLVMValueRef x) {
    if (w == 1) {
        st(f, p, i, x);
        return;
    }
    for (int l = 0; l < w; l++) st(f, p, iadd(f, i, I(f, l * stride)), LLVMBuildExtractElement(f->b, x, I(f, l), ""));
}
static inline LLVMValueRef vfma(fb *f, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[3] = {a, b, c};
    LLVMTypeRef t = LLVMTypeOf(a);
    return cg_intrinsic(f->v->jit, f->b, f->v->m, "llvm.fma", &t, 1, args, 3);
}

/* Sums of the lanes of n w-lane values x[0..n) (w a power of two), added to p[i + k]: a transposing
 * butterfly. At a level with lane blocks of bs, a pair (a, x) becomes lo + hi with lo = a's first half-block
 * and x's second (a blend: no lane moves) and hi = a's second half-block and x's first (one shuffle), so each
 * half-block then holds one value's partial sums; after log2(w) levels lane l of result q holds the sum of
 * x[q w + bitrev(l)], which one permute puts in order. About one shuffle, one blend and one add per value,
 * instead of a log2(w)-step reduction each. Streaming: values are pushed as they are computed and a pair
 * is combined as soon as it exists at a level, so at most log2(w) + 1 partial vectors are live at any point
 * (a kernel that computed all n first would keep n vectors live and spill them). */
enum { FB_HSUM_MAX_OUT = 64 };
typedef struct fb_hsum {
    int w, n;                          /* lanes; values pushed so far */
    LLVMValueRef pend[8];              /* a value waiting for its pair at each level (NULL: none) */
    LLVMValueRef out[FB_HSUM_MAX_OUT]; /* finished results (w sums each, in bit-reversed lane order) */
    int nout;
} fb_hsum;

static inline fb_hsum fb_hsum_new(int w) { return (fb_hsum){.w = w}; }

/* Lane block size at level l: w, w/2, ..., 2 (level log2(w) is a finished result). */
static inline void fb_hsum_put(fb *f, fb_hsum *h, int level, LLVMValueRef x) {
    int w = h->w;
    for (int bs = w >> level; bs > 1; bs /= 2, level++) {
        if (!h->pend[level]) {
            h->pend[level] = x;
            return;
        }
        LLVMContextRef c = cg_jit_context(f->v->jit);
        LLVMValueRef first[64], hi_m[64];
        for (int l = 0, half = bs / 2; l < w; l++) {
            bool a_lane = l % bs < half; /* lane l: a's partial (first half-block) or x's (second) */
            first[l] = LLVMConstInt(LLVMInt1TypeInContext(c), a_lane, 0);
            hi_m[l] = LLVMConstInt(LLVMInt32TypeInContext(c), (unsigned)(a_lane ? l + half : w + l - half), 0);
        }
        LLVMValueRef a = h->pend[level];
        h->pend[level] = NULL;
        x = fadd(f, LLVMBuildSelect(f->b, LLVMConstVector(first, (unsigned)w), a, x, ""),
                 LLVMBuildShuffleVector(f->b, a, x, LLVMConstVector(hi_m, (unsigned)w), ""));
    }
    if (h->nout < FB_HSUM_MAX_OUT) h->out[h->nout++] = x;
}

static inline void fb_hsum_push(fb *f, fb_hsum *h, LLVMValueRef x) {
    h->n++;
    if (h->w == 1) {
        if (h->nout < FB_HSUM_MAX_OUT) h->out[h->nout++] = x;
        return;
    }
    fb_hsum_put(f, h, 0, x);
}

/* Pairs every waiting value with zero (lowest level first), then p[i + k] += sum of x[k] for k < n. */
static inline void fb_hsum_finish(fb *f, fb_hsum *h, LLVMValueRef p, LLVMValueRef i) {
    int w = h->w;
    for (int level = 0; w > 1 && (w >> level) > 1; level++)
        if (h->pend[level]) fb_hsum_put(f, h, level, vconst(f, 0, w)); /* the waiting value pairs with zero */
    for (int q = 0; q < h->nout; q++) {
        int64_t lanes = h->n - (int64_t)q * w < w ? h->n - (int64_t)q * w : w;
        LLVMValueRef at = iadd(f, i, I(f, (int64_t)q * w)), x = h->out[q];
        if (w > 1) { /* lane l held value bitrev(l) */
            LLVMTypeRef i32 = LLVMInt32TypeInContext(cg_jit_context(f->v->jit));
            LLVMValueRef m[64];
            int bits = 0;
            while ((1 << bits) < w) bits++;
            for (int l = 0; l < w; l++) {
                int rv = 0;
                for (int bt = 0; bt < bits; bt++) rv |= ((l >> bt) & 1) << (bits - 1 - bt);
                m[l] = LLVMConstInt(i32, (unsigned)rv, 0);
            }
            x = LLVMBuildShuffleVector(f->b, x, LLVMGetPoison(LLVMTypeOf(x)), LLVMConstVector(m, (unsigned)w), "");
        }
        if (lanes == w) {
            vst(f, w, p, at, fadd(f, vld(f, w, p, at), x));
            continue;
        }
        for (int64_t j = 0; j < lanes; j++) acc(f, p, iadd(f, at, I(f, j)), w == 1 ? x : LLVMBuildExtractElement(f->b, x, I(f, j), ""));
    }
}

/* A hint to fetch the cache line of p[i] (rw 1: for writing; locality 3: into L1, 2: L2). Never faults. */
static inline void fb_prefetch(fb *f, LLVMValueRef p, LLVMValueRef i, int rw, int locality) {
    cg_prefetch(f->v->jit, f->b, f->v->m, p, i, rw, locality);
}

/* Prefetch hints (into L2) for the cache lines of p[i .. i + n). Issued at the start of a work item whose
 * rows its loops then read one line per row and channel group: the hints form sequential streams, which
 * the memory system serves far better than those strided misses. */
static inline void fb_prefetch_range(fb *f, LLVMValueRef p, LLVMValueRef i, int64_t n, int rw) {
    cg_loop l;
    cg_loop_begin(f->v->jit, f->b, &l, I(f, 0), I(f, n), I(f, 16), "pf");
    fb_prefetch(f, p, iadd(f, i, l.iv), rw, 2);
    l.no_unroll = 1;
    cg_loop_end(f->b, &l);
}

/* ceil(sqrt(n)): the checkpoint interval of the scan backward kernels (states kept every ~sqrt(L) steps). */
static inline int64_t fb_ceil_sqrt(int64_t n) {
    int64_t c = 1;
    while (c * c < n) c++;
    return c;
}

/* 1 / (1 + e^-x) on w lanes. */
static inline LLVMValueRef vsigmoid(fb *f, LLVMValueRef x) {
    LLVMValueRef s = cg_math1(f->v, "sigmoid", x);
    if (s) return s;
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef one = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? cg_splat(f->b, F(f, 1), (int)LLVMGetVectorSize(t)) : F(f, 1);
    return LLVMBuildFDiv(f->b, one, fadd(f, one, fexp(f, LLVMBuildFNeg(f->b, x, ""))), "");
}
/* An array of n w-lane values on the stack, and its element j (i64 value). */
static inline LLVMValueRef vstack(fb *f, int w, int64_t n, const char *name) {
    LLVMValueRef p = LLVMBuildArrayAlloca(f->b, vty(f, w), I(f, n > 0 ? n : 1), name);
    LLVMSetAlignment(p, 64);
    return p;
}
static inline LLVMValueRef vat(fb *f, int w, LLVMValueRef arr, LLVMValueRef j) {
    return LLVMBuildInBoundsGEP2(f->b, vty(f, w), arr, &j, 1, "");
}
static inline LLVMValueRef vget(fb *f, int w, LLVMValueRef arr, LLVMValueRef j) {
    return LLVMBuildLoad2(f->b, vty(f, w), vat(f, w, arr, j), "");
}
static inline void vset(fb *f, int w, LLVMValueRef arr, LLVMValueRef j, LLVMValueRef x) { LLVMBuildStore(f->b, x, vat(f, w, arr, j)); }

static inline LLVMValueRef min_i(fb *f, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(f->b, LLVMBuildICmp(f->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* A body over channel group [e, e + w) of batch item b; s: the kernel's operands, a: its per-width state. */
typedef void cg_body_fn(fb *f, const void *s, int w, const void *a, LLVMValueRef b, LLVMValueRef e);

/* Channels [e0, e1) of batch item b: groups of W lanes (state aw), then the rest one by one (state a1). */
static inline void channels(fb *f, const void *s, int W, const void *aw, const void *a1, LLVMValueRef b, LLVMValueRef e0,
                            LLVMValueRef e1, cg_body_fn *body) {
    LLVMValueRef ev = iadd(f, e0, imul(f, LLVMBuildUDiv(f->b, isub(f, e1, e0), I(f, W), ""), I(f, W)));
    cg_loop vl, sl;
    cg_loop_begin(f->v->jit, f->b, &vl, e0, ev, I(f, W), "ev");
    body(f, s, W, aw, b, vl.iv);
    vl.no_unroll = 1;
    end(f, &vl);
    loop(f, &sl, ev, e1, "es");
    body(f, s, 1, a1, b, sl.iv);
    sl.no_unroll = 1;
    end(f, &sl);
}

/* ---- the kernel families in their own files (dispatched by codegen/cg_fused.c) ---- */

/* codegen/cg_fused_sscan.c: selective_scan(_gated) and their _grad ops. */
void cg_sscan_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work);
void cg_sscan_emit(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end,
                   LLVMValueRef out, const LLVMValueRef *in);

/* codegen/cg_fused_conv.c: causal_conv1d(_silu) and their _grad ops. */
void cg_conv_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work);
void cg_conv_emit(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end,
                  LLVMValueRef out, const LLVMValueRef *in);

#endif
