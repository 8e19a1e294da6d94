/* task_baselines.c — the reference predictors of tasks.md 6, computed per prompt and position from
 * the prompt's own tokens: the prediction at example p uses only examples 0..p-1 (at p = 0 every
 * regression baseline predicts 0). For the interleaved layout x_j is token 2j and y_j is the first
 * channel of token 2j+1 (for outlier tasks: what the model sees, dummies included).
 *
 * Dimensions: d token width, n points of the sampled state, p examples in context. */
#include "tasks/task_impl.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { LASSO_MAX_SWEEPS = 100000 };
static const double LASSO_TOL = 1e-4; /* sklearn's default tol */
static const double LSQ_RCOND = 1e-10;

int task_baseline_count(const task *t) { return t->desc->nbaselines; }
const char *task_baseline_name(const task *t, int i) {
    return i >= 0 && i < t->desc->nbaselines ? t->desc->baselines[i].name : NULL;
}
int task_baseline_head(const task *t, int i) {
    return i >= 0 && i < t->desc->nbaselines ? t->desc->baselines[i].head : -1;
}

/* Scratch of one prompt's solve. */
typedef struct scratch {
    double *X;     /* [n][d] row-major examples */
    double *y;     /* [n] */
    double *A, *b; /* LAPACK copies: A [d][p] column-major, b [max(n, d)] */
    lapack_int *jpvt;
    double *G, *c, *w, *q; /* Lasso: Gram [d][d], X^T y [d], weights [d], G w [d] */
    int64_t *node;         /* tree: the samples of the current node [n] */
    struct keyed {
        double v;
        int64_t i;
    } *kv, *tmp; /* tree: (feature value, sample) pairs and merge buffer [n] */
} scratch;

/* Stable merge sort of kv[0..n) by value. */
static void sort_keyed(struct keyed *kv, struct keyed *tmp, int64_t n) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = kv[b].v < kv[a].v ? kv[b++] : kv[a++];
            while (a < mid) tmp[k++] = kv[a++];
            while (b < hi) tmp[k++] = kv[b++];
        }
        memcpy(kv, tmp, (size_t)n * sizeof *kv);
    }
}

/* Greedy regression tree (sklearn's DecisionTreeRegressor, squared error, best splitter) on the
 * first p examples, followed only along the query's branch: at each node the split maximising
 * sum_l^2/n_l + sum_r^2/n_r over all features and midpoints between distinct sorted values (values
 * closer than 1e-7 are not split; the first best in feature order wins ties); a node is a leaf at
 * max_depth (0 = none), with fewer than 2 samples, or when its variance is <= DBL_EPSILON. */
static double tree_predict(scratch *s, int64_t p, int64_t d, int64_t max_depth, const double *xq) {
    int64_t n = p;
    for (int64_t i = 0; i < n; i++) s->node[i] = i;
    for (int64_t depth = 0;; depth++) {
        double tot = 0, sq = 0;
        for (int64_t i = 0; i < n; i++) {
            tot += s->y[s->node[i]];
            sq += s->y[s->node[i]] * s->y[s->node[i]];
        }
        double mean = tot / (double)n;
        if ((max_depth > 0 && depth >= max_depth) || n < 2 || sq / (double)n - mean * mean <= 2.220446049250313e-16)
            return mean;
        double best = -INFINITY, thr = 0;
        int64_t bf = -1;
        for (int64_t f = 0; f < d; f++) {
            for (int64_t i = 0; i < n; i++) s->kv[i] = (struct keyed){s->X[s->node[i] * d + f], s->node[i]};
            sort_keyed(s->kv, s->tmp, n);
            double left = 0;
            for (int64_t i = 1; i < n; i++) {
                left += s->y[s->kv[i - 1].i];
                if (s->kv[i].v <= s->kv[i - 1].v + 1e-7) continue;
                double right = tot - left, proxy = left * left / (double)i + right * right / (double)(n - i);
                if (proxy > best) {
                    best = proxy;
                    bf = f;
                    thr = s->kv[i - 1].v / 2.0 + s->kv[i].v / 2.0;
                    if (thr == s->kv[i].v) thr = s->kv[i - 1].v;
                }
            }
        }
        if (bf < 0) return mean;
        const bool go_left = xq[bf] <= thr;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if ((s->X[s->node[i] * d + bf] <= thr) == go_left) s->node[m++] = s->node[i];
        n = m;
    }
}

/* Minimum-norm least squares on the first p examples (LAPACK dgelsy: complete orthogonal
 * factorisation, rank by rcond), then x_q^T w. */
static bool lsq_predict(scratch *s, int64_t p, int64_t d, const double *xq, double *out) {
    for (int64_t j = 0; j < d; j++)
        for (int64_t i = 0; i < p; i++) s->A[j * p + i] = s->X[i * d + j];
    int64_t ldb = p > d ? p : d;
    for (int64_t i = 0; i < ldb; i++) s->b[i] = i < p ? s->y[i] : 0;
    memset(s->jpvt, 0, (size_t)d * sizeof *s->jpvt);
    lapack_int rank = 0;
    lapack_int info = LAPACKE_dgelsy(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)d, 1, s->A, (lapack_int)p, s->b,
                                     (lapack_int)ldb, s->jpvt, LSQ_RCOND, &rank);
    if (info != 0) return false;
    double v = 0;
    for (int64_t j = 0; j < d; j++) v += xq[j] * s->b[j];
    *out = v;
    return true;
}

/* Mean y of the min(p, 3) nearest previous examples (Euclidean; ties keep the earlier example). */
static double knn3_predict(const scratch *s, int64_t p, int64_t d, const double *xq) {
    double best[3] = {INFINITY, INFINITY, INFINITY}, by[3] = {0, 0, 0};
    for (int64_t i = 0; i < p; i++) {
        double dist = 0;
        for (int64_t j = 0; j < d; j++) dist += (s->X[i * d + j] - xq[j]) * (s->X[i * d + j] - xq[j]);
        for (int r = 0; r < 3; r++)
            if (dist < best[r]) {
                for (int q = 2; q > r; q--) {
                    best[q] = best[q - 1];
                    by[q] = by[q - 1];
                }
                best[r] = dist;
                by[r] = s->y[i];
                break;
            }
    }
    int64_t k = p < 3 ? p : 3;
    double sum = 0;
    for (int64_t r = 0; r < k; r++) sum += by[r];
    return sum / (double)k;
}

/* Lasso by cyclic coordinate descent on the Gram matrix of the first p examples, warm-started from
 * s->w: minimises (1/(2p)) ||y - Xw||^2 + alpha ||w||_1 with sklearn's stopping rule (max update
 * below tol * max |w|, then duality gap below tol * y^T y). */
static void lasso_fit(scratch *s, int64_t p, int64_t d, double alpha, double yy) {
    const double a = alpha * (double)p, tol = LASSO_TOL * yy;
    double *G = s->G, *c = s->c, *w = s->w, *q = s->q;
    for (int64_t j = 0; j < d; j++) {
        double v = 0;
        for (int64_t l = 0; l < d; l++) v += G[j * d + l] * w[l];
        q[j] = v;
    }
    for (int sweep = 0; sweep < LASSO_MAX_SWEEPS; sweep++) {
        double w_max = 0, dw_max = 0;
        for (int64_t j = 0; j < d; j++) {
            double gjj = G[j * d + j];
            if (gjj == 0) continue;
            double old = w[j], rho = c[j] - q[j] + gjj * old;
            double nw = rho > a ? (rho - a) / gjj : rho < -a ? (rho + a) / gjj : 0;
            if (nw != old) {
                double delta = nw - old;
                for (int64_t l = 0; l < d; l++) q[l] += delta * G[l * d + j];
                w[j] = nw;
            }
            dw_max = fmax(dw_max, fabs(nw - old));
            w_max = fmax(w_max, fabs(nw));
        }
        if (w_max == 0 || dw_max / w_max < LASSO_TOL || sweep == LASSO_MAX_SWEEPS - 1) {
            double dual = 0, wc = 0, wq = 0, l1 = 0;
            for (int64_t j = 0; j < d; j++) {
                dual = fmax(dual, fabs(c[j] - q[j]));
                wc += w[j] * c[j];
                wq += w[j] * q[j];
                l1 += fabs(w[j]);
            }
            double r2 = yy - 2 * wc + wq, cst = 1, gap;
            if (dual > a) {
                cst = a / dual;
                gap = 0.5 * (r2 + r2 * cst * cst);
            } else {
                gap = r2;
            }
            gap += a * l1 - cst * (yy - wc);
            if (gap < tol) return;
        }
    }
}

static bool predict_prompt(const task_baseline_desc *bd, int64_t n, int64_t d, scratch *s, float *pred) {
    double yy = 0;
    if (bd->kind == TB_LASSO) {
        memset(s->G, 0, (size_t)(d * d) * sizeof(double));
        memset(s->c, 0, (size_t)d * sizeof(double));
        memset(s->w, 0, (size_t)d * sizeof(double));
    }
    double *avg = s->c; /* averaging: running sum of y_j x_j */
    if (bd->kind == TB_AVG) memset(avg, 0, (size_t)d * sizeof(double));
    double ysum = 0;
    for (int64_t p = 0; p < n; p++) {
        const double *xq = s->X + p * d;
        double v = 0;
        switch (bd->kind) {
        case TB_ZERO: break;
        case TB_CHANCE: v = 1; break;
        case TB_MAJORITY: v = ysum >= 0 ? 1 : -1; break;
        case TB_LSQ:
            if (p > 0 && !lsq_predict(s, p, d, xq, &v)) return false;
            break;
        case TB_AVG:
            for (int64_t j = 0; p > 0 && j < d; j++) v += xq[j] * avg[j] / (double)p;
            break;
        case TB_KNN3:
            if (p > 0) v = knn3_predict(s, p, d, xq);
            break;
        case TB_TREE:
            if (p > 0) v = tree_predict(s, p, d, (int64_t)bd->alpha, xq);
            break;
        case TB_LASSO:
            if (p > 0) {
                lasso_fit(s, p, d, bd->alpha, yy);
                for (int64_t j = 0; j < d; j++) v += xq[j] * s->w[j];
            }
            break;
        }
        pred[p] = (float)v;
        /* Example p joins the context. */
        const double yp = s->y[p];
        ysum += yp;
        if (bd->kind == TB_AVG)
            for (int64_t j = 0; j < d; j++) avg[j] += yp * xq[j];
        if (bd->kind == TB_LASSO) {
            yy += yp * yp;
            for (int64_t j = 0; j < d; j++) {
                s->c[j] += yp * xq[j];
                for (int64_t l = 0; l < d; l++) s->G[j * d + l] += xq[j] * xq[l];
            }
        }
    }
    return true;
}

bool task_baseline_predict(const task *t, int i, const task_batch *b, float *pred, task_error *err) {
    const task_desc *desc = t->desc;
    if (i < 0 || i >= desc->nbaselines) return task_error_set(err, "task %s: no baseline %d", desc->name, i);
    const task_baseline_desc *bd = &desc->baselines[i];
    const task_shape sh = task_shape_at(t, b->N);
    const task_head *hd = &sh.heads[bd->head];
    const int64_t B = b->B, C = hd->count, W = hd->width;
    if (bd->kind == TB_ZERO) {
        memset(pred, 0, (size_t)(B * C * W) * sizeof(float));
        return true;
    }
    if (!desc->interleaved) return task_error_set(err, "task %s: baseline %s needs the interleaved layout", desc->name, bd->name);
    const int64_t d = sh.d_tok, n = b->st.N, N = b->N;
    bool ok = true;
#pragma omp parallel if (B > 1) reduction(&& : ok)
    {
        scratch s;
        const int64_t ld = N > d ? N : d;
        s.X = malloc((size_t)(N * d) * sizeof(double));
        s.y = malloc((size_t)N * sizeof(double));
        s.A = malloc((size_t)(N * d) * sizeof(double));
        s.b = malloc((size_t)ld * sizeof(double));
        s.jpvt = malloc((size_t)d * sizeof(lapack_int));
        s.G = malloc((size_t)(d * d) * sizeof(double));
        s.c = malloc((size_t)d * sizeof(double));
        s.w = malloc((size_t)d * sizeof(double));
        s.q = malloc((size_t)d * sizeof(double));
        s.node = malloc((size_t)N * sizeof *s.node);
        s.kv = malloc((size_t)N * sizeof *s.kv);
        s.tmp = malloc((size_t)N * sizeof *s.tmp);
        ok = s.X && s.y && s.A && s.b && s.jpvt && s.G && s.c && s.w && s.q && s.node && s.kv && s.tmp;
#pragma omp for schedule(dynamic, 1)
        for (int64_t pr = 0; pr < B; pr++) {
            if (!ok) continue;
            const float *tok = b->tokens + pr * sh.T * d;
            for (int64_t e = 0; e < n; e++) {
                for (int64_t j = 0; j < d; j++) s.X[e * d + j] = tok[2 * e * d + j];
                s.y[e] = tok[(2 * e + 1) * d];
            }
            float *out = pred + pr * C;
            memset(out, 0, (size_t)C * sizeof(float));
            ok = predict_prompt(bd, n, d, &s, out);
        }
        free(s.X);
        free(s.y);
        free(s.A);
        free(s.b);
        free(s.jpvt);
        free(s.G);
        free(s.c);
        free(s.w);
        free(s.q);
        free(s.node);
        free(s.kv);
        free(s.tmp);
    }
    if (!ok) return task_error_set(err, "task %s: baseline %s failed (LAPACK error or out of memory)", desc->name, bd->name);
    return true;
}
