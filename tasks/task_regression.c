/* task_regression.c — the regression family (tasks.md 1): linear, sparse linear, two-layer ReLU
 * network and decision-tree regression. Interleaved layout: token 2i = x_i, token 2i+1 = [y_i, 0...].
 *
 * Dimensions: d token width (= x width), d_cur visible coordinates, N points (layout), n points
 * (state), h hidden units, k sparsity. */
#include "tasks/task_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { P_K = P_COMMON };        /* sparse: kept coordinates */
enum { P_H = P_COMMON };        /* relu_2nn: hidden units */
enum { P_DEPTH = P_COMMON };    /* decision_tree: depth */
enum { MAX_HIDDEN = 4096, MAX_DEPTH = 12 };

/* Gaussian x_i for every example of the state, written into the x tokens. */
static void fill_xs(const task_rng *r, task_state st, int64_t d, float *tokens) {
    task_rng_normal_rows(r, R_X, 0, st.N, d, st.d_cur, tokens, 2 * d);
}

/* y_i = w^T x_i (only the visible coordinates are nonzero in x). */
static void linear_ys(const task_prompt *o, task_state st, int64_t d, const float *w) {
    for (int64_t i = 0; i < st.N; i++) {
        const float *x = o->tokens + 2 * i * d;
        double y = 0;
        for (int64_t c = 0; c < st.d_cur; c++) y += (double)w[c] * x[c];
        task_set_y(o, d, i, (float)y, 1);
    }
}

/* ---- linear regression (tasks.md 1.1). Latent: w[d]. ---- */

static void linear_shape(const task *t, int64_t N, task_shape *sh) {
    task_shape_interleaved(t, N, TASK_LOSS_SQUARED, TASK_METRIC_SQERR, task_p(t, P_D), sh);
}

static void linear_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    (void)N;
    const int64_t d = task_p(t, P_D);
    float *w = o->latent;
    task_rng_normals(r, R_FN, 0, w, d);
    fill_xs(r, st, d, o->tokens);
    linear_ys(o, st, d, w);
}

#define REGRESSION_BASELINES(...)                                                                     \
    {{"zero", TB_ZERO, 0, 0}, {"least_squares", TB_LSQ, 0, 0}, {"averaging", TB_AVG, 0, 0},            \
     {"knn3", TB_KNN3, 0, 0} __VA_ARGS__}

const task_desc task_linear_regression = {
    .name = "linear_regression",
    .summary = "y = w.x, w and x ~ N(0, I_d) (tasks.md 1.1)",
    .nparams = P_COMMON,
    .params = {TASK_PARAM_D(20), TASK_PARAM_N(41, "examples per prompt"), TASK_CURRICULUM(5, 1, 2000, 11, 2, 2000)},
    .nbaselines = 4,
    .baselines = REGRESSION_BASELINES(),
    .interleaved = true,
    .shape = linear_shape,
    .sample = linear_sample,
    .train = {500001, TASK_BATCH, 1e-4, 10.0},
};

/* ---- sparse linear regression (tasks.md 1.2). Latent: w[d], S[k] (kept coordinates). ---- */

static bool sparse_check(const task *t, task_error *err) {
    if (task_p(t, P_K) > task_p(t, P_D))
        return task_error_set(err, "task %s: k = %lld exceeds d = %lld", t->desc->name, (long long)task_p(t, P_K),
                              (long long)task_p(t, P_D));
    if (task_p(t, P_K) > task_p(t, P_D_START))
        return task_error_set(err, "task %s: k = %lld exceeds d_start = %lld (the support is drawn among the visible "
                                   "coordinates; k <= d_start <= d)",
                              t->desc->name, (long long)task_p(t, P_K), (long long)task_p(t, P_D_START));
    return true;
}

static void sparse_shape(const task *t, int64_t N, task_shape *sh) {
    task_shape_interleaved(t, N, TASK_LOSS_SQUARED, TASK_METRIC_SQERR, task_p(t, P_D) + task_p(t, P_K), sh);
}

static void sparse_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    (void)N;
    const int64_t d = task_p(t, P_D), k = task_p(t, P_K);
    float *w = o->latent, *S = o->latent + d;
    float keep[4096];
    int64_t perm[4096];
    task_rng_normals(r, R_FN, 0, keep, d);
    /* Kept coordinates: the first k of a uniform shuffle of the visible ones (tasks.md 1.2). */
    for (int64_t c = 0; c < d; c++) w[c] = 0;
    for (int64_t i = 0; i < st.d_cur; i++) perm[i] = i;
    for (int64_t i = st.d_cur - 1; i > 0; i--) {
        int64_t j = task_rng_below(r, R_FN2, (uint64_t)i, i + 1), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    const int64_t kk = k < st.d_cur ? k : st.d_cur; /* k <= d_start; a hand-made state may go lower */
    for (int64_t j = 0; j < k; j++) S[j] = j < kk ? (float)perm[j] : -1.0f;
    for (int64_t j = 0; j < kk; j++) w[perm[j]] = keep[perm[j]];
    fill_xs(r, st, d, o->tokens);
    linear_ys(o, st, d, w);
}

const task_desc task_sparse_linear_regression = {
    .name = "sparse_linear_regression",
    .summary = "y = w.x with exactly k nonzero coordinates of w (tasks.md 1.2)",
    .nparams = P_COMMON + 1,
    .params = {TASK_PARAM_D(20), TASK_PARAM_N(41, "examples per prompt"), TASK_CURRICULUM(5, 1, 2000, 11, 2, 2000),
               {"k", TASK_PARAM_INT, 3, 1, 4096, NULL, "nonzero coordinates of w (k <= d_start)"}},
    .nbaselines = 9,
    .baselines = REGRESSION_BASELINES(, {"lasso_1", TB_LASSO, 1, 0}, {"lasso_0.1", TB_LASSO, 0.1, 0},
                                      {"lasso_0.01", TB_LASSO, 0.01, 0}, {"lasso_0.001", TB_LASSO, 0.001, 0},
                                      {"lasso_0.0001", TB_LASSO, 0.0001, 0}),
    .interleaved = true,
    .check = sparse_check,
    .shape = sparse_shape,
    .sample = sparse_sample,
    .train = {500001, TASK_BATCH, 1e-4, 10.0},
};

/* ---- two-layer ReLU network (tasks.md 1.3). Latent: W1[d][h], W2[h]. ---- */

static void relu2nn_shape(const task *t, int64_t N, task_shape *sh) {
    int64_t d = task_p(t, P_D), h = task_p(t, P_H);
    task_shape_interleaved(t, N, TASK_LOSS_SQUARED, TASK_METRIC_SQERR, d * h + h, sh);
}

/* y_i = scale * W2 . relu(W1^T x_i) for n examples (x rows at stride 2d): the plain loop, used when
 * the packed weights do not fit on the stack. */
static void relu2nn_ys_plain(const float *W1, const float *W2, int64_t d_cur, int64_t H, double scale,
                             const task_prompt *o, int64_t n, int64_t d) {
    float hid[MAX_HIDDEN];
    for (int64_t i = 0; i < n; i++) {
        const float *x = o->tokens + 2 * i * d;
        for (int64_t j = 0; j < H; j++) hid[j] = 0;
        for (int64_t c = 0; c < d_cur; c++) {
            const float xc = x[c], *row = W1 + c * H;
            for (int64_t j = 0; j < H; j++) hid[j] += xc * row[j];
        }
        double y = 0;
        for (int64_t j = 0; j < H; j++) y += (double)W2[j] * (hid[j] > 0 ? hid[j] : 0);
        task_set_y(o, d, i, (float)(scale * y), 1);
    }
}

enum { LANE = 8, GROUP = 4, PACKED_MAX = 16384 }; /* GROUP = 4 is spelled out below */
typedef float v8f __attribute__((vector_size(LANE * sizeof(float)))); /* GCC vector extension */
typedef int32_t v8i __attribute__((vector_size(LANE * sizeof(int32_t))));

/* a := max(a, 0) lane-wise (a macro: vector arguments of functions change the ABI across clones) */
#define RELU8(a)                                  \
    do {                                          \
        v8i keep_ = (a) > 0, bits_;               \
        memcpy(&bits_, &(a), sizeof bits_);       \
        bits_ &= keep_;                           \
        memcpy(&(a), &bits_, sizeof bits_);       \
    } while (0)

/* The same function, register-blocked: W1 packed into panels of 8 hidden units [H/8][d_cur][8]
 * (zero-padded), 4 examples at a time, each hidden pre-activation summed over c in order and the
 * output as 8 lane sums added in a fixed order (identical in every clone). */
TASK_CLONES static void relu2nn_ys_packed(const float *W1, const float *W2, int64_t d_cur, int64_t H, double scale,
                                          const task_prompt *o, int64_t n, int64_t d) {
    const int64_t nb = (H + LANE - 1) / LANE;
    float panel[PACKED_MAX], w2[MAX_HIDDEN + LANE];
    for (int64_t b = 0; b < nb; b++)
        for (int64_t c = 0; c < d_cur; c++)
            for (int64_t k = 0; k < LANE; k++) {
                int64_t j = b * LANE + k;
                panel[(b * d_cur + c) * LANE + k] = j < H ? W1[c * H + j] : 0;
            }
    for (int64_t j = 0; j < nb * LANE; j++) w2[j] = j < H ? W2[j] : 0;
    for (int64_t i0 = 0; i0 < n; i0 += GROUP) {
        float x[GROUP][4096], yp[GROUP][LANE];
        const int64_t m = n - i0 < GROUP ? n - i0 : GROUP;
        for (int64_t e = 0; e < GROUP; e++)
            for (int64_t c = 0; c < d_cur; c++) x[e][c] = e < m ? o->tokens[2 * (i0 + e) * d + c] : 0;
        v8f y0 = {0}, y1 = {0}, y2 = {0}, y3 = {0};
        for (int64_t b = 0; b < nb; b++) {
            v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, w;
            const float *pb = panel + b * d_cur * LANE;
            for (int64_t c = 0; c < d_cur; c++) {
                v8f p;
                memcpy(&p, pb + c * LANE, sizeof p);
                a0 += x[0][c] * p;
                a1 += x[1][c] * p;
                a2 += x[2][c] * p;
                a3 += x[3][c] * p;
            }
            memcpy(&w, w2 + b * LANE, sizeof w);
            RELU8(a0);
            RELU8(a1);
            RELU8(a2);
            RELU8(a3);
            y0 += w * a0;
            y1 += w * a1;
            y2 += w * a2;
            y3 += w * a3;
        }
        memcpy(yp[0], &y0, sizeof y0);
        memcpy(yp[1], &y1, sizeof y1);
        memcpy(yp[2], &y2, sizeof y2);
        memcpy(yp[3], &y3, sizeof y3);
        for (int64_t e = 0; e < m; e++) {
            float y = 0;
            for (int k = 0; k < LANE; k++) y += yp[e][k];
            task_set_y(o, d, i0 + e, (float)(scale * y), 1);
        }
    }
}

static void relu2nn_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    (void)N;
    const int64_t d = task_p(t, P_D), H = task_p(t, P_H);
    float *W1 = o->latent, *W2 = o->latent + d * H;
    task_rng_normals(r, R_FN, 0, W1, d * H);
    task_rng_normals(r, R_FN2, 0, W2, H);
    fill_xs(r, st, d, o->tokens);
    const double scale = sqrt(2.0 / (double)H);
    if (((H + LANE - 1) / LANE) * LANE * d <= PACKED_MAX && d <= 4096)
        relu2nn_ys_packed(W1, W2, st.d_cur, H, scale, o, st.N, d);
    else
        relu2nn_ys_plain(W1, W2, st.d_cur, H, scale, o, st.N, d);
}

const task_desc task_relu_2nn_regression = {
    .name = "relu_2nn_regression",
    .summary = "y = sqrt(2/h) W2.relu(W1^T x), a random two-layer ReLU network (tasks.md 1.3)",
    .nparams = P_COMMON + 1,
    .params = {TASK_PARAM_D(20), TASK_PARAM_N(101, "examples per prompt"),
               TASK_CURRICULUM(5, 1, 2000, 26, 5, 2000),
               {"h", TASK_PARAM_INT, 100, 1, MAX_HIDDEN, NULL, "hidden units"}},
    .nbaselines = 4,
    .baselines = REGRESSION_BASELINES(),
    .interleaved = true,
    .shape = relu2nn_shape,
    .sample = relu2nn_sample,
    .train = {500001, TASK_BATCH, 1e-4, 10.0},
};

/* ---- decision tree (tasks.md 1.4). Latent: coord[nodes], value[nodes], nodes = 2^(depth+1) - 1. ---- */

static int64_t tree_nodes(const task *t) { return ((int64_t)2 << task_p(t, P_DEPTH)) - 1; }

static void tree_shape(const task *t, int64_t N, task_shape *sh) {
    task_shape_interleaved(t, N, TASK_LOSS_SQUARED, TASK_METRIC_SQERR, 2 * tree_nodes(t), sh);
}

static void tree_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    (void)N;
    const int64_t d = task_p(t, P_D), depth = task_p(t, P_DEPTH), nodes = tree_nodes(t);
    float *coord = o->latent, *value = o->latent + nodes;
    /* Every node gets a coordinate over the full d (not d_cur) and a N(0,1) value (tasks.md 1.4). */
    for (int64_t n = 0; n < nodes; n++) coord[n] = (float)task_rng_below(r, R_FN, (uint64_t)n, d);
    task_rng_normals(r, R_FN2, 0, value, nodes);
    fill_xs(r, st, d, o->tokens);
    for (int64_t i = 0; i < st.N; i++) {
        const float *x = o->tokens + 2 * i * d;
        int64_t n = 0;
        for (int64_t l = 0; l < depth; l++) n = 2 * n + 1 + (x[(int64_t)coord[n]] > 0);
        task_set_y(o, d, i, value[n], 1);
    }
}

const task_desc task_decision_tree = {
    .name = "decision_tree",
    .summary = "y = leaf value of a random depth-4 binary tree over signs of x (tasks.md 1.4)",
    .nparams = P_COMMON + 1,
    .params = {TASK_PARAM_D(20), TASK_PARAM_N(101, "examples per prompt"),
               TASK_CURRICULUM(5, 1, 2000, 26, 5, 2000),
               {"depth", TASK_PARAM_INT, 4, 1, MAX_DEPTH, NULL, "tree depth"}},
    .nbaselines = 6,
    .baselines = REGRESSION_BASELINES(, {"tree_depth4", TB_TREE, 4, 0}, {"tree_full", TB_TREE, 0, 0}),
    .interleaved = true,
    .shape = tree_shape,
    .sample = tree_sample,
    .train = {500001, TASK_BATCH, 4e-4, 10.0},
};
