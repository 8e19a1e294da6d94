/* bench/matmul.c — our generated SGEMM kernels against OpenBLAS cblas_sgemm on
 * the models' matmul shapes, at 1 and 2 threads (or --threads list), measured
 * in the same run: GFLOP/s, % of the measured FMA peak, ours/OpenBLAS, and the
 * compile time of each kernel (its own module, verify + O3 + codegen).
 *
 *   build/bench/matmul [--reps-ms MS] [--cold] [--only SUBSTRING] [--sched mr,nr,mc,kc,nc,pa,pb,ku] [--asm FILE]
 * --asm appends the optimised assembly of every generated kernel to FILE.
 * --cpu generates for another CPU (e.g. x86-64-v3 = AVX2 on an AVX-512 host);
 * the FMA peak is then measured with that CPU's vectors too.
 * --shape runs one ad-hoc shape instead of the table.
 * --opt sets the optimisation level (default<O1..3>; the default is 3).
 *
 * OpenBLAS baseline for batched shapes: the better of (a) a loop of sgemm calls
 * with OpenBLAS's own threads and (b) an OpenMP loop over the batch with
 * single-threaded sgemm inside (OpenMP build of OpenBLAS). */
#include <cblas.h>
#include <omp.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/cg_matmul.h"
#include "codegen/cg_peak.h"
#include "runtime/rt_util.h"

void openblas_set_num_threads(int num_threads);

typedef struct shape {
    const char *what;
    int64_t batch, M, N, K;
    int ta, tb;
} shape;

static const shape SHAPES[] = {
    {"proj d=128 -> 128", 1, 5248, 128, 128, 0, 0},
    {"proj d=128 -> 384 (qkv)", 1, 5248, 384, 128, 0, 0},
    {"proj d=128 -> 512 (mlp up)", 1, 5248, 512, 128, 0, 0},
    {"proj d=512 -> 128 (mlp down)", 1, 5248, 128, 512, 0, 0},
    {"dX = dY W^T (512 -> 128)", 1, 5248, 128, 512, 0, 1},
    {"dW = X^T dY 128x128", 1, 128, 128, 5248, 1, 0},
    {"dW = X^T dY 128x512", 1, 128, 512, 5248, 1, 0},
    {"attn S = Q K^T", 512, 82, 82, 16, 0, 1},
    {"attn O = P V", 512, 82, 16, 82, 0, 0},
    {"attn dV = P^T dO", 512, 82, 16, 82, 1, 0},
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill(float *x, int64_t n, unsigned seed) {
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
}

typedef struct run_ctx {
    const shape *sh;
    const float *A, *B;
    float *C;
    int threads, blas_mode;
    cg_kernel_fn fn;
    cg_matmul_info info;
    void *scratch;
    int cold; /* --cold: A, B and C are flushed from every cache level before each timed call */
} run_ctx;

/* Evicts [p, p + bytes) from every cache level (as a kernel in a training step finds its operands
 * when their producer ran long before). */
static void flush_lines(const void *p, int64_t bytes) {
#if defined(__x86_64__) || defined(__i386__)
    for (int64_t i = 0; i < bytes; i += 64) _mm_clflush((const char *)p + i);
    _mm_mfence();
#else
    (void)p, (void)bytes; /* elsewhere --cold is refused in main */
#endif
}

static void flush_operands(const run_ctx *r) {
    const shape *s = r->sh;
    flush_lines(r->A, s->batch * s->M * s->K * 4);
    flush_lines(r->B, s->batch * s->K * s->N * 4);
    flush_lines(r->C, s->batch * s->M * s->N * 4);
}

static void run_ours(run_ctx *r) { (void)cg_matmul_run(r->fn, &r->info, r->A, r->B, r->C, r->scratch, NULL, 0, r->threads); }

static void run_blas(run_ctx *r) {
    const shape *s = r->sh;
    int lda = (int)(s->ta ? s->M : s->K), ldb = (int)(s->tb ? s->K : s->N), ldc = (int)s->N;
    int64_t as = s->M * s->K, bs = s->K * s->N, cs = s->M * s->N;
    CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans, tb = s->tb ? CblasTrans : CblasNoTrans;
    if (r->blas_mode == 0) {
        openblas_set_num_threads(r->threads);
        for (int64_t b = 0; b < s->batch; b++)
            cblas_sgemm(CblasRowMajor, ta, tb, (int)s->M, (int)s->N, (int)s->K, 1.0f, r->A + b * as, lda, r->B + b * bs,
                        ldb, 0.0f, r->C + b * cs, ldc);
    } else {
        openblas_set_num_threads(1);
#pragma omp parallel for num_threads(r->threads) schedule(static)
        for (int64_t b = 0; b < s->batch; b++)
            cblas_sgemm(CblasRowMajor, ta, tb, (int)s->M, (int)s->N, (int)s->K, 1.0f, r->A + b * as, lda, r->B + b * bs,
                        ldb, 0.0f, r->C + b * cs, ldc);
    }
}

/* Best seconds per call over repetitions for about `ms` milliseconds. */
static double time_best(void (*f)(run_ctx *), run_ctx *r, double ms) {
    f(r); /* warm-up */
    double best = 1e30, t_end = now_s() + ms * 1e-3;
    int n = 0;
    while (n < 3 || now_s() < t_end) {
        if (r->cold) flush_operands(r);
        double t0 = now_s();
        f(r);
        double t = now_s() - t0;
        if (t < best) best = t;
        n++;
    }
    return best;
}

int main(int argc, char **argv) {
    double reps_ms = 300;
    const char *only = NULL, *asm_path = NULL;
    int cold = 0;
    cg_jit_options jo = {0};
    shape custom = {"custom", 1, 0, 0, 0, 0, 0};
    cg_matmul_sched user = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps-ms") && i + 1 < argc) reps_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--cold")) {
#if !defined(__x86_64__) && !defined(__i386__)
            fprintf(stderr, "--cold needs x86's clflush\n");
            return 2;
#endif
            cold = 1;
        }
        else if (!strcmp(argv[i], "--asm") && i + 1 < argc) asm_path = argv[++i];
        else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) jo.cpu = argv[++i];
        else if (!strcmp(argv[i], "--opt") && i + 1 < argc) jo.opt_level = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            long long b, m, n, k;
            if (sscanf(argv[++i], "%lld,%lld,%lld,%lld,%d,%d", &b, &m, &n, &k, &custom.ta, &custom.tb) != 6 || b < 1 ||
                m < 1 || n < 1 || k < 1) {
                fprintf(stderr, "--shape wants batch,M,N,K,trans_a,trans_b (got %s)\n", argv[i]);
                return 2;
            }
            custom.batch = b, custom.M = m, custom.N = n, custom.K = k;
        }
        else if (!strcmp(argv[i], "--sched") && i + 1 < argc) {
            sscanf(argv[++i], "%d,%d,%d,%d,%d,%d,%d,%d", &user.mr, &user.nr, &user.mc, &user.kc, &user.nc, &user.pack_a,
                   &user.pack_b, &user.k_unroll);
        } else {
            fprintf(stderr, "usage: %s [--reps-ms MS] [--cold] [--only SUBSTRING] [--sched mr,nr,mc,kc,nc,pa,pb,ku] [--asm FILE] [--cpu NAME] [--opt 1..3] [--shape B,M,N,K,ta,tb]\n", argv[0]);
            return 2;
        }
    }
    cg_jit *jit;
    cg_error e = cg_jit_create(&jit, &jo);
    if (e.failed) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const cg_cpu *cpu = cg_jit_cpu(jit);
    int max_t = omp_get_max_threads();
    cg_peak_result pk;
    e = cg_peak_measure(jit, max_t, 0, &pk);
    if (e.failed) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    printf("cpu %s, %d-bit vectors; FMA peak %.1f GFLOP/s (1 thread), %.1f (%d threads); load average %.2f\n",
           cpu->name, cpu->vec_bits, pk.gflops_1, pk.gflops_all, pk.threads, rt_loadavg());
    printf("%-30s %5s %5s %5s %5s %2s %3s | %8s %6s | %8s | %6s | %7s | %s\n", "shape", "batch", "M", "N", "K", "T",
           "thr", "ours", "%peak", "openblas", "ratio", "compile", "schedule");
    size_t n_shapes = custom.M ? 1 : sizeof SHAPES / sizeof SHAPES[0];
    for (size_t si = 0; si < n_shapes; si++) {
        const shape *s = custom.M ? &custom : &SHAPES[si];
        if (only && !strstr(s->what, only)) continue;
        cg_matmul_desc d = {.M = s->M, .N = s->N, .K = s->K, .trans_a = s->ta, .trans_b = s->tb};
        if (s->batch > 1) {
            d.n_batch = 1, d.batch[0] = s->batch;
            d.a_bstride[0] = s->M * s->K, d.b_bstride[0] = s->K * s->N, d.c_bstride[0] = s->M * s->N;
        }
        int64_t as = s->batch * s->M * s->K, bs = s->batch * s->K * s->N, cs = s->batch * s->M * s->N;
        float *A = malloc((size_t)as * 4), *B = malloc((size_t)bs * 4), *C = malloc((size_t)cs * 4),
              *C2 = malloc((size_t)cs * 4);
        fill(A, as, 1), fill(B, bs, 2);
        for (int T = 1; T <= max_t; T *= 2) {
            /* kernels are generated per thread count (the default mc depends on it) */
            char name[64];
            snprintf(name, sizeof name, "mm_%zu_t%d", si, T);
            LLVMModuleRef m = cg_module_create(jit, name);
            run_ctx r = {.sh = s, .A = A, .B = B, .C = C, .threads = T, .cold = cold};
            double t0 = now_s();
            cg_matmul_sched sch = user;
            sch.threads = T;
            e = cg_matmul_emit(jit, m, name, &d, &sch, &r.info);
            if (!e.failed) e = cg_jit_compile(jit, m, NULL);
            if (!e.failed && asm_path) {
                char *text = NULL;
                e = cg_jit_emit_asm(jit, m, &text);
                FILE *f = fopen(asm_path, "a");
                if (f && text) fputs(text, f);
                if (f) fclose(f);
                free(text);
            }
            void *fn = NULL;
            if (!e.failed) e = cg_jit_lookup(jit, name, &fn);
            double compile_ms = (now_s() - t0) * 1e3;
            LLVMDisposeModule(m);
            if (e.failed) {
                fprintf(stderr, "%s: %s\n", s->what, e.msg);
                return 1;
            }
            r.fn = (cg_kernel_fn)fn;
            r.scratch = aligned_alloc(64, (size_t)r.info.scratch_bytes * (size_t)T + 64);
            /* alternate ours and OpenBLAS in rounds and keep the best of each, so
             * that a burst of load from another process hits both alike */
            double t_ours = 1e30, t_blas = 1e30;
            for (int round = 0; round < 5; round++) {
                r.C = C;
                double t = time_best(run_ours, &r, reps_ms / 5);
                if (t < t_ours) t_ours = t;
                r.C = C2;
                for (r.blas_mode = 0; r.blas_mode < (s->batch > 1 ? 2 : 1); r.blas_mode++) {
                    t = time_best(run_blas, &r, reps_ms / 5);
                    if (t < t_blas) t_blas = t;
                }
            }
            double maxdiff = 0;
            for (int64_t i = 0; i < cs; i++) {
                double df = C[i] - C2[i];
                if (df < 0) df = -df;
                if (df > maxdiff) maxdiff = df;
            }
            double g_ours = r.info.flops / t_ours * 1e-9, g_blas = r.info.flops / t_blas * 1e-9;
            double peak = T == 1 ? pk.gflops_1 : pk.gflops_1 * T * (pk.gflops_all / (pk.gflops_1 * pk.threads));
            const cg_matmul_sched *q = &r.info.sched;
            printf("%-30s %5lld %5lld %5lld %5lld %d%d %3d | %8.1f %5.0f%% | %8.1f | %5.2fx | %5.0fms | %dx%dx%d mc%d kc%d nc%d pa%d pb%d%s\n",
                   s->what, (long long)s->batch, (long long)s->M, (long long)s->N, (long long)s->K, s->ta, s->tb, T,
                   g_ours, 100 * g_ours / peak, g_blas, g_ours / g_blas, compile_ms, q->mr, q->nr, q->vec, q->mc, q->kc,
                   q->nc, q->pack_a, q->pack_b, maxdiff > 1e-3 ? "  MISMATCH" : "");
            fflush(stdout);
            free(r.scratch);
        }
        free(A), free(B), free(C), free(C2);
    }
    cg_peak_result pk2;
    if (!cg_peak_measure(jit, max_t, 0, &pk2).failed)
        printf("FMA peak again at the end: %.1f GFLOP/s (1 thread), %.1f (%d threads); load average %.2f\n", pk2.gflops_1,
               pk2.gflops_all, pk2.threads, rt_loadavg());
    cg_jit_destroy(jit);
    return 0;
}
