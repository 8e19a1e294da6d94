/* rt_exec_compiled.c — an exported model library as a plan (see rt_exec_compiled.h). */
#include "runtime/rt_exec_compiled.h"
#include "runtime/rt_ckpt.h"
#include "runtime/rt_eval.h"
#include "runtime/rt_json.h"
#include "runtime/rt_model.h"
#include "runtime/rt_util.h"

#include <dlfcn.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct model model_t;

typedef struct compiled_plan {
    rt_plan base;
    void *lib;
    model_t *m;
    model_t *(*init)(const char *, char *, size_t);
    int (*predict)(model_t *, const float *, float *);
    void (*free_model)(model_t *);
    float *tokens, *pred;
} compiled_plan;

static bool compiled_run(rt_plan *p, uint64_t step, char *err, size_t errlen) {
    compiled_plan *cp = (compiled_plan *)p;
    (void)step;
    if (cp->predict(cp->m, cp->tokens, cp->pred) != 0) {
        snprintf(err, errlen, "compiled model: model_predict failed");
        return false;
    }
    return true;
}

static void compiled_free(rt_plan *p) {
    compiled_plan *cp = (compiled_plan *)p;
    if (cp->m) cp->free_model(cp->m);
    if (cp->lib) dlclose(cp->lib);
    rt_plan_release(p);
    free(cp);
}

static const rt_plan_ops compiled_ops = {compiled_run, compiled_free};
static const rt_executor compiled_executor = {"compiled", "an exported model library (iclc export)", NULL, NULL};

rt_plan *rt_compiled_open(const char *dir, const ir_graph *g, int threads, char *err, size_t errlen) {
    compiled_plan *cp = calloc(1, sizeof *cp);
    if (!cp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!rt_plan_init(&cp->base, &compiled_executor, &compiled_ops, g, err, errlen)) {
        free(cp);
        return NULL;
    }
    rt_plan *p = &cp->base;
    char path[4200], e2[512];
    snprintf(path, sizeof path, "%s/libmodel.so", dir);
    cp->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!cp->lib) {
        snprintf(err, errlen, "%s", dlerror());
        goto fail;
    }
    void (*shape)(long long *, long long *, long long *, long long *);
    *(void **)&cp->init = dlsym(cp->lib, "model_init");
    *(void **)&cp->predict = dlsym(cp->lib, "model_predict");
    *(void **)&cp->free_model = dlsym(cp->lib, "model_free");
    *(void **)&shape = dlsym(cp->lib, "model_shape");
    if (!cp->init || !cp->predict || !cp->free_model || !shape) {
        snprintf(err, errlen, "%s: not an iclc model library (model_* functions missing)", path);
        goto fail;
    }
    const rt_buffer *tok = rt_plan_find(p, "tokens"), *pred = rt_plan_find(p, "pred");
    long long B, T, din, dout;
    shape(&B, &T, &din, &dout);
    if (!tok || !pred || tok->shape.rank != 3 || pred->shape.rank != 3 || tok->shape.dim[0] != B ||
        tok->shape.dim[1] != T || tok->shape.dim[2] != din || pred->shape.dim[0] != B || pred->shape.dim[1] != T ||
        pred->shape.dim[2] != dout) {
        snprintf(err, errlen, "%s: the library's shapes [%lld,%lld,%lld] -> [%lld,%lld,%lld] are not the model's", path, B,
                 T, din, B, T, dout);
        goto fail;
    }
    cp->tokens = tok->data;
    cp->pred = pred->data;
    if (threads > 0) omp_set_num_threads(threads);
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    cp->m = cp->init(path, e2, sizeof e2);
    if (!cp->m) {
        snprintf(err, errlen, "%s", e2);
        goto fail;
    }
    return p;
fail:
    compiled_free(p);
    return NULL;
}

/* A string member of the manifest ("" when absent). */
static const char *mstr(const rt_json *root, const char *key) {
    const rt_json *v = rt_json_get(root, key);
    return v && v->kind == RT_JSON_STRING ? v->string : "";
}

static void write_csv(FILE *f, const void *r) { rt_eval_write_csv(r, f); }

int rt_eval_compiled(const char *run_dir, const char *dir, int64_t prompts, int64_t threads, const char *csv_path) {
    char err[4400] = "", path[4200];
    int status = 2;
    task *t = NULL;
    ir_graph *g = NULL;
    rt_plan *p = NULL;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    rt_json_doc *doc = rt_json_parse_file(path, err, sizeof err);
    if (!doc) goto out;
    const rt_json *root = rt_json_root(doc);
    const rt_json *seed = rt_json_get(root, "seed"), *batch = rt_json_get(root, "batch");
    if (root->kind != RT_JSON_OBJECT || strcmp(mstr(root, "format"), "iclc-export-1") != 0 || !seed || !seed->is_int ||
        !batch || !batch->is_int) {
        snprintf(err, sizeof err, "%s: not an iclc export manifest", path);
        goto out;
    }
    if (run_dir) { /* the run should be the exported one: warn when its checkpoint moved on */
        char ck[4200], e2[512];
        snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run_dir);
        rt_ckpt *c = rt_ckpt_load(ck, e2, sizeof e2);
        if (!c) {
            snprintf(err, sizeof err, "%s", e2);
            goto out;
        }
        const char *st = rt_ckpt_meta(c, "step"), *md = rt_ckpt_meta(c, "model");
        if (!st || !md || strcmp(st, mstr(root, "step")) != 0 || strcmp(md, mstr(root, "model")) != 0)
            fprintf(stderr, "iclc eval: warning: %s was exported from %s at step %s; %s is at step %s\n", dir,
                    mstr(root, "model"), mstr(root, "step"), run_dir, st ? st : "?");
        rt_ckpt_free(c);
    }
    task_error terr;
    const char *tp = mstr(root, "task_params");
    t = task_create(mstr(root, "task"), *tp ? tp : NULL, &terr);
    if (!t) {
        snprintf(err, sizeof err, "%s", terr.msg);
        goto out;
    }
    const char *set = mstr(root, "set");
    rt_model_spec spec = {mstr(root, "model"), mstr(root, "config"), *set ? set : NULL};
    g = rt_model_build(&spec, t, batch->integer, task_eval_state(t).N, false, NULL, err, sizeof err);
    if (!g) goto out;
    p = rt_compiled_open(dir, g, (int)threads, err, sizeof err);
    if (!p) goto out;
    status = 1;
    rt_eval_result r;
    int64_t B = batch->integer;
    if (!rt_evaluate(p, t, (uint64_t)seed->integer, (prompts + B - 1) / B * B, true, &r, err, sizeof err)) goto out;
    printf("%s (compiled, %s) on %s: mean over positions %.6g\n", spec.model, dir, task_get_name(t), r.mean_model);
    rt_eval_print(&r, stdout);
    bool okay = !csv_path || rt_write_atomic(csv_path, write_csv, &r, err, sizeof err);
    rt_eval_result_free(&r);
    if (okay) status = 0;
out:
    if (status) fprintf(stderr, "iclc eval: %s\n", err);
    rt_plan_free(p);
    ir_graph_free(g);
    task_free(t);
    rt_json_free(doc);
    return status;
}
