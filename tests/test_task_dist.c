/* Distribution checks per task. Every bound is Z = 5 standard errors of the estimator: analytic
 * where the distribution gives it in closed form (noted), otherwise the CLT with the empirical
 * variance of independent per-prompt statistics (prompts are i.i.d.). The chance that a correct
 * sampler fails one check is below 1e-6. Functions are recomputed here from the latent output
 * with independent code. */
#include "tasks/task.h"
#include "tests/tap.h"

#include <math.h>
#include <stdbool.h>

static const double Z = 5.0;

typedef struct {
    task *t;
    task_shape sh;
    task_batch b;
} sample;

static sample draw(const char *name, const char *params, int64_t P, task_state *st, uint64_t seed) {
    sample s;
    task_error err;
    s.t = task_create(name, params, &err);
    if (!s.t) {
        diag("%s", err.msg);
        exit(1);
    }
    int64_t N = task_n_max(s.t);
    s.sh = task_shape_at(s.t, N);
    task_state use = st ? *st : task_eval_state(s.t);
    if (!task_batch_alloc(s.t, P, N, true, &s.b, &err) || !task_sample(s.t, use, seed, TASK_EVAL, 0, &s.b, &err)) {
        diag("%s", err.msg);
        exit(1);
    }
    return s;
}

static void drop(sample *s) {
    task_batch_free(&s->b);
    task_free(s->t);
}

static const float *tok(const sample *s, int64_t b, int64_t p) { return s->b.tokens + (b * s->sh.T + p) * s->sh.d_tok; }

/* |mean - want| <= Z * se */
static void within(double mean, double want, double se, const char *what) {
    ok(fabs(mean - want) <= Z * se, "%s: %.5f vs %.5f (5 se = %.5f)", what, mean, want, Z * se);
}

/* Mean and standard error of per-prompt values v[0..P). */
static void mean_se(const double *v, int64_t P, double *mean, double *se) {
    double s = 0, ss = 0;
    for (int64_t i = 0; i < P; i++) s += v[i];
    *mean = s / (double)P;
    for (int64_t i = 0; i < P; i++) ss += (v[i] - *mean) * (v[i] - *mean);
    *se = sqrt(ss / (double)(P - 1) / (double)P);
}

/* x ~ N(0, 1) on visible coordinates, exactly 0 beyond d_cur: mean (se 1/sqrt(n)) and second
 * moment (Var x^2 = 2, se sqrt(2/n)). */
static void gaussian_x_checks(const sample *s, int64_t stride, const char *name) {
    const int64_t P = s->b.B, N = s->b.st.N, dc = s->b.st.d_cur, d = (int64_t)task_param(s->t, "d");
    double m1 = 0, m2 = 0, n = 0;
    bool zero = true;
    for (int64_t b = 0; b < P; b++)
        for (int64_t i = 0; i < N; i++) {
            const float *x = tok(s, b, stride * i);
            for (int64_t c = 0; c < d; c++) {
                if (c >= dc) {
                    zero = zero && x[c] == 0;
                    continue;
                }
                m1 += x[c];
                m2 += (double)x[c] * x[c];
                n++;
            }
        }
    within(m1 / n, 0, 1 / sqrt(n), "  x mean");
    within(m2 / n, 1, sqrt(2 / n), "  x second moment");
    ok(zero, "%s: coordinates >= d_cur = %lld are exactly 0", name, (long long)dc);
}

/* Linear regression: y = w.x; E y = 0 with se sqrt(d_cur / (N P)); E y^2 = d_cur with
 * Var(prompt mean of y^2) = (d^2 + 2d)(1 + 2/N) - d^2 (|w|^2 ~ chi2(d_cur), analytic). */
static void linear(int64_t d_cur) {
    task_state st = {d_cur, 41};
    sample s = draw("linear_regression", NULL, 1280, &st, 11);
    const int64_t P = 1280, N = 41, d = 20;
    diag("linear_regression at d_cur = %lld", (long long)d_cur);
    gaussian_x_checks(&s, 2, "linear_regression");
    double y1 = 0, y2 = 0, w1 = 0, w2 = 0, maxerr = 0;
    for (int64_t b = 0; b < P; b++) {
        const float *w = s.b.latent + b * s.sh.latent;
        for (int64_t c = 0; c < d; c++) {
            w1 += w[c];
            w2 += (double)w[c] * w[c];
        }
        for (int64_t i = 0; i < N; i++) {
            const float *x = tok(&s, b, 2 * i);
            double y = 0;
            for (int64_t c = 0; c < d; c++) y += (double)w[c] * x[c];
            float got = tok(&s, b, 2 * i + 1)[0];
            maxerr = fmax(maxerr, fabs(got - y) / (1 + fabs(y)));
            maxerr = fmax(maxerr, fabs(s.b.targets[0][b * N + i] - got));
            for (int64_t c = 1; c < d; c++) maxerr = fmax(maxerr, fabs(tok(&s, b, 2 * i + 1)[c]));
            y1 += y;
            y2 += y * y;
        }
    }
    ok(maxerr < 1e-5, "  y token = [w.x, 0, ...] = target (max rel. error %.2g)", maxerr);
    within(w1 / (P * d), 0, 1 / sqrt(P * d), "  w mean (all d coordinates, not truncated)");
    within(w2 / (P * d), 1, sqrt(2.0 / (P * d)), "  w second moment");
    double dd = (double)d_cur, n = (double)(P * N);
    within(y1 / n, 0, sqrt(dd / n), "  y mean");
    within(y2 / n, dd, sqrt(((dd * dd + 2 * dd) * (1 + 2.0 / N) - dd * dd) / P), "  E y^2 = d_cur");
    double mask = 0;
    for (int64_t i = 0; i < P * N; i++) mask += s.b.mask[0][i];
    is_double(mask, (double)(P * N), 0, "  every position counted");
    drop(&s);
}

/* Sparse: exactly k nonzeros in w, inside the visible coordinates; each visible coordinate is in
 * the support with probability k / d_cur (binomial bound); kept values N(0, 1). */
static void sparse(void) {
    task_state st = {8, 41};
    const int64_t P = 1280, d = 20, k = 3, N = 41;
    sample s = draw("sparse_linear_regression", NULL, P, &st, 12);
    diag("sparse_linear_regression at d_cur = 8");
    bool exact = true, inside = true, match = true;
    double hits[20] = {0}, v1 = 0, v2 = 0;
    for (int64_t b = 0; b < P; b++) {
        const float *w = s.b.latent + b * s.sh.latent;
        int nz = 0;
        for (int64_t c = 0; c < d; c++)
            if (w[c] != 0) {
                nz++;
                inside = inside && c < 8;
                hits[c]++;
                v1 += w[c];
                v2 += (double)w[c] * w[c];
            }
        exact = exact && nz == k;
        for (int64_t i = 0; i < N; i++) {
            double y = 0;
            for (int64_t c = 0; c < d; c++) y += (double)w[c] * tok(&s, b, 2 * i)[c];
            match = match && fabs(tok(&s, b, 2 * i + 1)[0] - y) < 1e-5 * (1 + fabs(y));
        }
    }
    ok(exact, "  every w has exactly k = 3 nonzero coordinates");
    ok(inside, "  ... all among the d_cur = 8 visible coordinates");
    ok(match, "  y = w.x");
    double pk = 3.0 / 8, worst = 0;
    for (int c = 0; c < 8; c++) worst = fmax(worst, fabs(hits[c] - P * pk) / sqrt(P * pk * (1 - pk)));
    ok(worst <= Z, "  support uniform over visible coordinates (worst |z| = %.2f)", worst);
    within(v1 / (P * k), 0, 1 / sqrt(P * k), "  kept values mean");
    within(v2 / (P * k), 1, sqrt(2.0 / (P * k)), "  kept values second moment");
    drop(&s);
}

/* Two-layer ReLU net: y recomputed from W1, W2; E y^2 = d_cur (per-prompt CLT). */
static void relu2nn(void) {
    const int64_t P = 512, d = 20, h = 100, N = 101;
    sample s = draw("relu_2nn_regression", NULL, P, NULL, 13);
    diag("relu_2nn_regression");
    gaussian_x_checks(&s, 2, "relu_2nn_regression");
    double maxerr = 0, *py2 = malloc((size_t)P * sizeof(double));
    for (int64_t b = 0; b < P; b++) {
        const float *W1 = s.b.latent + b * s.sh.latent, *W2 = W1 + d * h;
        py2[b] = 0;
        for (int64_t i = 0; i < N; i++) {
            const float *x = tok(&s, b, 2 * i);
            double y = 0;
            for (int64_t j = 0; j < h; j++) {
                double a = 0;
                for (int64_t c = 0; c < d; c++) a += (double)x[c] * W1[c * h + j];
                y += W2[j] * fmax(a, 0);
            }
            y *= sqrt(2.0 / h);
            maxerr = fmax(maxerr, fabs(tok(&s, b, 2 * i + 1)[0] - y) / (1 + fabs(y)));
            py2[b] += y * y / N;
        }
    }
    ok(maxerr < 1e-4, "  y = sqrt(2/h) W2.relu(W1^T x) (max rel. error %.2g)", maxerr);
    double m, se;
    mean_se(py2, P, &m, &se);
    within(m, 20, se, "  E y^2 = d");
    free(py2);
    drop(&s);
}

/* Decision tree: node coordinates in [0, d) uniform, values N(0, 1); y is the value of the leaf
 * reached by D = 4 sign tests (index 15..30), x = 0 going left. */
static void tree(void) {
    const int64_t P = 1280, d = 20, N = 101, nodes = 31;
    task_state st = {6, 101};
    sample s = draw("decision_tree", NULL, P, &st, 14);
    diag("decision_tree at d_cur = 6");
    bool leaf = true, range = true;
    double cnt[20] = {0}, v1 = 0, v2 = 0, *py2 = malloc((size_t)P * sizeof(double));
    for (int64_t b = 0; b < P; b++) {
        const float *coord = s.b.latent + b * s.sh.latent, *value = coord + nodes;
        for (int64_t n = 0; n < nodes; n++) {
            int64_t c = (int64_t)coord[n];
            range = range && c >= 0 && c < d && coord[n] == (float)c;
            if (range) cnt[c]++;
            v1 += value[n];
            v2 += (double)value[n] * value[n];
        }
        py2[b] = 0;
        for (int64_t i = 0; i < N; i++) {
            const float *x = tok(&s, b, 2 * i);
            int64_t n = 0, depth = 0;
            while (n < 15) {
                n = x[(int64_t)coord[n]] > 0 ? 2 * n + 2 : 2 * n + 1;
                depth++;
            }
            leaf = leaf && depth == 4 && n >= 15 && n <= 30 && tok(&s, b, 2 * i + 1)[0] == value[n];
            py2[b] += (double)value[n] * value[n] / N;
        }
    }
    ok(range, "  node coordinates are integers in [0, d)");
    double pc = 1.0 / d, worst = 0, tot = (double)(P * nodes);
    for (int c = 0; c < d; c++) worst = fmax(worst, fabs(cnt[c] - tot * pc) / sqrt(tot * pc * (1 - pc)));
    ok(worst <= Z, "  coordinates uniform over the full d = 20 (worst |z| = %.2f)", worst);
    within(v1 / tot, 0, 1 / sqrt(tot), "  node values mean");
    within(v2 / tot, 1, sqrt(2 / tot), "  node values second moment");
    ok(leaf, "  y = value of the depth-4 leaf reached by the sign tests");
    double m, se;
    mean_se(py2, P, &m, &se);
    within(m, 1, se, "  E y^2 = 1 (leaf values N(0, 1))");
    free(py2);
    drop(&s);
}

/* Outliers: Bernoulli(p) per example (binomial bound on the count), masked out, replaced by the
 * dummy (orthogonal to w in paper mode) or by ones / 1. */
static void outliers(const char *name, const char *params, double p, int64_t d_cur) {
    const int64_t P = 256, d = 20;
    task_error err;
    task *t0 = task_create(name, params, &err);
    task_state st = {d_cur, task_n_max(t0)};
    task_free(t0);
    sample s = draw(name, params, P, &st, 15);
    const int64_t N = st.N;
    diag("%s %s at d_cur = %lld", name, params ? params : "", (long long)d_cur);
    const bool many = !strcmp(name, "many_outlier_regression");
    double nout = 0, maxdot = 0;
    bool replaced = true, clean = true, masks = true;
    for (int64_t b = 0; b < P; b++) {
        const float *w = s.b.latent + b * s.sh.latent, *DX = w + d, *DY = w + 2 * d;
        const float *out = many ? w + d : w + 3 * d;
        if (!many) {
            double dx = 0, dy = 0, nx = 0, ny = 0, nw = 0;
            for (int64_t c = 0; c < d; c++) {
                dx += (double)DX[c] * w[c];
                dy += (double)DY[c] * w[c];
                nx += (double)DX[c] * DX[c];
                ny += (double)DY[c] * DY[c];
                nw += (double)w[c] * w[c];
            }
            maxdot = fmax(maxdot, fmax(fabs(dx) / sqrt(nx * nw), fabs(dy) / sqrt(ny * nw)));
        }
        for (int64_t i = 0; i < N; i++) {
            const float *x = tok(&s, b, 2 * i), *y = tok(&s, b, 2 * i + 1);
            bool o = out[i] != 0;
            nout += o;
            masks = masks && s.b.mask[0][b * N + i] == (o ? 0 : 1);
            if (o) {
                for (int64_t c = 0; c < d; c++) {
                    float wx = many ? 1.0f : DX[c], wy = many ? (c == 0) : DY[c];
                    replaced = replaced && x[c] == wx && y[c] == wy;
                }
                replaced = replaced && s.b.targets[0][b * N + i] == y[0];
            } else {
                double yy = 0;
                for (int64_t c = 0; c < d; c++) {
                    yy += (double)w[c] * x[c];
                    clean = clean && (c < d_cur || x[c] == 0) && (c == 0 || y[c] == 0);
                }
                clean = clean && fabs(y[0] - yy) < 1e-5 * (1 + fabs(yy));
            }
        }
    }
    double n = (double)(P * N);
    ok(fabs(nout - n * p) <= Z * sqrt(n * p * (1 - p)) + 1e-9, "  outlier count %.0f of %.0f vs p = %.2f (5 se = %.1f)",
       nout, n, p, Z * sqrt(n * p * (1 - p)));
    ok(masks, "  mask = 0 exactly at outliers");
    ok(replaced, many ? "  outliers: x = all-ones (all d), y token = [1, 0, ...]" : "  outliers: x = DX, y token = DY");
    ok(clean, "  clean examples: truncated x, y token = [w.x, 0, ...]");
    if (!many && !strstr(params ? params : "", "dummy=code"))
        ok(maxdot < 1e-5, "  paper dummies are orthogonal to the prompt's w (max |cos| %.2g)", maxdot);
    if (!many && strstr(params ? params : "", "dummy=code"))
        ok(maxdot > 1e-3, "  code dummies are orthogonal to unrelated vectors, not to w (max |cos| %.2g)", maxdot);
    drop(&s);
}

/* tasks.md 2.3 fixed positions: p = 0.5, N = 101: spacing 2, num 50, gap 2 -> 2, 4, ..., 100. */
static void fixed_outliers(void) {
    sample s = draw("ortho_outlier_regression", "outliers=fixed", 4, NULL, 16);
    bool same = true;
    for (int64_t b = 0; b < 4; b++)
        for (int64_t i = 0; i < 101; i++) same = same && s.b.mask[0][b * 101 + i] == ((i >= 2 && i % 2 == 0) ? 0 : 1);
    ok(same, "ortho fixed outliers at 2, 4, ..., 100 in every prompt");
    drop(&s);
    s = draw("many_outlier_regression", "outliers=fixed", 2, NULL, 16);
    /* p = 0.9, N = 512: spacing 10, num 460, gap 1 marks 10..511, inverted: outliers 0..9. */
    same = true;
    for (int64_t i = 0; i < 512; i++) same = same && s.b.mask[0][i] == (i < 10 ? 0 : 1);
    ok(same, "many fixed outliers: the code's rule inverted for p > 0.5 (outliers 0..9)");
    drop(&s);
    s = draw("many_outlier_regression", "outliers=none", 8, NULL, 16);
    double m = 0;
    for (int64_t i = 0; i < 8 * 512; i++) m += s.b.mask[0][i];
    is_double(m, 8 * 512, 0, "outliers=none gives clean prompts");
    drop(&s);
}

/* Sparse parity: x in {-1, +1} with P(+1) = 1/2; labels balanced (binomial); y = product over S. */
static void parity(const char *params) {
    const int64_t P = 640, d = 10, N = 140, k = 2;
    sample s = draw("sparse_parity", params, P, NULL, 17);
    diag("sparse_parity %s", params ? params : "");
    double plus = 0, ypos = 0;
    bool signs = true, prod = true, distinct = true, shared = true, differ = false;
    for (int64_t b = 0; b < P; b++) {
        const float *S = s.b.latent + b * s.sh.latent, *S0 = s.b.latent + (b / 64) * 64 * s.sh.latent;
        distinct = distinct && S[0] != S[1] && S[0] >= 0 && S[0] < d && S[1] >= 0 && S[1] < d;
        shared = shared && S[0] == S0[0] && S[1] == S0[1];
        differ = differ || S[0] != S0[0] || S[1] != S0[1] || (b % 64 == 0 && b > 0 && (S[0] != s.b.latent[0] || S[1] != s.b.latent[1]));
        for (int64_t i = 0; i < N; i++) {
            const float *x = tok(&s, b, 2 * i);
            for (int64_t c = 0; c < d; c++) {
                signs = signs && (x[c] == 1 || x[c] == -1);
                plus += x[c] == 1;
            }
            float y = tok(&s, b, 2 * i + 1)[0];
            prod = prod && y == x[(int)S[0]] * x[(int)S[1]] && s.b.targets[0][b * N + i] == y;
            ypos += y == 1;
        }
    }
    double nx = (double)(P * N * d), ny = (double)(P * N);
    ok(signs, "  x entries are exactly +-1");
    ok(fabs(plus - nx / 2) <= Z * sqrt(nx / 4), "  P(x = +1) = 1/2 (%.0f of %.0f)", plus, nx);
    ok(fabs(ypos - ny / 2) <= Z * sqrt(ny / 4), "  labels balanced: %.0f of %.0f are +1", ypos, ny);
    ok(distinct, "  support: k = %lld distinct coordinates in [0, d)", (long long)k);
    ok(prod, "  y = product of x over the support");
    if (params && strstr(params, "support=batch")) {
        ok(shared, "  support=batch: one support per group of 64 prompts");
        ok(differ, "  ... and the groups differ");
    } else {
        ok(!shared, "  support=prompt: supports differ within a group of 64");
    }
    drop(&s);
}

/* CoT-I/O: s = sqrt(2/k) relu(W^T x) exactly as the hidden layer, y = v.s; slots and heads. */
static void cot(void) {
    const int64_t P = 512, d = 10, k = 8, N = 101, D = d + k + 1;
    sample s = draw("cot_io", NULL, P, NULL, 18);
    diag("cot_io");
    gaussian_x_checks(&s, 3, "cot_io");
    double maxerr = 0, *py2 = malloc((size_t)P * sizeof(double));
    bool slots = true;
    for (int64_t b = 0; b < P; b++) {
        const float *W = s.b.latent + b * s.sh.latent, *v = W + d * k;
        py2[b] = 0;
        for (int64_t i = 0; i < N; i++) {
            const float *x = tok(&s, b, 3 * i), *st = tok(&s, b, 3 * i + 1), *yt = tok(&s, b, 3 * i + 2);
            double y = 0;
            for (int64_t j = 0; j < k; j++) {
                double a = 0;
                for (int64_t c = 0; c < d; c++) a += (double)x[c] * W[c * k + j];
                double h = sqrt(2.0 / k) * fmax(a, 0);
                maxerr = fmax(maxerr, fabs(st[d + j] - h));
                maxerr = fmax(maxerr, fabs(s.b.targets[0][(b * N + i) * k + j] - h));
                y += v[j] * h;
            }
            maxerr = fmax(maxerr, fabs(yt[d + k] - y) / (1 + fabs(y)));
            maxerr = fmax(maxerr, fabs(s.b.targets[1][b * N + i] - yt[d + k]));
            for (int64_t c = 0; c < D; c++) {
                slots = slots && (c < d || x[c] == 0) && ((c >= d && c < d + k) || st[c] == 0) && (c == d + k || yt[c] == 0);
            }
            py2[b] += y * y / N;
        }
    }
    ok(maxerr < 1e-5, "  intermediate s_i equals the hidden layer, y = v.s (max error %.2g)", maxerr);
    ok(slots, "  x, s, y occupy their own channel slices");
    double m, se;
    mean_se(py2, P, &m, &se);
    within(m, (double)d, se, "  E y^2 = d");
    drop(&s);
    free(py2);
}

/* MQAR: unit-norm keys and values; queries copy distinct keys chosen uniformly (binomial bound per
 * pair index); targets are the paired values. */
static void mqar(void) {
    const int64_t P = 2048, d = 20, N = 32, m = 4;
    sample s = draw("mqar", NULL, P, NULL, 19);
    diag("mqar");
    double maxnorm = 0, cnt[32] = {0}, c1 = 0, c2 = 0;
    bool copies = true, distinct = true;
    for (int64_t b = 0; b < P; b++) {
        for (int64_t j = 0; j < 2 * N; j++) {
            const float *v = tok(&s, b, j);
            double nn = 0;
            for (int64_t c = 0; c < d; c++) {
                nn += (double)v[c] * v[c];
                c1 += v[c];
                c2 += (double)v[c] * v[c];
            }
            maxnorm = fmax(maxnorm, fabs(sqrt(nn) - 1));
        }
        const float *l = s.b.latent + b * m;
        for (int64_t q = 0; q < m; q++) {
            int64_t li = (int64_t)l[q];
            cnt[li]++;
            for (int64_t r = 0; r < q; r++) distinct = distinct && l[r] != l[q];
            const float *key = tok(&s, b, 2 * li), *val = tok(&s, b, 2 * li + 1), *qt = tok(&s, b, 2 * N + q);
            for (int64_t c = 0; c < d; c++)
                copies = copies && qt[c] == key[c] && s.b.targets[0][(b * m + q) * d + c] == val[c];
            copies = copies && s.b.mask[0][b * m + q] == 1;
        }
    }
    ok(maxnorm < 1e-6, "  keys and values have unit norm (max deviation %.2g)", maxnorm);
    double n = (double)(P * 2 * N * d);
    within(c1 / n, 0, sqrt(1.0 / d / n), "  coordinate mean (Var = 1/d on the sphere)");
    ok(copies, "  query j = key l_j, target = value l_j");
    ok(distinct, "  queries copy distinct keys");
    double pq = (double)m / N, worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(cnt[i] - P * pq) / sqrt(P * pq * (1 - pq)));
    ok(worst <= Z, "  queried pairs uniform (worst |z| = %.2f)", worst);
    (void)c2;
    drop(&s);
}

int main(void) {
    linear(20);
    linear(7);
    sparse();
    relu2nn();
    tree();
    outliers("ortho_outlier_regression", NULL, 0.5, 20);
    outliers("ortho_outlier_regression", "dummy=code", 0.5, 9);
    outliers("ortho_outlier_regression", "p=0.2", 0.2, 20);
    outliers("many_outlier_regression", NULL, 0.9, 20);
    outliers("many_outlier_regression", NULL, 0.9, 6);
    fixed_outliers();
    parity(NULL);
    parity("support=batch");
    cot();
    mqar();
    return done_testing();
}
