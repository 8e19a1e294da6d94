/* test_tune.c — the autotuner (codegen/cg_tune.h): tuned schedules compute what the default computes;
 * the tune cache round-trips, and a truncated, garbage or foreign-CPU file is ignored with a warning and
 * rebuilt; the plan consults it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/cg_plan.h"
#include "codegen/cg_tune.h"
#include "ir/philox.h"
#include "tests/tap.h"

/* Compiles one matmul with schedule s (NULL: default) and runs it on A, B into C. */
static bool run_mm(cg_jit *jit, const cg_matmul_desc *d, const cg_matmul_sched *s, const char *name, const float *A,
                   const float *B, float *C, int threads) {
    LLVMModuleRef m = cg_module_create(jit, name);
    cg_matmul_info info;
    cg_error e = cg_matmul_emit(jit, m, name, d, s, &info);
    if (!e.failed) e = cg_jit_compile(jit, m, NULL);
    LLVMDisposeModule(m);
    void *fn = NULL;
    if (!e.failed) e = cg_jit_lookup(jit, name, &fn);
    if (e.failed) {
        diag("%s", e.msg);
        return false;
    }
    void *scratch = aligned_alloc(64, (size_t)(info.scratch_bytes * threads + 64) / 64 * 64);
    e = cg_matmul_run((cg_kernel_fn)fn, &info, A, B, C, scratch, NULL, 0, threads);
    free(scratch);
    return !e.failed;
}

static double max_rel(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= m)) m = d;
    }
    return m;
}

/* Runs f with stderr captured into buf. */
static int load_count(const cg_cpu *cpu, char *buf, size_t len) {
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    dup2(fileno(tmp), 2);
    cg_tune_db *db = cg_tune_load(cpu, true);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, len - 1, tmp);
    buf[n] = 0;
    fclose(tmp);
    int c = cg_tune_count(db);
    cg_tune_free(db);
    return c;
}

static void write_text(const char *path, const char *s, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(s, 1, n, f);
        fclose(f);
    }
}

static char *read_text(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = malloc(1 << 20);
    *n = fread(s, 1, (1 << 20) - 1, f);
    s[*n] = 0;
    fclose(f);
    return s;
}

int main(void) {
    char dir[] = "/tmp/iclc-tune-test-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    setenv("XDG_CACHE_HOME", dir, 1);
    unsetenv("ICLC_NO_TUNE");
    cg_jit *jit;
    cg_error e = cg_jit_create(&jit, NULL);
    ok(!e.failed, "jit created");
    const cg_cpu *cpu = cg_jit_cpu(jit);

    /* 1. a search, and tuned == untuned numerically */
    cg_matmul_desc d = {.M = 37, .N = 45, .K = 70, .trans_b = 1};
    int64_t nA = d.M * d.K, nB = d.N * d.K, nC = d.M * d.N;
    float *A = malloc(sizeof(float) * (size_t)nA), *B = malloc(sizeof(float) * (size_t)nB);
    float *C0 = calloc((size_t)nC, sizeof(float)), *C1 = calloc((size_t)nC, sizeof(float)), *C2 = calloc((size_t)nC, sizeof(float));
    philox_key key = philox_make_key(3, 1);
    for (int64_t i = 0; i < nA; i++) A[i] = (float)philox_unit24(philox_block(key, 0, (uint64_t)i).c[0]) - 0.5f;
    for (int64_t i = 0; i < nB; i++) B[i] = (float)philox_unit24(philox_block(key, 1, (uint64_t)i).c[0]) - 0.5f;
    cg_tune_result r;
    cg_tune_opts o = {.seconds = 1.0, .threads = 2, .candidates = 8, .seed = 5};
    e = cg_tune_matmul(jit, &d, &o, &r);
    ok(!e.failed, "cg_tune_matmul searches (%s)", e.msg);
    ok(r.tried >= 2 && r.ms_best > 0 && r.ms_best <= r.ms_default, "winner no slower than the default (%d candidates, %.4f vs %.4f ms)",
       r.tried, r.ms_best, r.ms_default);
    ok(r.max_rel_diff <= 1e-4, "winner vs default outputs: max rel diff %.2g", r.max_rel_diff);
    ok(run_mm(jit, &d, NULL, "t_default", A, B, C0, 2), "default schedule runs");
    ok(run_mm(jit, &d, &r.best, "t_best", A, B, C1, 2), "tuned schedule runs");
    cg_matmul_sched odd = {.vec = 4, .mr = 3, .nr = 1, .mc = 8, .kc = 16, .nc = 8, .pack_a = 1, .k_unroll = 4, .threads = 2};
    ok(run_mm(jit, &d, &odd, "t_odd", A, B, C2, 2), "an unusual schedule (3x1 tile, kc 16, packed A) runs");
    is_double(max_rel(C1, C0, nC), 0, 1e-5, "tuned result equals the default's");
    is_double(max_rel(C2, C0, nC), 0, 1e-5, "unusual schedule's result equals the default's");
    double ref = 0; /* and the default is right */
    for (int k = 0; k < d.K; k++) ref += (double)A[5 * d.K + k] * (double)B[7 * d.K + k];
    is_double(C0[5 * d.N + 7], ref, 1e-4, "default C[5,7] matches a double-precision dot product");

    /* 2. the cache: empty, put, save, reload, lookup */
    char path[4300], buf[8192];
    ok(cg_tune_path(cpu, path, sizeof path) && strstr(path, dir) == path, "cache path under XDG_CACHE_HOME: %s", path);
    ok(load_count(cpu, buf, sizeof buf) == 0 && !buf[0], "no file: empty, no warning");
    cg_tune_db *db = cg_tune_load(cpu, true);
    char sig[1024], err[512];
    cg_tune_signature(&d, 2, sig, sizeof sig);
    ok(cg_tune_put(db, sig, &odd, 0.5, 1.0, 9) && cg_tune_save(db, err, sizeof err), "put + save (%s)", err);
    cg_tune_free(db);
    ok(load_count(cpu, buf, sizeof buf) == 1 && !buf[0], "reloaded: 1 entry, no warning");
    db = cg_tune_load(cpu, true);
    cg_matmul_sched got = {0};
    ok(cg_tune_lookup(db, &d, 2, &got) && got.mr == 3 && got.kc == 16 && got.pack_a == 1, "lookup returns the stored schedule");
    ok(!cg_tune_lookup(db, &d, 1, &got), "another thread count is another signature");
    cg_matmul_desc d2 = d;
    d2.K = 71;
    ok(!cg_tune_lookup(db, &d2, 2, &got), "another shape has no entry");

    /* 3. the plan consults it: a graph with this matmul gets the tuned schedule */
    ir_graph *g = ir_graph_new();
    ir_id a = ir_input(g, "a", (ir_shape){2, {37, 70}}), b = ir_input(g, "b", (ir_shape){2, {45, 70}});
    ir_id mm = ir_matmul(g, a, b, false, true);
    ir_output_add(g, "c", mm);
    cg_extbuf *ext;
    int next = cg_plan_default_ext(g, &ext);
    cg_plan_opts po = {.cpu = cpu, .threads = 2, .tune = db};
    cg_plan *p = cg_plan_build(g, ext, next, &po, err, sizeof err);
    int mk = -1;
    for (int k = 0; p && k < p->nkerns; k++)
        if (p->kerns[k].kind == CGK_MATMUL) mk = k;
    ok(mk >= 0 && p->kerns[mk].mm_info.sched.mr == 3 && p->kerns[mk].mm_info.sched.kc == 16, "plan uses the tuned schedule");
    po.tune = NULL;
    cg_plan *p0 = cg_plan_build(g, ext, next, &po, err, sizeof err);
    ok(p && p0 && cg_tune_fingerprint(p) != cg_tune_fingerprint(p0), "tuned and default plans have different fingerprints (compile cache keys)");
    cg_plan_free(p);
    cg_plan_free(p0);
    free(ext);
    ir_graph_free(g);
    cg_tune_free(db);

    /* 4. corruption: truncated, garbage, another CPU -> warning, empty; then a rebuild works */
    size_t n = 0;
    char *good = read_text(path, &n);
    ok(good && n > 20, "cache file readable (%zu bytes)", n);
    write_text(path, good, n / 2);
    ok(load_count(cpu, buf, sizeof buf) == 0 && strstr(buf, "warning") && strstr(buf, "ignored"), "truncated file: ignored with a warning");
    write_text(path, "\x01\x02garbage\xff", 11);
    ok(load_count(cpu, buf, sizeof buf) == 0 && strstr(buf, "warning"), "garbage: ignored with a warning");
    write_text(path, "{\"format\": \"iclc-tune-1\"}", 25);
    ok(load_count(cpu, buf, sizeof buf) == 0 && strstr(buf, "warning"), "JSON without entries: ignored with a warning");
    char *other = malloc(n + 64), *at = strstr(good, cpu->name);
    ok(at != NULL, "file names the CPU");
    if (at) {
        size_t pre = (size_t)(at - good);
        memcpy(other, good, pre);
        strcpy(other + pre, "othercpu");
        strcat(other, at + strlen(cpu->name));
        write_text(path, other, strlen(other));
    }
    ok(load_count(cpu, buf, sizeof buf) == 0 && strstr(buf, "written for CPU othercpu"), "foreign CPU: ignored with a warning");
    char *badmr = malloc(n + 64), *mr = strstr(good, "\"mr\": 3");
    if (mr) {
        size_t pre = (size_t)(mr - good);
        memcpy(badmr, good, pre);
        strcpy(badmr + pre, "\"mr\": 999");
        strcat(badmr, mr + 7);
        write_text(path, badmr, strlen(badmr));
    }
    db = cg_tune_load(cpu, false);
    ok(mr && cg_tune_count(db) == 1 && !cg_tune_lookup(db, &d, 2, &got), "an entry this CPU cannot use is not returned");
    cg_tune_free(db);
    write_text(path, "garbage", 7);
    db = cg_tune_load(cpu, false);
    ok(cg_tune_put(db, sig, &odd, 0.5, 1.0, 9) && cg_tune_save(db, err, sizeof err), "rebuild over a corrupt file");
    cg_tune_free(db);
    ok(load_count(cpu, buf, sizeof buf) == 1 && !buf[0], "rebuilt file loads cleanly");
    setenv("ICLC_NO_TUNE", "1", 1);
    ok(load_count(cpu, buf, sizeof buf) == 0, "ICLC_NO_TUNE=1 ignores the cache");
    unsetenv("ICLC_NO_TUNE");

    free(good);
    free(other);
    free(badmr);
    remove(path);
    free(A);
    free(B);
    free(C0);
    free(C1);
    free(C2);
    cg_jit_destroy(jit);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
