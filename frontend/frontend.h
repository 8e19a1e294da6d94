/* frontend.h — Lua model files -> IR graphs.
 *
 * A model file is a Lua chunk returning a table of model functions `(cfg, shape) -> tensor` plus
 * `configs` (see docs/frontend.md and LUA_API.md). The frontend runs it in a sandboxed Lua 5.4 state
 * (safe libraries only, a heap limit, an instruction budget) and turns the returned tensor into a graph
 * with the input "tokens" (f32[B,T,d_in]) and the output "pred" (f32[B,T,d_out]).
 *
 *   fe_shape sh;
 *   if (!fe_task_shape("linear_regression", 64, &sh, err, sizeof err)) ...
 *   fe_model *m = fe_build(&(fe_options){.model = "models.lua:mamba", .config = "tiny", .shape = sh},
 *                          err, sizeof err);
 *   if (!m) { fprintf(stderr, "%s\n", err); return 2; }   // "file:line: op: what is wrong (shapes)"
 *   ... m->graph, m->config[i].key/value, m->model_sha256, m->nparams ...
 *   fe_model_free(m);
 *
 * Every failure is a user's mistake (bad script, unknown model, ...): the functions return NULL/false with
 * one line in err (plus a Lua traceback when ICLC_DEBUG=1). Nothing here prints or exits.
 */
#ifndef ICLC_FRONTEND_FRONTEND_H
#define ICLC_FRONTEND_FRONTEND_H

#include "ir/ir.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The prompt a model reads and writes: tokens f32[B,T,d_in] in, predictions f32[B,T,d_out] out. */
typedef struct fe_shape {
    const char *task;  /* canonical task name (static string) */
    int64_t B;         /* prompts per batch */
    int64_t T;         /* tokens per prompt */
    int64_t d_in;      /* floats per token */
    int64_t d_out;     /* predictions per token */
    int64_t n_points;  /* examples (pairs) per prompt */
    int64_t d;         /* width of x (the task's n_dims) */
    int64_t k;         /* cot_io: hidden width (0 for other tasks) */
    int64_t m;         /* mqar: queries per prompt (0 for other tasks) */
} fe_shape;

/* The shape of `task` at the end of its curriculum with batch size B (frontend/fe_taskshape.c). */
bool fe_task_shape(const char *task, int64_t B, fe_shape *out, char *err, size_t errlen);
/* "linear_regression, sparse_linear_regression, ...": the known task names, for messages. */
const char *fe_task_names(void);

typedef struct fe_options {
    const char *model;      /* "FILE.lua:NAME", or "NAME" of the built-in models.lua */
    const char *config;     /* config name; NULL = the file's default_config, else "tiny" */
    const char *set;        /* overrides "key=value,key=value" (NULL = none) */
    fe_shape shape;
    const char *models_dir; /* NULL: $ICLC_MODELS_DIR, else the embedded models.lua / nn.lua */
} fe_options;

typedef struct fe_kv {
    char *key, *value;
} fe_kv;

typedef struct fe_model {
    ir_graph *graph;        /* verified; input "tokens", output "pred" */
    char *model_file;       /* path as given, or "models.lua" (built in) */
    char *model_name;
    char *config_name;
    char model_sha256[65];  /* of the model file's contents */
    char nn_sha256[65];     /* of the nn.lua used ("" when the model did not require it) */
    fe_kv *config;          /* the resolved config (after --set), sorted by key */
    int nconfig;
    int64_t nparams;        /* sum of the element counts of every param */
    fe_shape shape;
} fe_model;

fe_model *fe_build(const fe_options *o, char *err, size_t errlen);
void fe_model_free(fe_model *m);

/* The models and configs of a model file (NULL = the built-in models.lua), in the file's order
 * (`model_names`, `config_names`) or sorted by name; describe[i * nconfigs + j] is the file's
 * `describe(model i, config j)` or NULL. */
typedef struct fe_catalog {
    char *file;
    bool builtin;
    char **models;
    int nmodels;
    char **configs;
    int nconfigs;
    char **describe;
} fe_catalog;

fe_catalog *fe_catalog_load(const char *file, const char *models_dir, char *err, size_t errlen);
void fe_catalog_free(fe_catalog *c);

/* Lowercase hex SHA-256 of data[0..len) into hex[65]. */
void fe_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
