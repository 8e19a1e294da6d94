/* task.h — the nine in-context-learning tasks of "Can Mamba Learn How to Learn?"
 * (Park et al. 2024), their curriculum, baselines and metrics. Specification:
 * ../shared/reference/tasks.md; user documentation: docs/tasks.md.
 *
 * One interface for every task family. A trainer does:
 *
 *   task_error err;
 *   task *t = task_create("linear_regression", "d=20,N=41", &err);   // NULL params = defaults
 *   if (!t) { fprintf(stderr, "%s\n", err.msg); return 2; }
 *   int64_t Nmax = task_n_max(t);                  // points at the end of the curriculum
 *   task_shape sh = task_shape_at(t, Nmax);        // T, d_tok, read-out heads, latent size
 *   task_batch b;
 *   task_batch_alloc(t, 64, Nmax, false, &b, &err); // or point b's fields at your own buffers
 *   task_curriculum cur = task_curriculum_at(t, 0);
 *   for (int64_t step = 0; step < steps; step++) {
 *       task_sample(t, cur.st, seed, TASK_TRAIN, step * 64, &b, &err);
 *       model(b.tokens [B][T][d_tok]) -> pred_h [B][count_h][width_h] at sh.heads[h]'s positions
 *       loss = sum over h of task_loss(&sh, h, &b, pred_h, grad_h);   // masked mean, see below
 *       task_curriculum_advance(t, &cur);          // after the step, exactly as tasks.md 0.5
 *   }
 *   // evaluation: TASK_EVAL_PROMPTS prompts of the separate evaluation stream at task_eval_state(t)
 *   for (first = 0; first < TASK_EVAL_PROMPTS; first += 64) {
 *       task_sample(t, task_eval_state(t), seed, TASK_EVAL, first, &b, &err);
 *       model -> pred; task_score(&sh, h, &b, pred, metric + first * count, counted + first * count);
 *   }
 *   task_curve(metric, counted, TASK_EVAL_PROMPTS, count, 1000, seed, curve);  // mean/std/CI per position
 *   // baselines on the same prompts: task_baseline_predict(t, i, &b, pred, &err), scored the same way
 *
 * Prompt layouts (T tokens of d_tok floats each; N = examples, "points"):
 *   regression family and sparse parity: T = 2N, d_tok = d; token 2i = x_i, token 2i+1 = [y_i, 0, ..., 0];
 *       one head "y": read-out at the x tokens (positions 2i), width 1.
 *   cot_io: T = 3N, d_tok = d + k + 1; token 3i = x_i in channels [0, d), token 3i+1 = s_i in channels
 *       [d, d+k), token 3i+2 = y_i in channel d+k (disjoint channel slices = one read-in per token type,
 *       see task_shape.segments); heads "s" (positions 3i, width k) and "y" (positions 3i+1, width 1).
 *   mqar: T = 2N + m, d_tok = d; tokens k_1 v_1 ... k_N v_N q_1 ... q_m; head "v" at positions 2N + j,
 *       width d.
 * Examples i >= the curriculum's N (when the layout holds more points than the state) are all-zero
 * tokens with mask 0, so a causal model sees exactly the shorter prompt.
 *
 * Randomness: prompt number i of (seed, stream) is a pure function of (seed, stream, i, state) through
 * Philox (key = seed + stream, counter = prompt index + draw index): identical whatever the thread
 * count or batch split. Training uses prompt indices step * B + b of TASK_TRAIN; evaluation uses
 * prompts 0 .. TASK_EVAL_PROMPTS-1 of TASK_EVAL, a different key, so the two never share a prompt.
 * Sampling runs in parallel over prompts with OpenMP.
 *
 * Errors: user mistakes (bad name, parameter, state) come back as false/NULL plus a one-line message in
 * task_error; nothing here prints or exits.
 */
#ifndef ICLC_TASKS_TASK_H
#define ICLC_TASKS_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    TASK_MAX_HEADS = 2,       /* read-out heads per task (cot_io has 2) */
    TASK_MAX_SEGMENTS = 3,    /* token types with their own channel slice */
    TASK_MAX_PARAMS = 16,     /* parameters per task */
    TASK_EVAL_PROMPTS = 1280, /* size of the fixed evaluation set (tasks.md 0.3) */
    TASK_BATCH = 64,          /* the paper's batch size */
};

typedef struct task task; /* opaque: a task family plus its parameter values; immutable once made */

typedef struct task_error {
    char msg[512];
} task_error;

/* Loss of a head (tasks.md 0.1, 4.1, 3, 5.1). Per counted position:
 *   SQUARED: sum over the head's width of (pred - target)^2 (width 1: plain squared error);
 *   BCE:     binary cross-entropy of sigmoid(pred) against t = (target + 1) / 2, logs clamped at -100.
 * The head's loss is the mean over counted (mask = 1) positions of the batch; a task's training
 * loss is the sum over its heads. */
typedef enum { TASK_LOSS_SQUARED, TASK_LOSS_BCE } task_loss_kind;

/* Evaluation metric per position: squared error (sum over width), or accuracy
 * (1 when sign(pred) == target, sign(0) counts as wrong). */
typedef enum { TASK_METRIC_SQERR, TASK_METRIC_ACCURACY } task_metric_kind;

/* A read-out head: the model's output at token positions start + i * stride, i < count, is a
 * vector of `width` predictions compared with targets[h][b][i][0..width). */
typedef struct task_head {
    const char *name;
    int64_t start, stride, count, width;
    task_loss_kind loss;
    task_metric_kind metric;
} task_head;

/* A token type's channel slice [offset, offset + width) of d_tok. */
typedef struct task_segment {
    const char *name;
    int64_t offset, width;
} task_segment;

/* Shapes of a prompt laid out with N points. */
typedef struct task_shape {
    int64_t N;       /* points (examples; key-value pairs for mqar) */
    int64_t T;       /* tokens per prompt */
    int64_t d_tok;   /* floats per token */
    int nheads;
    task_head heads[TASK_MAX_HEADS];
    int nsegments;
    task_segment segments[TASK_MAX_SEGMENTS];
    int64_t latent;  /* floats per prompt of the hidden function (see task_sample) */
} task_shape;

/* What the curriculum controls: visible dimensions (coordinates >= d_cur of x are 0) and points. */
typedef struct task_state {
    int64_t d_cur, N;
} task_state;

/* Curriculum (tasks.md 0.5): the state used to build the batch of `step`. */
typedef struct task_curriculum {
    int64_t step;
    task_state st;
} task_curriculum;

typedef enum { TASK_TRAIN = 1, TASK_EVAL = 2 } task_stream;

/* A batch of B prompts laid out with N points (shape = task_shape_at(t, N)). The buffers belong to the
 * caller (or to task_batch_alloc when `owned`). task_sample overwrites all of them and records the
 * state it used in `st`. */
typedef struct task_batch {
    int64_t B, N;
    float *tokens;                  /* [B][T][d_tok] */
    float *targets[TASK_MAX_HEADS]; /* [B][count_h][width_h] */
    float *mask[TASK_MAX_HEADS];    /* [B][count_h]: 1 = position counted in loss and metric */
    float *latent;                  /* optional [B][latent] (NULL = not wanted) */
    task_state st;                  /* set by task_sample */
    bool owned;
} task_batch;

/* ---- registry and parameters ---- */

typedef enum { TASK_PARAM_INT, TASK_PARAM_REAL, TASK_PARAM_CHOICE } task_param_kind;

typedef struct task_param_desc {
    const char *name;
    task_param_kind kind;
    double def;          /* default (a CHOICE stores the index into `choices`) */
    double lo, hi;       /* allowed range (inclusive) */
    const char *choices; /* CHOICE only: "paper|code" */
    const char *help;
} task_param_desc;

int task_count(void);                 /* number of task families */
const char *task_name(int i);         /* canonical name of task i */
const char *task_summary(int i);      /* one-line description */
const char *task_alias(int i);        /* the reference code's name, or NULL */

/* Makes a task from its name (or alias) and `params`, a comma-separated list of key=value
 * overrides ("d=20,N=41,p=0.5,dummy=code"; NULL or "" = defaults). NULL + message on error. */
task *task_create(const char *name, const char *params, task_error *err);
void task_free(task *t);
const char *task_get_name(const task *t);

int task_param_count(const task *t);
const task_param_desc *task_param_info(const task *t, int i);
double task_param_value(const task *t, int i);
/* Value of the parameter `name` (NAN when there is none). */
double task_param(const task *t, const char *name);
/* Writes "d=20,N=41,..." (every parameter, choices by name) into buf; returns the length it needs. */
size_t task_params_string(const task *t, char *buf, size_t n);

/* The reference's training setting for the task (tasks.md 0.2 and each task's yaml, Transformer
 * column): steps, batch size, Adam learning rate (constant) and global gradient-norm clip. mqar:
 * the paper's 300,000 sequences x 64 epochs / batch 64 = 300,000 steps, the first rate of its sweep
 * {1e-4, 4.64e-4, 2.15e-3, 1e-2}, and the retrieval yaml's clip 100. models.md may override per model. */
typedef struct task_train_defaults {
    int64_t steps, batch;
    double lr, grad_clip;
} task_train_defaults;
task_train_defaults task_training(const task *t);

/* ---- shapes, curriculum, batches ---- */

int64_t task_n_max(const task *t);          /* N at the end of the curriculum */
task_shape task_shape_at(const task *t, int64_t N);
task_state task_eval_state(const task *t);  /* {d, N max}: the evaluation setting (tasks.md 9.7) */
task_curriculum task_curriculum_at(const task *t, int64_t step);   /* closed form */
void task_curriculum_advance(const task *t, task_curriculum *c);   /* one step, iterative form */

/* Allocates zeroed buffers for B prompts of N points (latent too when `with_latent`). */
bool task_batch_alloc(const task *t, int64_t B, int64_t N, bool with_latent, task_batch *b, task_error *err);
void task_batch_free(task_batch *b);

/* Samples prompts first .. first + b->B - 1 of (seed, stream) at state `st` into b. Requires
 * 1 <= st.d_cur <= d and 1 <= st.N <= b->N. When b->latent is set, each prompt's hidden function is
 * written there too (layout per task in docs/tasks.md: w for regression, W1/W2 for the ReLU net, ...).
 * Returns false with a message on a bad state. */
bool task_sample(const task *t, task_state st, uint64_t seed, task_stream stream, uint64_t first,
                 task_batch *b, task_error *err);

/* ---- losses and metrics ---- */

/* Training loss of head h for predictions pred [B][count][width]: masked mean over the batch's counted
 * positions (0 when none is counted). When grad is not NULL it receives dLoss/dpred, same shape. */
double task_loss(const task_shape *sh, int h, const task_batch *b, const float *pred, float *grad);

/* Per-prompt, per-position metric of head h: metric [B][count] (squared error summed over the width,
 * or accuracy 0/1); counted [B][count] receives the mask (may be NULL). */
void task_score(const task_shape *sh, int h, const task_batch *b, const float *pred, double *metric,
                float *counted);

/* Aggregate over P prompts per position (tasks.md 0.3): mean and unbiased std over counted prompts,
 * and a bootstrap 90% interval of the mean (`nboot` resamples, 0 = none; lo = hi = mean then). */
typedef struct task_curve_point {
    double mean, std, lo, hi;
    int64_t n; /* counted prompts */
} task_curve_point;
void task_curve(const double *metric, const float *counted, int64_t P, int64_t count, int64_t nboot,
                uint64_t seed, task_curve_point *out);

/* The logged "excess loss" denominator of tasks.md 0.3: (1/N) sum_{p<N} max(d_cur - p, 0), the
 * expected least-squares error of noiseless linear regression averaged over positions. */
double task_excess_baseline(task_state st);

/* ---- baselines (tasks.md 6), computed on the same prompts ---- */

int task_baseline_count(const task *t);
const char *task_baseline_name(const task *t, int i);
int task_baseline_head(const task *t, int i); /* the head it predicts */
/* Predictions of baseline i for a sampled batch: pred [B][count][width] of its head, the
 * prediction at example p using only the examples before it. */
bool task_baseline_predict(const task *t, int i, const task_batch *b, float *pred, task_error *err);

#endif
