/* rt_model.h — a model of a Lua file, built for a task's prompt layout: the bridge between the
 * frontend (Lua -> graph) and the training runtime. */
#ifndef ICLC_RUNTIME_RT_MODEL_H
#define ICLC_RUNTIME_RT_MODEL_H

#include "ir/ir.h"
#include "runtime/rt_loss.h"
#include "tasks/task.h"

typedef struct rt_model_spec {
    const char *model;  /* "models.lua:mamba", "my.lua:my_hybrid" or a built-in name "mamba" */
    const char *config; /* config name, e.g. "tiny" */
    const char *set;    /* config overrides "D=64,layers=2", or NULL */
} rt_model_spec;

/* What a run records about its model (for checkpoints and logs). */
typedef struct rt_model_info {
    char file[512];    /* the model file ("<built-in>/models.lua" for the embedded one) */
    char hash[72];     /* hash of the file's contents, hex */
    char config[2048]; /* the resolved config as JSON */
    int64_t params;    /* number of trainable scalars */
} rt_model_info;

/* Builds the model for B prompts laid out with N points of task t: a verified graph with the input
 * "tokens" f32[B,T,d_tok] and the output "pred" f32[B,T,d_out], d_out the widest read-out head.
 * `training` selects training-time behaviour (dropout). info may be NULL. NULL + message on error
 * (the message names the Lua file:line, op and shapes). */
ir_graph *rt_model_build(const rt_model_spec *m, const task *t, int64_t B, int64_t N, bool training,
                         rt_model_info *info, char *err, size_t errlen);

/* The task's read-out heads as loss heads (sh->nheads of them): they take the model's output channels
 * side by side, in the task's head order (cot_io: s then y). */
void rt_task_heads(const task_shape *sh, rt_head *heads);

#endif
