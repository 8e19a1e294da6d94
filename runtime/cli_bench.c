/* `iclc bench` — one run that measures, side by side, for each model x config x task shape:
 *   the fp32 FMA peak of this machine (codegen/cg_peak: 1 and all threads),
 *   per executor of runtime/rt_exec (interp, jit, ...): compile time cold and warm, training step time,
 *     GFLOP/s and % of peak, evaluation prompts/s, peak memory,
 *   our matmul kernels (codegen/cg_matmul) against OpenBLAS sgemm on the training graph's own matmul
 *     shapes, in the same run,
 *   with --compare-pytorch: PyTorch's step time (bench/pytorch/step.py, best thread setting) and ours / its.
 * FLOPs are counted from the training graph (runtime/rt_bench.h). See docs/bench.md. */
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/cg_jit.h"
#include "codegen/cg_matmul.h"
#include "codegen/cg_peak.h"
#include "passes/fuse.h"
#include "runtime/cli.h"
#include "runtime/rt_bench.h"
#include "runtime/rt_exec.h"
#include "runtime/rt_json.h"
#include "runtime/rt_util.h"

#define CMD "bench"

void openblas_set_num_threads(int num_threads);

typedef struct bench_args {
    const char *models, *configs, *tasks, *task_set, *set, *executors, *python, *script, *jsonl, *torch_settings;
    const char *no_fuse;
    bool unfused;
    int64_t threads, steps, batch, seed;
    double max_seconds, mm_ms, interp_max_mb;
    bool compare_pytorch, no_matmul;
} bench_args;

/* What one executor measured on one model. */
typedef struct exec_result {
    char name[32];
    bool ok;
    char note[256];
    double compile_cold, compile_warm; /* seconds */
    double step_min, step_med;         /* seconds */
    int steps;
    double eval_s;                     /* one evaluation batch, seconds (min) */
    int64_t peak_bytes;                /* max RSS growth during compile + steps; -1 unknown */
    int64_t plan_bytes;                /* the plan's tensor memory (rt_plan.data_bytes): reproducible */
} exec_result;

typedef struct mm_result {
    rt_mm_shape s;
    double t_ours, t_blas; /* seconds per call */
    double compile_ms;
    char note[96];
} mm_result;

/* ---- small helpers ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Next comma-separated item of *s into buf (false at the end). */
static bool next_item(const char **s, char *buf, size_t len) {
    while (**s == ',' || **s == ' ') (*s)++;
    if (!**s) return false;
    size_t n = strcspn(*s, ",");
    snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), *s);
    *s += n;
    return true;
}

/* Removes a directory tree (the temporary compile cache). */
static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(sub);
            else unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

/* ---- executors ---- */

/* Compiles g with ex under a fresh compile cache (cold), then again (warm). */
static rt_plan *compile_cold_warm(const rt_executor *ex, const ir_graph *g, const rt_plan_opts *po, double *cold,
                                  double *warm, char *err, size_t errlen) {
    char dir[] = "/tmp/iclc_bench_cache_XXXXXX";
    const char *old = getenv("XDG_CACHE_HOME");
    char *saved = old ? strdup(old) : NULL;
    bool tmp = mkdtemp(dir) != NULL;
    if (tmp) setenv("XDG_CACHE_HOME", dir, 1);
    double t0 = rt_bench_now();
    rt_plan *p = rt_plan_compile(ex, g, po, err, errlen);
    *cold = rt_bench_now() - t0;
    if (p) {
        rt_plan_free(p);
        t0 = rt_bench_now();
        p = rt_plan_compile(ex, g, po, err, errlen);
        *warm = rt_bench_now() - t0;
    }
    if (saved) setenv("XDG_CACHE_HOME", saved, 1);
    else unsetenv("XDG_CACHE_HOME");
    free(saved);
    if (tmp) remove_tree(dir);
    return p;
}

/* Training steps and evaluation of one executor. rate_gflops: this executor's rate on an earlier model
 * (0 = unknown), used to skip work estimated to exceed the time limit. */
static void run_executor(const rt_executor *ex, const ir_graph *train, const ir_graph *eval, const task *t,
                         const bench_args *a, int64_t N, double flops, double rate_gflops, exec_result *r) {
    char err[2048];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", ex->name);
    r->peak_bytes = -1;
    /* the interpreter holds every node's value in double: refuse graphs that would swamp the machine */
    if (strcmp(ex->name, "interp") == 0) {
        double bytes = 0;
        for (ir_id i = 0; i < train->nnodes; i++) bytes += 8.0 * (double)ir_numel(train->nodes[i].shape);
        if (bytes > a->interp_max_mb * 1048576.0) {
            snprintf(r->note, sizeof r->note, "skipped: the interpreter would hold %.1f GB of values (> --interp-max-mb %.0f)",
                     bytes / 1073741824.0, a->interp_max_mb);
            return;
        }
    }
    if (rate_gflops > 0 && flops / (rate_gflops * 1e9) > a->max_seconds) {
        snprintf(r->note, sizeof r->note, "skipped: one step estimated at %.0f s > --max-seconds %.0f",
                 flops / (rate_gflops * 1e9), a->max_seconds);
        return;
    }
    rt_plan_opts po = {.threads = (int)a->threads};
    bool peak_ok = rt_bench_reset_peak();
    int64_t rss0 = rt_bench_rss();
    rt_plan *p = compile_cold_warm(ex, train, &po, &r->compile_cold, &r->compile_warm, err, sizeof err);
    if (!p || !rt_bench_plan_setup(p, (uint64_t)a->seed, 1e-4, err, sizeof err)) {
        snprintf(r->note, sizeof r->note, "compile failed: %.200s", err);
        rt_plan_free(p);
        return;
    }
    double times[256], spent = 0;
    int n = 0;
    for (int64_t step = 0; step < a->steps + 1 && n < 256; step++) {
        if (!rt_bench_plan_feed(p, t, a->batch, N, (uint64_t)a->seed, step, err, sizeof err)) break;
        double t0 = rt_bench_now();
        if (!rt_plan_run(p, (uint64_t)step, err, sizeof err)) {
            snprintf(r->note, sizeof r->note, "step %" PRId64 " failed: %.200s", step, err);
            rt_plan_free(p);
            return;
        }
        double dt = rt_bench_now() - t0;
        spent += dt;
        times[n++] = dt;
        /* the first step is the warm-up unless it alone is over the budget */
        if (spent + dt > a->max_seconds) break;
    }
    const float *loss = rt_plan_buffer(p, "loss");
    if (loss && !isfinite(*loss)) snprintf(r->note, sizeof r->note, "loss is %g", (double)*loss);
    if (peak_ok && rss0 >= 0) r->peak_bytes = rt_bench_peak_rss() - rss0;
    r->plan_bytes = p->data_bytes;
    rt_plan_free(p);
    double *tm = n > 1 ? times + 1 : times; /* drop the warm-up when there is more */
    int m = n > 1 ? n - 1 : n;
    qsort(tm, (size_t)m, sizeof *tm, cmp_double);
    r->steps = m;
    r->step_min = tm[0];
    r->step_med = tm[m / 2];
    if (n == 1) snprintf(r->note + strlen(r->note), sizeof r->note - strlen(r->note), "%sone step only (over the time limit)",
                         *r->note ? "; " : "");
    r->ok = true;

    /* evaluation: forward only, min over a few batches */
    r->eval_s = -1;
    if (!eval) return;
    p = rt_plan_compile(ex, eval, &po, err, sizeof err);
    if (!p || !rt_bench_plan_setup(p, (uint64_t)a->seed, 0, err, sizeof err)) {
        rt_plan_free(p);
        return;
    }
    double best = 1e30, t_end = rt_bench_now() + a->max_seconds / 4;
    for (int i = 0; i < 20; i++) {
        if (!rt_bench_plan_feed(p, t, a->batch, N, (uint64_t)a->seed, i, err, sizeof err)) break;
        double t0 = rt_bench_now();
        if (!rt_plan_run(p, 0, err, sizeof err)) break;
        double dt = rt_bench_now() - t0;
        if (dt < best) best = dt;
        if (i >= 2 && rt_bench_now() > t_end) break;
    }
    if (best < 1e30) r->eval_s = best;
    rt_plan_free(p);
}

/* ---- matmul: ours vs OpenBLAS ---- */

typedef struct mm_run {
    const rt_mm_shape *s;
    const float *A, *B;
    float *C;
    int threads, blas_mode;
    cg_kernel_fn fn;
    cg_matmul_info info;
    void *scratch;
} mm_run;

static void run_ours(mm_run *r) { cg_matmul_run(r->fn, &r->info, r->A, r->B, r->C, r->scratch, NULL, 0, r->threads); }

/* Offsets of flat batch index i in each operand. */
static void batch_offsets(const rt_mm_shape *s, int64_t i, int64_t *oa, int64_t *ob, int64_t *oc) {
    *oa = *ob = *oc = 0;
    for (int d = s->n_batch - 1; d >= 0; d--) {
        int64_t k = i % s->batch[d];
        i /= s->batch[d];
        *oa += k * s->a_stride[d], *ob += k * s->b_stride[d], *oc += k * s->c_stride[d];
    }
}

/* OpenBLAS on the same shape: mode 0 = its own threads, mode 1 = an OpenMP loop over the batch with
 * single-threaded sgemm inside. */
static void run_blas(mm_run *r) {
    const rt_mm_shape *s = r->s;
    int lda = (int)(s->ta ? s->M : s->K), ldb = (int)(s->tb ? s->K : s->N), ldc = (int)s->N;
    CBLAS_TRANSPOSE ta = s->ta ? CblasTrans : CblasNoTrans, tb = s->tb ? CblasTrans : CblasNoTrans;
    int64_t nb = 1;
    for (int d = 0; d < s->n_batch; d++) nb *= s->batch[d];
    if (r->blas_mode == 0) {
        openblas_set_num_threads(r->threads);
        for (int64_t i = 0; i < nb; i++) {
            int64_t oa, ob, oc;
            batch_offsets(s, i, &oa, &ob, &oc);
            cblas_sgemm(CblasRowMajor, ta, tb, (int)s->M, (int)s->N, (int)s->K, 1.0f, r->A + oa, lda, r->B + ob, ldb,
                        0.0f, r->C + oc, ldc);
        }
    } else {
        openblas_set_num_threads(1);
#pragma omp parallel for num_threads(r->threads) schedule(static)
        for (int64_t i = 0; i < nb; i++) {
            int64_t oa, ob, oc;
            batch_offsets(s, i, &oa, &ob, &oc);
            cblas_sgemm(CblasRowMajor, ta, tb, (int)s->M, (int)s->N, (int)s->K, 1.0f, r->A + oa, lda, r->B + ob, ldb,
                        0.0f, r->C + oc, ldc);
        }
    }
}

/* Best seconds per call over ~ms milliseconds (after one warm-up call). */
static double time_best(void (*f)(mm_run *), mm_run *r, double ms) {
    f(r);
    double best = 1e30, t_end = rt_bench_now() + ms * 1e-3;
    for (int n = 0; n < 3 || rt_bench_now() < t_end; n++) {
        double t0 = rt_bench_now();
        f(r);
        double t = rt_bench_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static void fill(float *x, int64_t n, unsigned seed) {
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
}

static void bench_matmul(cg_jit *jit, const rt_mm_shape *s, int threads, double ms, int idx, mm_result *out) {
    memset(out, 0, sizeof *out);
    out->s = *s;
    cg_matmul_desc d = {.M = s->M, .N = s->N, .K = s->K, .trans_a = s->ta, .trans_b = s->tb, .n_batch = s->n_batch};
    for (int i = 0; i < s->n_batch; i++)
        d.batch[i] = s->batch[i], d.a_bstride[i] = s->a_stride[i], d.b_bstride[i] = s->b_stride[i],
        d.c_bstride[i] = s->c_stride[i];
    cg_matmul_sched sched = {.threads = threads};
    char name[64];
    snprintf(name, sizeof name, "bench_mm_%d_%d", idx, rand());
    LLVMModuleRef m = cg_module_create(jit, name);
    mm_run r = {.s = s, .threads = threads};
    double t0 = rt_bench_now();
    cg_error e = cg_matmul_emit(jit, m, name, &d, &sched, &r.info);
    if (!e.failed) e = cg_jit_compile(jit, m, NULL);
    out->compile_ms = 1e3 * (rt_bench_now() - t0);
    LLVMDisposeModule(m);
    void *fn = NULL;
    if (!e.failed) e = cg_jit_lookup(jit, name, &fn);
    if (e.failed) {
        snprintf(out->note, sizeof out->note, "%.90s", e.msg);
        return;
    }
    r.fn = (cg_kernel_fn)fn;
    float *A = malloc((size_t)s->a_numel * sizeof *A), *B = malloc((size_t)s->b_numel * sizeof *B);
    float *C = malloc((size_t)s->c_numel * sizeof *C);
    size_t sb = (size_t)(r.info.scratch_bytes * threads + 64);
    r.scratch = r.info.scratch_bytes ? aligned_alloc(64, (sb + 63) / 64 * 64) : NULL;
    if (!A || !B || !C || (r.info.scratch_bytes && !r.scratch)) {
        snprintf(out->note, sizeof out->note, "out of memory");
    } else {
        fill(A, s->a_numel, 1), fill(B, s->b_numel, 2);
        r.A = A, r.B = B, r.C = C;
        out->t_ours = time_best(run_ours, &r, ms);
        out->t_blas = 1e30;
        int64_t nb = 1;
        for (int i = 0; i < s->n_batch; i++) nb *= s->batch[i];
        for (r.blas_mode = 0; r.blas_mode < (nb > 1 ? 2 : 1); r.blas_mode++) {
            double t = time_best(run_blas, &r, ms / 2);
            if (t < out->t_blas) out->t_blas = t;
        }
        openblas_set_num_threads(threads);
    }
    free(A), free(B), free(C), free(r.scratch);
}

/* ---- PyTorch ---- */

typedef struct torch_result {
    bool ok;
    char note[256];
    double step_ms, step_ms_med, eval_pps;
    int64_t torch_threads, omp_threads, blas_threads, params;
    bool openblas;
} torch_result;

static void run_pytorch(const bench_args *a, const char *model, const char *config, const task *t, int64_t N,
                        torch_result *r) {
    memset(r, 0, sizeof *r);
    static const char *known[] = {"transformer", "mamba", "mambaformer", "standard_hybrid", "s4"};
    bool have = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) have |= strcmp(model, known[i]) == 0;
    task_shape ts = task_shape_at(t, N);
    double d = task_param(t, "d");
    if (!have || strchr(model, ':')) {
        snprintf(r->note, sizeof r->note, "no PyTorch version of %.200s", model);
        return;
    }
    if (ts.nheads != 1 || ts.heads[0].stride != 2 || ts.heads[0].width != 1 || isnan(d) || ts.T != 2 * N) {
        snprintf(r->note, sizeof r->note, "PyTorch bench covers the interleaved regression layout only");
        return;
    }
    if (a->set && *a->set) {
        snprintf(r->note, sizeof r->note, "PyTorch bench has no --set");
        return;
    }
    char script[1024], cmd[2048];
    if (a->script) snprintf(script, sizeof script, "%s", a->script);
    else snprintf(script, sizeof script, "%s/bench/pytorch/step.py", ICLC_SOURCE_DIR);
    if (access(script, R_OK) != 0) {
        snprintf(r->note, sizeof r->note, "cannot read %.200s (--pytorch-script)", script);
        return;
    }
    if (a->torch_settings && strspn(a->torch_settings, "0123456789:,") != strlen(a->torch_settings)) {
        snprintf(r->note, sizeof r->note, "bad --pytorch-settings (want e.g. 1:1,2:1)");
        return;
    }
    snprintf(cmd, sizeof cmd, "'%s' '%s' --model %s --config %s --threads %" PRId64 " --batch %" PRId64
             " --points %" PRId64 " --d %d%s%s",
             a->python, script, model, config, a->threads, a->batch, N, (int)d, a->torch_settings ? " --settings " : "",
             a->torch_settings ? a->torch_settings : "");
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    if (!f) {
        snprintf(r->note, sizeof r->note, "cannot run %s", a->python);
        return;
    }
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char err[256];
        rt_json_doc *doc = rt_json_parse(line, strlen(line), err, sizeof err);
        if (!doc) continue;
        const rt_json *root = rt_json_root(doc), *kind = rt_json_get(root, "kind");
        if (kind && kind->kind == RT_JSON_STRING && strcmp(kind->string, "best") == 0) {
            const rt_json *v;
            r->ok = true;
            if ((v = rt_json_get(root, "step_ms_min")) && v->kind == RT_JSON_NUMBER) r->step_ms = v->number;
            if ((v = rt_json_get(root, "step_ms")) && v->kind == RT_JSON_NUMBER) r->step_ms_med = v->number;
            if ((v = rt_json_get(root, "eval_prompts_per_s")) && v->kind == RT_JSON_NUMBER) r->eval_pps = v->number;
            if ((v = rt_json_get(root, "torch_threads")) && v->is_int) r->torch_threads = v->integer;
            if ((v = rt_json_get(root, "omp_threads")) && v->is_int) r->omp_threads = v->integer;
            if ((v = rt_json_get(root, "openblas_threads")) && v->is_int) r->blas_threads = v->integer;
            if ((v = rt_json_get(root, "params")) && v->is_int) r->params = v->integer;
            if ((v = rt_json_get(root, "blas")) && v->kind == RT_JSON_STRING) r->openblas = strstr(v->string, "openblas");
        }
        rt_json_free(doc);
    }
    int status = pclose(f);
    if (!r->ok) snprintf(r->note, sizeof r->note, "step.py failed (status %d); run it by hand: %.150s", status, cmd);
}

/* ---- one model x config x task ---- */

typedef struct peak_info {
    double g1, gall;
    int threads;
} peak_info;

static double peak_at(const peak_info *pk, int threads) {
    if (threads <= 1) return pk->g1;
    if (threads == pk->threads) return pk->gall;
    return pk->gall / pk->threads * threads;
}

/* Rates of each executor from the previous model (for the time-limit estimate). */
typedef struct exec_rate {
    const rt_executor *ex;
    double gflops;
} exec_rate;

static int bench_one(const bench_args *a, cg_jit *jit, const peak_info *pk, const char *model, const char *config,
                     const char *task_name, exec_rate *rates, int nrates, FILE *jsonl) {
    char err[8192];
    task_error te;
    task *t = task_create(task_name, a->task_set, &te);
    if (!t) {
        fprintf(stderr, "iclc bench: %s\n", te.msg);
        return CLI_USAGE;
    }
    int64_t N = task_n_max(t);
    task_shape ts = task_shape_at(t, N);
    rt_model_spec spec = {.model = model, .config = config, .set = a->set};
    double t0 = rt_bench_now();
    /* the unfused graphs: FLOPs, parameters, matmul shapes (the same for every executor) */
    ir_graph *train = build_training_graph(&spec, t, a->batch, N, NULL, "all", NULL, 0, err, sizeof err);
    double build_s = rt_bench_now() - t0;
    if (!train) {
        fprintf(stderr, "iclc bench: %s/%s on %s: %s\n", model, config, task_name, err);
        task_free(t);
        return CLI_USAGE;
    }
    ir_graph *eval = build_eval_graph(&spec, t, a->batch, N, NULL, "all", err, sizeof err);
    int64_t params = 0;
    for (ir_id i = 0; i < train->nnodes; i++)
        if (train->nodes[i].op == OP_param) params += ir_numel(train->nodes[i].shape);
    rt_flops fl = rt_bench_flops(train), fe = eval ? rt_bench_flops(eval) : (rt_flops){0, 0, 0};
    char pc[40];
    rt_thousands(params, pc, sizeof pc);
    printf("\n== %s / %s / %s: B %" PRId64 ", N %" PRId64 ", T %" PRId64 ", d_tok %" PRId64 "; %s params\n", model, config,
           task_name, a->batch, N, ts.T, ts.d_tok, pc);
    printf("   training graph: %d nodes, %" PRId64 " matmuls; %.3f GFLOP per step (%.0f%% in matmuls); built in %.0f ms"
           "; evaluation %.3f GFLOP per batch\n",
           train->nnodes, fl.n_matmul, fl.total * 1e-9, fl.total > 0 ? 100 * fl.matmul / fl.total : 0, 1e3 * build_s,
           fe.total * 1e-9);
    double peak = peak_at(pk, (int)a->threads);
    printf("   %-10s %10s %9s %11s %11s %8s %6s %13s %9s %9s  %s\n", "executor", "compile", "warm", "step ms", "(median)",
           "GFLOP/s", "%peak", "eval prompt/s", "peak MB", "plan MB", "notes");

    exec_result res[16];
    int nres = 0;
    for (int i = 0; i < nrates && nres + 2 <= 16; i++) {
      for (int variant = 0; variant < (a->unfused ? 2 : 1); variant++) {
        exec_result *r = &res[nres++];
        const char *nf = variant ? "all" : a->no_fuse;
        char skipped[512] = "";
        ir_graph *tg = build_training_graph(&spec, t, a->batch, N, rates[i].ex, nf, skipped, sizeof skipped, err,
                                            sizeof err);
        ir_graph *eg = tg ? build_eval_graph(&spec, t, a->batch, N, rates[i].ex, nf, err, sizeof err) : NULL;
        if (!tg) {
            memset(r, 0, sizeof *r);
            snprintf(r->name, sizeof r->name, "%s", rates[i].ex->name);
            snprintf(r->note, sizeof r->note, "graph: %.200s", err);
        } else {
            run_executor(rates[i].ex, tg, eg, t, a, N, fl.total, variant ? 0 : rates[i].gflops, r);
            int fused = 0;
            for (ir_id k = 0; k < tg->nnodes; k++) fused += (ir_ops[tg->nodes[k].op].flags & OPF_FUSED) != 0;
            size_t nl = strlen(r->note);
            snprintf(r->note + nl, sizeof r->note - nl, "%s%d fused ops%s%s", nl ? "; " : "", fused,
                     *skipped && strcmp(skipped, "all") ? ", unfused: " : "",
                     *skipped && strcmp(skipped, "all") ? skipped : "");
        }
        if (variant) snprintf(r->name, sizeof r->name, "%.20s-nf", rates[i].ex->name);
        ir_graph_free(tg);
        ir_graph_free(eg);
        if (r->ok) {
            double g = fl.total / r->step_min * 1e-9;
            if (!variant) rates[i].gflops = g;
            char mem[32] = "-";
            if (r->peak_bytes >= 0) snprintf(mem, sizeof mem, "%.1f", r->peak_bytes / 1048576.0);
            char evs[32] = "-";
            if (r->eval_s > 0) snprintf(evs, sizeof evs, "%.0f", a->batch / r->eval_s);
            printf("   %-10s %8.0fms %7.0fms %11.2f %11.2f %8.2f %5.1f%% %13s %9s %9.1f  %s\n", r->name, 1e3 * r->compile_cold,
                   1e3 * r->compile_warm, 1e3 * r->step_min, 1e3 * r->step_med, g, 100 * g / peak, evs, mem,
                   r->plan_bytes / 1048576.0, r->note);
        } else {
            printf("   %-10s %s\n", r->name, r->note);
        }
        fflush(stdout);
      }
    }

    /* matmul shapes */
    mm_result *mm = NULL;
    int nmm = 0;
    double sum_ours = 0, sum_blas = 0;
    if (!a->no_matmul) {
        rt_mm_shape *shapes = rt_bench_matmul_shapes(train, &nmm);
        mm = nmm ? calloc((size_t)nmm, sizeof *mm) : NULL;
        if (nmm && !mm) nmm = 0;
        printf("   matmul shapes of the training graph, ours (cg_matmul) vs OpenBLAS sgemm, %" PRId64 " threads:\n",
               a->threads);
        printf("   %5s %-18s %6s %6s %6s %3s | %8s %8s | %8s %8s | %6s %8s\n", "count", "batch", "M", "N", "K", "t",
               "ours GF", "%peak", "BLAS GF", "%peak", "ratio", "compile");
        for (int i = 0; i < nmm; i++) {
            bench_matmul(jit, &shapes[i], (int)a->threads, a->mm_ms, i, &mm[i]);
            const rt_mm_shape *s = &shapes[i];
            char batch[64] = "-";
            int k = 0;
            for (int d = 0; d < s->n_batch && k < 50; d++)
                k += snprintf(batch + k, sizeof batch - (size_t)k, "%s%" PRId64 "%s", d ? "x" : "", s->batch[d],
                              s->a_stride[d] == 0 ? "(A bc)" : s->b_stride[d] == 0 ? "(B bc)" : "");
            if (mm[i].note[0]) {
                printf("   %5d %-18s %6" PRId64 " %6" PRId64 " %6" PRId64 " %d%d  | %s\n", s->count, batch, s->M, s->N,
                       s->K, s->ta, s->tb, mm[i].note);
                continue;
            }
            double go = s->flops / mm[i].t_ours * 1e-9, gb = s->flops / mm[i].t_blas * 1e-9;
            sum_ours += s->count * mm[i].t_ours, sum_blas += s->count * mm[i].t_blas;
            printf("   %5d %-18s %6" PRId64 " %6" PRId64 " %6" PRId64 " %d%d  | %8.1f %7.0f%% | %8.1f %7.0f%% | %5.2fx %6.0fms\n",
                   s->count, batch, s->M, s->N, s->K, s->ta, s->tb, go, 100 * go / peak, gb, 100 * gb / peak, go / gb,
                   mm[i].compile_ms);
            fflush(stdout);
        }
        if (sum_ours > 0)
            printf("   all matmuls of one step: ours %.2f ms, OpenBLAS %.2f ms -> ours at %.0f%% of OpenBLAS's speed\n",
                   1e3 * sum_ours, 1e3 * sum_blas, 100 * sum_blas / sum_ours);
        free(shapes);
    }

    torch_result tr = {0};
    if (a->compare_pytorch) {
        run_pytorch(a, model, config, t, N, &tr);
        if (tr.ok) {
            printf("   PyTorch: step %.2f ms (median %.2f), eval %.0f prompts/s; best of the thread settings: torch %" PRId64
                   ", OMP %" PRId64 ", OpenBLAS %" PRId64 "%s%s\n",
                   tr.step_ms, tr.step_ms_med, tr.eval_pps, tr.torch_threads, tr.omp_threads, tr.blas_threads,
                   tr.openblas ? "" : " (WARNING: not OpenBLAS)",
                   tr.params && tr.params != params ? " (WARNING: parameter counts differ)" : "");
            for (int i = 0; i < nres; i++)
                if (res[i].ok)
                    printf("   %-8s step / PyTorch step = %.3f (%.2fx %s); eval %.2fx PyTorch's prompts/s\n", res[i].name,
                           1e3 * res[i].step_min / tr.step_ms,
                           1e3 * res[i].step_min > tr.step_ms ? 1e3 * res[i].step_min / tr.step_ms
                                                               : tr.step_ms / (1e3 * res[i].step_min),
                           1e3 * res[i].step_min > tr.step_ms ? "slower" : "faster",
                           res[i].eval_s > 0 ? a->batch / res[i].eval_s / tr.eval_pps : 0);
        } else {
            printf("   PyTorch: %s\n", tr.note);
        }
    }

    if (jsonl) {
        rt_jw w;
        rt_jw_init(&w, 0);
        rt_jw_begin_object(&w);
        rt_jw_key(&w, "model"), rt_jw_string(&w, model);
        rt_jw_key(&w, "config"), rt_jw_string(&w, config);
        rt_jw_key(&w, "task"), rt_jw_string(&w, task_name);
        rt_jw_key(&w, "B"), rt_jw_int(&w, a->batch);
        rt_jw_key(&w, "N"), rt_jw_int(&w, N);
        rt_jw_key(&w, "threads"), rt_jw_int(&w, a->threads);
        rt_jw_key(&w, "params"), rt_jw_int(&w, params);
        rt_jw_key(&w, "gflop_step"), rt_jw_double(&w, fl.total * 1e-9);
        rt_jw_key(&w, "gflop_matmul"), rt_jw_double(&w, fl.matmul * 1e-9);
        rt_jw_key(&w, "peak_gflops"), rt_jw_double(&w, peak);
        rt_jw_key(&w, "loadavg"), rt_jw_double(&w, rt_loadavg());
        rt_jw_key(&w, "executors");
        rt_jw_begin_array(&w);
        for (int i = 0; i < nres; i++) {
            rt_jw_begin_object(&w);
            rt_jw_key(&w, "name"), rt_jw_string(&w, res[i].name);
            rt_jw_key(&w, "ok"), rt_jw_bool(&w, res[i].ok);
            rt_jw_key(&w, "note"), rt_jw_string(&w, res[i].note);
            if (res[i].ok) {
                rt_jw_key(&w, "compile_cold_ms"), rt_jw_double(&w, 1e3 * res[i].compile_cold);
                rt_jw_key(&w, "compile_warm_ms"), rt_jw_double(&w, 1e3 * res[i].compile_warm);
                rt_jw_key(&w, "step_ms"), rt_jw_double(&w, 1e3 * res[i].step_min);
                rt_jw_key(&w, "step_ms_median"), rt_jw_double(&w, 1e3 * res[i].step_med);
                rt_jw_key(&w, "steps"), rt_jw_int(&w, res[i].steps);
                rt_jw_key(&w, "gflops"), rt_jw_double(&w, fl.total / res[i].step_min * 1e-9);
                rt_jw_key(&w, "eval_prompts_per_s"), rt_jw_double(&w, res[i].eval_s > 0 ? a->batch / res[i].eval_s : 0);
                rt_jw_key(&w, "peak_mb"), rt_jw_double(&w, res[i].peak_bytes / 1048576.0);
                rt_jw_key(&w, "plan_mb"), rt_jw_double(&w, res[i].plan_bytes / 1048576.0);
            }
            rt_jw_end_object(&w);
        }
        rt_jw_end_array(&w);
        if (sum_ours > 0) {
            rt_jw_key(&w, "matmul_ms_ours"), rt_jw_double(&w, 1e3 * sum_ours);
            rt_jw_key(&w, "matmul_ms_openblas"), rt_jw_double(&w, 1e3 * sum_blas);
        }
        if (tr.ok) {
            rt_jw_key(&w, "pytorch_step_ms"), rt_jw_double(&w, tr.step_ms);
            rt_jw_key(&w, "pytorch_eval_prompts_per_s"), rt_jw_double(&w, tr.eval_pps);
            rt_jw_key(&w, "pytorch_torch_threads"), rt_jw_int(&w, tr.torch_threads);
            rt_jw_key(&w, "pytorch_openblas_threads"), rt_jw_int(&w, tr.blas_threads);
        }
        rt_jw_end_object(&w);
        const char *text = rt_jw_result(&w, NULL);
        if (text) fprintf(jsonl, "%s\n", text), fflush(jsonl);
        rt_jw_free(&w);
    }
    free(mm);
    ir_graph_free(train);
    ir_graph_free(eval);
    task_free(t);
    return CLI_OK;
}

int cli_bench(int argc, char **argv) {
    bench_args a = {.models = "transformer,mamba,mambaformer", .configs = "tiny", .tasks = "linear_regression",
                    .python = "/usr/bin/python3", .threads = 0, .steps = 5, .batch = 64, .seed = 1,
                    .max_seconds = 60, .mm_ms = 200, .interp_max_mb = 4096};
    cli_flag flags[] = {
        {"model", FLAG_STR, &a.models},       {"config", FLAG_STR, &a.configs},
        {"task", FLAG_STR, &a.tasks},         {"task-set", FLAG_STR, &a.task_set},
        {"set", FLAG_STR, &a.set},            {"executor", FLAG_STR, &a.executors},
        {"threads", FLAG_INT, &a.threads},    {"steps", FLAG_INT, &a.steps},
        {"batch", FLAG_INT, &a.batch},        {"seed", FLAG_INT, &a.seed},
        {"max-seconds", FLAG_F64, &a.max_seconds}, {"matmul-ms", FLAG_F64, &a.mm_ms},
        {"interp-max-mb", FLAG_F64, &a.interp_max_mb},
        {"compare-pytorch", FLAG_BOOL, &a.compare_pytorch}, {"no-matmul", FLAG_BOOL, &a.no_matmul},
        {"python", FLAG_STR, &a.python},      {"pytorch-script", FLAG_STR, &a.script},
        {"jsonl", FLAG_STR, &a.jsonl},        {"pytorch-settings", FLAG_STR, &a.torch_settings},
        {"no-fuse", FLAG_STR, &a.no_fuse},    {"unfused", FLAG_BOOL, &a.unfused},
    };
    int npos;
    if (!cli_parse(CMD, argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), &npos)) return CLI_USAGE;
    if (npos > 0) return cli_usage_error(CMD, "unexpected argument '%s'", argv[1]);
    if (a.threads < 0 || a.threads > 1024) return cli_usage_error(CMD, "--threads %" PRId64 " is outside 0..1024", a.threads);
    if (a.steps < 1 || a.steps > 200) return cli_usage_error(CMD, "--steps %" PRId64 " is outside 1..200", a.steps);
    if (a.batch < 1 || a.batch > 65536) return cli_usage_error(CMD, "--batch %" PRId64 " is outside 1..65536", a.batch);
    if (!(a.max_seconds > 0) || !(a.mm_ms > 0) || !(a.interp_max_mb > 0))
        return cli_usage_error(CMD, "--max-seconds, --matmul-ms and --interp-max-mb must be > 0");
    if (a.threads == 0) a.threads = omp_get_num_procs();
    omp_set_num_threads((int)a.threads);
    openblas_set_num_threads((int)a.threads);

    /* executors: all registered ones, or the --executor list */
    exec_rate rates[8];
    int nrates = 0;
    {
        const char *s = a.executors ? a.executors : rt_executor_names();
        char name[64];
        while (next_item(&s, name, sizeof name) && nrates < 8) {
            const rt_executor *ex = rt_executor_find(name);
            if (!ex) return cli_usage_error(CMD, "unknown executor '%s' (known: %s)", name, rt_executor_names());
            rates[nrates++] = (exec_rate){ex, 0};
        }
    }
    if (a.no_fuse && strcmp(a.no_fuse, "all") != 0) {
        const char *s = a.no_fuse;
        char name[128];
        while (next_item(&s, name, sizeof name)) {
            char known[] = FUSE_PATTERNS;
            bool found = false;
            char *save = NULL;
            for (char *p = strtok_r(known, ", ", &save); p && !found; p = strtok_r(NULL, ", ", &save))
                found = strcmp(p, name) == 0;
            if (!found) return cli_usage_error(CMD, "--no-fuse: unknown pattern '%s' (known: %s, or all)", name, FUSE_PATTERNS);
        }
    }
    /* check the task names before the long measurements */
    {
        const char *s = a.tasks;
        char name[128];
        while (next_item(&s, name, sizeof name)) {
            task_error te;
            task *t = task_create(name, a.task_set, &te);
            if (!t) return cli_usage_error(CMD, "%s", te.msg);
            task_free(t);
        }
    }
    FILE *jsonl = NULL;
    if (a.jsonl && !(jsonl = fopen(a.jsonl, "a"))) {
        fprintf(stderr, "iclc bench: cannot open %s: %s\n", a.jsonl, strerror(errno));
        return CLI_USAGE;
    }

    cg_jit *jit = NULL;
    cg_error e = cg_jit_create(&jit, NULL);
    if (e.failed) {
        fprintf(stderr, "iclc bench: %s\n", e.msg);
        if (jsonl) fclose(jsonl);
        return CLI_FAIL;
    }
    const cg_cpu *cpu = cg_jit_cpu(jit);
    char ver[32];
    cg_jit_llvm_version(ver);
    printf("iclc bench: %s (%d-bit vectors%s), LLVM %s, %" PRId64 " threads, executors %s, load average %.2f\n", cpu->name,
           cpu->vec_bits, cpu->has_fma ? ", FMA" : "", ver, a.threads, a.executors ? a.executors : rt_executor_names(),
           rt_loadavg());
    /* the best of many short measurements (~1 ms each): a busy machine only ever lowers the peak, and
     * short runs fit between other processes' time slices, as the short kernels measured below do */
    cg_peak_result pr, pr2;
    const int64_t peak_iters = 1 << 19;
    e = cg_peak_measure(jit, (int)a.threads, peak_iters, &pr);
    for (int i = 0; i < 20 && !e.failed; i++) {
        e = cg_peak_measure(jit, (int)a.threads, peak_iters, &pr2);
        if (!e.failed) {
            if (pr2.gflops_1 > pr.gflops_1) pr.gflops_1 = pr2.gflops_1;
            if (pr2.gflops_all > pr.gflops_all) pr.gflops_all = pr2.gflops_all;
            pr.check_ok &= pr2.check_ok;
        }
    }
    peak_info pk = {0, 0, (int)a.threads};
    if (e.failed || !pr.check_ok) {
        fprintf(stderr, "iclc bench: FMA peak: %s\n", e.failed ? e.msg : "kernel result check failed");
        cg_jit_destroy(jit);
        if (jsonl) fclose(jsonl);
        return CLI_FAIL;
    }
    if (pr.threads == 1 && pr.gflops_all > pr.gflops_1) pr.gflops_1 = pr.gflops_all; /* the same measurement */
    pk.g1 = pr.gflops_1, pk.gall = pr.gflops_all, pk.threads = pr.threads;
    if (pr.threads == 1)
        printf("fp32 FMA peak (generated %d-float FMA loop, best of 21): %.1f GFLOP/s on 1 thread\n", pr.vec_floats,
               pr.gflops_1);
    else
        printf("fp32 FMA peak (generated %d-float FMA loop, best of 21): %.1f GFLOP/s on 1 thread, %.1f on %d threads\n",
               pr.vec_floats, pr.gflops_1, pr.gflops_all, pr.threads);

    int status = CLI_OK;
    const char *ms = a.models;
    char model[256];
    while (status == CLI_OK && next_item(&ms, model, sizeof model)) {
        const char *cs = a.configs;
        char config[128];
        while (status == CLI_OK && next_item(&cs, config, sizeof config)) {
            const char *ts = a.tasks;
            char tname[128];
            while (status == CLI_OK && next_item(&ts, tname, sizeof tname))
                status = bench_one(&a, jit, &pk, model, config, tname, rates, nrates, jsonl);
        }
    }
    printf("\nload average at the end: %.2f (timings are the minimum over repetitions; other processes skew them)\n",
           rt_loadavg());
    cg_jit_destroy(jit);
    if (jsonl) fclose(jsonl);
    return status;
}
