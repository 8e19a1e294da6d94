/* Parameter initializers (ir/ir_init.c): exact kinds, the moments of normal and uniform draws within
 * bounds derived from the sample size (5 standard errors), transforms, determinism, independence from
 * the order and number of params, and one stream per (seed, name). */
#include "tests/op_harness.h"

enum { N = 50000 };

/* Fills a param named `name` of n elements with `init` and `seed` into a new array (caller frees). */
static float *draw(const char *name, int64_t n, ir_init init, uint64_t seed) {
    ir_graph *g = ir_graph_new();
    if (init.kind == INIT_DATA) { /* the graph owns its data */
        ir_init d = ir_init_data(g, init.data, n);
        memcpy(d.post, init.post, sizeof d.post);
        init = d;
    }
    ir_id w = ir_param(g, name, ir_shape_of(1, &n), init);
    float *out = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (w == IR_NONE) {
        ok(0, "param %s: %s", name, ir_error(g));
        memset(out, 0, (size_t)(n ? n : 1) * sizeof(float));
    } else {
        ir_init_fill(&g->nodes[w], seed, out);
    }
    ir_graph_free(g);
    return out;
}

typedef struct moments {
    double mean, var, skew, kurt; /* kurt is the excess kurtosis */
    double min, max;
} moments;

static moments moments_of(const float *x, int64_t n) {
    moments m = {.min = INFINITY, .max = -INFINITY};
    for (int64_t i = 0; i < n; i++) {
        m.mean += x[i];
        m.min = fmin(m.min, x[i]);
        m.max = fmax(m.max, x[i]);
    }
    m.mean /= (double)n;
    double m2 = 0, m3 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - m.mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    m2 /= (double)n;
    m3 /= (double)n;
    m4 /= (double)n;
    m.var = m2 * (double)n / (double)(n - 1);
    m.skew = m3 / pow(m2, 1.5);
    m.kurt = m4 / (m2 * m2) - 3;
    return m;
}

/* Pearson correlation of x[i] and y[i]. */
static double correlation(const float *x, const float *y, int64_t n) {
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n;
    my /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / sqrt(sxx * syy);
}

/* |got - want| < 5 standard errors. */
static void within(double got, double want, double se, const char *what) {
    ok(fabs(got - want) < 5 * se, "%s: %.6g, expected %.6g +- %.3g (5 standard errors)", what, got, want, 5 * se);
}

static void test_exact(void) {
    float *z = draw("z", 5, ir_init_zeros(), 1), *o = draw("o", 5, ir_init_ones(), 1);
    float *c = draw("c", 5, ir_init_constant(-2.5), 1);
    float *d = draw("d", 3, (ir_init){.kind = INIT_DATA, .data = (const float[]){1, -2, 0.25f}}, 1);
    bool zs = true, os = true, cs = true;
    for (int i = 0; i < 5; i++) zs &= z[i] == 0, os &= o[i] == 1, cs &= c[i] == -2.5f;
    ok(zs && os && cs, "zeros, ones and constant(-2.5) are exact");
    ok(d[0] == 1 && d[1] == -2 && d[2] == 0.25f, "data is copied exactly");
    float *e = draw("e", 2, ir_init_then((ir_init){.kind = INIT_DATA, .data = (const float[]){0, 1}}, INIT_POST_EXP), 1);
    ok(e[0] == 1 && e[1] == (float)M_E, "data then exp: e^0 = 1, e^1 = e");
    float *n0 = draw("n0", 4, ir_init_normal(3, 0), 9);
    ok(n0[0] == 3 && n0[3] == 3, "normal with std 0 is the mean");
    float *u0 = draw("u0", 4, ir_init_uniform(-1, -1), 9);
    ok(u0[0] == -1 && u0[3] == -1, "uniform with lo == hi is lo");
    float *empty = draw("empty", 0, ir_init_normal(0, 1), 1);
    ok(empty != NULL, "an empty param fills nothing");
    free(z), free(o), free(c), free(d), free(e), free(n0), free(u0), free(empty);
}

static void test_normal(void) {
    const double mu = 0.5, sd = 2;
    float *x = draw("blocks.0.w", N, ir_init_normal(mu, sd), 1234);
    moments m = moments_of(x, N);
    within(m.mean, mu, sd / sqrt(N), "normal(0.5, 2) mean");
    within(m.var, sd * sd, sd * sd * sqrt(2.0 / (N - 1)), "normal(0.5, 2) variance");
    within(m.skew, 0, sqrt(6.0 / N), "normal skewness");
    within(m.kurt, 0, sqrt(24.0 / N), "normal excess kurtosis");
    int64_t in1 = 0;
    for (int i = 0; i < N; i++) in1 += fabs(x[i] - mu) < sd;
    double p1 = 0.6826894921370859;
    within((double)in1 / N, p1, sqrt(p1 * (1 - p1) / N), "normal: fraction within one sd");
    ok(m.min < mu - 3.5 * sd && m.max > mu + 3.5 * sd && m.min > mu - 7 * sd && m.max < mu + 7 * sd,
       "normal tails: min %.3g, max %.3g", m.min, m.max);
    float *lag = x + 1;
    within(correlation(x, lag, N - 1), 0, 1 / sqrt(N), "normal: lag-1 autocorrelation");
    free(x);
}

static void test_uniform(void) {
    const double lo = -1, hi = 3, w = hi - lo;
    float *x = draw("u", N, ir_init_uniform(lo, hi), 99);
    moments m = moments_of(x, N);
    /* float rounding may carry a draw just below hi onto hi itself */
    ok(m.min >= lo && m.max <= hi, "uniform(-1, 3) stays in [lo, hi]: [%.9g, %.9g]", m.min, m.max);
    ok(m.min < lo + 20 * w / N && m.max > hi - 20 * w / N, "uniform reaches both ends");
    within(m.mean, (lo + hi) / 2, w / sqrt(12.0 * N), "uniform mean");
    double var = w * w / 12, mu4 = w * w * w * w / 80;
    within(m.var, var, sqrt((mu4 - var * var) / N), "uniform variance");
    within(m.skew, 0, sqrt((27.0 / 7 - 6 * 1.8 + 9) / N), "uniform skewness"); /* (mu6 - 6 mu4 + 9) / n in sd units */
    int64_t bins[10] = {0};
    for (int i = 0; i < N; i++) bins[(int)fmin(9, floor((x[i] - lo) / w * 10))]++;
    double chi2 = 0;
    for (int b = 0; b < 10; b++) chi2 += pow((double)bins[b] - N / 10.0, 2) / (N / 10.0);
    ok(chi2 < 33.7, "uniform: chi-square of 10 bins %.2f < 33.7 (9 dof, p = 1e-4)", chi2);
    within(correlation(x, x + 1, N - 1), 0, 1 / sqrt(N), "uniform: lag-1 autocorrelation");
    free(x);
}

/* Mamba's dt bias: uniform in log space, exp, then the inverse of softplus. */
static void test_transforms(void) {
    const double lo = log(1e-3), hi = log(1e-1);
    enum { M = 20000 };
    ir_init u = ir_init_uniform(lo, hi);
    float *dt = draw("dt_bias", M, ir_init_then(u, INIT_POST_EXP), 5);
    float *inv = draw("dt_bias", M, ir_init_then(ir_init_then(u, INIT_POST_EXP), INIT_POST_SOFTPLUS_INV), 5);
    float *raw = draw("dt_bias", M, u, 5);
    double worst_exp = 0, worst_sp = 0, lmean = 0;
    bool range = true;
    for (int i = 0; i < M; i++) {
        range &= dt[i] >= 1e-3f * (1 - 1e-6f) && dt[i] <= 1e-1f * (1 + 1e-6f);
        worst_exp = fmax(worst_exp, fabs(dt[i] - exp((double)raw[i])) / dt[i]);
        worst_sp = fmax(worst_sp, fabs(log1p(exp((double)inv[i])) - dt[i]) / dt[i]);
        lmean += log(dt[i]) / M;
    }
    ok(range, "exp of uniform(log 1e-3, log 1e-1) lies in [1e-3, 1e-1]");
    ok(worst_exp < 1e-6, "exp is applied to the same draw (worst relative error %.3g)", worst_exp);
    ok(worst_sp < 2e-6, "softplus(softplus_inv(dt)) = dt (worst relative error %.3g)", worst_sp);
    within(lmean, (lo + hi) / 2, (hi - lo) / sqrt(12.0 * M), "log of the exp'd draws is uniform: mean");
    free(dt), free(inv), free(raw);

    /* softplus_inv against hand values, and against the interpreter's softplus (threshold 20) */
    const double cs[] = {1e-3, 0.5, 1, 5, 19.9, 20, 20.5, 25};
    ir_graph *g = ir_graph_new();
    ir_id p[8], y[8];
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        p[i] = ir_param(g, name, SH(1), ir_init_then(ir_init_constant(cs[i]), INIT_POST_SOFTPLUS_INV));
        y[i] = ir_unary(g, OP_softplus, p[i]);
    }
    ir_values *v = ir_values_new(g);
    ir_values_init_params(g, v, 0);
    is_double(v->t[p[2]].data[0], (float)0.541324854612918, 0, "softplus_inv(1) = log(e - 1)");
    is_double(v->t[p[7]].data[0], 25, 0, "softplus_inv(25) = 25 (above the threshold)");
    is_double(v->t[p[0]].data[0], (float)log(expm1(1e-3)), 0, "softplus_inv(1e-3) = log(e^0.001 - 1)");
    char err[128];
    ok(ir_interp(g, v, NULL, err, sizeof err), "softplus of the params runs");
    for (int i = 0; i < 8; i++)
        is_double(v->t[y[i]].data[0], cs[i], 2e-6, "interpreter softplus undoes softplus_inv(%g)", cs[i]);
    ir_values_free(v);
    ir_graph_free(g);

    /* transforms apply in order; a third is ignored (at most IR_INIT_MAX_POST) */
    ir_init a = ir_init_then(ir_init_then(ir_init_constant(1), INIT_POST_EXP), INIT_POST_SOFTPLUS_INV);
    ir_init b = ir_init_then(ir_init_then(ir_init_constant(1), INIT_POST_SOFTPLUS_INV), INIT_POST_EXP);
    ir_init full = ir_init_then(a, INIT_POST_EXP);
    ok(a.post[0] == INIT_POST_EXP && a.post[1] == INIT_POST_SOFTPLUS_INV && full.post[0] == a.post[0] &&
           full.post[1] == a.post[1],
       "ir_init_then appends, and a full list stays unchanged");
    float *fa = draw("t", 1, a, 0), *fb = draw("t", 1, b, 0);
    is_double(fa[0], (float)log(expm1(M_E)), 1e-7, "exp then softplus_inv: log(e^e - 1)");
    is_double(fb[0], (float)(M_E - 1), 1e-7, "softplus_inv then exp: e - 1");
    free(fa), free(fb);

    is_str(ir_init_post_name(INIT_POST_EXP), "exp", "post name exp");
    is_str(ir_init_post_name(INIT_POST_SOFTPLUS_INV), "softplus_inv", "post name softplus_inv");
    ok(ir_init_post_name(INIT_POST_COUNT) == NULL && ir_init_post_name((ir_init_post)-1) == NULL, "unknown post: NULL");
    ok(ir_init_post_by_name("exp") == INIT_POST_EXP && ir_init_post_by_name("softplus_inv") == INIT_POST_SOFTPLUS_INV,
       "post by name");
    ok(ir_init_post_by_name("log") == INIT_POST_COUNT && ir_init_post_by_name("none") == INIT_POST_COUNT,
       "unknown post names (and 'none') give INIT_POST_COUNT");
}

static int64_t count_equal(const float *a, const float *b, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += a[i] == b[i];
    return k;
}

static void test_streams(void) {
    enum { M = 10000 };
    float *a = draw("w", M, ir_init_normal(0, 1), 7), *a2 = draw("w", M, ir_init_normal(0, 1), 7);
    float *s8 = draw("w", M, ir_init_normal(0, 1), 8), *w2 = draw("w2", M, ir_init_normal(0, 1), 7);
    float *pre = draw("w", 100, ir_init_normal(0, 1), 7);
    is_int(count_equal(a, a2, M), M, "same seed and name: the same values");
    ok(count_equal(a, s8, M) < 5, "another seed: different values");
    ok(count_equal(a, w2, M) < 5, "another name: different values");
    within(correlation(a, s8, M), 0, 1 / sqrt(M), "seeds 7 and 8 are uncorrelated");
    within(correlation(a, w2, M), 0, 1 / sqrt(M), "names w and w2 are uncorrelated");
    is_int(count_equal(a, pre, 100), 100, "element i depends on the index, not the size of the param");
    float *u1 = draw("layers.1.b", M, ir_init_uniform(0, 1), 7), *u2 = draw("layers.2.b", M, ir_init_uniform(0, 1), 7);
    within(correlation(u1, u2, M), 0, 1 / sqrt(M), "uniform streams of two names are uncorrelated");
    free(a), free(a2), free(s8), free(w2), free(pre), free(u1), free(u2);

    /* independent of the order and number of params: the same names get the same values */
    ir_graph *g1 = ir_graph_new(), *g2 = ir_graph_new();
    ir_id x1 = ir_input(g1, "x", SH(3));
    ir_id a1 = ir_param(g1, "a", SH(4, 5), ir_init_normal(0, 1)), b1 = ir_param(g1, "b", SH(7), ir_init_uniform(-1, 1));
    ir_id b2 = ir_param(g2, "b", SH(7), ir_init_uniform(-1, 1)), c2 = ir_param(g2, "c", SH(9), ir_init_normal(0, 1));
    ir_id a2g = ir_param(g2, "a", SH(4, 5), ir_init_normal(0, 1));
    ir_values *v1 = ir_values_new(g1), *v2 = ir_values_new(g2);
    ir_values_init_params(g1, v1, 42);
    ir_values_init_params(g2, v2, 42);
    th_close(v1->t[a1].data, v2->t[a2g].data, 20, 0, "param a: same values whatever the order and number of params");
    th_close(v1->t[b1].data, v2->t[b2].data, 7, 0, "param b: same values whatever the order and number of params");
    ok(v1->t[x1].data[0] == 0 && v1->t[x1].data[2] == 0, "ir_values_init_params leaves inputs alone");
    ok(v2->t[c2].data[0] != 0 && v1->t[a1].data[0] == (double)(float)v1->t[a1].data[0], "params are filled with floats");
    ir_values_free(v1), ir_values_free(v2);
    ir_graph_free(g1), ir_graph_free(g2);
}

int main(void) {
    test_exact();
    test_normal();
    test_uniform();
    test_transforms();
    test_streams();
    return done_testing();
}
