/* cg_peak.c — generated FMA loop and its timing (see cg_peak.h).
 *
 * Kernel (ABI of cg_jit.h), V = floats per vector, J = CG_PEAK_CHAINS:
 *   bufs[0]: float in[2]    x, y of the recurrence
 *   bufs[1]: float out[V]   sum over the J accumulators, lane by lane
 *   for i in [begin, end): for j < J: acc[j] = fma(acc[j], x, y)   (acc[j] starts at j)
 */
#include "codegen/cg_peak.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <time.h>

static const char *PEAK_NAME = "iclc_fma_peak";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Emits the FMA kernel into module m. */
static cg_error build_peak(cg_jit *jit, LLVMModuleRef m) {
    int V = cg_jit_cpu(jit)->vec_floats, J = CG_PEAK_CHAINS;
    cg_kernel k;
    cg_error e = cg_kernel_begin(jit, m, PEAK_NAME, 2, &k);
    if (e.failed) return e;
    LLVMBuilderRef b = k.b;
    LLVMContextRef c = cg_jit_context(jit);
    LLVMTypeRef f32 = LLVMFloatTypeInContext(c), vt = cg_vec_type(jit, V);
    LLVMValueRef x = cg_splat(b, LLVMBuildLoad2(b, f32, k.bufs[0], "x"), V);
    LLVMValueRef y = cg_splat(b, LLVMBuildLoad2(b, f32, cg_gep_f32(jit, b, k.bufs[0], cg_i64(jit, 1)), "y"), V);
    LLVMValueRef init[CG_PEAK_CHAINS], acc[CG_PEAK_CHAINS];
    for (int j = 0; j < J; j++) init[j] = cg_splat(b, cg_f32(jit, (float)j), V);

    LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
    cg_loop l;
    cg_loop_begin(jit, b, &l, k.begin, k.end, cg_i64(jit, 1), "i");
    /* accumulator phis live in the loop header, next to the induction variable */
    LLVMPositionBuilderBefore(b, LLVMGetFirstInstruction(l.head));
    for (int j = 0; j < J; j++) {
        acc[j] = LLVMBuildPhi(b, vt, "acc");
        LLVMAddIncoming(acc[j], &init[j], &pre, 1);
    }
    LLVMPositionBuilderAtEnd(b, l.body);
    LLVMValueRef next[CG_PEAK_CHAINS];
    for (int j = 0; j < J; j++) {
        LLVMValueRef args[3] = {acc[j], x, y};
        next[j] = cg_intrinsic(jit, b, m, "llvm.fma", &vt, 1, args, 3);
    }
    LLVMBasicBlockRef body_end = LLVMGetInsertBlock(b);
    for (int j = 0; j < J; j++) LLVMAddIncoming(acc[j], &next[j], &body_end, 1);
    cg_loop_end(b, &l);
    LLVMValueRef sum = acc[0];
    for (int j = 1; j < J; j++) sum = LLVMBuildFAdd(b, sum, acc[j], "");
    LLVMValueRef st = LLVMBuildStore(b, sum, k.bufs[1]);
    LLVMSetAlignment(st, 4);
    cg_kernel_end(&k);
    return cg_ok();
}

/* The kernel's result per lane, computed in C with the same fmaf recurrence. */
static float peak_expected(int64_t iters, float x, float y) {
    float s = 0;
    for (int j = 0; j < CG_PEAK_CHAINS; j++) {
        float a = (float)j;
        for (int64_t i = 0; i < iters && i < 400; i++) a = fmaf(a, x, y); /* a fixed point after ~150 steps */
        s += a;
    }
    return s;
}

/* Runs fn on `threads` threads, each over [0, iters); returns seconds; sets *good. */
static double run_threads(cg_kernel_fn fn, int threads, int64_t iters, float want, int V, int *good) {
    int bad = 0;
    double t0 = now_s();
#pragma omp parallel num_threads(threads) reduction(+ : bad)
    {
        float in[2] = {0.5f, 1.0f}, out[16] = {0};
        void *bufs[2] = {in, out};
        fn(0, iters, bufs);
        for (int v = 0; v < V; v++) bad += out[v] != want;
    }
    double t = now_s() - t0;
    *good = bad == 0;
    return t;
}

cg_error cg_peak_measure(cg_jit *jit, int threads, int64_t iters, cg_peak_result *out) {
    int V = cg_jit_cpu(jit)->vec_floats;
    void *f = NULL;
    cg_error e = cg_jit_lookup(jit, PEAK_NAME, &f);
    if (e.failed) {
        LLVMModuleRef m = cg_module_create(jit, "iclc_peak");
        e = build_peak(jit, m);
        if (!e.failed) e = cg_jit_compile(jit, m, NULL);
        LLVMDisposeModule(m);
        if (!e.failed) e = cg_jit_lookup(jit, PEAK_NAME, &f);
        if (e.failed) return e;
    }
    cg_kernel_fn fn = (cg_kernel_fn)f;
    if (threads <= 0) threads = omp_get_max_threads();
    double flops_per_iter = 2.0 * CG_PEAK_CHAINS * V;
    int good = 1, g;
    if (iters <= 0) { /* calibrate to about 0.1 s */
        iters = 1 << 20;
        double t = run_threads(fn, 1, iters, peak_expected(iters, 0.5f, 1.0f), V, &g);
        iters = (int64_t)(iters * 0.1 / (t > 1e-6 ? t : 1e-6));
        if (iters < 1000) iters = 1000;
    }
    float want = peak_expected(iters, 0.5f, 1.0f);
    out->vec_floats = V;
    out->threads = threads;
    out->iters = iters;
    out->gflops_1 = out->gflops_all = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t1 = run_threads(fn, 1, iters, want, V, &g);
        good &= g;
        double tn = run_threads(fn, threads, iters, want, V, &g);
        good &= g;
        double g1 = flops_per_iter * iters / t1 * 1e-9, gn = flops_per_iter * iters * threads / tn * 1e-9;
        if (g1 > out->gflops_1) out->gflops_1 = g1;
        if (gn > out->gflops_all) out->gflops_all = gn;
    }
    out->check_ok = good;
    return cg_ok();
}
