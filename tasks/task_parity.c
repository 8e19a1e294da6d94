/* task_parity.c — sparse parity (tasks.md 4.1): x uniform on {-1, +1}^d, y = product of x over a
 * support S of k coordinates. Interleaved layout; BCE loss on the x-token outputs, accuracy metric.
 *
 * Dimensions: d token width, d_cur visible coordinates, N points, k support size. */
#include "tasks/task_impl.h"

enum { P_K = P_COMMON, P_SUPPORT, P_GROUP };
enum { SUPPORT_PROMPT, SUPPORT_BATCH };

static bool parity_check(const task *t, task_error *err) {
    if (task_p(t, P_K) > task_p(t, P_D))
        return task_error_set(err, "task %s: k = %lld exceeds d = %lld", t->desc->name, (long long)task_p(t, P_K),
                              (long long)task_p(t, P_D));
    if (task_p(t, P_K) > task_p(t, P_D_START))
        return task_error_set(err, "task %s: k = %lld exceeds d_start = %lld (k <= d_start <= d)", t->desc->name,
                              (long long)task_p(t, P_K), (long long)task_p(t, P_D_START));
    return true;
}

/* Latent: S[k] (support coordinates). */
static void parity_shape(const task *t, int64_t N, task_shape *sh) {
    task_shape_interleaved(t, N, TASK_LOSS_BCE, TASK_METRIC_ACCURACY, task_p(t, P_K), sh);
}

static void parity_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    (void)N;
    const int64_t d = task_p(t, P_D), k = task_p(t, P_K);
    int64_t S[4096];
    /* Per prompt (paper), or one support per group of `group` consecutive prompt indices (the code's
     * per-batch support); group draws use prompt counters with the top bit set. */
    task_rng g = *r;
    if (task_p(t, P_SUPPORT) == SUPPORT_BATCH) g.prompt = (1ull << 63) | (r->prompt / (uint64_t)task_p(t, P_GROUP));
    const int64_t kk = k < st.d_cur ? k : st.d_cur;
    task_rng_choose(&g, R_SUPPORT, st.d_cur, kk, S);
    for (int64_t j = 0; j < k; j++) o->latent[j] = j < kk ? (float)S[j] : -1.0f;
    /* Sign c of example i is bit (i d + c) of the R_X words, read 64 words at a time. */
    uint32_t words[64];
    int64_t have = -1; /* index of the 64-word chunk in `words` */
    for (int64_t i = 0; i < st.N; i++) {
        float *x = o->tokens + 2 * i * d;
        for (int64_t c = 0; c < st.d_cur; c++) {
            uint64_t bit = (uint64_t)(i * d + c);
            int64_t chunk = (int64_t)(bit >> 11);
            if (chunk != have) {
                task_rng_words(r, R_X, (uint64_t)chunk << 6, words, 64);
                have = chunk;
            }
            x[c] = (float)((int32_t)((words[(bit >> 5) & 63] >> (bit & 31)) & 1u) * 2 - 1); /* no branch */
        }
        float y = 1;
        for (int64_t j = 0; j < kk; j++) y *= x[S[j]];
        task_set_y(o, d, i, y, 1);
    }
}

const task_desc task_sparse_parity = {
    .name = "sparse_parity",
    .summary = "y = product of k of the d signs of x in {-1,+1}^d (tasks.md 4.1)",
    .nparams = P_COMMON + 3,
    .params = {TASK_PARAM_D(10), TASK_PARAM_N(140, "examples per prompt"), TASK_CURRICULUM(0, 0, 1, 0, 0, 1),
               {"k", TASK_PARAM_INT, 2, 1, 4096, NULL, "support size (k <= d_start)"},
               {"support", TASK_PARAM_CHOICE, SUPPORT_PROMPT, 0, 0, "prompt|batch",
                "a support per prompt (paper) or per group of prompts (code)"},
               {"group", TASK_PARAM_INT, 64, 1, 1e12, NULL, "prompts sharing a support when support=batch"}},
    .nbaselines = 2,
    .baselines = {{"chance", TB_CHANCE, 0, 0}, {"majority", TB_MAJORITY, 0, 0}},
    .interleaved = true,
    .check = parity_check,
    .shape = parity_shape,
    .sample = parity_sample,
    .train = {500001, TASK_BATCH, 4e-4, 10.0},
};
