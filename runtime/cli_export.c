/* `iclc export` — a trained run's evaluation model, compiled ahead of time into a standalone shared
 * library (codegen/cg_aot.h) with its weights and a manifest. See docs/export.md. */
#include "codegen/cg_aot.h"
#include "ir/philox.h"
#include "runtime/cli.h"
#include "runtime/rt_ckpt.h"
#include "runtime/rt_exec_compiled.h"
#include "runtime/rt_exec_jit.h"
#include "runtime/rt_json.h"
#include "runtime/rt_model.h"
#include "runtime/rt_safetensors.h"
#include "runtime/rt_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_text(FILE *f, const void *s) { fputs(s, f); }

typedef struct raw {
    const float *x;
    size_t n;
} raw;
static void write_raw(FILE *f, const void *ctx) {
    const raw *r = ctx;
    fwrite(r->x, sizeof *r->x, r->n, f);
}

/* Runs the JIT and the library on the same random tokens; the largest |difference| into *maxdiff. Writes
 * the tokens and the JIT's predictions to DIR/check.tokens.f32 and DIR/check.pred_jit.f32 (raw f32). */
static bool check_against_jit(const ir_graph *g, const rt_ckpt *c, const char *dir, int threads, double *maxdiff,
                              char *err, size_t errlen) {
    rt_plan *jp = rt_plan_compile(&rt_executor_jit, g, &(rt_plan_opts){.threads = threads}, err, errlen);
    rt_plan *cp = jp && rt_ckpt_restore(c, jp, false, err, errlen) ? rt_compiled_open(dir, g, threads, err, errlen) : NULL;
    bool ok = false;
    if (cp) {
        const rt_buffer *tj = rt_plan_find(jp, "tokens"), *tc = rt_plan_find(cp, "tokens");
        int64_t n = ir_numel(tj->shape);
        philox_key key = philox_make_key(12345, 0x6578);
        for (int64_t i = 0; i < n; i += 2) {
            double z0, z1;
            philox_normal2(philox_block(key, 0, (uint64_t)i), &z0, &z1);
            tj->data[i] = tc->data[i] = (float)z0;
            if (i + 1 < n) tj->data[i + 1] = tc->data[i + 1] = (float)z1;
        }
        if (rt_plan_run(jp, 0, err, errlen) && rt_plan_run(cp, 0, err, errlen)) {
            const rt_buffer *pj = rt_plan_find(jp, "pred"), *pc = rt_plan_find(cp, "pred");
            /* the tokens and the JIT's predictions, for checks in other processes (examples/predict.c) */
            char path[4200];
            raw r1 = {tj->data, (size_t)n}, r2 = {pj->data, (size_t)ir_numel(pj->shape)};
            snprintf(path, sizeof path, "%s/check.tokens.f32", dir);
            if (!rt_write_atomic(path, write_raw, &r1, err, errlen)) goto done;
            snprintf(path, sizeof path, "%s/check.pred_jit.f32", dir);
            if (!rt_write_atomic(path, write_raw, &r2, err, errlen)) goto done;
            double m = 0;
            for (int64_t i = 0; i < ir_numel(pj->shape); i++) {
                double d = fabs((double)pj->data[i] - (double)pc->data[i]);
                if (!(d <= m)) m = d; /* NaN propagates */
            }
            *maxdiff = m;
            ok = true;
        }
    }
done:
    rt_plan_free(cp);
    rt_plan_free(jp);
    return ok;
}

int cli_export(int argc, char **argv) {
    const char *out = NULL, *cpu = "host", *cc = NULL;
    int64_t batch = 64, threads = 0;
    bool check = false;
    cli_flag flags[] = {{"out", FLAG_STR, &out},       {"batch", FLAG_INT, &batch}, {"cpu", FLAG_STR, &cpu},
                        {"threads", FLAG_INT, &threads}, {"cc", FLAG_STR, &cc},     {"check", FLAG_BOOL, &check}};
    int npos;
    if (!cli_parse("export", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), &npos)) return CLI_USAGE;
    if (npos != 1) return cli_usage_error("export", "needs one run directory (e.g. iclc export runs/lr-tf --out model)");
    if (!out || !*out) return cli_usage_error("export", "--out DIR is required");
    if (batch < 1 || batch > (1 << 20)) return cli_usage_error("export", "--batch must be in 1..1048576");
    if (threads < 0) return cli_usage_error("export", "--threads must be >= 0");
    const char *run = argv[1];
    char err[4400] = "", path[4200];
    int status = 2;
    rt_ckpt *c = NULL;
    task *t = NULL;
    ir_graph *g = NULL;
    rt_plan *ip = NULL;
    rt_st_tensor *ts = NULL;
    rt_jw w;
    rt_jw_init(&w, 2);

    snprintf(path, sizeof path, "%s/checkpoint.safetensors", run);
    if (!(c = rt_ckpt_load(path, err, sizeof err))) goto out;
    const char *fmt = rt_ckpt_meta(c, "format");
    if (!fmt || strcmp(fmt, "iclc-checkpoint-1") != 0) {
        snprintf(err, sizeof err, "%s: not an iclc training checkpoint", path);
        goto out;
    }
    const char *model = rt_ckpt_meta(c, "model"), *config = rt_ckpt_meta(c, "config"), *set = rt_ckpt_meta(c, "set");
    const char *task_name = rt_ckpt_meta(c, "task"), *tp = rt_ckpt_meta(c, "task_params");
    const char *seed = rt_ckpt_meta(c, "seed"), *step = rt_ckpt_meta(c, "step");
    if (!model || !config || !task_name || !seed) {
        snprintf(err, sizeof err, "%s: checkpoint metadata lacks model, config, task or seed", path);
        goto out;
    }
    task_error terr;
    if (!(t = task_create(task_name, tp && *tp ? tp : NULL, &terr))) {
        snprintf(err, sizeof err, "%s", terr.msg);
        goto out;
    }
    rt_model_spec spec = {model, config, set && *set ? set : NULL};
    rt_model_info info;
    int64_t N = task_eval_state(t).N;
    if (!(g = rt_model_build(&spec, t, batch, N, false, &info, err, sizeof err))) goto out;
    /* the weights: restored into the interpreter's buffers (no compilation needed) */
    if (!(ip = rt_plan_compile(&rt_executor_interp, g, &(rt_plan_opts){0}, err, sizeof err))) goto out;
    if (!rt_ckpt_restore(c, ip, false, err, sizeof err)) goto out;
    if (!rt_mkdirs(out, err, sizeof err)) goto out;

    status = 1;
    cg_aot_info ai;
    cg_aot_opts ao = {.cpu = cpu, .threads = (int)threads, .cc = cc};
    cg_error e = cg_aot_build(ip->graph, out, &ao, &ai);
    if (e.failed) {
        snprintf(err, sizeof err, "%s", e.msg);
        goto out;
    }
    ts = calloc((size_t)ip->nbuffers + 1, sizeof *ts);
    if (!ts) {
        snprintf(err, sizeof err, "out of memory");
        goto out;
    }
    size_t nt = 0;
    for (int i = 0; i < ip->nbuffers; i++) {
        const rt_buffer *b = &ip->buffers[i];
        if (b->is_output || ip->graph->nodes[b->id].op != OP_param) continue;
        rt_st_tensor *x = &ts[nt++];
        x->name = b->name;
        x->dtype = RT_ST_F32;
        x->rank = b->shape.rank;
        for (int d = 0; d < b->shape.rank; d++) x->shape[d] = b->shape.dim[d];
        x->data = b->data;
    }
    rt_st_kv meta[] = {{"format", "iclc-export-weights-1"}, {"model", model}, {"config", config}, {"step", step ? step : ""}};
    snprintf(path, sizeof path, "%s/weights.safetensors", out);
    if (!rt_st_write(path, ts, nt, meta, 4, err, sizeof err)) goto out;

    const rt_buffer *tok = rt_plan_find(ip, "tokens"), *pred = rt_plan_find(ip, "pred");
    char llvm[32];
    cg_jit_llvm_version(llvm);
    rt_jw_begin_object(&w);
#define KS(k, v) (rt_jw_key(&w, k), rt_jw_string(&w, v))
#define KI(k, v) (rt_jw_key(&w, k), rt_jw_int(&w, v))
    KS("format", "iclc-export-1");
    KS("iclc_version", ICLC_VERSION);
    KS("run", run);
    KS("step", step ? step : "");
    KS("model", model);
    KS("model_file", info.file);
    KS("model_hash", info.hash);
    KS("config", config);
    KS("set", set ? set : "");
    rt_json_doc *cfg = rt_json_parse(info.config, strlen(info.config), NULL, 0);
    rt_jw_key(&w, "config_resolved");
    if (cfg) rt_jw_value(&w, rt_json_root(cfg));
    else rt_jw_string(&w, info.config);
    rt_json_free(cfg);
    KS("task", task_name);
    KS("task_params", tp ? tp : "");
    KI("seed", strtoll(seed, NULL, 10));
    KI("params", info.params);
    KI("batch", tok->shape.dim[0]);
    KI("T", tok->shape.dim[1]);
    KI("N", N);
    KI("d_in", tok->shape.dim[2]);
    KI("d_out", pred->shape.dim[2]);
    KS("cpu", ai.cpu);
    KS("llvm", llvm);
    KI("kernels", ai.nkerns);
    KI("arena_bytes", ai.arena_bytes);
    KI("scratch_bytes_per_thread", ai.scratch_bytes);
    rt_jw_key(&w, "files");
    rt_jw_begin_array(&w);
    const char *files[] = {"libmodel.so", "model.h", "weights.safetensors", "model_driver.c", "kernels.o"};
    for (int i = 0; i < 5; i++) rt_jw_string(&w, files[i]);
    rt_jw_end_array(&w);
    rt_jw_end_object(&w);
#undef KS
#undef KI
    const char *text = rt_jw_result(&w, NULL);
    snprintf(path, sizeof path, "%s/manifest.json", out);
    if (!text) {
        snprintf(err, sizeof err, "manifest: out of memory");
        goto out;
    }
    char *line = malloc(strlen(text) + 2);
    if (!line) goto out;
    sprintf(line, "%s\n", text);
    bool wrote = rt_write_atomic(path, write_text, line, err, sizeof err);
    free(line);
    if (!wrote) goto out;
    printf("exported %s:%s step %s (%lld params) for %s to %s/: libmodel.so (%d kernels, %s; LLVM %.0f ms, cc %.0f ms), "
           "model.h [%lld,%lld,%lld] -> [%lld,%lld,%lld], weights.safetensors, manifest.json\n",
           model, config, step ? step : "?", (long long)info.params, task_name, out, ai.nkerns, ai.cpu, ai.ms_llvm,
           ai.ms_cc, (long long)tok->shape.dim[0], (long long)tok->shape.dim[1], (long long)tok->shape.dim[2],
           (long long)pred->shape.dim[0], (long long)pred->shape.dim[1], (long long)pred->shape.dim[2]);
    if (check) {
        double md;
        if (!check_against_jit(ip->graph, c, out, (int)threads, &md, err, sizeof err)) goto out;
        printf("check: library vs JIT on one batch of random tokens: max |difference| %.3g\n", md);
        if (!(md <= 1e-5)) {
            snprintf(err, sizeof err, "check failed: the library's predictions differ from the JIT's by %.3g", md);
            goto out;
        }
    }
    status = 0;
out:
    if (status) fprintf(stderr, "iclc export: %s\n", err);
    rt_jw_free(&w);
    free(ts);
    rt_plan_free(ip);
    ir_graph_free(g);
    task_free(t);
    rt_ckpt_free(c);
    return status;
}
