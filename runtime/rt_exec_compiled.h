/* rt_exec_compiled.h — an exported model (`iclc export`, codegen/cg_aot.h) as a plan: DIR/libmodel.so is
 * dlopen'ed, its weights are its own (DIR/weights.safetensors), and a run calls model_predict on the
 * plan's "tokens" and "pred" buffers. `iclc eval --compiled DIR` evaluates through it. */
#ifndef ICLC_RUNTIME_RT_EXEC_COMPILED_H
#define ICLC_RUNTIME_RT_EXEC_COMPILED_H

#include "runtime/rt_exec.h"

#include <stdint.h>

/* A plan over g's buffers (g: the graph the library was exported from, or any graph with the same
 * "tokens" and "pred" shapes) running DIR/libmodel.so with DIR/weights.safetensors. `threads` > 0 sets
 * the OpenMP thread count first. NULL + message when the library cannot be loaded, its shapes differ
 * from g's, or its weights are refused. */
rt_plan *rt_compiled_open(const char *dir, const ir_graph *g, int threads, char *err, size_t errlen);

/* `iclc eval RUN --compiled DIR`: evaluates the exported model in DIR (its manifest names the task,
 * model and seed) on `prompts` held-out prompts beside the baselines, like rt_eval_run; `run_dir` may be
 * NULL, else it must be the run the model was exported from. Returns a CLI exit status. */
int rt_eval_compiled(const char *run_dir, const char *dir, int64_t prompts, int64_t threads, const char *csv_path);

#endif
