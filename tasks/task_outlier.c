/* task_outlier.c — learning with outliers (tasks.md 2): linear regression prompts in which each
 * example is, independently with probability p, replaced by a dummy (orthogonal-outlier) or by
 * all-ones x and y = 1 (many-outlier). Outlier positions are not counted in loss or metric.
 *
 * Dimensions: d token width, d_cur visible coordinates, N points. */
#include "tasks/task_impl.h"

#include <math.h>

enum { P_PROB = P_COMMON, P_OUTLIERS, P_DUMMY };
enum { OUT_RANDOM, OUT_FIXED, OUT_NONE }; /* outlier positions: Bernoulli(p), fixed_dummy rule, none */
enum { DUMMY_PAPER, DUMMY_CODE };

/* The code's "fixed_dummy" evaluation positions (tasks.md 2.3) for N points. */
static bool fixed_outlier(double p, int64_t N, int64_t i) {
    if (p <= 0) return false;
    if (p >= 1) return true;
    double q = p < 1 - p ? p : 1 - p;
    int64_t spacing = (int64_t)floor(1.0 / q), num = (int64_t)floor((double)N * p);
    bool marked = false;
    if (num > 0) {
        int64_t gap = (int64_t)floor((double)N / (double)num);
        marked = i >= spacing && (i - spacing) % gap == 0;
    }
    return p > 0.5 ? !marked : marked;
}

/* Outlier flags of the state's examples into out[0..N): example i is an outlier when word i of the
 * mask region, as a uniform in [0, 1) (24 bits), is below p. */
static void outlier_mask(const task *t, task_state st, const task_rng *r, float *out) {
    const double p = t->p[P_PROB];
    const int mode = (int)task_p(t, P_OUTLIERS);
    uint32_t words[64];
    for (int64_t i = 0; i < st.N; i++) {
        if (mode == OUT_RANDOM && i % 64 == 0) task_rng_words(r, R_MASK, (uint64_t)i, words, 64);
        bool o = mode == OUT_RANDOM ? philox_unit24(words[i % 64]) < p
                 : mode == OUT_FIXED ? fixed_outlier(p, st.N, i)
                                     : false;
        out[i] = o;
    }
}

/* Clean examples (out[i] == 0): Gaussian x (visible coordinates; runs of consecutive clean examples
 * drawn in one call) and y = w^T x. */
static void clean_examples(const task_prompt *o, task_state st, const task_rng *r, int64_t d, const float *w,
                           const float *out) {
    for (int64_t i = 0; i < st.N;) {
        if (out[i] != 0) {
            i++;
            continue;
        }
        int64_t j = i;
        while (j < st.N && out[j] == 0) j++;
        task_rng_normal_rows(r, R_X, (uint64_t)(i * d), j - i, d, st.d_cur, o->tokens + 2 * i * d, 2 * d);
        for (; i < j; i++) {
            const float *x = o->tokens + 2 * i * d;
            double y = 0;
            for (int64_t c = 0; c < st.d_cur; c++) y += (double)w[c] * x[c];
            task_set_y(o, d, i, (float)y, 1);
        }
    }
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* g := g - (g.r / r.r) r */
static void remove_component(double *g, const double *r, int64_t n) {
    double rr = dot(r, r, n), c = rr > 0 ? dot(g, r, n) / rr : 0;
    for (int64_t i = 0; i < n; i++) g[i] -= c * r[i];
}

/* Normals [first, first + n) of the dummy region, in double. */
static void dummy_normals(const task_rng *r, uint64_t first, int64_t n, double *out) {
    float tmp[4096];
    task_rng_normals(r, R_DUMMY, first, tmp, n);
    for (int64_t i = 0; i < n; i++) out[i] = tmp[i];
}

/* The code's dummy vector (tasks.md 2.1) orthogonal to a fresh reference vector; draws normals
 * [base, base + 3d + 2) of the dummy region. */
static void dummy_code(const task_rng *r, uint64_t base, int64_t d, float *out) {
    double ref[4096], u[4096], v[4096], ab[2];
    dummy_normals(r, base, d, ref);
    dummy_normals(r, base + (uint64_t)d, d, u);
    dummy_normals(r, base + 2 * (uint64_t)d, d, v);
    dummy_normals(r, base + 3 * (uint64_t)d, 2, ab);
    remove_component(u, ref, d);
    remove_component(v, ref, d);
    remove_component(v, u, d);
    double a = ab[0] / (ab[0] * ab[0] + ab[1] * ab[1]);
    double b = ab[1] / (a * a + ab[1] * ab[1]); /* uses the updated a, as the code does */
    for (int64_t c = 0; c < d; c++) out[c] = (float)(a * u[c] + b * v[c]);
}

/* ---- orthogonal outliers (tasks.md 2.1). Latent: w[d], DX[d], DY[d], outlier[N]. ---- */

static void ortho_shape(const task *t, int64_t N, task_shape *sh) {
    task_shape_interleaved(t, N, TASK_LOSS_SQUARED, TASK_METRIC_SQERR, 3 * task_p(t, P_D) + N, sh);
}

static void ortho_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    (void)N;
    const int64_t d = task_p(t, P_D);
    float *w = o->latent, *DX = w + d, *DY = w + 2 * d, *out = w + 3 * d;
    task_rng_normals(r, R_FN, 0, w, d);
    if (task_p(t, P_DUMMY) == DUMMY_PAPER) {
        /* u, v in w-perp; x dummy (a_x u + b_x v) / (a_x^2 + b_x^2), y dummy likewise (tasks.md 9.2). */
        double wd[4096], u[4096], v[4096], ab[4];
        for (int64_t c = 0; c < d; c++) wd[c] = w[c];
        dummy_normals(r, 0, d, u);
        dummy_normals(r, (uint64_t)d, d, v);
        dummy_normals(r, 2 * (uint64_t)d, 4, ab);
        remove_component(u, wd, d);
        remove_component(v, wd, d);
        double nx = ab[0] * ab[0] + ab[1] * ab[1], ny = ab[2] * ab[2] + ab[3] * ab[3];
        for (int64_t c = 0; c < d; c++) {
            DX[c] = (float)((ab[0] * u[c] + ab[1] * v[c]) / nx);
            DY[c] = (float)((ab[2] * u[c] + ab[3] * v[c]) / ny);
        }
    } else {
        dummy_code(r, 0, d, DX);
        dummy_code(r, 3 * (uint64_t)d + 2, d, DY);
    }
    outlier_mask(t, st, r, out);
    clean_examples(o, st, r, d, w, out);
    for (int64_t i = 0; i < st.N; i++) {
        if (out[i] == 0) continue;
        float *x = o->tokens + 2 * i * d, *y = x + d;
        for (int64_t c = 0; c < d; c++) {
            x[c] = DX[c];
            y[c] = DY[c];
        }
        o->targets[0][i] = DY[0];
        o->mask[0][i] = 0;
    }
}

#define OUTLIER_PARAMS(prob)                                                                                  \
    {"p", TASK_PARAM_REAL, prob, 0, 1, NULL, "probability that an example is an outlier"},                   \
        {"outliers", TASK_PARAM_CHOICE, OUT_RANDOM, 0, 0, "random|fixed|none",                              \
         "outlier positions: Bernoulli(p), the code's fixed_dummy rule, or none (clean prompts)"}

const task_desc task_ortho_outlier_regression = {
    .name = "ortho_outlier_regression",
    .alias = "filter_ortho_linear_regression",
    .summary = "linear regression, outlier examples replaced by dummies orthogonal to w (tasks.md 2.1)",
    .nparams = P_COMMON + 3,
    .params = {TASK_PARAM_D(20), TASK_PARAM_N(101, "examples per prompt"),
               TASK_CURRICULUM(5, 1, 2000, 26, 5, 2000), OUTLIER_PARAMS(0.5),
               {"dummy", TASK_PARAM_CHOICE, DUMMY_PAPER, 0, 0, "paper|code",
                "dummy construction: the paper's (orthogonal to the prompt's w) or the code's"}},
    .nbaselines = 2,
    .baselines = {{"zero", TB_ZERO, 0, 0}, {"least_squares", TB_LSQ, 0, 0}},
    .interleaved = true,
    .shape = ortho_shape,
    .sample = ortho_sample,
    .train = {500001, TASK_BATCH, 1e-4, 10.0},
};

/* ---- many outliers (tasks.md 2.2). Latent: w[d], outlier[N]. ---- */

static void many_shape(const task *t, int64_t N, task_shape *sh) {
    task_shape_interleaved(t, N, TASK_LOSS_SQUARED, TASK_METRIC_SQERR, task_p(t, P_D) + N, sh);
}

static void many_sample(const task *t, task_state st, const task_rng *r, int64_t N, const task_prompt *o) {
    (void)N;
    const int64_t d = task_p(t, P_D);
    float *w = o->latent, *out = w + d;
    task_rng_normals(r, R_FN, 0, w, d);
    outlier_mask(t, st, r, out);
    clean_examples(o, st, r, d, w, out);
    for (int64_t i = 0; i < st.N; i++) {
        if (out[i] == 0) continue;
        float *x = o->tokens + 2 * i * d;
        for (int64_t c = 0; c < d; c++) x[c] = 1; /* all d coordinates, also those >= d_cur */
        task_set_y(o, d, i, 1, 0);
    }
}

const task_desc task_many_outlier_regression = {
    .name = "many_outlier_regression",
    .alias = "filter_linear_regression",
    .summary = "linear regression, outlier examples replaced by x = ones, y = 1 (tasks.md 2.2)",
    .nparams = P_COMMON + 2,
    .params = {TASK_PARAM_D(20), TASK_PARAM_N(512, "examples per prompt"),
               TASK_CURRICULUM(4, 1, 2000, 12, 2, 200), OUTLIER_PARAMS(0.9)},
    .nbaselines = 2,
    .baselines = {{"zero", TB_ZERO, 0, 0}, {"least_squares", TB_LSQ, 0, 0}},
    .interleaved = true,
    .shape = many_shape,
    .sample = many_sample,
    .train = {1000001, TASK_BATCH, 1e-4, 10.0},
};
