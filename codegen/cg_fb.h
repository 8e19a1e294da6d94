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
static inline LLVMValueRef fsigmoid(fb *f, LLVMValueRef x) {
    LLVMValueRef s = cg_math1(f->v, "sigmoid", x);
    return s ? s : LLVMBuildFDiv(f->b, F(f, 1), fadd(f, F(f, 1), fexp(f, LLVMBuildFNeg(f->b, x, ""))), "");
}
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
static inline void copy(fb *f, LLVMValueRef dst, LLVMValueRef doff, LLVMValueRef src, LLVMValueRef soff, int64_t n) {
    cg_loop l;
    loop_n(f, &l, n, "cp");
    st(f, dst, iadd(f, doff, l.iv), ld(f, src, iadd(f, soff, l.iv)));
    end(f, &l);
}

#endif
