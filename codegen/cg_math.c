/* cg_math.c — inline IR for exp, log, tanh, sigmoid, softplus, silu, gelu,
 * erf, sin, cos on float and <n x float> values (see cg_math.h).
 *
 * No fast-math flags are set: every operation rounds as IEEE says, so the
 * error analysis below holds after LLVM's optimiser. Range checks are selects
 * (no branches), so a loop around any of these vectorises.
 *
 * Polynomial coefficients: tests/reference/cg_math_fit.py (Lawson-weighted
 * least squares towards minimax relative error, rounded to float32). */
#include "codegen/cg_math.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2: fitted rel 3.8e-9 (float32 coefficients) */
static const float EXP_P[5] = {0.4999999403953552f, 0.1666652113199234f, 0.04166838899254799f, 0.008368710055947304f,
                               0.001381461275741458f};
/* exp(r) = 1 + r P(r), P of degree 4 (exp_fast): fitted rel 9.5e-8, 1.7e-7 evaluated in float */
static const float EXPF_P[5] = {0.9999997523017072f, 0.4999914971245005f, 0.166675123876112f, 0.041897913636756316f,
                                0.00829780310004146f};
/* log1p(f) = f + f^2 Q(f), f in [sqrt(1/2)-1, sqrt(2)-1]: fitted rel 5.4e-9 */
static const float LOG_Q[9] = {-0.49999988079071045f, 0.33333325386047363f, -0.25001582503318787f,
                               0.2000197470188141f,   -0.16609081625938416f, 0.14181822538375854f,
                               -0.13242989778518677f, 0.12904450297355652f,  -0.07621794939041138f};
/* tanh(x) = x + x^3 T(x^2), |x| <= TANH_SMALL: fitted rel 2.7e-9 */
static const float TANH_T[6] = {-0.3333333134651184f,  0.1333320587873459f,    -0.05394676327705383f,
                                0.021700702607631683f, -0.008177396841347218f, 0.0021429606713354588f};
static const float TANH_SMALL = 0.625f;
/* erf(x) = x E(x^2), |x| <= ERF_SMALL: fitted rel 5.8e-8 */
static const float ERF_E[7] = {1.128379225730896f,      -0.37612634897232056f,   0.11283695697784424f,
                               -0.026859398931264877f,  0.005201032850891352f,   -0.0008142708684317768f,
                               8.37011612020433e-05f};
static const float ERF_SMALL = 0.921875f;
/* erfc(x) = exp(G(x)), ERF_SMALL <= x <= ERF_ONE: fitted rel error of erf 3.4e-9 */
static const float ERF_G[11] = {4.030806303489953e-05f,  -1.1286721229553223f,    -0.6356694102287292f,
                                -0.10458218306303024f,   0.021357523277401924f,   -0.0016198948724195361f,
                                -0.0007316923583857715f, 0.00033308856654912233f, -6.827813922427595e-05f,
                                7.528699370595859e-06f,  -3.5976228218714823e-07f};
static const float ERF_ONE = 3.925f; /* erfc < 2^-25 beyond: erf rounds to 1 */
/* sin(r) = r + r^3 S(r^2), cos(r) = 1 - r^2/2 + r^4 C(r^2), |r| <= pi/4: fitted rel 3.7e-9, 7e-10 */
static const float SIN_S[4] = {-0.1666666716337204f, 0.008333329111337662f, -0.00019839312881231308f,
                               2.7181215500604594e-06f};
static const float COS_C[4] = {0.0416666679084301f, -0.0013888883404433727f, 2.4799459424684756e-05f,
                               -2.7205763331039634e-07f};

/* 1.5 * 2^23: adding it rounds a float of magnitude < 2^22 to an integer, whose value then sits in
 * the low mantissa bits (round to nearest even, no float->int conversion, so nan stays harmless). */
static const float MAGIC = 12582912.0f;
/* ln 2 = LN2_HI + LN2_LO; pi/2 = PIO2_1 + PIO2_2 + PIO2_3 (each the float nearest the remainder) */
static const float LN2_HI = 0.693147182464599609375f, LN2_LO = -1.904654299957768e-09f;
/* without FMA: a 16-bit LN2_HI16, so n * LN2_HI16 is exact for |n| < 2^8 */
static const float LN2_HI16 = 0.693145751953125f, LN2_LO16 = 1.428606765330187e-06f;
static const float PIO2_1 = 1.57079637050628662109375f, PIO2_2 = -4.37113900018624283e-08f,
                   PIO2_3 = -1.71512399974982230e-15f;

/* What every builder below needs: the jit, builder, module, and the float / i32 types of x. */
typedef struct mc {
    cg_jit *jit;
    LLVMBuilderRef b;
    LLVMModuleRef m;
    LLVMTypeRef ft, it; /* float or <n x float>; i32 or <n x i32> */
    unsigned n;         /* lanes, 0 for a scalar */
    int fma;
} mc;

static mc mc_of(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = {.jit = jit, .b = b, .m = m, .ft = LLVMTypeOf(x), .fma = cg_jit_cpu(jit)->has_fma};
    LLVMContextRef ctx = cg_jit_context(jit);
    LLVMTypeRef i32 = LLVMInt32TypeInContext(ctx);
    if (LLVMGetTypeKind(c.ft) == LLVMVectorTypeKind) {
        c.n = LLVMGetVectorSize(c.ft);
        c.it = LLVMVectorType(i32, c.n);
    } else {
        c.it = i32;
    }
    return c;
}

/* A constant of x's float (K) or integer (KI) type. */
static LLVMValueRef K(mc *c, double v) {
    LLVMValueRef s = LLVMConstReal(LLVMFloatTypeInContext(cg_jit_context(c->jit)), v);
    if (!c->n) return s;
    LLVMValueRef e[64];
    for (unsigned i = 0; i < c->n && i < 64; i++) e[i] = s;
    return LLVMConstVector(e, c->n);
}
static LLVMValueRef KI(mc *c, int32_t v) {
    LLVMValueRef s = LLVMConstInt(LLVMInt32TypeInContext(cg_jit_context(c->jit)), (unsigned long long)(int64_t)v, 1);
    if (!c->n) return s;
    LLVMValueRef e[64];
    for (unsigned i = 0; i < c->n && i < 64; i++) e[i] = s;
    return LLVMConstVector(e, c->n);
}

static LLVMValueRef add(mc *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(c->b, a, b, ""); }
static LLVMValueRef sub(mc *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(c->b, a, b, ""); }
static LLVMValueRef mul(mc *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(c->b, a, b, ""); }
static LLVMValueRef sel(mc *c, LLVMValueRef p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSelect(c->b, p, a, b, ""); }
static LLVMValueRef cmp(mc *c, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFCmp(c->b, p, a, b, ""); }
static LLVMValueRef bits(mc *c, LLVMValueRef f) { return LLVMBuildBitCast(c->b, f, c->it, ""); }
static LLVMValueRef flt(mc *c, LLVMValueRef i) { return LLVMBuildBitCast(c->b, i, c->ft, ""); }

/* a * b + s, fused (one rounding) when the CPU has FMA. */
static LLVMValueRef fma3(mc *c, LLVMValueRef a, LLVMValueRef b, LLVMValueRef s) {
    LLVMValueRef args[3] = {a, b, s};
    return cg_intrinsic(c->jit, c->b, c->m, c->fma ? "llvm.fma" : "llvm.fmuladd", &c->ft, 1, args, 3);
}
static LLVMValueRef intr1(mc *c, const char *name, LLVMValueRef a) {
    return cg_intrinsic(c->jit, c->b, c->m, name, &c->ft, 1, &a, 1);
}
static LLVMValueRef intr2(mc *c, const char *name, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef args[2] = {a, b};
    return cg_intrinsic(c->jit, c->b, c->m, name, &c->ft, 1, args, 2);
}

/* coef[0] + x (coef[1] + x (...)), Horner with fma. */
static LLVMValueRef horner(mc *c, const float *coef, int n, LLVMValueRef x) {
    LLVMValueRef y = K(c, coef[n - 1]);
    for (int k = n - 2; k >= 0; k--) y = fma3(c, y, x, K(c, coef[k]));
    return y;
}

/* Clamps x to [lo, hi] with ordered compares, so nan passes through unchanged. */
static LLVMValueRef clamp_keep_nan(mc *c, LLVMValueRef x, double lo, double hi) {
    x = sel(c, cmp(c, LLVMRealOGT, x, K(c, hi)), K(c, hi), x);
    return sel(c, cmp(c, LLVMRealOLT, x, K(c, lo)), K(c, lo), x);
}

/* exp(x) = 2^n exp(r), n = round(x / ln2), r = x - n ln2 (two fma steps: exact to ~2^-48).
 * 2^n is applied as two factors 2^(n>>1) 2^(n - (n>>1)), so results overflow to inf and underflow
 * through the denormals to 0 with one rounding (with AVX-512 on 16 lanes: one vscalefps, which does the
 * same). x is clamped to [-104, 89] first (exp(-104) rounds to 0, exp(89) to inf), which keeps both
 * factors normal. */
static LLVMValueRef exp_scaled(mc *c, LLVMValueRef x, int k, bool fast);
static LLVMValueRef exp_core(mc *c, LLVMValueRef x) { return exp_scaled(c, x, 0, false); }

/* exp(x) * 2^k, exact scaling (k >= 0 keeps results normal k binades further down). fast: a degree-5
 * polynomial, 1 + r P(r) (two operations fewer; ~2x the error, see cg_math_exp_fast). */
static LLVMValueRef exp_scaled(mc *c, LLVMValueRef x, int k, bool fast) {
    x = clamp_keep_nan(c, x, -104.0 - k * 0.6931471805599453, 89.0 - k * 0.6931471805599453);
    LLVMValueRef t = fma3(c, x, K(c, 1.4426950408889634), K(c, MAGIC));
    LLVMValueRef n = sub(c, t, K(c, MAGIC));
    LLVMValueRef ni = LLVMBuildSub(c->b, bits(c, t), bits(c, K(c, MAGIC - k)), "n");
    LLVMValueRef r = fma3(c, n, K(c, -(c->fma ? LN2_HI : LN2_HI16)), x);
    r = fma3(c, n, K(c, -(c->fma ? LN2_LO : LN2_LO16)), r);
    LLVMValueRef p = fast ? fma3(c, horner(c, EXPF_P, 5, r), r, K(c, 1.0))
                          : add(c, fma3(c, mul(c, r, r), horner(c, EXP_P, 5, r), r), K(c, 1.0));
    if (c->n == 16 && cg_jit_cpu(c->jit)->vec_bits == 512) { /* AVX-512: one vscalefps, p 2^(n+k) with one rounding */
        LLVMContextRef ctx = cg_jit_context(c->jit);
        LLVMValueRef args[5] = {p, k ? add(c, n, K(c, k)) : n, p, LLVMConstInt(LLVMInt16TypeInContext(ctx), 0xffff, 0),
                                LLVMConstInt(LLVMInt32TypeInContext(ctx), 4, 0) /* current rounding mode */};
        return cg_intrinsic(c->jit, c->b, c->m, "llvm.x86.avx512.mask.scalef.ps.512", NULL, 0, args, 5);
    }
    LLVMValueRef n1 = LLVMBuildAShr(c->b, ni, KI(c, 1), ""), n2 = LLVMBuildSub(c->b, ni, n1, "");
    LLVMValueRef s1 = flt(c, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, n1, KI(c, 127), ""), KI(c, 23), ""));
    LLVMValueRef s2 = flt(c, LLVMBuildShl(c->b, LLVMBuildAdd(c->b, n2, KI(c, 127), ""), KI(c, 23), ""));
    return mul(c, mul(c, p, s1), s2);
}

/* log1p(e) for e in [0, 1] (also nan): f = e below sqrt(2)-1, else f = (e-1)/2 and + ln2. */
static LLVMValueRef log1p_01(mc *c, LLVMValueRef e) {
    LLVMValueRef big = cmp(c, LLVMRealOGE, e, K(c, 0.41421356237309503));
    LLVMValueRef f = sel(c, big, mul(c, sub(c, e, K(c, 1.0)), K(c, 0.5)), e);
    LLVMValueRef y = mul(c, mul(c, f, f), horner(c, LOG_Q, 9, f));
    LLVMValueRef k = sel(c, big, K(c, 1.0), K(c, 0.0));
    y = fma3(c, k, K(c, LN2_LO), y);
    y = add(c, y, f);
    return fma3(c, k, K(c, LN2_HI), y);
}

/* Reported error bounds: see cg_math.h (asserted in tests/test_cg_math.c). */

LLVMValueRef cg_math_exp(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    return exp_core(&c, x);
}

LLVMValueRef cg_math_exp_fast(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    return exp_scaled(&c, x, 0, true);
}

/* log(x) = e ln2 + log1p(f), x = 2^e (1 + f), 1 + f in [sqrt(1/2), sqrt(2)). Denormal x is scaled
 * by 2^23 first. */
LLVMValueRef cg_math_log(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    LLVMValueRef sub_n = cmp(&c, LLVMRealOLT, x, K(&c, FLT_MIN));
    LLVMValueRef xs = sel(&c, sub_n, mul(&c, x, K(&c, 8388608.0)), x);
    LLVMValueRef ebias = sel(&c, sub_n, KI(&c, -23), KI(&c, 0));
    LLVMValueRef ix = LLVMBuildSub(b, bits(&c, xs), KI(&c, 0x3f3504f3), ""); /* bits of sqrt(1/2) */
    LLVMValueRef e = LLVMBuildAdd(b, LLVMBuildAShr(b, ix, KI(&c, 23), ""), ebias, "");
    LLVMValueRef mi = LLVMBuildAdd(b, LLVMBuildAnd(b, ix, KI(&c, 0x7fffff), ""), KI(&c, 0x3f3504f3), "");
    LLVMValueRef f = sub(&c, flt(&c, mi), K(&c, 1.0)); /* exact (Sterbenz) */
    LLVMValueRef ef = LLVMBuildSIToFP(b, e, c.ft, "");
    LLVMValueRef y = mul(&c, mul(&c, f, f), horner(&c, LOG_Q, 9, f));
    y = fma3(&c, ef, K(&c, c.fma ? LN2_LO : LN2_LO16), y);
    y = add(&c, y, f);
    y = fma3(&c, ef, K(&c, c.fma ? LN2_HI : LN2_HI16), y);
    y = sel(&c, cmp(&c, LLVMRealOEQ, x, K(&c, INFINITY)), K(&c, INFINITY), y);
    y = sel(&c, cmp(&c, LLVMRealOEQ, x, K(&c, 0.0)), K(&c, -INFINITY), y);
    y = sel(&c, cmp(&c, LLVMRealOLT, x, K(&c, 0.0)), K(&c, NAN), y);
    return sel(&c, cmp(&c, LLVMRealUNO, x, x), x, y);
}

/* |x| < 0.625: odd polynomial; else 1 - 2 / (exp(2|x|) + 1) with x's sign. */
LLVMValueRef cg_math_tanh(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    LLVMValueRef ax = intr1(&c, "llvm.fabs", x);
    LLVMValueRef x2 = mul(&c, x, x);
    LLVMValueRef small = fma3(&c, mul(&c, x2, x), horner(&c, TANH_T, 6, x2), x);
    LLVMValueRef e = exp_core(&c, add(&c, ax, ax));
    LLVMValueRef big = sub(&c, K(&c, 1.0), LLVMBuildFDiv(b, K(&c, 2.0), add(&c, e, K(&c, 1.0)), ""));
    big = intr2(&c, "llvm.copysign", big, x);
    return sel(&c, cmp(&c, LLVMRealOLT, ax, K(&c, TANH_SMALL)), small, big);
}

/* e = exp(-|x|) in (0, 1]; sigmoid = 1 / (1 + e) for x >= 0, e / (1 + e) below (no cancellation
 * and no overflow on either side). */
static LLVMValueRef sigmoid_core(mc *c, LLVMValueRef x) {
    LLVMValueRef e = exp_core(c, LLVMBuildFNeg(c->b, intr1(c, "llvm.fabs", x), ""));
    LLVMValueRef s = LLVMBuildFDiv(c->b, K(c, 1.0), add(c, e, K(c, 1.0)), "");
    return sel(c, cmp(c, LLVMRealOGE, x, K(c, 0.0)), s, mul(c, e, s));
}

LLVMValueRef cg_math_sigmoid(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    return sigmoid_core(&c, x);
}

/* torch: x > 20 -> x; else max(x, 0) + log1p(exp(-|x|)). */
LLVMValueRef cg_math_softplus(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    LLVMValueRef e = exp_core(&c, LLVMBuildFNeg(b, intr1(&c, "llvm.fabs", x), ""));
    LLVMValueRef y = add(&c, intr2(&c, "llvm.maxnum", x, K(&c, 0.0)), log1p_01(&c, e));
    return sel(&c, cmp(&c, LLVMRealOGT, x, K(&c, 20.0)), x, y);
}

/* x * sigmoid(z), accurate also where sigmoid(z) is denormal but the product is not: for z < 0,
 * e = exp(z) 2^24 stays normal, and ((x e) s) 2^-24 rounds once at the end. */
static LLVMValueRef mul_sigmoid(mc *c, LLVMValueRef x, LLVMValueRef z) {
    LLVMValueRef e24 = exp_scaled(c, LLVMBuildFNeg(c->b, intr1(c, "llvm.fabs", z), ""), 24, false);
    LLVMValueRef e = mul(c, e24, K(c, 0x1p-24));
    LLVMValueRef s = LLVMBuildFDiv(c->b, K(c, 1.0), add(c, e, K(c, 1.0)), "");
    LLVMValueRef neg = mul(c, mul(c, mul(c, x, e24), s), K(c, 0x1p-24));
    return sel(c, cmp(c, LLVMRealOGE, z, K(c, 0.0)), mul(c, x, s), neg);
}

/* x * sigmoid(x); -inf gives -0 (the limit). */
LLVMValueRef cg_math_silu(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    LLVMValueRef y = mul_sigmoid(&c, x, x);
    return sel(&c, cmp(&c, LLVMRealOEQ, x, K(&c, -INFINITY)), K(&c, -0.0), y);
}

/* 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): no cancellation for x < 0. */
LLVMValueRef cg_math_gelu(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    const double k1 = 2.0 * 0.79788456080286535588; /* 2 sqrt(2/pi) */
    LLVMValueRef z = mul(&c, x, fma3(&c, mul(&c, x, x), K(&c, k1 * 0.044715), K(&c, k1)));
    LLVMValueRef y = mul_sigmoid(&c, x, z);
    return sel(&c, cmp(&c, LLVMRealOEQ, x, K(&c, -INFINITY)), K(&c, -0.0), y);
}

/* |x| < ERF_SMALL: x E(x^2); up to ERF_ONE: 1 - exp(G(|x|)) with x's sign; beyond: +-1. */
LLVMValueRef cg_math_erf(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    LLVMValueRef ax = intr1(&c, "llvm.fabs", x);
    LLVMValueRef small = mul(&c, x, horner(&c, ERF_E, 7, mul(&c, x, x)));
    LLVMValueRef axc = clamp_keep_nan(&c, ax, ERF_SMALL, ERF_ONE);
    LLVMValueRef big = sub(&c, K(&c, 1.0), exp_core(&c, horner(&c, ERF_G, 11, axc)));
    big = sel(&c, cmp(&c, LLVMRealOGT, ax, K(&c, ERF_ONE)), K(&c, 1.0), big);
    big = intr2(&c, "llvm.copysign", big, x);
    LLVMValueRef y = sel(&c, cmp(&c, LLVMRealOLT, ax, K(&c, ERF_SMALL)), small, big);
    return sel(&c, cmp(&c, LLVMRealUNO, x, x), x, y);
}

/* sin(x + quadrant_shift * pi/2): n = round(2x/pi), r = x - n pi/2 (three fma steps), then the
 * sine or cosine polynomial of r by (n + shift) & 1, negated when (n + shift) & 2. */
static LLVMValueRef sin_cos(mc *c, LLVMValueRef x, int shift) {
    LLVMValueRef t = fma3(c, x, K(c, 0.63661977236758134), K(c, MAGIC));
    LLVMValueRef n = sub(c, t, K(c, MAGIC));
    LLVMValueRef q = LLVMBuildSub(c->b, bits(c, t), bits(c, K(c, MAGIC)), "");
    q = LLVMBuildAdd(c->b, q, KI(c, shift), "");
    LLVMValueRef r = fma3(c, n, K(c, -PIO2_1), x);
    r = fma3(c, n, K(c, -PIO2_2), r);
    r = fma3(c, n, K(c, -PIO2_3), r);
    LLVMValueRef r2 = mul(c, r, r);
    LLVMValueRef s = fma3(c, mul(c, r2, r), horner(c, SIN_S, 4, r2), r);
    LLVMValueRef co = fma3(c, mul(c, r2, r2), horner(c, COS_C, 4, r2), fma3(c, r2, K(c, -0.5), K(c, 1.0)));
    LLVMValueRef odd = LLVMBuildICmp(c->b, LLVMIntNE, LLVMBuildAnd(c->b, q, KI(c, 1), ""), KI(c, 0), "");
    LLVMValueRef y = sel(c, odd, co, s);
    LLVMValueRef sign = LLVMBuildShl(c->b, LLVMBuildAnd(c->b, q, KI(c, 2), ""), KI(c, 30), "");
    y = flt(c, LLVMBuildXor(c->b, bits(c, y), sign, ""));
    return clamp_keep_nan(c, y, -1.0, 1.0);
}

LLVMValueRef cg_math_sin(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    return sin_cos(&c, x, 0);
}

LLVMValueRef cg_math_cos(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x) {
    mc c = mc_of(jit, b, m, x);
    return sin_cos(&c, x, 1);
}

cg_error cg_math_map_kernel(cg_jit *jit, LLVMModuleRef m, const char *name, cg_math_fn f) {
    cg_kernel k;
    cg_error e = cg_kernel_begin(jit, m, name, 2, &k);
    if (e.failed) return e;
    LLVMTypeRef f32 = LLVMFloatTypeInContext(cg_jit_context(jit));
    cg_loop l;
    cg_loop_begin(jit, k.b, &l, k.begin, k.end, cg_i64(jit, 1), "i");
    LLVMValueRef x = LLVMBuildLoad2(k.b, f32, cg_gep_f32(jit, k.b, k.bufs[0], l.iv), "x");
    LLVMBuildStore(k.b, f(jit, k.b, m, x), cg_gep_f32(jit, k.b, k.bufs[1], l.iv));
    cg_loop_end(k.b, &l);
    cg_kernel_end(&k);
    return cg_ok();
}
