/* cg_ew.c — value emitters of the elementwise ops (the codegen column of ir/ops.def).
 *
 * Each takes its inputs as float values (scalars inside the loops the vectoriser widens, or explicit
 * <n x float> vectors) and follows ir/ir_interp.c's definition in single precision. Formulas are
 * chosen to avoid cancellation where the interpreter's double precision would hide it (GELU is
 * x·sigmoid(2z), not 0.5x(1 + tanh z)). */
#include "codegen/cg_op.h"

#include <string.h>

/* codegen/cg_math.h (vectorisable inline approximations) is used as soon as it is in the tree. */
#if defined(__has_include)
#if __has_include("codegen/cg_math.h")
#include "codegen/cg_math.h"
#define HAVE_CG_MATH 1
#endif
#endif

/* A float constant of type ty (float or <n x float>). */
static LLVMValueRef fconst(LLVMTypeRef ty, double c) {
    if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind) return LLVMConstReal(ty, c);
    unsigned n = LLVMGetVectorSize(ty);
    LLVMValueRef s = LLVMConstReal(LLVMGetElementType(ty), c), lanes[64];
    for (unsigned i = 0; i < n && i < 64; i++) lanes[i] = s;
    return LLVMConstVector(lanes, n);
}

static LLVMValueRef intrin1(cg_val *v, const char *name, LLVMValueRef x) {
    LLVMTypeRef ty = LLVMTypeOf(x);
    return cg_intrinsic(v->jit, v->b, v->m, name, &ty, 1, &x, 1);
}

/* A pure libm function float f(float), declared once per module. */
static LLVMValueRef libm1(cg_val *v, const char *name, LLVMValueRef x) {
    LLVMContextRef c = cg_jit_context(v->jit);
    LLVMTypeRef f32 = LLVMFloatTypeInContext(c), fty = LLVMFunctionType(f32, &f32, 1, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(v->m, name);
    if (!fn) {
        fn = LLVMAddFunction(v->m, name, fty);
        const char *attrs[] = {"nounwind", "willreturn", "nosync", "nofree"};
        for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
            LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                       LLVMCreateEnumAttribute(c, LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i])), 0));
        /* memory(none): the function reads and writes no memory (errno is not used). */
        LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                                   LLVMCreateEnumAttribute(c, LLVMGetEnumAttributeKindForName("memory", 6), 0));
    }
    LLVMTypeRef ty = LLVMTypeOf(x);
    if (LLVMGetTypeKind(ty) != LLVMVectorTypeKind) return LLVMBuildCall2(v->b, fty, fn, &x, 1, "");
    LLVMValueRef r = LLVMGetUndef(ty);
    for (unsigned i = 0, n = LLVMGetVectorSize(ty); i < n; i++) {
        LLVMValueRef lane = LLVMConstInt(LLVMInt32TypeInContext(c), i, 0);
        LLVMValueRef e = LLVMBuildExtractElement(v->b, x, lane, "");
        r = LLVMBuildInsertElement(v->b, r, LLVMBuildCall2(v->b, fty, fn, &e, 1, ""), lane, "");
    }
    return r;
}

/* The one switch point for transcendentals: codegen/cg_math.h's inline approximations when present,
 * else LLVM intrinsics and libm calls (scalar calls: they keep loops from vectorising). Returns NULL
 * for the composite functions (sigmoid, silu, gelu, softplus) without cg_math: callers then build them. */
LLVMValueRef cg_math1(cg_val *v, const char *fn, LLVMValueRef x) {
#ifdef HAVE_CG_MATH
    static const struct {
        const char *name;
        LLVMValueRef (*f)(cg_jit *, LLVMBuilderRef, LLVMModuleRef, LLVMValueRef);
    } fns[] = {{"exp", cg_math_exp},         {"exp_fast", cg_math_exp_fast}, {"log", cg_math_log},   {"tanh", cg_math_tanh}, {"sigmoid", cg_math_sigmoid},
               {"softplus", cg_math_softplus}, {"silu", cg_math_silu}, {"gelu", cg_math_gelu}, {"erf", cg_math_erf},
               {"sin", cg_math_sin},         {"cos", cg_math_cos}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(fn, fns[i].name) == 0) return fns[i].f(v->jit, v->b, v->m, x);
#endif
    if (strcmp(fn, "exp") == 0 || strcmp(fn, "exp_fast") == 0) return intrin1(v, "llvm.exp", x);
    if (strcmp(fn, "log") == 0) return intrin1(v, "llvm.log", x);
    if (strcmp(fn, "sin") == 0) return intrin1(v, "llvm.sin", x);
    if (strcmp(fn, "cos") == 0) return intrin1(v, "llvm.cos", x);
    if (strcmp(fn, "tanh") == 0) return libm1(v, "tanhf", x);
    if (strcmp(fn, "erf") == 0) return libm1(v, "erff", x);
    if (strcmp(fn, "log1p") == 0) return libm1(v, "log1pf", x);
    return NULL;
}

#define X in[0]
#define B v->b
#define K(c) fconst(LLVMTypeOf(in[0]), (c))

/* 1 / (1 + e^-x) */
static LLVMValueRef sigmoid(cg_val *v, LLVMValueRef x) {
    LLVMValueRef s = cg_math1(v, "sigmoid", x);
    if (s) return s;
    LLVMValueRef one = fconst(LLVMTypeOf(x), 1.0);
    return LLVMBuildFDiv(v->b, one, LLVMBuildFAdd(v->b, one, cg_math1(v, "exp", LLVMBuildFNeg(v->b, x, "")), ""), "");
}

/* ---- unary ---- */
#define UNARY(name) LLVMValueRef cg_##name(cg_val *v, const ir_node *n, const LLVMValueRef *in)
UNARY(neg) { (void)n; return LLVMBuildFNeg(B, X, ""); }
UNARY(exp) { (void)n; return cg_math1(v, "exp", X); }
UNARY(log) { (void)n; return cg_math1(v, "log", X); }
UNARY(sqrt) { (void)n; return intrin1(v, "llvm.sqrt", X); }
UNARY(rsqrt) { (void)n; return LLVMBuildFDiv(B, K(1), intrin1(v, "llvm.sqrt", X), ""); }
UNARY(tanh) { (void)n; return cg_math1(v, "tanh", X); }
UNARY(sigmoid) { (void)n; return sigmoid(v, X); }
UNARY(relu) { (void)n; return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, X, K(0), ""), X, K(0), ""); }
UNARY(gelu) {
    /* 0.5x(1 + tanh z) = x·sigmoid(2z), z = sqrt(2/pi)(x + 0.044715 x^3) */
    (void)n;
    LLVMValueRef r = cg_math1(v, "gelu", X);
    if (r) return r;
    LLVMValueRef x3 = LLVMBuildFMul(B, LLVMBuildFMul(B, X, X, ""), X, "");
    LLVMValueRef z = LLVMBuildFMul(B, K(0.7978845608028654), LLVMBuildFAdd(B, X, LLVMBuildFMul(B, K(0.044715), x3, ""), ""), "");
    return LLVMBuildFMul(B, X, sigmoid(v, LLVMBuildFMul(B, K(2), z, "")), "");
}
UNARY(erf) { (void)n; return cg_math1(v, "erf", X); }
UNARY(silu) {
    (void)n;
    LLVMValueRef r = cg_math1(v, "silu", X);
    return r ? r : LLVMBuildFMul(B, X, sigmoid(v, X), "");
}
UNARY(softplus) {
    (void)n;
    LLVMValueRef r = cg_math1(v, "softplus", X);
    if (r) return r;
    LLVMValueRef sp = cg_math1(v, "log1p", cg_math1(v, "exp", X));
    return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, X, K(20), ""), X, sp, "");
}
UNARY(abs) { (void)n; return intrin1(v, "llvm.fabs", X); }
UNARY(sign) {
    (void)n;
    LLVMValueRef neg = LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLT, X, K(0), ""), K(-1), K(0), "");
    return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, X, K(0), ""), K(1), neg, "");
}
UNARY(square) { (void)n; return LLVMBuildFMul(B, X, X, ""); }
UNARY(cos) { (void)n; return cg_math1(v, "cos", X); }
UNARY(sin) { (void)n; return cg_math1(v, "sin", X); }
#undef UNARY

/* ---- binary ---- */
#define BINARY(name, expr) \
    LLVMValueRef cg_##name(cg_val *v, const ir_node *n, const LLVMValueRef *in) { (void)n; return (expr); }
BINARY(add, LLVMBuildFAdd(B, in[0], in[1], ""))
BINARY(sub, LLVMBuildFSub(B, in[0], in[1], ""))
BINARY(mul, LLVMBuildFMul(B, in[0], in[1], ""))
BINARY(div, LLVMBuildFDiv(B, in[0], in[1], ""))
BINARY(max, LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGE, in[0], in[1], ""), in[0], in[1], ""))
BINARY(min, LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLE, in[0], in[1], ""), in[0], in[1], ""))
#define CMP(name, pred) \
    BINARY(name, LLVMBuildUIToFP(B, LLVMBuildFCmp(B, pred, in[0], in[1], ""), LLVMTypeOf(in[0]), ""))
CMP(lt, LLVMRealOLT)
CMP(le, LLVMRealOLE)
CMP(gt, LLVMRealOGT)
CMP(ge, LLVMRealOGE)
CMP(eq, LLVMRealOEQ)
CMP(ne, LLVMRealUNE)
#undef CMP
#undef BINARY

LLVMValueRef cg_select(cg_val *v, const ir_node *n, const LLVMValueRef *in) {
    (void)n;
    return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealUNE, in[0], K(0), ""), in[1], in[2], "");
}
