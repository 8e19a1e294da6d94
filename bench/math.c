/* bench/math.c — ns/element and accuracy of the inline transcendentals (codegen/cg_math.h)
 * against glibc's scalar libm (expf, logf, ... in a plain C loop) and glibc's libmvec vector
 * variants (_ZGVdN8v_* = AVX2 8-wide, _ZGVeN16v_* = AVX-512 16-wide; loaded with dlopen, called on
 * vectors directly: the speed a "vector-function-abi-variant" call site would get).
 *
 *   build/bench/math [--n 4096] [--ms 200] [--cpu x86-64-v3]
 *
 * One thread; an L1-resident array of n floats, best time over repetitions for ~ms milliseconds.
 * Max rel error is measured on the same inputs against libm in double (for every column). */
#include <dlfcn.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/cg_jit.h"
#include "codegen/cg_math.h"


static float sigmoidf_c(float x) { return 1.0f / (1.0f + expf(-x)); }
static float softplusf_c(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
static float siluf_c(float x) { return x / (1.0f + expf(-x)); }
static float geluf_c(float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x))); }
static double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }
static double softplus_d(double x) { return x > 20 ? x : log1p(exp(x)); }
static double silu_d(double x) { return x / (1.0 + exp(-x)); }
static double gelu_d(double x) { return x / (1.0 + exp(-2.0 * sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }

typedef struct bcase {
    const char *name;
    cg_math_fn ours;
    float (*libm)(float);
    double (*ref)(double);
    const char *mvec; /* libmvec base name, e.g. "expf" (NULL: none) */
    float lo, hi;     /* inputs uniform in [lo, hi] */
} bcase;

static const bcase CASES[] = {
    {"exp", cg_math_exp, expf, exp, "expf", -10, 10},
    {"log", cg_math_log, logf, log, "logf", 1e-3f, 100},
    {"tanh", cg_math_tanh, tanhf, tanh, "tanhf", -5, 5},
    {"sigmoid", cg_math_sigmoid, sigmoidf_c, sigmoid_d, NULL, -10, 10},
    {"softplus", cg_math_softplus, softplusf_c, softplus_d, NULL, -10, 10},
    {"silu", cg_math_silu, siluf_c, silu_d, NULL, -10, 10},
    {"gelu", cg_math_gelu, geluf_c, gelu_d, NULL, -5, 5},
    {"erf", cg_math_erf, erff, erf, "erff", -3, 3},
    {"sin", cg_math_sin, sinf, sin, "sinf", -100, 100},
    {"cos", cg_math_cos, cosf, cos, "cosf", -100, 100},
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef __m256 (*mvec8_fn)(__m256);
typedef __m512 (*mvec16_fn)(__m512);

__attribute__((target("avx2,fma"))) static void run_mvec8(void *f, const float *x, float *y, int n) {
    mvec8_fn g = (mvec8_fn)f;
    for (int i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, g(_mm256_loadu_ps(x + i)));
}
__attribute__((target("avx512f"))) static void run_mvec16(void *f, const float *x, float *y, int n) {
    mvec16_fn g = (mvec16_fn)f;
    for (int i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, g(_mm512_loadu_ps(x + i)));
}

static double max_rel(const bcase *c, const float *x, const float *y, int n) {
    double w = 0;
    for (int i = 0; i < n; i++) {
        double want = c->ref(x[i]);
        if (fabs(want) < FLT_MIN) continue;
        double e = fabs(y[i] - want) / fabs(want);
        if (!(e <= w)) w = e;
    }
    return w;
}

enum { K_OURS, K_LIBM, K_MVEC8, K_MVEC16 };

/* Best ns per element of one kind over ~ms milliseconds. */
static double time_kind(int kind, const bcase *c, void *f, const float *x, float *y, int n, double ms) {
    double best = 1e30, t_end = now_s() + ms * 1e-3;
    int reps = 0;
    while (reps < 5 || now_s() < t_end) {
        double t0 = now_s();
        for (int r = 0; r < 16; r++) {
            if (kind == K_OURS) {
                void *bufs[2] = {(void *)x, y};
                ((cg_kernel_fn)f)(0, n, bufs);
            } else if (kind == K_LIBM) {
                for (int i = 0; i < n; i++) y[i] = c->libm(x[i]);
            } else if (kind == K_MVEC8) {
                run_mvec8(f, x, y, n);
            } else {
                run_mvec16(f, x, y, n);
            }
        }
        double t = (now_s() - t0) / (16.0 * n) * 1e9;
        if (t < best) best = t;
        reps++;
    }
    return best;
}

int main(int argc, char **argv) {
    int n = 4096;
    double ms = 200;
    const char *cpu_name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc) ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) cpu_name = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--n 4096] [--ms 200] [--cpu NAME]\n", argv[0]);
            return 2;
        }
    }
    n = (n + 15) / 16 * 16;
    if (n <= 0) n = 16;
    cg_jit *jit = NULL;
    cg_jit_options o = {.cpu = cpu_name};
    cg_error e = cg_jit_create(&jit, &o);
    if (e.failed) {
        fprintf(stderr, "math: %s\n", e.msg);
        return 1;
    }
    const cg_cpu *cpu = cg_jit_cpu(jit);
    LLVMModuleRef m = cg_module_create(jit, "math_bench");
    for (int i = 0; i < NCASES && !e.failed; i++) {
        char name[64];
        snprintf(name, sizeof name, "b_%s", CASES[i].name);
        e = cg_math_map_kernel(jit, m, name, CASES[i].ours);
    }
    if (!e.failed) e = cg_jit_compile(jit, m, NULL);
    LLVMDisposeModule(m);
    if (e.failed) {
        fprintf(stderr, "math: %s\n", e.msg);
        cg_jit_destroy(jit);
        return 1;
    }
    void *mvec = dlopen("libmvec.so.1", RTLD_NOW | RTLD_LOCAL);
    int host_avx2 = __builtin_cpu_supports("avx2"), host_avx512 = __builtin_cpu_supports("avx512f");
    printf("cg_math on %s (%d-bit vectors), n = %d floats, 1 thread; libmvec %s\n", cpu->name, cpu->vec_bits, n,
           mvec ? "loaded" : "not found");
    printf("%-9s | %8s %9s | %8s %9s | %8s %9s | %8s %9s | %s\n", "function", "ours ns", "max rel", "libm ns",
           "max rel", "mvec8 ns", "max rel", "mvec16", "max rel", "speed-up vs libm, vs same-width mvec");
    float *x = aligned_alloc(64, n * sizeof *x), *y = aligned_alloc(64, n * sizeof *y);
    uint32_t s = 12345;
    for (int ci = 0; ci < NCASES; ci++) {
        const bcase *c = &CASES[ci];
        for (int i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            x[i] = c->lo + (c->hi - c->lo) * (float)((s >> 8) * 0x1p-24);
        }
        char name[64];
        void *f = NULL;
        snprintf(name, sizeof name, "b_%s", c->name);
        cg_jit_lookup(jit, name, &f);
        double t[4] = {0, 0, 0, 0}, r[4] = {-1, -1, -1, -1};
        t[K_OURS] = time_kind(K_OURS, c, f, x, y, n, ms);
        r[K_OURS] = max_rel(c, x, y, n);
        t[K_LIBM] = time_kind(K_LIBM, c, NULL, x, y, n, ms);
        r[K_LIBM] = max_rel(c, x, y, n);
        if (mvec && c->mvec) {
            char sym[64];
            snprintf(sym, sizeof sym, "_ZGVdN8v_%s", c->mvec);
            void *g = dlsym(mvec, sym);
            if (g && host_avx2) {
                t[K_MVEC8] = time_kind(K_MVEC8, c, g, x, y, n, ms);
                r[K_MVEC8] = max_rel(c, x, y, n);
            }
            snprintf(sym, sizeof sym, "_ZGVeN16v_%s", c->mvec);
            g = dlsym(mvec, sym);
            if (g && host_avx512) {
                t[K_MVEC16] = time_kind(K_MVEC16, c, g, x, y, n, ms);
                r[K_MVEC16] = max_rel(c, x, y, n);
            }
        }
        printf("%-9s |", c->name);
        for (int k = 0; k < 4; k++) {
            if (t[k] > 0) printf(" %8.3f %9.2e |", t[k], r[k]);
            else printf(" %8s %9s |", "-", "-");
        }
        /* libmvec of the same vector width as our code */
        double same_mvec = cpu->vec_bits == 512 ? t[K_MVEC16] : t[K_MVEC8];
        if (same_mvec > 0) printf(" %5.1fx, %5.2fx\n", t[K_LIBM] / t[K_OURS], same_mvec / t[K_OURS]);
        else printf(" %5.1fx\n", t[K_LIBM] / t[K_OURS]);
        fflush(stdout);
    }
    free(x), free(y);
    if (mvec) dlclose(mvec);
    cg_jit_destroy(jit);
    return 0;
}
