/* `iclc tune` — searches the kernel schedules of a model's training and evaluation plans on this CPU
 * (codegen/cg_tune.h) and stores the winners in the tune cache, which the JIT consults. See docs/tune.md. */
#include "codegen/cg_plan.h"
#include "codegen/cg_tune.h"
#include "runtime/cli.h"
#include "runtime/rt_exec_jit.h"
#include "runtime/rt_bench.h"
#include "runtime/rt_util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_SHAPES = 256 };

typedef struct shape {
    cg_matmul_desc d;
    char sig[1024];
    double flops;
    int uses;
} shape;

/* "60s", "2s", "1.5m", "90" -> seconds; < 0 when malformed. */
static double parse_budget(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return -1;
    if (*end == 0 || strcmp(end, "s") == 0) return v;
    if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) return 60 * v;
    if (strcmp(end, "ms") == 0) return v / 1000;
    return -1;
}

/* Adds the distinct matmuls of g's plan to shapes[]. */
static bool collect(const ir_graph *g, const cg_cpu *cpu, int threads, shape *shapes, int *n, char *err, size_t errlen) {
    cg_extbuf *ext;
    int next = cg_plan_default_ext(g, &ext);
    if (next < 0) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    cg_plan_opts po = {.cpu = cpu, .threads = threads};
    cg_plan *p = cg_plan_build(g, ext, next, &po, err, errlen);
    free(ext);
    if (!p) return false;
    for (int k = 0; k < p->nkerns; k++) {
        const cg_kern *kn = &p->kerns[k];
        if (kn->kind != CGK_MATMUL || kn->range <= 0) continue;
        char sig[1024];
        cg_tune_signature(&kn->mm, threads, sig, sizeof sig);
        int i = 0;
        while (i < *n && strcmp(shapes[i].sig, sig) != 0) i++;
        if (i == *n) {
            if (*n == MAX_SHAPES) continue;
            shapes[i] = (shape){.d = kn->mm};
            snprintf(shapes[i].sig, sizeof shapes[i].sig, "%s", sig);
            (*n)++;
        }
        shapes[i].flops += kn->mm_info.flops;
        shapes[i].uses++;
    }
    cg_plan_free(p);
    return true;
}

int cli_tune(int argc, char **argv) {
    const char *model = "transformer", *config = "tiny", *set = NULL, *task_name = "linear_regression",
               *task_params = NULL, *budget_s = "60s";
    int64_t batch = 64, threads = 0, candidates = 12, seed = 1;
    bool show = false, quiet = false;
    cli_flag flags[] = {{"model", FLAG_STR, &model},       {"config", FLAG_STR, &config},
                        {"set", FLAG_STR, &set},           {"task", FLAG_STR, &task_name},
                        {"task-params", FLAG_STR, &task_params}, {"batch", FLAG_INT, &batch},
                        {"threads", FLAG_INT, &threads},   {"budget", FLAG_STR, &budget_s},
                        {"candidates", FLAG_INT, &candidates}, {"seed", FLAG_INT, &seed},
                        {"show", FLAG_BOOL, &show},        {"quiet", FLAG_BOOL, &quiet}};
    int npos;
    if (!cli_parse("tune", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), &npos)) return CLI_USAGE;
    if (npos) return cli_usage_error("tune", "unexpected argument '%s'", argv[1]);
    double budget = parse_budget(budget_s);
    if (budget <= 0) return cli_usage_error("tune", "--budget wants a duration such as 60s, 2m or 90 (got '%s')", budget_s);
    if (batch < 1 || threads < 0 || candidates < 1 || candidates > 1000)
        return cli_usage_error("tune", "need --batch >= 1, --threads >= 0 and --candidates in 1..1000");
    char err[2200] = "";
    int status = 2;
    cg_jit *jit = NULL;
    task *t = NULL;
    ir_graph *gs[2] = {NULL, NULL};
    cg_tune_db *db = NULL;
    shape *shapes = NULL;
    cg_error e = cg_jit_create(&jit, NULL);
    if (e.failed) {
        snprintf(err, sizeof err, "%s", e.msg);
        goto out;
    }
    const cg_cpu *cpu = cg_jit_cpu(jit);
    if (!(db = cg_tune_load(cpu, true))) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    if (show) {
        cg_tune_print(db, stdout);
        status = 0;
        goto out;
    }
    int T = threads > 0 ? (int)threads : omp_get_max_threads();
    task_error terr;
    if (!(t = task_create(task_name, task_params, &terr))) {
        snprintf(err, sizeof err, "%s", terr.msg);
        goto out;
    }
    rt_model_spec spec = {model, config, set};
    int64_t N = task_eval_state(t).N;
    int n = 0;
    if (!(shapes = calloc(MAX_SHAPES, sizeof *shapes))) goto out;
    /* the training step's plan and the evaluation plan (what train, eval and bench compile) */
    for (int pass = 0; pass < 2; pass++) {
        gs[pass] = pass == 0 ? build_training_graph(&spec, t, batch, N, &rt_executor_jit, NULL, NULL, 0, err, sizeof err)
                             : build_eval_graph(&spec, t, batch, N, &rt_executor_jit, NULL, err, sizeof err);
        if (!gs[pass] || !collect(gs[pass], cpu, T, shapes, &n, err, sizeof err)) goto out;
    }
    status = 1;
    double total = 0, t0 = rt_now();
    for (int i = 0; i < n; i++) total += shapes[i].flops;
    FILE *prog = quiet ? NULL : stderr;
    double saved = 0, before = 0;
    printf("tuning %d matmul shapes of %s:%s on %s (%s, %d threads), budget %.3g s\n", n, model, config, task_name,
           cpu->name, T, budget);
    double mm_budget = budget * (T > 1 ? 0.4 : 1.0); /* the rest: threads per kernel */
    for (int i = 0; i < n; i++) {
        /* the budget: an equal floor per shape plus a share by FLOPs of what is left */
        double left = mm_budget - (rt_now() - t0);
        if (left <= 0) {
            printf("  budget spent: %d shapes left untuned\n", n - i);
            break;
        }
        double rest = 0;
        for (int j = i; j < n; j++) rest += shapes[j].flops;
        double share = left * (0.5 / (n - i) + 0.5 * (rest > 0 ? shapes[i].flops / rest : 1.0 / (n - i)));
        char label[64];
        snprintf(label, sizeof label, "[%d/%d] %lldx%lldx%lld", i + 1, n, (long long)shapes[i].d.M,
                 (long long)shapes[i].d.N, (long long)shapes[i].d.K);
        cg_tune_opts o = {.seconds = share, .threads = T, .candidates = (int)candidates, .seed = (uint64_t)seed + (uint64_t)i,
                          .progress = prog, .label = label};
        cg_tune_result r;
        e = cg_tune_matmul(jit, &shapes[i].d, &o, &r);
        if (prog) fprintf(prog, "\r\033[K");
        if (e.failed) {
            snprintf(err, sizeof err, "%.900s: %.1100s", shapes[i].sig, e.msg);
            goto out;
        }
        cg_tune_put(db, shapes[i].sig, &r.best, r.ms_best, r.ms_default, r.tried);
        before += r.ms_default * shapes[i].uses;
        saved += (r.ms_default - r.ms_best) * shapes[i].uses;
        printf("  %-24s x%d  default %8.4f ms  tuned %8.4f ms  %.2fx  (mr %d nr %d mc %d kc %d nc %d pack_a %d ku %d; %d candidates)\n",
               label, shapes[i].uses, r.ms_default, r.ms_best, r.ms_best > 0 ? r.ms_default / r.ms_best : 0, r.best.mr,
               r.best.nr, r.best.mc, r.best.kc, r.best.nc, r.best.pack_a, r.best.k_unroll, r.tried);
        if (!cg_tune_save(db, err, sizeof err)) goto out; /* after every shape: an interrupted run keeps its results */
    }
    /* threads per kernel, on the final plans (with the matmul winners): training 2/3, evaluation 1/3 */
    for (int pass = 0; pass < 2 && T > 1; pass++) {
        double left = budget - (rt_now() - t0);
        if (left <= 0.5) {
            printf("  budget spent: threads per kernel not tuned for the %s plan\n", pass ? "evaluation" : "training");
            continue;
        }
        cg_extbuf *ext;
        int next = cg_plan_default_ext(gs[pass], &ext);
        cg_plan_opts po = {.cpu = cpu, .threads = T, .tune = db};
        cg_plan *p = next >= 0 ? cg_plan_build(gs[pass], ext, next, &po, err, sizeof err) : NULL;
        free(ext);
        if (!p) goto out;
        char label[64], *serial = NULL;
        snprintf(label, sizeof label, "[%s plan]", pass ? "evaluation" : "training");
        cg_tune_opts o = {.seconds = pass ? left : left * 2 / 3, .threads = T, .progress = prog, .label = label};
        double md, mt;
        int64_t below = 0;
        e = cg_tune_threads(jit, p, &o, &serial, &md, &mt, &below);
        if (prog) fprintf(prog, "\r\033[K");
        int nser = 0;
        for (int k = 0; serial && k < p->nkerns; k++) nser += serial[k] == '1';
        int nk = p->nkerns;
        cg_plan_free(p);
        if (e.failed) {
            snprintf(err, sizeof err, "%s: %s", label, e.msg);
            goto out;
        }
        cg_tune_put_serial(db, ir_graph_hash(gs[pass]), T, serial, mt, md);
        if (pass == 0) cg_tune_put_threshold(db, T, below); /* from the training plan: the rule for other plans */
        free(serial);
        printf("  %-24s threads per kernel: %d of %d kernels on one thread; run %.3f ms -> %.3f ms (%.2fx)%s\n", label,
               nser, nk, md, mt, mt > 0 ? md / mt : 0, pass ? "" : "");
        if (pass == 0) printf("  other plans of this CPU: kernels below %lld element operations on one thread\n", (long long)below);
        if (!cg_tune_save(db, err, sizeof err)) goto out;
    }
    char path[4300];
    cg_tune_path(cpu, path, sizeof path);
    printf("tuned in %.1f s: matmuls %.3f ms -> %.3f ms per run of both plans (%.2fx); winners in %s\n", rt_now() - t0, before,
           before - saved, before - saved > 0 ? before / (before - saved) : 0, path);
    status = 0;
out:
    if (status) fprintf(stderr, "iclc tune: %s\n", err[0] ? err : "out of memory");
    free(shapes);
    ir_graph_free(gs[0]);
    ir_graph_free(gs[1]);
    task_free(t);
    cg_tune_free(db);
    cg_jit_destroy(jit);
    return status;
}
