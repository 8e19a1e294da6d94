/* task_cot.c — chain-of-thought I/O (tasks.md 3, Li et al. 2023b): a random two-layer ReLU network
 * whose hidden layer s_i is shown as an intermediate token between x_i and y_i.
 *
 * Layout: T = 3N tokens of d_tok = d + k + 1 floats; x_i in channels [0, d) of token 3i, s_i in
 * channels [d, d+k) of token 3i+1, y_i in channel d+k of token 3i+2 (disjoint slices: one linear
 * read-in over d_tok equals Li et al.'s three read-ins up to their biases). Heads: "s" at the x
 * tokens (width k), "y" at the s tokens (width 1); loss = sum of the two squared-error heads.
 *
 * Dimensions: d input width, k hidden width, N points. */
#include "tasks/task_impl.h"

#include <math.h>

enum { P_K = P_COMMON };

/* Latent: W[d][k], v[k]. */
static void cot_shape(const task *t, int64_t N, task_shape *sh) {
    const int64_t d = task_p(t, P_D), k = task_p(t, P_K);
    sh->N = N;
    sh->T = 3 * N;
    sh->d_tok = d + k + 1;
    sh->nheads = 2;
    sh->heads[0] = (task_head){"s", 0, 3, N, k, TASK_LOSS_SQUARED, TASK_METRIC_SQERR};
    sh->heads[1] = (task_head){"y", 1, 3, N, 1, TASK_LOSS_SQUARED, TASK_METRIC_SQERR};
    sh->nsegments = 3;
    sh->segments[0] = (task_segment){"x", 0, d};
    sh->segments[1] = (task_segment){"s", d, k};
    sh->segments[2] = (task_segment){"y", d + k, 1};
    sh->latent = d * k + k;
}

static void cot_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    (void)N;
    const int64_t d = task_p(t, P_D), K = task_p(t, P_K), D = d + K + 1;
    float *W = o->latent, *v = o->latent + d * K;
    task_rng_normals(r, R_FN, 0, W, d * K);
    task_rng_normals(r, R_FN2, 0, v, K);
    const double scale = sqrt(2.0 / (double)K);
    task_rng_normal_rows(r, R_X, 0, st.N, d, st.d_cur, o->tokens, 3 * D);
    for (int64_t i = 0; i < st.N; i++) {
        float *x = o->tokens + 3 * i * D, *s = o->tokens + (3 * i + 1) * D + d, *y = o->tokens + (3 * i + 2) * D + d + K;
        float a[4096];
        for (int64_t j = 0; j < K; j++) a[j] = 0;
        for (int64_t c = 0; c < st.d_cur; c++)
            for (int64_t j = 0; j < K; j++) a[j] += x[c] * W[c * K + j];
        double yy = 0;
        for (int64_t j = 0; j < K; j++) {
            s[j] = (float)(scale * (a[j] > 0 ? a[j] : 0));
            yy += (double)v[j] * s[j];
        }
        *y = (float)yy;
        for (int64_t j = 0; j < K; j++) o->targets[0][i * K + j] = s[j];
        o->targets[1][i] = *y;
        o->mask[0][i] = o->mask[1][i] = 1;
    }
}

const task_desc task_cot_io = {
    .name = "cot_io",
    .summary = "two-layer ReLU net with its hidden layer as a chain-of-thought token (tasks.md 3)",
    .nparams = P_COMMON + 1,
    .params = {TASK_PARAM_D(10), TASK_PARAM_N(101, "examples per prompt"), TASK_CURRICULUM(0, 0, 1, 26, 5, 2000),
               {"k", TASK_PARAM_INT, 8, 1, 4096, NULL, "hidden width (intermediate token width)"}},
    .nbaselines = 1,
    .baselines = {{"zero", TB_ZERO, 0, 1}},
    .shape = cot_shape,
    .sample = cot_sample,
    .train = {500000, TASK_BATCH, 1e-4, 10.0},
};
