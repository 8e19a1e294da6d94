/* `iclc graph` — print, draw or run a graph: an IR text file, or a model built from Lua.
 *
 *   iclc graph FILE.ir [--run] [--seed N]
 *   iclc graph --model models.lua:mamba --config tiny --task linear_regression [--format dot]
 *   iclc graph --model ... --init-out w.safetensors                  # initial weights
 *   iclc graph --model ... --inputs in.safetensors --weights w.safetensors --out out.safetensors
 *
 * Running uses the reference interpreter in fp32 mode (every op's result rounded to float). Inputs not
 * given by --inputs are N(0, 1) draws of the seed; params not given by --weights come from their
 * initializers with the seed. */
#include "codegen/cg_plan.h"
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "ir/philox.h"
#include "passes/fuse.h"
#include "passes/passes.h"
#include "runtime/cli.h"
#include "runtime/rt_exec_jit.h"
#include "runtime/rt_fuse.h"
#include "runtime/rt_loss.h"
#include "runtime/rt_model.h"
#include "tasks/task.h"
#include "runtime/rt_safetensors.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "graph"

typedef struct graph_args {
    bool run, train, plan;
    int64_t seed, batch;
    const char *model, *config, *set, *task, *models_dir, *format;
    const char *init_out, *inputs, *weights, *out;
    const char *passes, *dump_after, *no_fuse;
} graph_args;

/* ---- loading ---- */

static char *read_text(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s", path);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        char *p = cap < ((size_t)1 << 31) ? realloc(buf, cap * 2 + 1) : NULL;
        if (!p) {
            free(buf);
            buf = NULL;
        } else {
            buf = p, cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        snprintf(err, errlen, "cannot read %s: %s", path, buf ? "read error" : "too large");
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        snprintf(err, errlen, "%s: not a text file (contains a NUL byte)", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static ir_graph *load_ir(const char *path, char *err, size_t errlen) {
    char *text = read_text(path, err, errlen);
    if (!text) return NULL;
    ir_graph *g = ir_parse(text, path, err, errlen);
    free(text);
    if (g && !ir_verify(g)) {
        snprintf(err, errlen, "%s: %s", path, ir_error(g));
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

/* ---- printing ---- */

static void print_meta(const fe_model *m) {
    const fe_shape *s = &m->shape;
    printf("# model %s:%s  config %s  task %s (B=%" PRId64 " T=%" PRId64 " d_in=%" PRId64 " d_out=%" PRId64 ")\n",
           m->model_file, m->model_name, m->config_name, s->task, s->B, s->T, s->d_in, s->d_out);
    printf("# config");
    for (int i = 0; i < m->nconfig; i++) printf(" %s=%s", m->config[i].key, m->config[i].value);
    printf("\n# params %" PRId64 "  model sha256 %s", m->nparams, m->model_sha256);
    if (m->nn_sha256[0]) printf("  nn.lua sha256 %s", m->nn_sha256);
    printf("\n");
}

/* A Graphviz label string: quotes and backslashes escaped. */
static void dot_quoted(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
}

static void print_dot(const ir_graph *g, FILE *f) {
    fprintf(f, "digraph iclc {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    for (ir_id i = 0; i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        char type[96];
        fprintf(f, "  n%d [label=\"%%%d %s", i, i, ir_ops[n->op].name);
        if (n->attr.name) {
            fprintf(f, " ");
            dot_quoted(f, n->attr.name);
        }
        fprintf(f, "\\n%s", ir_type_str(n->dtype, n->shape, type, sizeof type));
        if (n->loc.file) {
            fprintf(f, "\\n");
            dot_quoted(f, n->loc.file);
            fprintf(f, ":%d", n->loc.line);
        }
        fprintf(f, "\"");
        if (n->op == OP_input) fprintf(f, ", style=filled, fillcolor=\"#cfe2ff\"");
        else if (n->op == OP_param) fprintf(f, ", style=filled, fillcolor=\"#fff3cd\"");
        else if (ir_ops[n->op].flags & OPF_CONTRACT) fprintf(f, ", style=filled, fillcolor=\"#f8d7da\"");
        else if (ir_ops[n->op].flags & OPF_SCAN) fprintf(f, ", style=filled, fillcolor=\"#d1e7dd\"");
        fprintf(f, "];\n");
        for (int k = 0; k < n->nin; k++) fprintf(f, "  n%d -> n%d;\n", ir_in(g, n, k), i);
    }
    for (int i = 0; i < g->noutputs; i++) {
        fprintf(f, "  out%d [label=\"", i);
        dot_quoted(f, g->outputs[i].name);
        fprintf(f, "\", shape=ellipse];\n  n%d -> out%d;\n", g->outputs[i].id, i);
    }
    fprintf(f, "}\n");
}

/* ---- running ---- */

/* Checks the interpreter's memory need against the machine's memory. */
static bool fits_in_memory(const ir_graph *g, char *err, size_t errlen) {
    double bytes = 0;
    for (ir_id i = 0; i < g->nnodes; i++) bytes += (double)ir_numel(g->nodes[i].shape) * sizeof(double);
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (have > 0 && bytes > 0.8 * have) {
        snprintf(err, errlen, "interpreting this graph needs %.1f GiB, more than this machine has (%.1f GiB); "
                 "use a smaller --batch", bytes / (1 << 30), have / (1 << 30));
        return false;
    }
    return true;
}

/* Fills an input with N(0, 1) draws of (seed, input name). */
static void random_input(const ir_node *n, uint64_t seed, ir_tensor *t) {
    philox_key key = philox_make_key(seed, philox_hash_str(n->attr.name) ^ 0x1A9E7u);
    int64_t count = ir_numel(t->shape);
    for (int64_t i = 0; i < count; i += 2) {
        double z0, z1;
        philox_normal2(philox_block(key, 0, (uint64_t)i / 2), &z0, &z1);
        t->data[i] = (float)z0;
        if (i + 1 < count) t->data[i + 1] = (float)z1;
    }
}

/* Copies tensor `name` of file f (F32, same shape as node n) into t. */
static bool take_tensor(const rt_st_file *f, const char *path, const ir_node *n, ir_tensor *t, char *err, size_t errlen) {
    const rt_st_tensor *s = rt_st_find(f, n->attr.name);
    char want[96];
    ir_type_str(IR_F32, n->shape, want, sizeof want);
    if (!s) {
        snprintf(err, errlen, "%s: has no tensor '%s' (%s %s)", path, n->attr.name, ir_ops[n->op].name, want);
        return false;
    }
    ir_shape got = {.rank = s->rank};
    for (int d = 0; d < s->rank && d < IR_MAX_RANK; d++) got.dim[d] = s->shape[d];
    if (s->dtype != RT_ST_F32 || !ir_shape_eq(got, n->shape)) {
        char have[96];
        snprintf(err, errlen, "%s: tensor '%s' is %s %s; the graph's %s needs %s", path, n->attr.name,
                 rt_st_dtype_name(s->dtype), ir_type_str(IR_F32, got, have, sizeof have), ir_ops[n->op].name, want);
        return false;
    }
    const float *src = s->data;
    for (int64_t i = 0; i < s->numel; i++) t->data[i] = src[i];
    return true;
}

/* Every tensor of f must be a source of kind op in g. */
static bool no_extra(const rt_st_file *f, const char *path, const ir_graph *g, ir_op op, char *err, size_t errlen) {
    for (size_t i = 0; i < rt_st_count(f); i++) {
        const char *name = rt_st_at(f, i)->name;
        if (ir_find_source(g, op, name) == IR_NONE) {
            snprintf(err, errlen, "%s: tensor '%s' is not %s of the graph", path, name, op == OP_param ? "a param" : "an input");
            return false;
        }
    }
    return true;
}

/* Fills every source of kind op from the file at path (NULL: seeded defaults). */
static bool fill_sources(const ir_graph *g, ir_values *v, ir_op op, const char *path, uint64_t seed, char *err,
                         size_t errlen) {
    rt_st_file *f = NULL;
    if (path && !(f = rt_st_open(path, err, errlen))) return false;
    bool ok = true;
    if (!f && op == OP_param) ir_values_init_params(g, v, seed);
    for (ir_id i = 0; ok && i < g->nnodes; i++) {
        if (g->nodes[i].op != op) continue;
        if (f) ok = take_tensor(f, path, &g->nodes[i], &v->t[i], err, errlen);
        else if (op == OP_input) random_input(&g->nodes[i], seed, &v->t[i]);
    }
    ok = ok && (!f || no_extra(f, path, g, op, err, errlen));
    rt_st_close(f);
    return ok;
}

static void print_summary(const char *name, const ir_tensor *t) {
    int64_t n = ir_numel(t->shape);
    double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double x = t->data[i];
        sum += x, sq += x * x;
        lo = fmin(lo, x), hi = fmax(hi, x);
    }
    double mean = n ? sum / (double)n : 0, var = n ? sq / (double)n - mean * mean : 0;
    char type[96];
    printf("# output %s %s: mean %.6g std %.6g min %.6g max %.6g first [", name,
           ir_type_str(IR_F32, t->shape, type, sizeof type), mean, sqrt(fmax(var, 0)), lo, hi);
    for (int64_t i = 0; i < n && i < 4; i++) printf("%s%.6g", i ? ", " : "", t->data[i]);
    printf("%s]\n", n > 4 ? ", ..." : "");
}

/* Metadata written into every safetensors file of this command. */
typedef struct meta_list {
    rt_st_kv kv[64];
    char buf[64][160];
    size_t n;
} meta_list;

static void meta_add(meta_list *m, const char *key, const char *value) {
    if (m->n >= 64) return;
    snprintf(m->buf[m->n], sizeof m->buf[m->n], "%s", key);
    m->kv[m->n] = (rt_st_kv){m->buf[m->n], value};
    m->n++;
}

static void model_meta(const fe_model *fm, const char *seed, meta_list *m) {
    if (!fm) return;
    meta_add(m, "iclc.model_file", fm->model_file);
    meta_add(m, "iclc.model", fm->model_name);
    meta_add(m, "iclc.config", fm->config_name);
    meta_add(m, "iclc.task", fm->shape.task);
    meta_add(m, "iclc.model_sha256", fm->model_sha256);
    if (fm->nn_sha256[0]) meta_add(m, "iclc.nn_sha256", fm->nn_sha256);
    meta_add(m, "iclc.seed", seed);
    for (int i = 0; i < fm->nconfig; i++) {
        char key[160];
        snprintf(key, sizeof key, "config.%s", fm->config[i].key);
        meta_add(m, key, fm->config[i].value);
    }
}

/* Writes the sources of kind op (param) or the outputs (op == OP_COUNT) of v to path. */
static bool write_tensors(const ir_graph *g, const ir_values *v, ir_op op, const char *path, const meta_list *meta,
                          char *err, size_t errlen) {
    int cap = op == OP_COUNT ? g->noutputs : g->nnodes;
    rt_st_tensor *ts = calloc((size_t)cap + 1, sizeof *ts);
    float **bufs = calloc((size_t)cap + 1, sizeof *bufs);
    bool ok = ts && bufs;
    int n = 0;
    for (int i = 0; ok && i < cap; i++) {
        ir_id id = op == OP_COUNT ? g->outputs[i].id : i;
        if (op != OP_COUNT && g->nodes[id].op != op) continue;
        const ir_tensor *t = &v->t[id];
        int64_t count = ir_numel(t->shape);
        bufs[n] = malloc((size_t)(count ? count : 1) * sizeof(float));
        if (!(ok = bufs[n] != NULL)) break;
        for (int64_t k = 0; k < count; k++) bufs[n][k] = (float)t->data[k];
        ts[n] = (rt_st_tensor){.name = op == OP_COUNT ? g->outputs[i].name : g->nodes[id].attr.name,
                               .dtype = RT_ST_F32, .rank = t->shape.rank, .data = bufs[n]};
        for (int d = 0; d < t->shape.rank; d++) ts[n].shape[d] = t->shape.dim[d];
        n++;
    }
    if (!ok) snprintf(err, errlen, "%s: out of memory", path);
    else ok = rt_st_write(path, ts, (size_t)n, meta->kv, meta->n, err, errlen);
    for (int i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    free(ts);
    return ok;
}

/* --run / --inputs / --weights / --out / --init-out. Returns an exit status. */
static int run_graph(const ir_graph *g, const fe_model *fm, const graph_args *a) {
    char err[1024], seed[32];
    snprintf(seed, sizeof seed, "%" PRId64, a->seed);
    meta_list meta = {0};
    model_meta(fm, seed, &meta);
    if (!fits_in_memory(g, err, sizeof err)) {
        fprintf(stderr, "iclc graph: %s\n", err);
        return CLI_USAGE;
    }
    ir_values *v = ir_values_new(g);
    if (!v) {
        fprintf(stderr, "iclc graph: out of memory for the graph's values\n");
        return CLI_FAIL;
    }
    int status = CLI_USAGE;
    bool execute = a->run || a->inputs || a->weights || a->out;
    if (!fill_sources(g, v, OP_param, a->weights, (uint64_t)a->seed, err, sizeof err) ||
        !fill_sources(g, v, OP_input, a->inputs, (uint64_t)a->seed, err, sizeof err))
        goto fail;
    status = CLI_FAIL;
    if (a->init_out && !write_tensors(g, v, OP_param, a->init_out, &meta, err, sizeof err)) goto fail;
    if (execute) {
        if (!ir_interp(g, v, &(ir_interp_opts){.round_f32 = true}, err, sizeof err)) goto fail;
        for (int i = 0; i < g->noutputs; i++) print_summary(g->outputs[i].name, &v->t[g->outputs[i].id]);
        if (a->out && !write_tensors(g, v, OP_COUNT, a->out, &meta, err, sizeof err)) goto fail;
    }
    ir_values_free(v);
    return CLI_OK;
fail:
    fprintf(stderr, "iclc graph: %s\n", err);
    ir_values_free(v);
    return status;
}

/* --train: the task's training loss over "pred" (its read-out heads side by side), output "loss". */
static bool append_task_loss(ir_graph *g, const char *task_name, char *err, size_t errlen) {
    task_error terr;
    task *t = task_create(task_name, NULL, &terr);
    if (!t) {
        snprintf(err, errlen, "%s", terr.msg);
        return false;
    }
    task_shape sh = task_shape_at(t, task_n_max(t));
    rt_head heads[TASK_MAX_HEADS];
    rt_task_heads(&sh, heads);
    ir_id loss = rt_loss_append(g, ir_output_find(g, "pred"), heads, sh.nheads);
    task_free(t);
    if (loss == IR_NONE || !ir_output_add(g, "loss", loss)) {
        snprintf(err, errlen, "%s", ir_error(g));
        return false;
    }
    return true;
}

typedef struct dump_state {
    const char *pass;
    bool printed;
} dump_state;

/* pass_run_list's hook: prints the graph after the pass named by --dump-after. */
static void dump_after(const char *pass, const ir_graph *g, void *user) {
    dump_state *d = user;
    if (strcmp(pass, d->pass) != 0) return;
    char *s = ir_print(g);
    printf("# after %s\n%s", pass, s ? s : "");
    free(s);
    d->printed = true;
}

/* Runs the comma-separated passes in order; "fuse" honours --no-fuse, and with --plan leaves out the
 * patterns the JIT has no kernels for. */
static bool run_passes(ir_graph *g, const graph_args *a, dump_state *d, char *err, size_t errlen) {
    char skip[512];
    if (a->plan) rt_fusion_skips(&rt_executor_jit, g, a->no_fuse, skip, sizeof skip);
    else snprintf(skip, sizeof skip, "%s", a->no_fuse ? a->no_fuse : "");
    char list[1024];
    snprintf(list, sizeof list, "%s", a->passes);
    for (char *save = NULL, *p = strtok_r(list, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
        bool okay = strcmp(p, "fuse") == 0            ? pass_fuse(g, skip)
                    : strcmp(p, "fuse_backward") == 0 ? pass_fuse_backward(g, skip)
                                                      : pass_run_list(g, p, NULL, NULL);
        if (!okay) {
            snprintf(err, errlen, "pass %s: %s", p, ir_error(g));
            return false;
        }
        if (d->pass) dump_after(p, g, d);
    }
    return true;
}

int cli_graph(int argc, char **argv) {
    graph_args a = {.seed = 1, .batch = 64, .task = "linear_regression", .format = "text"};
    cli_flag flags[] = {
        {"run", FLAG_BOOL, &a.run},          {"seed", FLAG_INT, &a.seed},
        {"model", FLAG_STR, &a.model},       {"config", FLAG_STR, &a.config},
        {"set", FLAG_STR, &a.set},           {"task", FLAG_STR, &a.task},
        {"batch", FLAG_INT, &a.batch},       {"models-dir", FLAG_STR, &a.models_dir},
        {"format", FLAG_STR, &a.format},     {"init-out", FLAG_STR, &a.init_out},
        {"inputs", FLAG_STR, &a.inputs},     {"weights", FLAG_STR, &a.weights},
        {"out", FLAG_STR, &a.out},           {"train", FLAG_BOOL, &a.train},
        {"passes", FLAG_STR, &a.passes},     {"dump-after", FLAG_STR, &a.dump_after},
        {"no-fuse", FLAG_STR, &a.no_fuse},   {"plan", FLAG_BOOL, &a.plan},
    };
    int npos;
    if (!cli_parse(CMD, argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), &npos)) return CLI_USAGE;
    bool text = strcmp(a.format, "text") == 0, dot = strcmp(a.format, "dot") == 0;
    if (!text && !dot && strcmp(a.format, "none") != 0)
        return cli_usage_error(CMD, "--format must be text, dot or none, got '%s'", a.format);
    if (a.model ? npos != 0 : npos != 1)
        return cli_usage_error(CMD, a.model ? "takes no FILE.ir with --model" : "needs one FILE.ir or --model SPEC");
    if (a.seed < 0) return cli_usage_error(CMD, "--seed must be >= 0");

    char err[8192];
    ir_graph *g = NULL;
    fe_model *fm = NULL;
    if (a.model) {
        fe_options o = {.model = a.model, .config = a.config, .set = a.set, .models_dir = a.models_dir};
        if (!fe_task_shape(a.task, a.batch, &o.shape, err, sizeof err)) return cli_usage_error(CMD, "%s", err);
        fm = fe_build(&o, err, sizeof err);
        if (!fm) {
            fprintf(stderr, "%s\n", err);
            return CLI_USAGE;
        }
        g = fm->graph;
    } else {
        if (a.config || a.set || a.models_dir) return cli_usage_error(CMD, "--config, --set and --models-dir need --model");
        g = load_ir(argv[1], err, sizeof err);
        if (!g) {
            fprintf(stderr, "iclc graph: %s\n", err);
            return CLI_USAGE;
        }
    }
    dump_state dump = {a.dump_after, false};
    if (a.train && !a.passes) a.passes = "fuse,autodiff,adam,fuse_backward,simplify,cse,dce,verify";
    if (a.no_fuse && !a.passes) a.passes = "fuse";
    if ((a.train && !append_task_loss(g, a.task, err, sizeof err)) ||
        (a.passes && !run_passes(g, &a, &dump, err, sizeof err))) {
        fprintf(stderr, "iclc graph: %s\n", err);
        if (fm) fe_model_free(fm);
        else ir_graph_free(g);
        return CLI_USAGE;
    }
    if (a.dump_after && !dump.printed) {
        fprintf(stderr, "iclc graph: --dump-after %s: no such pass ran (ran: %s)\n", a.dump_after,
                a.passes ? a.passes : "none");
        if (fm) fe_model_free(fm);
        else ir_graph_free(g);
        return CLI_USAGE;
    }
    if (a.dump_after) text = false; /* the dump is the output */
    int status = CLI_OK;
    if (a.plan) {
        text = dot = false;
        if (!cg_plan_print_graph(g, 0, stdout, err, sizeof err)) {
            fprintf(stderr, "iclc graph: --plan: %s\n", err);
            status = CLI_FAIL;
        }
    }
    if (text) {
        char *s = ir_print(g);
        if (!s) status = CLI_FAIL;
        if (fm) print_meta(fm);
        fputs(s ? s : "", stdout);
        free(s);
    } else if (dot) {
        print_dot(g, stdout);
    }
    fflush(stdout);
    if (status == CLI_OK && (a.run || a.init_out || a.inputs || a.weights || a.out)) status = run_graph(g, fm, &a);
    if (fm) fe_model_free(fm);
    else ir_graph_free(g);
    return status;
}
