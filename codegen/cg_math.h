/* cg_math.h — transcendental functions emitted inline as LLVM IR.
 *
 * Every function builds, at the builder's position, straight-line IR (no
 * calls, no branches: selects only) that computes the function of x, where x
 * is a `float` or a `<n x float>` value; the result has the type of x. Inside
 * a loop the vectoriser widens it like any other arithmetic, and code that
 * builds vectors itself can call it on vectors directly.
 *
 *   LLVMValueRef y = cg_math_exp(jit, b, m, x);
 *
 * m is the module the builder inserts into (needed for intrinsic
 * declarations: llvm.fma, llvm.fabs, llvm.copysign). FMA is used when the CPU
 * has it (cg_jit_cpu(jit)->has_fma), else llvm.fmuladd.
 *
 * Method: range reduction (Cody–Waite with fma), then polynomials whose
 * coefficients are fitted by tests/reference/cg_math_fit.py (iteratively
 * reweighted least squares towards the minimax relative error; the script
 * prints the C tables pasted into cg_math.c). Coefficients are our own.
 *
 * Error bounds (with FMA, i.e. every x86-64-v3 or newer CPU): the maximum error against libm in
 * double, asserted by tests/test_cg_math.c, which sweeps every binade of the domain (both signs)
 * plus 400k uniform samples of the interval that matters and the special values. "rel" is
 * |got - want| / |want| for normal results; results below FLT_MIN (denormals) are within 2^-140
 * absolute (measured 2^-142.6 for gelu, about 2^-149 elsewhere); one float ulp ~ 2^-24 = 6e-8 rel.
 * Denormal inputs and results are computed, not flushed (the code never sets FTZ/DAZ); results
 * that overflow float are inf, those that underflow go through the denormals to 0.
 *
 *   fn        domain            asserted rel   measured (x 2^-24)  specials
 *   exp       all floats        1.2e-7         8.1e-8 (1.35)       exp(-inf) = 0, exp(x > 88.72) = inf
 *   exp_fast  all floats        2.5e-7         1.6e-7 (2.72)       as exp (degree-5 polynomial, 2 ops fewer)
 *   log       all floats        1.2e-7         8.3e-8 (1.40)       log(+-0) = -inf, log(x < 0) = nan, log(inf) = inf
 *   tanh      all floats        2e-7           1.3e-7 (2.20)       +-inf -> +-1
 *   sigmoid   all floats        2.5e-7         1.8e-7 (3.03)       -inf -> 0, inf -> 1
 *   softplus  all floats        2e-7           1.3e-7 (2.11)       torch: x > 20 -> x; else max(x,0) + log1p(e^-|x|)
 *   silu      all floats        3e-7           2.2e-7 (3.73)       x sigmoid(x); silu(-inf) = -0 (the limit)
 *   gelu      all floats        2e-7 * (2+|z|) 1.5e-7 * (2+|z|)    tanh form 0.5 x (1 + tanh(u)),
 *             u = sqrt(2/pi) (x + 0.044715 x^3), computed as x sigmoid(z), z = 2u (no cancellation
 *             for x < 0). The rounding of z (~1 ulp) is amplified by |z| in the negative tail: that
 *             is the float problem's own conditioning, hence the (2 + |z|). gelu(-inf) = -0.
 *   erf       all floats        2.5e-7         1.7e-7 (2.86)       +-inf -> +-1
 *   sin, cos  |x| <= 1e4        2e-7 (|y| >= 1e-3), abs 1.2e-7     inf, nan -> nan
 *             measured rel 1.26e-7 (2.11), abs 9.2e-8. Any finite x gives a result in [-1, 1];
 *             accuracy degrades slowly beyond 1e4 and the reduction is meaningless beyond 2^22
 *             (|x| > ~6.6e6).
 * nan in -> nan out for every function. Without FMA (llvm.fmuladd; e.g. an x86-64-v2 target)
 * exp/log switch to a 16-bit Cody-Waite constant and stay close to these bounds; sin/cos lose
 * accuracy for large |x| (their 3-part pi/2 relies on fma): that case is not tested.
 *
 * Cost: exp is ~12 vector ops + 2 multiplies for the scale; sigmoid/tanh/silu/gelu add one
 * division; erf evaluates two polynomials and one exp; sin/cos evaluate both polynomials.
 */
#ifndef ICLC_CODEGEN_CG_MATH_H
#define ICLC_CODEGEN_CG_MATH_H

#include <llvm-c/Core.h>

#include "codegen/cg_jit.h"

LLVMValueRef cg_math_exp(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
/* exp with a degree-5 polynomial: two vector operations fewer, rel 2.5e-7 asserted (measured in
 * tests/test_cg_math.c), same special values. For the selective scan's exp(delta A) per state, where the
 * exps are most of the work and the results feed a decaying recurrence. */
LLVMValueRef cg_math_exp_fast(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_log(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_tanh(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_sigmoid(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_softplus(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_silu(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_gelu(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_erf(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_sin(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
LLVMValueRef cg_math_cos(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);

/* One of the functions above. */
typedef LLVMValueRef (*cg_math_fn)(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef x);
/* A kernel `name` computing y[i] = f(x[i]) over its range [begin, end), bufs = {x, y}, on scalars (LLVM
 * vectorises the loop): what tests/test_cg_math.c checks against libm and bench/math.c times. */
cg_error cg_math_map_kernel(cg_jit *jit, LLVMModuleRef m, const char *name, cg_math_fn f);

#endif
