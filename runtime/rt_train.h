/* rt_train.h — training and evaluation runs: the `iclc train` and `iclc eval` commands' engine.
 *
 * A run directory holds
 *   checkpoint.safetensors       weights + Adam state + run metadata (the latest good one)
 *   checkpoint.prev.safetensors  the one before it
 *   log.csv, log.jsonl           one line per logged step
 *   eval.csv                     the last evaluation's curves (model and baselines, per position)
 *
 * A step: the curriculum gives (d_cur, N); the task samples B prompts of N points straight into the
 * plan's input buffers; one run of the training plan computes the loss, the gradients and the Adam
 * update (the weights and moments are carried to the next step inside the plan). The plan is compiled
 * for each distinct N the curriculum visits (static shapes, no padding work). */
#ifndef ICLC_RUNTIME_RT_TRAIN_H
#define ICLC_RUNTIME_RT_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rt_train_opts {
    /* what to train */
    const char *model, *config, *set; /* see rt_model_spec */
    const char *task, *task_params;   /* task name and "k=v,..." overrides */
    const char *out;                  /* run directory */
    const char *backend;              /* executor name: "interp" or "jit" */
    const char *no_fuse;              /* fusion patterns to leave out ("a,b"; "all"; NULL = none) */
    /* schedule */
    int64_t steps, batch, seed, threads;
    int64_t eval_every, eval_prompts, save_every, log_every;
    /* optimizer (tasks.md 0.2: torch Adam defaults, clip 10) */
    double lr, beta1, beta2, eps, weight_decay, clip;
    bool resume; /* continue the run in `out` */
    bool quiet;  /* no progress display */
} rt_train_opts;

/* The reference's defaults (tasks.md 0.2). */
rt_train_opts rt_train_defaults(void);

/* Trains as opts says; returns a CLI exit status (0 ok, 1 failure such as NaN, 2 bad input). Messages
 * go to stderr, progress and evaluation tables to stdout. */
int rt_train(const rt_train_opts *opts);

/* Evaluates the checkpoint of run directory `dir` on `prompts` held-out prompts; prints the curves
 * and writes them as CSV to csv_path when not NULL. Returns a CLI exit status. */
int rt_eval_run(const char *dir, const char *backend, int64_t prompts, int64_t threads, const char *csv_path);

#endif
