/* task_mqar.c — vector-valued multi-query associative recall (tasks.md 5.1, 9.4): N key-value pairs
 * on the unit sphere, then m queries, each a copy of a distinct key chosen uniformly; the target at
 * query j is the value paired with its key.
 *
 * Layout: T = 2N + m tokens of width d: k_1 v_1 ... k_N v_N q_1 ... q_m; head "v" at positions
 * 2N + j, width d, squared-norm error.
 *
 * Dimensions: d vector width, N pairs, m queries. */
#include "tasks/task_impl.h"

#include <math.h>

enum { P_M = P_COMMON };

static bool mqar_check(const task *t, task_error *err) {
    if (task_p(t, P_M) > task_p(t, P_N_START))
        return task_error_set(err, "task %s: m = %lld queries need at least as many pairs, N_start = %lld", t->desc->name,
                              (long long)task_p(t, P_M), (long long)task_p(t, P_N_START));
    return true;
}

/* Latent: l[m] (0-based index of the pair each query copies; -1 when the state has too few pairs). */
static void mqar_shape(const task *t, int64_t N, task_shape *sh) {
    const int64_t d = task_p(t, P_D), m = task_p(t, P_M);
    sh->N = N;
    sh->T = 2 * N + m;
    sh->d_tok = d;
    sh->nheads = 1;
    sh->heads[0] = (task_head){"v", 2 * N, 1, m, d, TASK_LOSS_SQUARED, TASK_METRIC_SQERR};
    sh->nsegments = 1;
    sh->segments[0] = (task_segment){"k|v|q", 0, d};
    sh->latent = m;
}

/* Scales the first n coordinates to unit norm (Gaussian -> uniform on the sphere). */
static void normalize(int64_t n, float *out) {
    double ss = 0;
    for (int64_t c = 0; c < n; c++) ss += (double)out[c] * out[c];
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
    for (int64_t c = 0; c < n; c++) out[c] = (float)(out[c] * inv);
}

static void mqar_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    const int64_t d = task_p(t, P_D), m = task_p(t, P_M);
    task_rng_normal_rows(r, R_X, 0, 2 * st.N, d, st.d_cur, o->tokens, d);
    for (int64_t j = 0; j < 2 * st.N; j++) normalize(st.d_cur, o->tokens + j * d);
    int64_t l[4096];
    const int64_t mm = m < st.N ? m : st.N;
    task_rng_choose(r, R_SUPPORT, st.N, mm, l);
    for (int64_t j = 0; j < m; j++) {
        o->latent[j] = j < mm ? (float)l[j] : -1.0f;
        if (j >= mm) continue;
        const float *key = o->tokens + 2 * l[j] * d, *val = key + d;
        float *q = o->tokens + (2 * N + j) * d;
        for (int64_t c = 0; c < d; c++) {
            q[c] = key[c];
            o->targets[0][j * d + c] = val[c];
        }
        o->mask[0][j] = 1;
    }
}

const task_desc task_mqar = {
    .name = "mqar",
    .alias = "retrieval",
    .summary = "vector-valued multi-query associative recall on the unit sphere (tasks.md 5.1)",
    .nparams = P_COMMON + 1,
    .params = {TASK_PARAM_D(20), TASK_PARAM_N(32, "key-value pairs per prompt"), TASK_CURRICULUM(0, 0, 1, 0, 0, 1),
               {"m", TASK_PARAM_INT, 4, 1, 4096, NULL, "queries per prompt (distinct keys, m <= N_start)"}},
    .nbaselines = 1,
    .baselines = {{"zero", TB_ZERO, 0, 0}},
    .check = mqar_check,
    .shape = mqar_shape,
    .sample = mqar_sample,
    .train = {300000, TASK_BATCH, 1e-4, 100.0},
};
