/* rt_eval.h — evaluation on the fixed held-out prompts: the model's error (or accuracy) at every
 * context length, beside the task's baselines on the same prompts (tasks.md 0.3 and 6). */
#ifndef ICLC_RUNTIME_RT_EVAL_H
#define ICLC_RUNTIME_RT_EVAL_H

#include "runtime/rt_exec.h"
#include "tasks/task.h"

#include <stdio.h>

enum { RT_EVAL_MAX_BASELINES = 16 };

/* One head's curves: curve[0] is the model, curve[1 + i] baseline i (for the baselines of this head). */
typedef struct rt_eval_head {
    const char *name;
    task_metric_kind metric;
    int64_t count;                /* positions */
    int ncurves;
    const char *curve_names[1 + RT_EVAL_MAX_BASELINES];
    task_curve_point *curve[1 + RT_EVAL_MAX_BASELINES]; /* [count] each */
} rt_eval_head;

typedef struct rt_eval_result {
    int64_t prompts;
    int nheads;
    rt_eval_head heads[TASK_MAX_HEADS];
    double mean_model; /* position-averaged metric of the model, summed over heads */
} rt_eval_result;

/* Evaluates the plan `p` (inputs "tokens"; output "pred" f32[B,T,d_out]) on prompts 0..prompts-1 of the
 * evaluation stream of (task, seed) at task_eval_state, B prompts per run (B = the plan's batch).
 * With `baselines`, also scores every baseline on the same prompts. prompts must be a multiple of B.
 * Returns false with a message in err. Free the result with rt_eval_result_free. */
bool rt_evaluate(rt_plan *p, const task *t, uint64_t seed, int64_t prompts, bool baselines, rt_eval_result *out,
                 char *err, size_t errlen);
void rt_eval_result_free(rt_eval_result *r);

/* Prints the curves as a table (one row per position, one column per curve) to f. */
void rt_eval_print(const rt_eval_result *r, FILE *f);
/* Writes the curves as CSV (head,position,curve,mean,std,lo,hi,n) to f. */
void rt_eval_write_csv(const rt_eval_result *r, FILE *f);
/* Copies the baseline curves of `from` into `to` (same task and prompts), so training evaluates the
 * baselines once. */
bool rt_eval_copy_baselines(rt_eval_result *to, const rt_eval_result *from);

#endif
