/* task_impl.h — what a task family provides to tasks/task.c (internal to tasks/ and its tests). */
#ifndef ICLC_TASKS_TASK_IMPL_H
#define ICLC_TASKS_TASK_IMPL_H

#include "ir/philox.h"
#include "tasks/task.h"

/* Hot loops get an AVX2 clone chosen at load time. The clones run the same IEEE operations in
 * the same order (ISO C mode: no FMA contraction; no reassociation), so results are identical. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && !defined(TASK_NO_CLONES)
#define TASK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TASK_CLONES
#endif

/* Parameters every task has, in this order (the family's table may add more after P_COMMON). */
enum { P_D, P_N, P_D_START, P_D_INC, P_D_EVERY, P_N_START, P_N_INC, P_N_EVERY, P_COMMON };

/* Baseline kinds (tasks.md 6). */
typedef enum { TB_ZERO, TB_LSQ, TB_AVG, TB_KNN3, TB_LASSO, TB_TREE, TB_CHANCE, TB_MAJORITY } task_baseline_kind;

typedef struct task_baseline_desc {
    const char *name;
    task_baseline_kind kind;
    double alpha; /* Lasso: alpha; tree: maximum depth (0 = unlimited) */
    int head;
} task_baseline_desc;

enum { TASK_MAX_BASELINES = 10 };

/* Draw space of one prompt: the Philox key is (seed, stream); the high counter word is the prompt
 * index, the low one (region << 40) + index, so every region of every prompt is addressed on its
 * own and a draw never depends on how many draws came before it. */
enum { R_FN = 1, R_FN2, R_X, R_MASK, R_DUMMY, R_SUPPORT };

typedef struct task_rng {
    philox_key key;
    uint64_t prompt;
} task_rng;

static inline philox_ctr task_rng_block(const task_rng *r, uint64_t region, uint64_t i) {
    return philox_block(r->key, r->prompt, (region << 40) | i);
}

/* Normals number first .. first+n-1 of a region (four per Philox block, Box-Muller; task_rng.c). */
void task_rng_normals(const task_rng *r, uint64_t region, uint64_t first, float *out, int64_t n);
/* Normals first .. first + rows*len - 1 as `rows` rows of `len`: element c < keep of row i goes to
 * out[i * stride + c]; the others are skipped (truncated coordinates). */
void task_rng_normal_rows(const task_rng *r, uint64_t region, uint64_t first, int64_t rows, int64_t len,
                          int64_t keep, float *out, int64_t stride);
/* Uniform 32-bit words number first .. first+n-1 of a region (the same words as task_rng_word). */
void task_rng_words(const task_rng *r, uint64_t region, uint64_t first, uint32_t *out, int64_t n);
/* Uniform 32-bit word number j of a region (four per block). */
static inline uint32_t task_rng_word(const task_rng *r, uint64_t region, uint64_t j) {
    return task_rng_block(r, region, j >> 2).c[j & 3];
}
/* Uniform integer in [0, n) from word j (multiply-shift; bias < n / 2^32). */
static inline int64_t task_rng_below(const task_rng *r, uint64_t region, uint64_t j, int64_t n) {
    return (int64_t)(((uint64_t)task_rng_word(r, region, j) * (uint64_t)n) >> 32);
}
/* k distinct integers of [0, n) in uniformly random order (a uniform random k-permutation) into
 * idx[0..k), from words 0 .. 2k-1 of the region. Costs O(k^2). */
void task_rng_choose(const task_rng *r, uint64_t region, int64_t n, int64_t k, int64_t *idx);

/* One prompt's slice of a batch; all zeroed before the family's sample function runs. */
typedef struct task_prompt {
    float *tokens;                  /* [T][d_tok] */
    float *targets[TASK_MAX_HEADS]; /* [count][width] */
    float *mask[TASK_MAX_HEADS];    /* [count] */
    float *latent;                  /* [latent]: always present (scratch when the caller wants none) */
} task_prompt;

typedef struct task_desc {
    const char *name, *alias, *summary;
    int nparams;
    task_param_desc params[TASK_MAX_PARAMS];
    int nbaselines;
    task_baseline_desc baselines[TASK_MAX_BASELINES];
    bool interleaved; /* x/y interleaved layout with head 0 = y at even positions (baselines apply) */
    /* Checks task-specific constraints between parameters (ranges are checked by task.c). */
    bool (*check)(const task *t, task_error *err);
    void (*shape)(const task *t, int64_t N, task_shape *sh);
    task_train_defaults train;
    /* Writes one prompt of state st laid out with N points. */
    void (*sample)(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *out);
} task_desc;

struct task {
    const task_desc *desc;
    double p[TASK_MAX_PARAMS];
};

static inline int64_t task_p(const task *t, int i) { return (int64_t)t->p[i]; }

/* The families (one file each). */
extern const task_desc task_linear_regression, task_sparse_linear_regression, task_relu_2nn_regression,
    task_decision_tree, task_ortho_outlier_regression, task_many_outlier_regression, task_sparse_parity,
    task_cot_io, task_mqar;

/* Shared by the families: the interleaved (x, y~) layout with one squared-error or BCE head. */
void task_shape_interleaved(const task *t, int64_t N, task_loss_kind loss, task_metric_kind metric,
                            int64_t latent, task_shape *sh);
/* Gaussian x_i (coordinates < d_cur, the rest stay 0; normals i*d .. i*d+d-1 of R_X) into x. */
void task_gaussian_x(const task_rng *r, int64_t i, int64_t d, int64_t d_cur, float *x);
/* Sets y_i: the y token's first channel, the target and the mask of example i. */
static inline void task_set_y(const task_prompt *o, int64_t d_tok, int64_t i, float y, float counted) {
    o->tokens[(2 * i + 1) * d_tok] = y;
    o->targets[0][i] = y;
    o->mask[0][i] = counted;
}
bool task_error_set(task_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parameter table rows shared by the families. */
#define TASK_PARAM_D(def) {"d", TASK_PARAM_INT, def, 1, 4096, NULL, "token width n_dims (end of the dims curriculum)"}
#define TASK_PARAM_N(def, help) {"N", TASK_PARAM_INT, def, 1, 1 << 20, NULL, help}
#define TASK_CURRICULUM(ds, di, de, ns, ni, ne)                                                       \
    {"d_start", TASK_PARAM_INT, ds, 0, 4096, NULL, "curriculum: d_cur at step 0 (0 = d, fixed)"},                   \
        {"d_inc", TASK_PARAM_INT, di, 0, 4096, NULL, "curriculum: d_cur increment"},                  \
        {"d_every", TASK_PARAM_INT, de, 1, 1e12, NULL, "curriculum: steps between d_cur increments"}, \
        {"N_start", TASK_PARAM_INT, ns, 0, 1 << 20, NULL, "curriculum: N at step 0 (0 = N, fixed)"},                \
        {"N_inc", TASK_PARAM_INT, ni, 0, 1 << 20, NULL, "curriculum: N increment"},                   \
        {"N_every", TASK_PARAM_INT, ne, 1, 1e12, NULL, "curriculum: steps between N increments"}

#endif
