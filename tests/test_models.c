/* test_models.c — the paper's architectures as built by models.lua + nn.lua through the frontend.
 *
 * 1. Parameter counts of every row of models.md's table (section 10).
 * 2. Each architecture's forward pass through the reference interpreter against the independent numpy
 *    implementation tests/reference/models_ref.py, on the same safetensors weights (iclc's initial
 *    weights, whose names, shapes and initial values the oracle checks against the reference) and the
 *    same random tokens: 1e-5 relative (max |diff| / max |ref|) with fp32 rounding of every op, 1e-9
 *    in double.
 * 3. Errors a model can raise (a prompt longer than the position table) come back as messages.
 *
 * Dimensions: B prompts, T tokens, d_in token width, d_out predictions per token. */
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "runtime/rt_safetensors.h"
#include "tests/tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The graph of a built-in model on a task's prompt with batch B; NULL with the message in err. */
static fe_model *build(const char *model, const char *config, const char *task, int64_t B, const char *set, char *err,
                       size_t errlen) {
    fe_shape sh;
    if (!fe_task_shape(task, B, &sh, err, errlen)) return NULL;
    return fe_build(&(fe_options){.model = model, .config = config, .set = set, .shape = sh}, err, errlen);
}

static void test_counts(void) {
    static const struct {
        const char *model, *config, *task;
        int64_t want;
    } rows[] = {
        {"transformer", "linear_regression", "linear_regression", 425473},
        {"transformer", "standard", "linear_regression", 9534977},
        {"transformer", "sparse_parity", "sparse_parity", 9634305},
        {"mamba", "linear_regression", "linear_regression", 470017},
        {"mamba", "standard", "linear_regression", 10524673},
        {"s4_mamba", "linear_regression", "linear_regression", 437249},
        {"s4", "linear_regression", "linear_regression", 153601},
        {"standard_hybrid", "linear_regression", "linear_regression", 382081},
        {"mambaformer", "linear_regression", "linear_regression", 485889},
        {"mambaformer", "standard", "linear_regression", 8867841},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[1024] = "";
        fe_model *m = build(rows[i].model, rows[i].config, rows[i].task, 64, NULL, err, sizeof err);
        if (!m) diag("%s", err);
        is_int(m ? m->nparams : -1, rows[i].want, "%s %s on %s: %lld parameters", rows[i].model, rows[i].config,
               rows[i].task, (long long)rows[i].want);
        fe_model_free(m);
    }
}

/* Writes every param of g (values v) and the tokens to safetensors files. */
static bool write_weights(const ir_graph *g, const ir_values *v, const char *path, char *err, size_t errlen) {
    rt_st_tensor *t = calloc((size_t)g->nnodes, sizeof *t);
    float **bufs = calloc((size_t)g->nnodes, sizeof *bufs);
    size_t n = 0;
    bool okay = t && bufs;
    for (ir_id id = 0; okay && id < g->nnodes; id++) {
        const ir_node *nd = ir_node_at(g, id);
        if (nd->op != OP_param) continue;
        int64_t k = ir_numel(nd->shape);
        bufs[n] = malloc((size_t)(k ? k : 1) * sizeof(float));
        if (!bufs[n]) { okay = false; break; }
        for (int64_t e = 0; e < k; e++) bufs[n][e] = (float)v->t[id].data[e];
        t[n] = (rt_st_tensor){.name = nd->attr.name, .dtype = RT_ST_F32, .rank = nd->shape.rank, .data = bufs[n]};
        for (int r = 0; r < nd->shape.rank; r++) t[n].shape[r] = nd->shape.dim[r];
        n++;
    }
    if (okay) okay = rt_st_write(path, t, n, NULL, 0, err, errlen);
    for (size_t i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(t);
    return okay;
}

static bool write_one(const char *path, const char *name, ir_shape s, const double *x, char *err, size_t errlen) {
    int64_t k = ir_numel(s);
    float *f = malloc((size_t)k * sizeof *f);
    if (!f) return false;
    for (int64_t i = 0; i < k; i++) f[i] = (float)x[i];
    rt_st_tensor t = {.name = name, .dtype = RT_ST_F32, .rank = s.rank, .data = f};
    for (int r = 0; r < s.rank; r++) t.shape[r] = s.dim[r];
    bool okay = rt_st_write(path, &t, 1, NULL, 0, err, errlen);
    free(f);
    return okay;
}

/* Runs `cmd`; true when it exits 0. Its output goes to TAP as comments. */
static bool run(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    char line[512];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        diag("%s", line);
    }
    return pclose(p) == 0;
}

/* Interprets g on tokens; returns the "pred" values (malloc'd, numel in *n) or NULL. */
static double *interpret(const ir_graph *g, const ir_values *params, const double *tokens, bool round_f32,
                         int64_t *n) {
    ir_values *v = ir_values_new(g);
    if (!v) return NULL;
    for (ir_id id = 0; id < g->nnodes; id++)
        if (ir_node_at(g, id)->op == OP_param)
            memcpy(v->t[id].data, params->t[id].data, (size_t)ir_numel(ir_node_at(g, id)->shape) * sizeof(double));
    ir_id tok = ir_find_source(g, OP_input, "tokens");
    memcpy(v->t[tok].data, tokens, (size_t)ir_numel(ir_node_at(g, tok)->shape) * sizeof(double));
    char err[512];
    double *out = NULL;
    if (ir_interp(g, v, &(ir_interp_opts){.round_f32 = round_f32}, err, sizeof err)) {
        ir_id y = ir_output_find(g, "pred");
        *n = ir_numel(ir_node_at(g, y)->shape);
        out = malloc((size_t)*n * sizeof *out);
        if (out) memcpy(out, v->t[y].data, (size_t)*n * sizeof *out);
    } else {
        diag("interpreter: %s", err);
    }
    ir_values_free(v);
    return out;
}

/* max |a - b| / max |b| */
static double rel_err(const double *a, const double *b, int64_t n) {
    double d = 0, s = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
        if (!isfinite(a[i])) return INFINITY;
    }
    return d / s;
}

/* One architecture on one task at a tiny size: iclc interpreter vs numpy. */
static void test_oracle(const char *model, int n_layer, const char *task, const char *set, const char *dir) {
    char err[1024] = "", cmd[2048], w[512], in[512], ref[512];
    snprintf(w, sizeof w, "%s/w.safetensors", dir);
    snprintf(in, sizeof in, "%s/in.safetensors", dir);
    snprintf(ref, sizeof ref, "%s/ref.safetensors", dir);
    fe_model *m = build(model, "tiny", task, 2, set, err, sizeof err);
    if (!m) {
        diag("%s", err);
        ok(0, "%s on %s: builds", model, task);
        skip(2, "no graph");
        return;
    }
    const ir_graph *g = m->graph;
    ir_values *params = ir_values_new(g);
    ir_values_init_params(g, params, 1234);
    ir_id tok = ir_find_source(g, OP_input, "tokens");
    ir_shape ts = ir_node_at(g, tok)->shape;
    int64_t nt = ir_numel(ts);
    double *tokens = malloc((size_t)nt * sizeof *tokens);
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (int64_t i = 0; i < nt; i++) { /* xorshift, uniform in (-1.7, 1.7), exactly representable in f32 */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        tokens[i] = (double)(float)(((double)(s >> 11) / 9007199254740992.0 * 2 - 1) * 1.7);
    }
    bool files = write_weights(g, params, w, err, sizeof err) && write_one(in, "tokens", ts, tokens, err, sizeof err);
    if (!files) diag("%s", err);
    const char *py = "/usr/bin/python3 " ICLC_SOURCE_DIR "/tests/reference/models_ref.py";
    snprintf(cmd, sizeof cmd,
             "%s forward --check-init --model %s --n-layer %d --heads 2 --task %s --weights %s --inputs %s --out %s 2>&1",
             py, model, n_layer, task, w, in, ref);
    bool have_ref = files && run(cmd);
    ok(have_ref, "%s on %s: parameter names, shapes and initial values follow the reference", model, task);
    rt_st_file *rf = have_ref ? rt_st_open(ref, err, sizeof err) : NULL;
    const rt_st_tensor *rt = rf ? rt_st_find(rf, "pred") : NULL;
    int64_t n64 = 0, n32 = 0;
    double *y64 = interpret(g, params, tokens, false, &n64), *y32 = interpret(g, params, tokens, true, &n32);
    double *want = rt ? malloc((size_t)rt->numel * sizeof *want) : NULL;
    if (want)
        for (int64_t i = 0; i < rt->numel; i++) want[i] = ((const float *)rt->data)[i];
    bool same = want && y64 && y32 && rt->numel == n64 && n64 == n32;
    /* The oracle's output is stored in f32, so the double comparison is limited by that rounding. */
    double e64 = same ? rel_err(y64, want, n64) : INFINITY, e32 = same ? rel_err(y32, want, n32) : INFINITY;
    ok(e64 <= 1e-6, "%s on %s: interpreter (double) = numpy (rel. error %.2g over %lld values)", model, task, e64,
       (long long)n64);
    ok(e32 <= 1e-5, "%s on %s: interpreter (fp32 rounding) = numpy to 1e-5 (rel. error %.2g)", model, task, e32);
    free(want);
    free(y64);
    free(y32);
    rt_st_close(rf);
    free(tokens);
    ir_values_free(params);
    fe_model_free(m);
}

static void test_errors(void) {
    char err[1024] = "";
    fe_model *m = build("standard_hybrid", "tiny", "relu_2nn_regression", 2, NULL, err, sizeof err);
    ok(!m, "standard_hybrid with 101 position rows rejects a 202-token prompt");
    like(err, "raise n_positions", "the message names the key to raise (%s)", err);
    fe_model_free(m);
    m = build("standard_hybrid", "tiny", "relu_2nn_regression", 2, "pe_rows=202", err, sizeof err);
    ok(m != NULL, "pe_rows=202 fixes it");
    if (!m) diag("%s", err);
    fe_model_free(m);
    m = build("transformer", "tiny", "linear_regression", 2, "layers=1.5", err, sizeof err);
    ok(!m, "a fractional layer count is an error");
    like(err, "layers", "the message names the key (%s)", err);
    fe_model_free(m);
}

/* S4-Mamba's channel dropout: one rand_mask (B, 1, E) per block in training, none at evaluation. */
static void test_dropout(void) {
    static const struct {
        const char *set;
        int want;
    } cases[] = {{"D=16,layers=1", 2}, {"D=16,layers=1,train=0", 0}, {"D=16,layers=1,dropout=0", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[1024] = "";
        fe_model *m = build("s4_mamba", "tiny", "linear_regression", 2, cases[i].set, err, sizeof err);
        int masks = 0;
        bool shaped = true;
        for (ir_id id = 0; m && id < m->graph->nnodes; id++) {
            const ir_node *nd = ir_node_at(m->graph, id);
            if (nd->op != OP_rand_mask) continue;
            masks++;
            shaped &= nd->shape.rank == 3 && nd->shape.dim[0] == 2 && nd->shape.dim[1] == 1 && nd->shape.dim[2] == 32 &&
                      fabs(nd->attr.value - 0.1) < 1e-12;
        }
        if (!m) diag("%s", err);
        ok(m && masks == cases[i].want && shaped, "s4_mamba %s: %d dropout masks of shape (B, 1, E), p = 0.1 (got %d)",
           cases[i].set, cases[i].want, masks);
        fe_model_free(m);
    }
}

/* The user's hybrid of docs/models.md, from its own file with the built-in configs. */
static void test_user_hybrid(void) {
    char err[1024] = "";
    fe_shape sh;
    fe_model *m = NULL;
    if (fe_task_shape("linear_regression", 64, &sh, err, sizeof err))
        m = fe_build(&(fe_options){.model = ICLC_SOURCE_DIR "/tests/lua/user_hybrid.lua:mamba_attn", .config = "tiny",
                                   .shape = sh},
                     err, sizeof err);
    if (!m) diag("%s", err);
    /* tiny: D 64, 6 blocks = 4 Mamba (32768 each) + 2 attention (16768 each), read-in 1344, norm_f 128, read-out 65 */
    is_int(m ? m->nparams : -1, 166145, "user hybrid tests/lua/user_hybrid.lua:mamba_attn builds with 166145 parameters");
    fe_model_free(m);
}

/* Every model of the catalog with every config builds on the config's own task (tiny, small, standard:
 * linear regression), and describe() states the layer counting. */
static void test_catalog(void) {
    char err[1024] = "";
    fe_catalog *c = fe_catalog_load(NULL, NULL, err, sizeof err);
    if (!c) {
        diag("%s", err);
        ok(0, "the built-in catalog loads");
        return;
    }
    ok(c->nmodels == 9 && c->nconfigs == 13, "catalog: 9 models, 13 configs (got %d, %d)", c->nmodels, c->nconfigs);
    int built = 0, total = 0, described = 0;
    for (int j = 0; j < c->nconfigs; j++) {
        const char *task = c->configs[j];
        fe_shape sh;
        if (strcmp(task, "retrieval") == 0) task = "mqar";
        if (!fe_task_shape(task, 64, &sh, err, sizeof err)) task = "linear_regression";
        for (int i = 0; i < c->nmodels; i++) {
            fe_model *m = build(c->models[i], c->configs[j], task, 64, NULL, err, sizeof err);
            total++;
            if (m) built++;
            else diag("%s %s on %s: %s", c->models[i], c->configs[j], task, err);
            fe_model_free(m);
            const char *d = c->describe ? c->describe[i * c->nconfigs + j] : NULL;
            if (d && (strstr(d, "GPT-2 blocks") || strstr(d, "1 layer = 2 blocks") || strstr(d, "n_layer"))) described++;
        }
    }
    is_int(built, total, "every model x config builds on its task (%d of %d)", built, total);
    is_int(described, total, "describe() states the layer counting for every model x config");
    fe_catalog_free(c);
}

/* Layers no architecture uses (RMSNorm) or that the oracle only sees inside a model (exact GELU), from a
 * model file written here, against C on the interpreter in double. */
static void test_layers(const char *dir) {
    char path[256], err[1024] = "";
    snprintf(path, sizeof path, "%s/layers.lua", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        ok(0, "write %s", path);
        return;
    }
    fputs("local nn = require('nn')\n"
          "local function tokens(s) return iclc.input('tokens', {s.B, s.T, s.d_in}) end\n"
          "return {\n"
          "  rms = function(c, s) return nn.rms_norm(tokens(s), 'n'):slice(2, 0, 1) end,\n"
          "  gelu = function(c, s) return nn.gelu_erf(tokens(s)):slice(2, 0, 1) end,\n"
          "}\n",
          f);
    fclose(f);
    for (int which = 0; which < 2; which++) {
        char model[300];
        snprintf(model, sizeof model, "%s:%s", path, which ? "gelu" : "rms");
        fe_shape sh;
        fe_model *m = fe_task_shape("linear_regression", 2, &sh, err, sizeof err)
                          ? fe_build(&(fe_options){.model = model, .config = "tiny", .shape = sh}, err, sizeof err)
                          : NULL;
        if (!m) {
            diag("%s", err);
            ok(0, "%s builds", model);
            continue;
        }
        ir_values *params = ir_values_new(m->graph);
        ir_values_init_params(m->graph, params, 1);
        int64_t nt = sh.B * sh.T * sh.d_in, n = 0;
        double *x = malloc((size_t)nt * sizeof *x), worst = 0;
        for (int64_t i = 0; i < nt; i++) x[i] = sin(0.37 * (double)i) * 3;
        double *y = interpret(m->graph, params, x, false, &n);
        for (int64_t r = 0; y && r < sh.B * sh.T; r++) {
            const double *row = x + r * sh.d_in;
            double ms = 0, want;
            for (int64_t c = 0; c < sh.d_in; c++) ms += row[c] * row[c] / (double)sh.d_in;
            want = which ? 0.5 * row[0] * (1 + erf(row[0] / sqrt(2))) : row[0] / sqrt(ms + 1e-5);
            worst = fmax(worst, fabs(y[r] - want));
        }
        ok(y && n == sh.B * sh.T && worst < 1e-12, "nn.%s = its formula (max error %.2g)", which ? "gelu_erf" : "rms_norm",
           worst);
        free(y);
        free(x);
        ir_values_free(params);
        fe_model_free(m);
    }
}

int main(void) {
    test_catalog();
    test_user_hybrid();
    test_dropout();
    test_counts();
    test_errors();
    char dir[64];   /* tmpfs when there is one: the writer's fsync is free there */
    snprintf(dir, sizeof dir, "%s/iclc-test-models-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) {
        ok(0, "temporary directory");
        return done_testing();
    }
    test_layers(dir);
    const char *tiny = "D=16,layers=1,heads=2,dropout=0";
    static const struct {
        const char *model;
        int n_layer;
    } six[] = {{"transformer", 1}, {"mamba", 2}, {"s4", 2}, {"s4_mamba", 2}, {"standard_hybrid", 2}, {"mambaformer", 2},
               {"transformer_nope", 1}, {"transformer_mamba", 1}};
    for (size_t i = 0; i < sizeof six / sizeof six[0]; i++) test_oracle(six[i].model, six[i].n_layer, "linear_regression", tiny, dir);
    test_oracle("mamba_hybrid", 4, "linear_regression", "D=16,layers=2,heads=2", dir);
    test_oracle("transformer", 1, "cot_io", tiny, dir);
    test_oracle("mambaformer", 2, "mqar", tiny, dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
