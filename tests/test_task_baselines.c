/* Baselines on the evaluation prompts, against their expected errors. Bounds: 5 standard errors
 * of the per-position mean (empirical std / sqrt(n), prompts i.i.d.), or closed forms:
 *   zero predictor:  E (x_q.w)^2 = d
 *   least squares:   E |P_perp w|^2 = d - p for p < d (noiseless: min-norm solution = projection of
 *                    w on the span of the p examples), 0 for p >= d
 *   averaging:       E |(S_p - I) w|^2 = d (d + 1) / p, S_p the sample second moment of p examples
 *   3-NN, p <= 3:    E (y_q - mean of the p y's)^2 = d + d / p. */
#include "tasks/task.h"
#include "tests/tap.h"

#include <math.h>

static const double Z = 5.0;

typedef struct {
    task *t;
    task_shape sh;
    int nb;
    task_curve_point *pts[12];
} result;

/* Every baseline of `name` on P evaluation prompts; per-position curves. */
static result run(const char *name, const char *params, int64_t P) {
    result r;
    task_error err;
    r.t = task_create(name, params, &err);
    const int64_t N = task_n_max(r.t);
    r.sh = task_shape_at(r.t, N);
    r.nb = task_baseline_count(r.t);
    task_batch b;
    task_batch_alloc(r.t, P, N, false, &b, &err);
    if (!task_sample(r.t, task_eval_state(r.t), 3, TASK_EVAL, 0, &b, &err)) {
        diag("%s", err.msg);
        exit(1);
    }
    for (int k = 0; k < r.nb; k++) {
        const task_head *hd = &r.sh.heads[task_baseline_head(r.t, k)];
        float *pred = malloc((size_t)(P * hd->count * hd->width) * sizeof(float));
        double *metric = malloc((size_t)(P * hd->count) * sizeof(double));
        float *counted = malloc((size_t)(P * hd->count) * sizeof(float));
        r.pts[k] = malloc((size_t)hd->count * sizeof(task_curve_point));
        ok(task_baseline_predict(r.t, k, &b, pred, &err), "%s: baseline %s runs", name, task_baseline_name(r.t, k));
        task_score(&r.sh, task_baseline_head(r.t, k), &b, pred, metric, counted);
        task_curve(metric, counted, P, hd->count, 0, 1, r.pts[k]);
        free(pred);
        free(metric);
        free(counted);
    }
    task_batch_free(&b);
    return r;
}

static void done(result *r) {
    for (int k = 0; k < r->nb; k++) free(r->pts[k]);
    task_free(r->t);
}

static int find(const result *r, const char *name) {
    for (int k = 0; k < r->nb; k++)
        if (!strcmp(task_baseline_name(r->t, k), name)) return k;
    diag("no baseline %s", name);
    exit(1);
}

static double se(const task_curve_point *p) { return p->std / sqrt((double)p->n); }

/* a's mean exceeds b's by more than Z standard errors of the difference (taken as independent,
 * which overstates it: both curves come from the same prompts). */
static bool above(const task_curve_point *a, const task_curve_point *b) {
    return a->mean - b->mean > Z * sqrt(se(a) * se(a) + se(b) * se(b));
}

static void linear(void) {
    const int64_t d = 20, N = 41;
    result r = run("linear_regression", NULL, 512);
    is_int(r.nb, 4, "linear regression has 4 baselines: zero, least squares, averaging, 3-NN");
    const task_curve_point *zero = r.pts[find(&r, "zero")], *ls = r.pts[find(&r, "least_squares")],
                           *avg = r.pts[find(&r, "averaging")], *knn = r.pts[find(&r, "knn3")];
    bool zok = true, lsok = true, lsexact = true, avgok = true, first = true;
    double worst_ls = 0, worst_avg = 0;
    for (int64_t p = 0; p < N; p++) {
        zok = zok && fabs(zero[p].mean - d) <= Z * se(&zero[p]);
        first = first && (p > 0 || (ls[0].mean == zero[0].mean && avg[0].mean == zero[0].mean && knn[0].mean == zero[0].mean));
        if (p < d) {
            double z = fabs(ls[p].mean - (double)(d - p)) / fmax(se(&ls[p]), 1e-12);
            worst_ls = fmax(worst_ls, z);
            lsok = lsok && z <= Z;
        } else {
            lsexact = lsexact && ls[p].mean < 1e-6;
        }
        if (p > 0) {
            double z = fabs(avg[p].mean - (double)(d * (d + 1)) / (double)p) / se(&avg[p]);
            worst_avg = fmax(worst_avg, z);
            avgok = avgok && z <= Z;
        }
    }
    ok(first, "every baseline predicts 0 with no context");
    ok(zok, "zero predictor: error d = 20 at every position");
    ok(lsok, "least squares: error d - p below d examples (worst |z| %.2f)", worst_ls);
    ok(lsexact, "least squares: ~0 error from d = 20 examples on (max %.3g at p = 20)", ls[20].mean);
    ok(avgok, "averaging: error d(d+1)/p (worst |z| %.2f)", worst_avg);
    ok(above(&avg[10], &avg[40]) && above(&avg[2], &avg[10]),
       "averaging error decreases with context: %.1f > %.1f > %.1f", avg[2].mean, avg[10].mean, avg[40].mean);
    diag("3-NN mean (se): p=1 %.1f (%.1f), p=3 %.1f (%.1f), p=40 %.1f (%.1f)", knn[1].mean, se(&knn[1]), knn[3].mean,
         se(&knn[3]), knn[40].mean, se(&knn[40]));
    ok(above(&knn[3], &knn[40]) && above(&knn[1], &knn[3]),
       "3-NN error decreases with context: %.1f > %.1f > %.1f", knn[1].mean, knn[3].mean, knn[40].mean);
    /* with p <= 3 examples 3-NN averages all of them: E (y_q - mean of p y's)^2 = d + d / p */
    bool small = true;
    for (int64_t p = 1; p <= 3; p++) small = small && fabs(knn[p].mean - (d + (double)d / p)) <= Z * se(&knn[p]);
    ok(small, "3-NN with p <= 3 examples: error d + d/p");
    done(&r);
}

static void sparse(void) {
    result r = run("sparse_linear_regression", NULL, 128);
    is_int(r.nb, 9, "sparse regression adds Lasso with 5 alphas");
    const task_curve_point *ls = r.pts[find(&r, "least_squares")], *l2 = r.pts[find(&r, "lasso_0.01")],
                           *l1 = r.pts[find(&r, "lasso_1")], *l4 = r.pts[find(&r, "lasso_0.0001")],
                           *zero = r.pts[find(&r, "zero")];
    ok(fabs(zero[5].mean - 3) <= Z * se(&zero[5]), "zero predictor: error k = 3 (%.2f)", zero[5].mean);
    ok(l2[10].mean < 0.25 * ls[10].mean, "Lasso(0.01) beats least squares from 10 < d examples: %.3f vs %.3f",
       l2[10].mean, ls[10].mean);
    ok(l4[30].mean < 1e-3, "Lasso(1e-4) from 30 > d examples: ~0 error (%.2g)", l4[30].mean);
    ok(l1[30].mean > l2[30].mean, "Lasso(1) is biased: %.3f > Lasso(0.01) %.3f", l1[30].mean, l2[30].mean);
    done(&r);
}

static void parity(void) {
    const int64_t P = 256, N = 140;
    result r = run("sparse_parity", NULL, P);
    const task_curve_point *ch = r.pts[find(&r, "chance")], *mj = r.pts[find(&r, "majority")];
    double c = 0, m = 0;
    for (int64_t p = 0; p < N; p++) {
        c += ch[p].mean / N;
        m += mj[p].mean / N;
    }
    double s = sqrt(0.25 / (double)(P * N));
    ok(fabs(c - 0.5) <= Z * s, "parity chance accuracy %.4f = 1/2 (5 se %.4f)", c, Z * s);
    ok(fabs(m - 0.5) <= Z * s * 2, "parity majority accuracy %.4f ~ 1/2", m);
    done(&r);
}

static void others(void) {
    result r = run("mqar", NULL, 64);
    ok(fabs(r.pts[0][0].mean - 1) < 1e-5 && fabs(r.pts[0][3].mean - 1) < 1e-5, "mqar zero predictor: error |v|^2 = 1");
    done(&r);
    r = run("cot_io", NULL, 256);
    is_int(task_baseline_head(r.t, 0), 1, "cot_io zero predictor is on the y head");
    ok(fabs(r.pts[0][50].mean - 10) <= Z * se(&r.pts[0][50]), "cot_io zero predictor: E y^2 = d = 10 (%.2f)", r.pts[0][50].mean);
    done(&r);
    r = run("ortho_outlier_regression", "N=41", 128);
    const task_curve_point *ls = r.pts[find(&r, "least_squares")];
    ok(ls[40].n > 0 && ls[40].n < 128 && isfinite(ls[40].mean), "ortho outliers: least squares scored on clean positions only (%lld of 128)",
       (long long)ls[40].n);
    done(&r);
    r = run("relu_2nn_regression", NULL, 128);
    /* the linear part of the network is learnable: about (d/2)(1 + d/(p - d - 1)) < d at p = 100 */
    ok(r.pts[find(&r, "least_squares")][100].mean < r.pts[find(&r, "zero")][100].mean,
       "2NN: least squares beats the zero predictor from 100 examples (%.2f < %.2f)",
       r.pts[find(&r, "least_squares")][100].mean, r.pts[find(&r, "zero")][100].mean);
    done(&r);
    r = run("decision_tree", "N=31", 64);
    ok(r.pts[find(&r, "knn3")][30].mean < r.pts[find(&r, "averaging")][30].mean, "decision tree: 3-NN beats averaging");
    done(&r);
}

int main(void) {
    linear();
    sparse();
    parity();
    others();
    return done_testing();
}
