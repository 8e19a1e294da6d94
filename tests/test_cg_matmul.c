/* test_cg_matmul.c — generated batched SGEMM kernels against a naive
 * double-accumulating C matmul: edge sizes, primes, all transpose combos,
 * leading dims, batch broadcast, accumulate, the epilogue hook (bias add),
 * 1 and 2 threads, host vectors and narrower ones; plus the assembly check.
 *
 * Error measure per element: |got - want| / (sum_k |a_ik b_kj| + |c0_ij|),
 * i.e. relative to the magnitude of the terms summed; must be <= 1e-5. */
#include <stdlib.h>
#include <string.h>

#include "codegen/cg_matmul.h"
#include "ir/philox.h"
#include "tests/tap.h"

typedef struct tcase {
    int64_t M, N, K;
    int ta, tb, acc;
    int64_t pad;            /* extra elements per stored row (leading dims > dense) */
    int n_batch;
    int64_t batch[2];
    int bcast_a, bcast_b;   /* batch stride 0 for A / B on every batch dim */
    int bias;               /* epilogue: add bias[N] */
    cg_matmul_sched s;
    const char *what;
} tcase;

/* Uniform floats in [-1, 1) from Philox (a pure function of seed and index). */
static void fill(float *x, int64_t n, uint64_t seed) {
    philox_key key = philox_make_key(seed, 7);
    for (int64_t i = 0; i < n; i += 4) {
        philox_ctr r = philox_block(key, 0, (uint64_t)i);
        for (int j = 0; j < 4 && i + j < n; j++) x[i + j] = (float)(2.0 * philox_unit24(r.c[j]) - 1.0);
    }
}

static cg_error failing_epilogue(cg_mm_epilogue_ctx *ctx, LLVMValueRef *acc) {
    (void)acc;
    return cg_errorf("epilogue refuses tile %dx%d", ctx->rows, ctx->nvec);
}

static cg_error bias_epilogue(cg_mm_epilogue_ctx *ctx, LLVMValueRef *acc) {
    for (int v = 0; v < ctx->nvec; v++) {
        LLVMValueRef bv = cg_mm_epi_load_cols(ctx, ctx->extra[0], v);
        for (int r = 0; r < ctx->rows; r++)
            acc[r * ctx->nvec + v] = LLVMBuildFAdd(ctx->b, acc[r * ctx->nvec + v], bv, "bias");
    }
    return cg_ok();
}

typedef struct prob {
    cg_matmul_desc d;
    int64_t nb, a_size, b_size, c_size;
} prob;

static prob make_prob(const tcase *t) {
    prob p;
    memset(&p, 0, sizeof p);
    cg_matmul_desc *d = &p.d;
    d->M = t->M, d->N = t->N, d->K = t->K, d->trans_a = t->ta, d->trans_b = t->tb, d->accumulate = t->acc;
    d->lda = (t->ta ? t->M : t->K) + t->pad;
    d->ldb = (t->tb ? t->K : t->N) + t->pad;
    d->ldc = t->N + t->pad;
    int64_t a_mat = (t->ta ? t->K : t->M) * d->lda, b_mat = (t->tb ? t->N : t->K) * d->ldb, c_mat = t->M * d->ldc;
    d->n_batch = t->n_batch;
    int64_t sa = 1, sb = 1, sc = 1; /* running batch sizes, innermost dim last */
    for (int i = t->n_batch - 1; i >= 0; i--) {
        d->batch[i] = t->batch[i];
        d->a_bstride[i] = t->bcast_a ? 0 : a_mat * sa;
        d->b_bstride[i] = t->bcast_b ? 0 : b_mat * sb;
        d->c_bstride[i] = c_mat * sc;
        if (!t->bcast_a) sa *= t->batch[i];
        if (!t->bcast_b) sb *= t->batch[i];
        sc *= t->batch[i];
    }
    p.nb = sc;
    p.a_size = a_mat * sa, p.b_size = b_mat * sb, p.c_size = c_mat * sc;
    if (t->bias) {
        d->epilogue = bias_epilogue;
        d->n_extra_bufs = 1;
    }
    return p;
}

/* Max over C of the error measure described at the top. */
static double max_err(const tcase *t, const prob *p, const float *A, const float *B, const float *C0, const float *C,
                      const float *bias) {
    const cg_matmul_desc *d = &p->d;
    double worst = 0;
    for (int64_t b = 0; b < p->nb; b++) {
        int64_t oa = 0, ob = 0, oc = 0, rem = b;
        for (int i = d->n_batch - 1; i >= 0; i--) {
            int64_t id = rem % d->batch[i];
            rem /= d->batch[i];
            oa += id * d->a_bstride[i], ob += id * d->b_bstride[i], oc += id * d->c_bstride[i];
        }
        for (int64_t i = 0; i < d->M; i++)
            for (int64_t j = 0; j < d->N; j++) {
                double s = 0, mag = 0;
                for (int64_t k = 0; k < d->K; k++) {
                    double a = t->ta ? A[oa + k * d->lda + i] : A[oa + i * d->lda + k];
                    double bb = t->tb ? B[ob + j * d->ldb + k] : B[ob + k * d->ldb + j];
                    s += a * bb, mag += (a < 0 ? -a : a) * (bb < 0 ? -bb : bb);
                }
                int64_t ci = oc + i * d->ldc + j;
                if (t->acc) s += C0[ci], mag += C0[ci] < 0 ? -C0[ci] : C0[ci];
                if (bias) s += bias[j], mag += bias[j] < 0 ? -bias[j] : bias[j];
                double e = (C[ci] - s) / (mag > 1e-30 ? mag : 1e-30);
                if (e < 0) e = -e;
                if (!(e <= worst)) worst = e; /* NaN propagates */
            }
        /* padding columns of C must be untouched */
        for (int64_t i = 0; i < d->M; i++)
            for (int64_t j = d->N; j < d->ldc; j++)
                if (C[oc + i * d->ldc + j] != C0[oc + i * d->ldc + j]) worst = 1e9;
    }
    return worst;
}

/* Compiles every case into one module of jit, then runs each at 1 and 2 threads. */
static void run_cases(cg_jit *jit, const char *tag, const tcase *cases, int n) {
    LLVMModuleRef m = cg_module_create(jit, tag);
    cg_matmul_info *info = calloc((size_t)n, sizeof *info);
    int *built = calloc((size_t)n, sizeof *built);
    for (int i = 0; i < n; i++) {
        prob p = make_prob(&cases[i]);
        char name[64];
        snprintf(name, sizeof name, "%s_mm%d", tag, i);
        cg_error e = cg_matmul_emit(jit, m, name, &p.d, &cases[i].s, &info[i]);
        built[i] = !e.failed;
        if (e.failed) ok(0, "%s emit %s: %s", tag, cases[i].what, e.msg);
        cg_matmul_info planned;
        e = cg_matmul_plan(cg_jit_cpu(jit), &p.d, &cases[i].s, &planned);
        if (e.failed || planned.n_items != info[i].n_items || planned.scratch_bytes != info[i].scratch_bytes ||
            memcmp(&planned.sched, &info[i].sched, sizeof planned.sched) != 0)
            ok(0, "%s %s: cg_matmul_plan agrees with cg_matmul_emit", tag, cases[i].what);
    }
    cg_error e = cg_jit_compile(jit, m, NULL);
    ok(!e.failed, "%s: compile %d kernels in one module (%.0f ms opt, %.0f ms codegen) %s", tag, n,
       cg_jit_last_stats(jit).opt_ms, cg_jit_last_stats(jit).codegen_ms, e.msg);
    LLVMDisposeModule(m);
    if (e.failed) {
        free(info);
        free(built);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (!built[i]) continue;
        const tcase *t = &cases[i];
        prob p = make_prob(t);
        char name[64];
        snprintf(name, sizeof name, "%s_mm%d", tag, i);
        void *fn;
        e = cg_jit_lookup(jit, name, &fn);
        if (!ok(!e.failed, "lookup %s", name)) continue;
        float *A = malloc((size_t)p.a_size * 4), *B = malloc((size_t)p.b_size * 4);
        float *C0 = malloc((size_t)p.c_size * 4), *C = malloc((size_t)p.c_size * 4), *bias = malloc((size_t)t->N * 4);
        fill(A, p.a_size, 1000 + (uint64_t)i), fill(B, p.b_size, 2000 + (uint64_t)i), fill(C0, p.c_size, 3000 + (uint64_t)i);
        fill(bias, t->N, 4000 + (uint64_t)i);
        for (int threads = 1; threads <= 2; threads++) {
            void *scratch = aligned_alloc(64, (size_t)(info[i].scratch_bytes * threads + 64));
            memcpy(C, C0, (size_t)p.c_size * 4);
            void *extra[1] = {bias};
            e = cg_matmul_run((cg_kernel_fn)fn, &info[i], A, B, C, scratch, extra, 1, threads);
            if (e.failed) diag("%s", e.msg);
            double err = max_err(t, &p, A, B, C0, C, t->bias ? bias : NULL);
            const cg_matmul_sched *s = &info[i].sched;
            ok(err <= 1e-5, "%s %s: M=%lld N=%lld K=%lld ta=%d tb=%d acc=%d batch=%lld, %d thr, tile %dx%dx%d mc=%d kc=%d pa=%d pb=%d: err %.2g",
               tag, t->what, (long long)t->M, (long long)t->N, (long long)t->K, t->ta, t->tb, t->acc, (long long)p.nb,
               threads, s->mr, s->nr, s->vec, s->mc, s->kc, s->pack_a, s->pack_b, err);
            free(scratch);
        }
        free(A), free(B), free(C0), free(C), free(bias);
    }
    free(info);
    free(built);
}

/* The optimised assembly of a 64^3 kernel: FMAs on the jit's widest registers
 * (zmm with AVX-512, ymm with AVX2, counted per instruction line), at least
 * one per accumulator, and no calls left. */
static void check_asm(cg_jit *jit, const char *tag) {
    const cg_cpu *cpu = cg_jit_cpu(jit);
    cg_matmul_desc d = {.M = 64, .N = 64, .K = 64};
    LLVMModuleRef m = cg_module_create(jit, "asm");
    cg_matmul_info info;
    char name[32];
    snprintf(name, sizeof name, "asm_mm_%s", tag);
    cg_error e = cg_matmul_emit(jit, m, name, &d, NULL, &info);
    if (!e.failed) e = cg_jit_optimize(jit, m);
    char *text = NULL;
    if (!e.failed) e = cg_jit_emit_asm(jit, m, &text);
    ok(!e.failed && text, "%s: assembly of a 64^3 kernel %s", tag, e.msg);
    const char *reg = cpu->vec_bits == 512 ? "%zmm" : cpu->vec_bits == 256 ? "%ymm" : "%xmm";
    int wide = 0, other = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 255 ? len : 255), line);
        if (strstr(buf, "vfmadd")) {
            if (strstr(buf, reg)) wide++;
            else other++;
        }
        line = nl ? nl + 1 : NULL;
    }
    ok(wide >= info.sched.mr * info.sched.nr, "%s: %d vfmadd on %s registers (>= mr*nr = %d), %d narrower", tag, wide,
       reg + 1, info.sched.mr * info.sched.nr, other);
    ok(text && !strstr(text, "call"), "%s: no calls left in the kernel (micro-kernels inlined)", tag);
    free(text);
    LLVMDisposeModule(m);
}

/* Hints for the next tile's rows of A (prefetcht1) in a kernel that reads A in place untransposed, none
 * when A is transposed (codegen/cg_matmul.c: prefetch_next_a). */
static void check_prefetch(cg_jit *jit) {
    for (int ta = 0; ta < 2; ta++) {
        cg_matmul_desc d = {.M = 96, .N = 64, .K = 64, .trans_a = ta};
        LLVMModuleRef m = cg_module_create(jit, "pf");
        cg_matmul_info info;
        char *text = NULL;
        cg_error e = cg_matmul_emit(jit, m, ta ? "pf_tn" : "pf_nn", &d, NULL, &info);
        if (!e.failed) e = cg_jit_optimize(jit, m);
        if (!e.failed) e = cg_jit_emit_asm(jit, m, &text);
        int hints = 0;
        for (const char *p = text; p && (p = strstr(p, "prefetcht1")); p++) hints++;
        if (ta) ok(!e.failed && hints == 0, "A transposed: no prefetch hints (%d)", hints);
        else ok(!e.failed && hints > 0, "A in place: the k loop hints the next tile's rows (%d prefetcht1)", hints);
        free(text);
        LLVMDisposeModule(m);
    }
}

static const tcase CASES[] = {
    {1, 1, 1, 0, 0, 0, 0, 0, {0}, 0, 0, 0, {0}, "1x1x1"},
    {1, 1, 1, 1, 1, 1, 0, 0, {0}, 0, 0, 0, {0}, "1x1x1 TT acc"},
    {7, 13, 5, 0, 0, 0, 0, 0, {0}, 0, 0, 0, {0}, "primes NN"},
    {7, 13, 5, 1, 0, 0, 0, 0, {0}, 0, 0, 0, {0}, "primes TN"},
    {7, 13, 5, 0, 1, 0, 0, 0, {0}, 0, 0, 0, {0}, "primes NT"},
    {7, 13, 5, 1, 1, 0, 0, 0, {0}, 0, 0, 0, {0}, "primes TT"},
    {37, 53, 1, 0, 0, 0, 0, 0, {0}, 0, 0, 0, {0}, "K=1"},
    {37, 53, 1, 1, 1, 1, 0, 0, {0}, 0, 0, 0, {0}, "K=1 TT acc"},
    {101, 67, 43, 0, 0, 1, 3, 0, {0}, 0, 0, 0, {0}, "acc, padded lds"},
    {101, 67, 43, 1, 1, 0, 5, 0, {0}, 0, 0, 0, {0}, "TT padded lds"},
    {64, 64, 64, 0, 1, 0, 0, 0, {0}, 0, 0, 0, {0}, "64 NT (full transposes)"},
    {130, 70, 300, 0, 0, 0, 0, 0, {0}, 0, 0, 0, {.kc = 64}, "K blocks NN"},
    {130, 70, 300, 1, 1, 1, 0, 0, {0}, 0, 0, 0, {.kc = 48, .k_unroll = 3}, "K blocks TT acc, unroll 3"},
    {130, 70, 300, 0, 1, 0, 2, 0, {0}, 0, 0, 1, {.kc = 100}, "K blocks NT bias"},
    {200, 150, 77, 0, 0, 0, 0, 0, {0}, 0, 0, 0, {.nc = 32, .mc = 16}, "N blocks, small mc"},
    {200, 150, 77, 0, 0, 0, 0, 0, {0}, 0, 0, 0, {.pack_a = 1, .pack_b = 1}, "pack A and B"},
    {200, 150, 77, 1, 0, 1, 1, 0, {0}, 0, 0, 0, {.pack_a = 1, .pack_b = 1, .kc = 50}, "TN pack A and B, K blocks"},
    {61, 29, 35, 0, 0, 0, 0, 0, {0}, 0, 0, 1, {0}, "bias epilogue NN"},
    {61, 29, 35, 1, 1, 1, 0, 0, {0}, 0, 0, 1, {.kc = 16}, "bias epilogue TT acc K blocks"},
    {82, 82, 16, 0, 1, 0, 0, 1, {12}, 0, 0, 0, {0}, "attention QK^T batched"},
    {82, 16, 82, 0, 0, 0, 0, 1, {12}, 0, 0, 0, {0}, "attention PV batched"},
    {9, 11, 13, 0, 0, 0, 0, 2, {3, 4}, 0, 1, 0, {0}, "batch 3x4, B broadcast"},
    {9, 11, 13, 1, 1, 1, 0, 2, {3, 4}, 1, 0, 0, {0}, "batch 3x4 TT acc, A broadcast"},
    {33, 40, 20, 0, 1, 0, 2, 1, {5}, 0, 1, 1, {.mr = 5, .nr = 1}, "batch NT bcast B bias, 5x1 tile"},
    {128, 128, 700, 1, 0, 0, 0, 0, {0}, 0, 0, 0, {0}, "dW-like TN long K"},
    {300, 96, 64, 0, 0, 0, 0, 0, {0}, 0, 0, 0, {.mr = 3, .nr = 3, .k_unroll = 1}, "3x3 tile no unroll"},
    {101, 67, 43, 0, 0, 1, 3, 0, {0}, 0, 0, 1, {.pack_b = -1}, "B in place, acc, bias, padded"},
    {130, 70, 300, 1, 0, 0, 0, 1, {2}, 0, 1, 0, {.pack_b = -1, .kc = 64}, "B in place TN, K blocks, batch"},
    {1, 1, 1, 0, 0, 0, 0, 0, {0}, 0, 0, 0, {.pack_b = -1, .pack_a = 1}, "1x1x1 B in place, A packed"},
};

int main(void) {
    cg_jit *jit = NULL;
    cg_error e = cg_jit_create(&jit, NULL);
    if (!ok(!e.failed, "jit for the host")) return done_testing();
    const cg_cpu *cpu = cg_jit_cpu(jit);
    int n = (int)(sizeof CASES / sizeof CASES[0]);
    run_cases(jit, "host", CASES, n);

    /* random descriptions x random schedules (what a tuner may try): every
     * valid schedule must give the right answer */
    {
        enum { NF = 14 };
        tcase fuzz[NF];
        philox_key key = philox_make_key(42, 9);
        for (int i = 0; i < NF; i++) {
            philox_ctr r = philox_block(key, 0, (uint64_t)i), q = philox_block(key, 1, (uint64_t)i);
            tcase *t = &fuzz[i];
            memset(t, 0, sizeof *t);
            t->M = 1 + r.c[0] % 70, t->N = 1 + r.c[1] % 90, t->K = 1 + r.c[2] % 120;
            t->ta = r.c[3] & 1, t->tb = (r.c[3] >> 1) & 1, t->acc = (r.c[3] >> 2) & 1, t->pad = (r.c[3] >> 3) % 3;
            t->bias = (r.c[3] >> 5) & 1;
            if ((r.c[3] >> 6) & 1) {
                t->n_batch = 1, t->batch[0] = 1 + (r.c[3] >> 7) % 4;
                t->bcast_a = (r.c[3] >> 10) & 1, t->bcast_b = !t->bcast_a && ((r.c[3] >> 11) & 1);
            }
            static const int vecs[3] = {4, 8, 16};
            int v = vecs[q.c[0] % 3];
            if (v > cpu->vec_floats) v = cpu->vec_floats;
            int regs = v == 16 ? cpu->n_vec_regs : 16;
            cg_matmul_sched *s = &t->s;
            s->vec = v;
            s->nr = 1 + (int)(q.c[1] % 4);
            while (s->nr > 1 && s->nr * 2 + 1 > regs) s->nr--;
            int max_mr = (regs - s->nr - 1) / s->nr;
            s->mr = 1 + (int)(q.c[2] % (unsigned)(max_mr < 12 ? max_mr : 12));
            s->mc = (int)(q.c[3] % 4) * s->mr * (1 + (int)(q.c[0] >> 8) % 4); /* 0 = default */
            s->kc = (q.c[1] >> 8) % 3 == 0 ? 0 : 1 + (int)((q.c[1] >> 10) % 40);
            s->nc = (q.c[2] >> 8) % 2 ? 0 : (int)((q.c[2] >> 9) % 3 + 1) * s->nr * v;
            s->pack_a = (q.c[3] >> 8) & 1 ? 1 : -1;
            s->pack_b = (q.c[3] >> 9) & 1 ? 1 : -1;
            s->k_unroll = 1 + (int)((q.c[3] >> 10) % 5);
            t->what = "fuzz";
        }
        run_cases(jit, "fuzz", fuzz, NF);
    }

    /* narrower vectors on the same CPU: 4 floats */
    tcase narrow[6];
    int nn = 0;
    for (int i = 2; i < 14; i += 2) {
        narrow[nn] = CASES[i];
        narrow[nn++].s.vec = 4;
    }
    run_cases(jit, "vec4", narrow, nn);

    /* an AVX2 (x86-64-v3) jit, if the host can run it */
    if (cpu->vec_bits >= 256) {
        cg_jit *j2 = NULL;
        cg_jit_options o = {.cpu = "x86-64-v3"};
        e = cg_jit_create(&j2, &o);
        ok(!e.failed, "x86-64-v3 jit");
        if (!e.failed) run_cases(j2, "avx2", CASES, 14);
        if (!e.failed) check_asm(j2, "avx2");
        cg_jit_destroy(j2);
    }

    /* warm start: object bytes of a matmul module loaded into a fresh JIT, info from cg_matmul_plan */
    {
        const tcase *t = &CASES[13]; /* K blocks, NT, bias epilogue */
        prob p = make_prob(t);
        LLVMModuleRef m = cg_module_create(jit, "cold");
        cg_matmul_info cold;
        cg_blob obj = {0};
        e = cg_matmul_emit(jit, m, "cached_mm", &p.d, &t->s, &cold);
        if (!e.failed) e = cg_jit_compile(jit, m, &obj);
        LLVMDisposeModule(m);
        cg_jit *warm = NULL;
        if (!e.failed) e = cg_jit_create(&warm, NULL);
        if (!e.failed) e = cg_jit_add_object(warm, obj.data, obj.size);
        cg_matmul_info info;
        if (!e.failed) e = cg_matmul_plan(cg_jit_cpu(warm), &p.d, &t->s, &info);
        void *fn = NULL;
        if (!e.failed) e = cg_jit_lookup(warm, "cached_mm", &fn);
        ok(!e.failed && fn, "warm start: object loaded, plan computed without LLVM codegen %s", e.msg);
        if (fn) {
            float *A = malloc((size_t)p.a_size * 4), *B = malloc((size_t)p.b_size * 4), *bias = malloc((size_t)t->N * 4);
            float *C0 = calloc((size_t)p.c_size, 4), *C = calloc((size_t)p.c_size, 4);
            fill(A, p.a_size, 11), fill(B, p.b_size, 12), fill(bias, t->N, 13);
            void *scratch = aligned_alloc(64, (size_t)info.scratch_bytes * 2 + 64), *extra[1] = {bias};
            e = cg_matmul_run((cg_kernel_fn)fn, &info, A, B, C, scratch, extra, 1, 2);
            double err = max_err(t, &p, A, B, C0, C, bias);
            ok(!e.failed && err <= 1e-5, "warm-started kernel is correct: err %.2g", err);
            e = cg_matmul_run((cg_kernel_fn)fn, &info, A, B, C, NULL, extra, 1, 2);
            ok(e.failed, "run without scratch is refused: %s", e.msg);
            e = cg_matmul_run((cg_kernel_fn)fn, &info, A, B, C, scratch, NULL, 0, 2);
            ok(e.failed, "run without the bias buffer is refused: %s", e.msg);
            free(A), free(B), free(bias), free(C0), free(C), free(scratch);
        }
        cg_blob_free(&obj);
        cg_jit_destroy(warm);
    }

    /* the micro-kernel's optimised assembly uses the widest vectors with FMAs */
    check_asm(jit, "host");
    check_prefetch(jit);

    /* bad descriptions and schedules are error values */
    {
        LLVMModuleRef m = cg_module_create(jit, "bad");
        cg_matmul_desc d = {.M = 0, .N = 4, .K = 4};
        e = cg_matmul_emit(jit, m, "bad1", &d, NULL, NULL);
        ok(e.failed, "M = 0 rejected: %s", e.msg);
        d.M = 4, d.lda = 2;
        e = cg_matmul_emit(jit, m, "bad2", &d, NULL, NULL);
        ok(e.failed, "lda < K rejected: %s", e.msg);
        d.lda = 0, d.n_batch = 1, d.batch[0] = 3;
        e = cg_matmul_emit(jit, m, "bad3", &d, NULL, NULL);
        ok(e.failed, "C batch stride 0 rejected: %s", e.msg);
        d.n_batch = 0;
        cg_matmul_sched s = {.vec = 32};
        e = cg_matmul_emit(jit, m, "bad4", &d, &s, NULL);
        ok(e.failed, "vec 32 rejected: %s", e.msg);
        s = (cg_matmul_sched){.mr = 99};
        e = cg_matmul_emit(jit, m, "bad5", &d, &s, NULL);
        ok(e.failed, "mr 99 rejected: %s", e.msg);
        d.epilogue = failing_epilogue;
        e = cg_matmul_emit(jit, m, "bad6", &d, NULL, NULL);
        ok(e.failed, "an epilogue's error is returned");
        like(e.msg, "epilogue refuses", "message: %s", e.msg);
        int bodies = 0;
        for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) bodies += !LLVMIsDeclaration(f);
        ok(bodies == 0, "failed emits leave no function bodies in the module (%d)", bodies);
        LLVMDisposeModule(m);
    }
    cg_jit_destroy(jit);
    return done_testing();
}
