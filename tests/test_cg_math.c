/* test_cg_math.c — accuracy and vectorisation of the inline transcendentals (codegen/cg_math.h).
 *
 * For every function, two kernels are compiled: a scalar loop y[i] = f(x[i]) (which LLVM
 * vectorises) and an explicit <V x float> loop calling f on vectors. Both run over
 *   - every binade 2^k of the function's domain (both signs where it has them): 64 evenly spaced
 *     mantissas + 64 random ones each,
 *   - dense random samples of the interval that matters (uniform),
 *   - special values (0, -0, denormals, FLT_MAX, inf, -inf, nan),
 * and are compared with libm in double. The error measure is the relative error
 * |got - want| / |want| for normal results and the absolute error for denormal ones (<= 2^-140);
 * results that overflow float must be inf. The asserted bounds are the ones stated in cg_math.h. Both kernels must agree bit for bit.
 * Finally the exp loop's assembly must use the widest vector registers and contain no calls. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cg_jit.h"
#include "codegen/cg_math.h"
#include "tests/tap.h"


static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_softplus(double x) { return x > 20 ? x : log1p(exp(x)); }
static double ref_silu(double x) { return isinf(x) && x < 0 ? -0.0 : x / (1.0 + exp(-x)); }
/* 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)): the same function without double's cancellation */
static double gelu_z(double x) { return 2.0 * sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x); }
static double ref_gelu(double x) { return isinf(x) && x < 0 ? -0.0 : x / (1.0 + exp(-gelu_z(x))); }

typedef struct fcase {
    const char *name;
    cg_math_fn fn;
    double (*ref)(double);
    double lo, hi;    /* domain swept by binades and dense samples */
    double dlo, dhi;  /* dense uniform range */
    double bound;     /* asserted max err (cg_math.h) */
    int gelu_scaled;  /* err / (2 + |z|) is what is bounded */
    int abs_sincos;   /* sin/cos: absolute error bound on top */
} fcase;

static const fcase CASES[] = {
    {"exp", cg_math_exp, exp, -104, 89, -87, 88, 1.2e-7, 0, 0},
    {"log", cg_math_log, log, 0, FLT_MAX, 0, 4, 1.2e-7, 0, 0},
    {"tanh", cg_math_tanh, tanh, -FLT_MAX, FLT_MAX, -10, 10, 2e-7, 0, 0},
    {"sigmoid", cg_math_sigmoid, ref_sigmoid, -FLT_MAX, FLT_MAX, -110, 30, 2.5e-7, 0, 0},
    {"softplus", cg_math_softplus, ref_softplus, -FLT_MAX, FLT_MAX, -110, 30, 2e-7, 0, 0},
    {"silu", cg_math_silu, ref_silu, -FLT_MAX, FLT_MAX, -110, 30, 3e-7, 0, 0},
    {"gelu", cg_math_gelu, ref_gelu, -FLT_MAX, FLT_MAX, -12, 12, 2e-7, 1, 0},
    {"erf", cg_math_erf, erf, -FLT_MAX, FLT_MAX, -5, 5, 2.5e-7, 0, 0},
    {"sin", cg_math_sin, sin, -1e4, 1e4, -1e4, 1e4, 2e-7, 0, 1},
    {"cos", cg_math_cos, cos, -1e4, 1e4, -1e4, 1e4, 2e-7, 0, 1},
    {"exp_fast", cg_math_exp_fast, exp, -104, 89, -87, 88, 2.5e-7, 0, 0},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

/* The same with explicit <V x float> values: [begin, end) must be a multiple of V. */
static cg_error build_vector(cg_jit *jit, LLVMModuleRef m, const char *name, cg_math_fn f, int V) {
    cg_kernel k;
    cg_error e = cg_kernel_begin(jit, m, name, 2, &k);
    if (e.failed) return e;
    LLVMTypeRef vt = cg_vec_type(jit, V);
    cg_loop l;
    cg_loop_begin(jit, k.b, &l, k.begin, k.end, cg_i64(jit, V), "i");
    LLVMValueRef ld = LLVMBuildLoad2(k.b, vt, cg_gep_f32(jit, k.b, k.bufs[0], l.iv), "x");
    LLVMSetAlignment(ld, 4);
    LLVMValueRef st = LLVMBuildStore(k.b, f(jit, k.b, m, ld), cg_gep_f32(jit, k.b, k.bufs[1], l.iv));
    LLVMSetAlignment(st, 4);
    cg_loop_end(k.b, &l);
    cg_kernel_end(&k);
    return cg_ok();
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}
static double rnd01(void) { return (rnd() >> 11) * 0x1p-53; }

/* Inputs of one case: binades, dense samples, specials; padded to a multiple of 64. */
static float *make_inputs(const fcase *c, int64_t *n_out) {
    int64_t cap = 1 << 21, n = 0;
    float *x = malloc(cap * sizeof *x);
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int k = -149; k <= 127; k++) {
            for (int j = 0; j < 128; j++) {
                double mant = j < 64 ? 1.0 + j / 64.0 : 1.0 + rnd01();
                double v = sign * ldexp(mant, k);
                if (k < -126) v = sign * ldexp(j < 64 ? j + 1 : (double)(1 + rnd() % (1u << (k + 149))), -149);
                if (v < c->lo || v > c->hi || (float)v != (float)v) continue;
                if (n < cap) x[n++] = (float)v;
            }
        }
    }
    for (int i = 0; i < 400000 && n < cap; i++) x[n++] = (float)(c->dlo + (c->dhi - c->dlo) * rnd01());
    const float specials[] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f, FLT_MAX, -FLT_MAX,
                              INFINITY, -INFINITY, NAN, 1.0f, -1.0f, 20.0f, 20.000002f, 88.72f, -87.33f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) x[n++] = specials[i];
    while (n % 64) x[n++] = 0.5f;
    *n_out = n;
    return x;
}

/* Expected special-value results: nan in -> nan out; the rest by the double reference. */
static int same_special(double want, float got) {
    if (isnan(want)) return isnan(got);
    if (isinf((float)want)) return got == (float)want;
    return 1;
}

static void check_case(const fcase *c, cg_kernel_fn fs, cg_kernel_fn fv) {
    int64_t n;
    float *x = make_inputs(c, &n);
    float *ys = malloc(n * sizeof *ys), *yv = malloc(n * sizeof *yv);
    void *bs[2] = {x, ys}, *bv[2] = {x, yv};
    fs(0, n, bs);
    fv(0, n, bv);
    int64_t mismatch = 0, special_bad = 0;
    double worst = 0, worst_x = 0, worst_abs = 0, worst_abs_x = 0, worst_denorm = 0, worst_denorm_x = 0;
    float worst_got = 0;
    double worst_want = 0;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&ys[i], &yv[i], 4) != 0) mismatch++;
        double xi = x[i], want = c->ref(xi);
        float got = ys[i];
        if (isnan(want) || isinf((float)want) || isnan(xi) || isinf(xi)) {
            if (!same_special(want, got)) {
                if (special_bad++ < 5) diag("%s(%g) = %g, want %g", c->name, xi, got, want);
            }
            continue;
        }
        if (isnan(got) || isinf(got)) {
            if (special_bad++ < 5) diag("%s(%.9g) = %g, want %.9g", c->name, xi, got, want);
            continue;
        }
        if (xi < c->lo || xi > c->hi) { /* outside the accuracy domain: only finite (sin/cos: in [-1, 1]) */
            if (c->abs_sincos && !(fabsf(got) <= 1.0f) && special_bad++ < 5) diag("%s(%g) = %g", c->name, xi, got);
            continue;
        }
        double d = fabs(got - want);
        if (fabs(want) < FLT_MIN) { /* denormal result: absolute error */
            if (d > worst_denorm) worst_denorm = d, worst_denorm_x = xi;
            continue;
        }
        if (c->abs_sincos && d > worst_abs) worst_abs = d, worst_abs_x = xi;
        if (c->abs_sincos && fabs(want) < 1e-3) continue;
        double err = d / fabs(want);
        if (c->gelu_scaled) err /= 2.0 + fabs(gelu_z(xi));
        if (err > worst) worst = err, worst_x = xi, worst_got = got, worst_want = want;
    }
    diag("%-8s %7lld points: max err %.3g (%.2f x 2^-24) at x = %.9g (got %.9g, want %.9g)", c->name, (long long)n,
         worst, worst / 0x1p-24, worst_x, worst_got, worst_want);
    diag("%-8s denormal results: max abs err %.3g = 2^%.1f at x = %.9g", c->name, worst_denorm,
         worst_denorm > 0 ? log2(worst_denorm) : -INFINITY, worst_denorm_x);
    ok(worst_denorm <= 0x1p-140, "%s: denormal results within 2^-140 absolute", c->name);
    ok(worst <= c->bound, "%s: max error %.3g <= %.3g", c->name, worst, c->bound);
    if (c->abs_sincos) {
        diag("%-8s max abs err %.3g at x = %.9g", c->name, worst_abs, worst_abs_x);
        ok(worst_abs <= 1.2e-7, "%s: max abs error %.3g <= 1.2e-7 on |x| <= 1e4", c->name, worst_abs);
    }
    is_int(special_bad, 0, "%s: inf/nan/overflow results as libm", c->name);
    is_int(mismatch, 0, "%s: scalar (auto-vectorised) and <V x float> kernels agree bit for bit", c->name);
    free(x), free(ys), free(yv);
}

/* Checks that are not covered by the double reference's special handling. */
static void check_specials(cg_kernel_fn fn[NCASES]) {
    float x[64], y[64];
    void *bufs[2] = {x, y};
    struct {
        int fi;
        float in, want;
        const char *what;
    } T[] = {
        {0, -INFINITY, 0.0f, "exp(-inf) = 0"},       {0, -103.98f, 0.0f, "exp(-103.98) underflows to 0"},
        {0, 88.73f, INFINITY, "exp(88.73) = inf"},   {0, -100.0f, 3.7200760e-44f, "exp(-100) is denormal"},
        {1, 0.0f, -INFINITY, "log(0) = -inf"},       {1, -0.0f, -INFINITY, "log(-0) = -inf"},
        {1, 1.0f, 0.0f, "log(1) = 0"},               {1, INFINITY, INFINITY, "log(inf) = inf"},
        {1, 0x1p-149f, -103.278929903f, "log(min denormal)"},
        {2, INFINITY, 1.0f, "tanh(inf) = 1"},        {2, -INFINITY, -1.0f, "tanh(-inf) = -1"},
        {3, -INFINITY, 0.0f, "sigmoid(-inf) = 0"},   {3, INFINITY, 1.0f, "sigmoid(inf) = 1"},
        {4, 20.5f, 20.5f, "softplus(20.5) = 20.5 (torch threshold)"},
        {4, -INFINITY, 0.0f, "softplus(-inf) = 0"},  {4, INFINITY, INFINITY, "softplus(inf) = inf"},
        {5, -INFINITY, -0.0f, "silu(-inf) = -0"},    {6, -INFINITY, -0.0f, "gelu(-inf) = -0"},
        {6, INFINITY, INFINITY, "gelu(inf) = inf"},  {7, INFINITY, 1.0f, "erf(inf) = 1"},
        {7, -10.0f, -1.0f, "erf(-10) = -1"},         {8, 0.0f, 0.0f, "sin(0) = 0"},
        {9, 0.0f, 1.0f, "cos(0) = 1"},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        for (int j = 0; j < 64; j++) x[j] = T[i].in;
        fn[T[i].fi](0, 64, bufs);
        float w = T[i].want;
        int good = (w == 0 || isinf(w)) ? y[0] == w : fabsf(y[0] - w) <= 1e-6f * fabsf(w);
        ok(good, "%s (got %.9g)", T[i].what, y[0]);
    }
    for (int f = 0; f < NCASES; f++) {
        for (int j = 0; j < 64; j++) x[j] = NAN;
        fn[f](0, 64, bufs);
        ok(isnan(y[0]), "%s(nan) = nan", CASES[f].name);
    }
    for (int f = 8; f < 10; f++) {
        x[0] = INFINITY;
        fn[f](0, 1, bufs);
        ok(isnan(y[0]), "%s(inf) = nan", CASES[f].name);
    }
}

/* The exp loop vectorises to the widest registers, without calls. */
static void check_asm(cg_jit *jit, const char *what) {
    LLVMModuleRef m = cg_module_create(jit, "exp_asm");
    cg_error e = cg_math_map_kernel(jit, m, "exp_loop", cg_math_exp);
    if (!e.failed) e = cg_jit_optimize(jit, m);
    char *text = NULL;
    if (!e.failed) e = cg_jit_emit_asm(jit, m, &text);
    ok(!e.failed && text, "%s: exp loop compiles to assembly %s", what, e.msg);
    const cg_cpu *cpu = cg_jit_cpu(jit);
    const char *reg = cpu->vec_bits == 512 ? "%zmm" : cpu->vec_bits == 256 ? "%ymm" : "%xmm";
    ok(text && strstr(text, reg), "%s: exp loop uses %s registers (%s)", what, reg, cpu->name);
    ok(text && !strstr(text, "call"), "%s: exp loop contains no calls", what);
    ok(text && strstr(text, "vfmadd"), "%s: exp loop uses FMA", what);
    free(text);
    LLVMDisposeModule(m);
}

int main(void) {
    cg_jit *jit = NULL;
    cg_error e = cg_jit_create(&jit, NULL);
    if (!ok(!e.failed, "cg_jit_create %s", e.msg)) return done_testing();
    int V = cg_jit_cpu(jit)->vec_floats;
    LLVMModuleRef m = cg_module_create(jit, "math");
    for (int i = 0; i < NCASES && !e.failed; i++) {
        char name[64];
        snprintf(name, sizeof name, "s_%s", CASES[i].name);
        e = cg_math_map_kernel(jit, m, name, CASES[i].fn);
        snprintf(name, sizeof name, "v_%s", CASES[i].name);
        if (!e.failed) e = build_vector(jit, m, name, CASES[i].fn, V);
    }
    if (!e.failed) e = cg_jit_compile(jit, m, NULL);
    LLVMDisposeModule(m);
    if (!ok(!e.failed, "compile the math kernels %s", e.msg)) {
        cg_jit_destroy(jit);
        return done_testing();
    }
    cg_kernel_fn fs[NCASES], fv[NCASES];
    for (int i = 0; i < NCASES; i++) {
        char name[64];
        void *p = NULL;
        snprintf(name, sizeof name, "s_%s", CASES[i].name);
        cg_error e1 = cg_jit_lookup(jit, name, &p);
        fs[i] = (cg_kernel_fn)p;
        snprintf(name, sizeof name, "v_%s", CASES[i].name);
        cg_error e2 = cg_jit_lookup(jit, name, &p);
        fv[i] = (cg_kernel_fn)p;
        if (e1.failed || e2.failed) {
            ok(0, "lookup %s", CASES[i].name);
            cg_jit_destroy(jit);
            return done_testing();
        }
    }
    for (int i = 0; i < NCASES; i++) check_case(&CASES[i], fs[i], fv[i]);
    check_specials(fs);
    check_asm(jit, "host");
    cg_jit_destroy(jit);

    /* AVX2 code (ymm) on any x86-64 host that can run it */
    cg_jit *j2 = NULL;
    cg_jit_options o = {.cpu = "x86-64-v3"};
    e = cg_jit_create(&j2, &o);
    if (!e.failed) check_asm(j2, "x86-64-v3");
    else skip(4, "no x86-64-v3 JIT");
    cg_jit_destroy(j2);
    return done_testing();
}
