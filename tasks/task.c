/* task.c — the task registry, parameters, curriculum, batches and the parallel sampler.
 *
 * Dimensions: B prompts, N points, T tokens per prompt, D = d_tok floats per token. */
#include "tasks/task_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const task_desc *const registry[] = {
    &task_linear_regression, &task_sparse_linear_regression, &task_relu_2nn_regression,
    &task_decision_tree,     &task_ortho_outlier_regression, &task_many_outlier_regression,
    &task_sparse_parity,     &task_cot_io,                   &task_mqar,
};
enum { NTASKS = sizeof registry / sizeof registry[0] };
_Static_assert(NTASKS == 9, "the paper has nine tasks");

bool task_error_set(task_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return false;
}

int task_count(void) { return NTASKS; }
const char *task_name(int i) { return i >= 0 && i < NTASKS ? registry[i]->name : NULL; }
const char *task_summary(int i) { return i >= 0 && i < NTASKS ? registry[i]->summary : NULL; }
const char *task_alias(int i) { return i >= 0 && i < NTASKS ? registry[i]->alias : NULL; }
const char *task_get_name(const task *t) { return t->desc->name; }

/* ---- parameters ---- */

int task_param_count(const task *t) { return t->desc->nparams; }
const task_param_desc *task_param_info(const task *t, int i) {
    return i >= 0 && i < t->desc->nparams ? &t->desc->params[i] : NULL;
}
double task_param_value(const task *t, int i) { return i >= 0 && i < t->desc->nparams ? t->p[i] : NAN; }

static int param_index(const task_desc *d, const char *name, size_t len) {
    for (int i = 0; i < d->nparams; i++)
        if (strlen(d->params[i].name) == len && strncmp(d->params[i].name, name, len) == 0) return i;
    return -1;
}

double task_param(const task *t, const char *name) {
    int i = param_index(t->desc, name, strlen(name));
    return i < 0 ? NAN : t->p[i];
}

/* Index of `v` (length len) among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *v, size_t len) {
    int idx = 0;
    for (const char *c = choices; *c; idx++) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && strncmp(c, v, len) == 0) return idx;
        if (!bar) break;
        c = bar + 1;
    }
    return -1;
}

/* The name of choice number idx, copied into buf. */
static const char *choice_name(const char *choices, int idx, char *buf, size_t n) {
    const char *c = choices;
    for (int i = 0; i < idx && c; i++) {
        c = strchr(c, '|');
        if (c) c++;
    }
    if (!c) return "?";
    const char *bar = strchr(c, '|');
    size_t len = bar ? (size_t)(bar - c) : strlen(c);
    snprintf(buf, n, "%.*s", (int)len, c);
    return buf;
}

size_t task_params_string(const task *t, char *buf, size_t n) {
    size_t len = 0;
    for (int i = 0; i < t->desc->nparams; i++) {
        const task_param_desc *pd = &t->desc->params[i];
        char val[64], tmp[64];
        if (pd->kind == TASK_PARAM_CHOICE) snprintf(val, sizeof val, "%s", choice_name(pd->choices, (int)t->p[i], tmp, sizeof tmp));
        else if (pd->kind == TASK_PARAM_INT) snprintf(val, sizeof val, "%lld", (long long)t->p[i]);
        else snprintf(val, sizeof val, "%.17g", t->p[i]);
        int w = snprintf(len < n ? buf + len : NULL, len < n ? n - len : 0, "%s%s=%s", i ? "," : "", pd->name, val);
        len += (size_t)w;
    }
    if (n && len >= n) buf[n - 1] = '\0';
    return len;
}

/* Applies one "key=value" override. */
static bool set_param(task *t, const char *kv, size_t len, bool *given, task_error *err) {
    const task_desc *d = t->desc;
    const char *eq = memchr(kv, '=', len);
    if (!eq) return task_error_set(err, "task %s: parameter '%.*s' is not key=value", d->name, (int)len, kv);
    size_t klen = (size_t)(eq - kv), vlen = len - klen - 1;
    int i = param_index(d, kv, klen);
    if (i < 0) {
        char names[256] = "";
        size_t m = 0;
        for (int k = 0; k < d->nparams && m < sizeof names; k++)
            m += (size_t)snprintf(names + m, sizeof names - m, "%s%s", k ? ", " : "", d->params[k].name);
        return task_error_set(err, "task %s: unknown parameter '%.*s' (valid: %s)", d->name, (int)klen, kv, names);
    }
    const task_param_desc *pd = &d->params[i];
    given[i] = true;
    char v[64];
    if (vlen == 0 || vlen >= sizeof v)
        return task_error_set(err, "task %s: parameter %s needs a value", d->name, pd->name);
    memcpy(v, eq + 1, vlen);
    v[vlen] = '\0';
    if (pd->kind == TASK_PARAM_CHOICE) {
        int c = choice_index(pd->choices, v, vlen);
        if (c < 0) return task_error_set(err, "task %s: %s must be one of %s, got '%s'", d->name, pd->name, pd->choices, v);
        t->p[i] = c;
        return true;
    }
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x))
        return task_error_set(err, "task %s: %s wants a number, got '%s'", d->name, pd->name, v);
    if (pd->kind == TASK_PARAM_INT && x != floor(x))
        return task_error_set(err, "task %s: %s wants an integer, got '%s'", d->name, pd->name, v);
    t->p[i] = x;
    return true;
}

/* Range checks of every parameter, then the curriculum's consistency, then the family's own. */
static bool check_params(task *t, const bool *given, task_error *err) {
    const task_desc *d = t->desc;
    for (int i = 0; i < d->nparams; i++) {
        const task_param_desc *pd = &d->params[i];
        if (pd->kind == TASK_PARAM_CHOICE) continue;
        if (!(t->p[i] >= pd->lo && t->p[i] <= pd->hi)) {
            if (pd->kind == TASK_PARAM_INT)
                return task_error_set(err, "task %s: %s = %.17g is out of range [%.0f, %.0f] (%s)", d->name, pd->name,
                                      t->p[i], pd->lo, pd->hi, pd->help);
            return task_error_set(err, "task %s: %s = %.17g is out of range [%g, %g] (%s)", d->name, pd->name, t->p[i],
                                  pd->lo, pd->hi, pd->help);
        }
    }
    /* 0 = fixed at the end value; a default start beyond a user's smaller end is clipped to it. */
    if (t->p[P_D_START] == 0 || (!given[P_D_START] && t->p[P_D_START] > t->p[P_D])) t->p[P_D_START] = t->p[P_D];
    if (t->p[P_N_START] == 0 || (!given[P_N_START] && t->p[P_N_START] > t->p[P_N])) t->p[P_N_START] = t->p[P_N];
    if (t->p[P_D_START] > t->p[P_D])
        return task_error_set(err, "task %s: d_start = %lld exceeds d = %lld", d->name, (long long)t->p[P_D_START],
                              (long long)t->p[P_D]);
    if (t->p[P_N_START] > t->p[P_N])
        return task_error_set(err, "task %s: N_start = %lld exceeds N = %lld", d->name, (long long)t->p[P_N_START],
                              (long long)t->p[P_N]);
    return d->check ? d->check(t, err) : true;
}

task *task_create(const char *name, const char *params, task_error *err) {
    const task_desc *d = NULL;
    for (int i = 0; i < NTASKS && name; i++)
        if (!strcmp(registry[i]->name, name) || (registry[i]->alias && !strcmp(registry[i]->alias, name)))
            d = registry[i];
    if (!d) {
        char names[512] = "";
        size_t m = 0;
        for (int i = 0; i < NTASKS; i++)
            m += (size_t)snprintf(names + m, sizeof names - m, "%s%s", i ? ", " : "", registry[i]->name);
        task_error_set(err, "unknown task '%s' (valid: %s)", name ? name : "(null)", names);
        return NULL;
    }
    task *t = calloc(1, sizeof *t);
    if (!t) {
        task_error_set(err, "out of memory");
        return NULL;
    }
    t->desc = d;
    bool given[TASK_MAX_PARAMS] = {false};
    for (int i = 0; i < d->nparams; i++) t->p[i] = d->params[i].def;
    for (const char *s = params; s && *s;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len && !set_param(t, s, len, given, err)) goto fail;
        s = comma ? comma + 1 : s + len;
    }
    if (!check_params(t, given, err)) goto fail;
    return t;
fail:
    free(t);
    return NULL;
}

void task_free(task *t) { free(t); }

task_train_defaults task_training(const task *t) { return t->desc->train; }

/* ---- shapes and curriculum ---- */

int64_t task_n_max(const task *t) { return task_p(t, P_N); }

task_shape task_shape_at(const task *t, int64_t N) {
    task_shape sh;
    memset(&sh, 0, sizeof sh);
    t->desc->shape(t, N, &sh);
    return sh;
}

task_state task_eval_state(const task *t) { return (task_state){task_p(t, P_D), task_p(t, P_N)}; }

/* value(step) = min(start + floor(step / every) * inc, end). */
static int64_t schedule(int64_t start, int64_t inc, int64_t every, int64_t end, int64_t step) {
    int64_t k = step / every;
    if (inc > 0 && k > (end - start) / inc) return end;
    int64_t v = start + k * inc;
    return v < end ? v : end;
}

task_curriculum task_curriculum_at(const task *t, int64_t step) {
    task_curriculum c = {step < 0 ? 0 : step, {0, 0}};
    c.st.d_cur = schedule(task_p(t, P_D_START), task_p(t, P_D_INC), task_p(t, P_D_EVERY), task_p(t, P_D), c.step);
    c.st.N = schedule(task_p(t, P_N_START), task_p(t, P_N_INC), task_p(t, P_N_EVERY), task_p(t, P_N), c.step);
    return c;
}

/* Garg et al.'s update: counter += 1; on a multiple of the interval add the increment; clip at end. */
void task_curriculum_advance(const task *t, task_curriculum *c) {
    c->step++;
    if (c->step % task_p(t, P_D_EVERY) == 0) c->st.d_cur += task_p(t, P_D_INC);
    if (c->st.d_cur > task_p(t, P_D)) c->st.d_cur = task_p(t, P_D);
    if (c->step % task_p(t, P_N_EVERY) == 0) c->st.N += task_p(t, P_N_INC);
    if (c->st.N > task_p(t, P_N)) c->st.N = task_p(t, P_N);
}

double task_excess_baseline(task_state st) {
    double s = 0;
    for (int64_t p = 0; p < st.N; p++) s += st.d_cur > p ? (double)(st.d_cur - p) : 0.0;
    return st.N > 0 ? s / (double)st.N : 0.0;
}

/* ---- batches ---- */

bool task_batch_alloc(const task *t, int64_t B, int64_t N, bool with_latent, task_batch *b, task_error *err) {
    memset(b, 0, sizeof *b);
    if (B < 1 || N < 1) return task_error_set(err, "task %s: batch needs B >= 1 and N >= 1", t->desc->name);
    task_shape sh = task_shape_at(t, N);
    const int64_t limit = (int64_t)1 << 34; /* floats (64 GB): beyond that a size is a mistake */
    if (sh.T * sh.d_tok > limit / B || sh.latent > limit / B)
        return task_error_set(err, "task %s: a batch of %lld prompts of %lld x %lld floats is too large", t->desc->name,
                              (long long)B, (long long)sh.T, (long long)sh.d_tok);
    b->B = B;
    b->N = N;
    b->owned = true;
    b->tokens = calloc((size_t)(B * sh.T * sh.d_tok), sizeof(float));
    bool fail = !b->tokens;
    for (int h = 0; h < sh.nheads; h++) {
        b->targets[h] = calloc((size_t)(B * sh.heads[h].count * sh.heads[h].width), sizeof(float));
        b->mask[h] = calloc((size_t)(B * sh.heads[h].count), sizeof(float));
        fail = fail || !b->targets[h] || !b->mask[h];
    }
    if (with_latent && sh.latent) fail = fail || !(b->latent = calloc((size_t)(B * sh.latent), sizeof(float)));
    if (fail) {
        task_batch_free(b);
        return task_error_set(err, "task %s: out of memory for a batch of %lld prompts", t->desc->name, (long long)B);
    }
    return true;
}

void task_batch_free(task_batch *b) {
    if (!b || !b->owned) return;
    free(b->tokens);
    for (int h = 0; h < TASK_MAX_HEADS; h++) {
        free(b->targets[h]);
        free(b->mask[h]);
    }
    free(b->latent);
    memset(b, 0, sizeof *b);
}

/* ---- random draws ---- */

/* Floyd's algorithm picks a uniform k-subset with words 0..k-1, then a Fisher-Yates shuffle with
 * words k..2k-1 puts it in uniform random order. O(k^2): k is small (sparsity, queries). */
void task_rng_choose(const task_rng *r, uint64_t region, int64_t n, int64_t k, int64_t *idx) {
    for (int64_t m = 0, j = n - k; j < n; j++, m++) {
        int64_t v = task_rng_below(r, region, (uint64_t)m, j + 1);
        for (int64_t q = 0; q < m; q++)
            if (idx[q] == v) {
                v = j;
                break;
            }
        idx[m] = v;
    }
    for (int64_t i = k - 1; i > 0; i--) {
        int64_t j = task_rng_below(r, region, (uint64_t)(k + i), i + 1);
        int64_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}

void task_gaussian_x(const task_rng *r, int64_t i, int64_t d, int64_t d_cur, float *x) {
    task_rng_normal_rows(r, R_X, (uint64_t)(i * d), 1, d, d_cur, x, d);
}

void task_shape_interleaved(const task *t, int64_t N, task_loss_kind loss, task_metric_kind metric, int64_t latent,
                            task_shape *sh) {
    int64_t d = task_p(t, P_D);
    sh->N = N;
    sh->T = 2 * N;
    sh->d_tok = d;
    sh->nheads = 1;
    sh->heads[0] = (task_head){"y", 0, 2, N, 1, loss, metric};
    sh->nsegments = 1;
    sh->segments[0] = (task_segment){"x|y", 0, d};
    sh->latent = latent;
}

/* ---- the sampler ---- */

bool task_sample(const task *t, task_state st, uint64_t seed, task_stream stream, uint64_t first, task_batch *b,
                 task_error *err) {
    const task_desc *d = t->desc;
    if (stream != TASK_TRAIN && stream != TASK_EVAL) return task_error_set(err, "task %s: unknown stream %d", d->name, (int)stream);
    if (st.d_cur < 1 || st.d_cur > task_p(t, P_D))
        return task_error_set(err, "task %s: d_cur = %lld outside [1, d = %lld]", d->name, (long long)st.d_cur,
                              (long long)task_p(t, P_D));
    if (st.N < 1 || st.N > b->N)
        return task_error_set(err, "task %s: N = %lld outside [1, layout N = %lld]", d->name, (long long)st.N,
                              (long long)b->N);
    if (!b->tokens) return task_error_set(err, "task %s: batch has no token buffer", d->name);
    const task_shape sh = task_shape_at(t, b->N);
    for (int h = 0; h < sh.nheads; h++)
        if (!b->targets[h] || !b->mask[h]) return task_error_set(err, "task %s: batch lacks head %s buffers", d->name, sh.heads[h].name);
    const int64_t B = b->B, TD = sh.T * sh.d_tok, L = sh.latent;
    const philox_key key = philox_make_key(seed, (uint32_t)stream);
    bool oom = false;
    b->st = st;
#pragma omp parallel if (B > 1) reduction(|| : oom)
    {
        float *scratch = (!b->latent && L) ? malloc((size_t)L * sizeof(float)) : NULL;
        oom = !b->latent && L && !scratch;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < B; i++) {
            if (oom) continue;
            task_prompt o;
            memset(&o, 0, sizeof o);
            o.tokens = b->tokens + i * TD;
            memset(o.tokens, 0, (size_t)TD * sizeof(float));
            for (int h = 0; h < sh.nheads; h++) {
                int64_t c = sh.heads[h].count, w = sh.heads[h].width;
                o.targets[h] = b->targets[h] + i * c * w;
                o.mask[h] = b->mask[h] + i * c;
                memset(o.targets[h], 0, (size_t)(c * w) * sizeof(float));
                memset(o.mask[h], 0, (size_t)c * sizeof(float));
            }
            o.latent = b->latent ? b->latent + i * L : scratch;
            if (L) memset(o.latent, 0, (size_t)L * sizeof(float));
            task_rng r = {key, first + (uint64_t)i};
            d->sample(t, st, &r, b->N, &o);
        }
        free(scratch);
    }
    if (oom) return task_error_set(err, "task %s: out of memory", d->name);
    return true;
}

/* ---- losses and metrics ---- */

/* log(sigmoid(o)) computed stably. */
static double log_sigmoid(double o) { return o >= 0 ? -log1p(exp(-o)) : o - log1p(exp(o)); }

double task_loss(const task_shape *sh, int h, const task_batch *b, const float *pred, float *grad) {
    const task_head *hd = &sh->heads[h];
    const int64_t C = hd->count, W = hd->width;
    const float *tgt = b->targets[h], *m = b->mask[h];
    double count = 0, sum = 0;
    for (int64_t i = 0; i < b->B * C; i++) count += m[i];
    double scale = count > 0 ? 1.0 / count : 0.0;
    for (int64_t i = 0; i < b->B * C; i++) {
        const float *p = pred + i * W, *y = tgt + i * W;
        float *g = grad ? grad + i * W : NULL;
        if (m[i] == 0) {
            if (g) memset(g, 0, (size_t)W * sizeof(float));
            continue;
        }
        for (int64_t w = 0; w < W; w++) {
            double o = p[w], e;
            if (hd->loss == TASK_LOSS_SQUARED) {
                e = (o - y[w]) * (o - y[w]);
                if (g) g[w] = (float)(2.0 * (o - y[w]) * m[i] * scale);
            } else {
                double tt = (y[w] + 1.0) / 2.0;
                double ls = fmax(log_sigmoid(o), -100.0), l1s = fmax(log_sigmoid(-o), -100.0);
                e = -(tt * ls + (1 - tt) * l1s);
                if (g) g[w] = (float)((1.0 / (1.0 + exp(-o)) - tt) * m[i] * scale);
            }
            sum += m[i] * e;
        }
    }
    return sum * scale;
}

void task_score(const task_shape *sh, int h, const task_batch *b, const float *pred, double *metric, float *counted) {
    const task_head *hd = &sh->heads[h];
    const int64_t C = hd->count, W = hd->width;
    for (int64_t i = 0; i < b->B * C; i++) {
        const float *p = pred + i * W, *y = b->targets[h] + i * W;
        double v = 0;
        if (hd->metric == TASK_METRIC_SQERR) {
            for (int64_t w = 0; w < W; w++) v += ((double)p[w] - y[w]) * ((double)p[w] - y[w]);
        } else {
            int sp = (p[0] > 0) - (p[0] < 0), sy = (y[0] > 0) - (y[0] < 0);
            v = sp != 0 && sp == sy;
        }
        metric[i] = v;
        if (counted) counted[i] = b->mask[h][i];
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile's linear interpolation on sorted values. */
static double percentile(const double *s, int64_t n, double q) {
    double pos = q / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    int64_t hi = lo + 1 < n ? lo + 1 : lo;
    return s[lo] + (pos - (double)lo) * (s[hi] - s[lo]);
}

void task_curve(const double *metric, const float *counted, int64_t P, int64_t count, int64_t nboot, uint64_t seed,
                task_curve_point *out) {
    const philox_key key = philox_make_key(seed, 0x0B007u);
#pragma omp parallel if (count * P * (nboot + 1) > 100000)
    {
        double *v = malloc((size_t)(P > 0 ? P : 1) * sizeof(double));
        double *means = malloc((size_t)(nboot > 0 ? nboot : 1) * sizeof(double));
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < count; c++) {
            task_curve_point pt = {NAN, NAN, NAN, NAN, 0};
            if (v && means) {
                int64_t n = 0;
                for (int64_t i = 0; i < P; i++)
                    if (!counted || counted[i * count + c] != 0) v[n++] = metric[i * count + c];
                double s = 0, ss = 0;
                for (int64_t i = 0; i < n; i++) s += v[i];
                pt.n = n;
                if (n > 0) {
                    pt.mean = s / (double)n;
                    for (int64_t i = 0; i < n; i++) ss += (v[i] - pt.mean) * (v[i] - pt.mean);
                    pt.std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
                    pt.lo = pt.hi = pt.mean;
                }
                if (n > 0 && nboot > 0) {
                    for (int64_t r = 0; r < nboot; r++) {
                        double acc = 0;
                        for (int64_t j = 0; j < n; j += 4) {
                            philox_ctr blk = philox_block(key, (uint64_t)c, ((uint64_t)r << 32) | (uint64_t)(j >> 2));
                            for (int64_t q = 0; q < 4 && j + q < n; q++)
                                acc += v[((uint64_t)blk.c[q] * (uint64_t)n) >> 32];
                        }
                        means[r] = acc / (double)n;
                    }
                    qsort(means, (size_t)nboot, sizeof(double), cmp_double);
                    pt.lo = percentile(means, nboot, 5);
                    pt.hi = percentile(means, nboot, 95);
                }
            }
            out[c] = pt;
        }
        free(v);
        free(means);
    }
}
