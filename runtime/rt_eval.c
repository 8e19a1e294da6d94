/* rt_eval.c — evaluation on the fixed held-out prompts. */
#include "runtime/rt_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NBOOT = 1000 };

/* pred f32[B,T,d_out] at head h's positions and channels [channel, channel + width) -> out [B][count][width]. */
static void gather_head(const float *pred, int64_t B, int64_t T, int64_t d_out, const task_head *h, int64_t channel,
                        float *out) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < h->count; i++) {
            int64_t t = h->start + i * h->stride;
            for (int64_t w = 0; w < h->width; w++)
                out[(b * h->count + i) * h->width + w] = t < T ? pred[(b * T + t) * d_out + channel + w] : 0.0f;
        }
}

void rt_eval_result_free(rt_eval_result *r) {
    for (int h = 0; h < r->nheads; h++)
        for (int c = 0; c < r->heads[h].ncurves; c++) free(r->heads[h].curve[c]);
    memset(r, 0, sizeof *r);
}

bool rt_evaluate(rt_plan *p, const task *t, uint64_t seed, int64_t prompts, bool baselines, rt_eval_result *out,
                 char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const rt_buffer *tok = rt_plan_find(p, "tokens"), *pred = rt_plan_find(p, "pred");
    if (!tok || !pred || pred->shape.rank != 3) {
        snprintf(err, errlen, "evaluate: the plan needs an input \"tokens\" and an output \"pred\" f32[B,T,d_out]");
        return false;
    }
    int64_t B = tok->shape.dim[0], T = pred->shape.dim[1], d_out = pred->shape.dim[2];
    task_state st = task_eval_state(t);
    task_shape sh = task_shape_at(t, st.N);
    if (sh.T != T || tok->shape.dim[1] != T || tok->shape.dim[2] != sh.d_tok) {
        snprintf(err, errlen, "evaluate: the plan's prompt shape [%lld,%lld,%lld] is not the task's [B,%lld,%lld]",
                 (long long)B, (long long)tok->shape.dim[1], (long long)tok->shape.dim[2], (long long)sh.T,
                 (long long)sh.d_tok);
        return false;
    }
    if (prompts <= 0 || prompts % B) {
        snprintf(err, errlen, "evaluate: %lld prompts is not a positive multiple of the batch %lld", (long long)prompts,
                 (long long)B);
        return false;
    }
    task_error terr;
    task_batch batch = {0};
    if (!task_batch_alloc(t, B, st.N, false, &batch, &terr)) {
        snprintf(err, errlen, "evaluate: %s", terr.msg);
        return false;
    }
    int nb = baselines ? task_baseline_count(t) : 0;
    out->prompts = prompts;
    out->nheads = sh.nheads;
    /* metric[h][curve] : [prompts][count]; counted[h] : [prompts][count] */
    double *metric[TASK_MAX_HEADS][1 + RT_EVAL_MAX_BASELINES] = {{0}};
    float *counted[TASK_MAX_HEADS] = {0}, *hp = NULL;
    int curve_of_baseline[RT_EVAL_MAX_BASELINES];
    bool okay = true;
    int64_t maxw = 1;
    for (int h = 0; h < sh.nheads; h++) {
        rt_eval_head *eh = &out->heads[h];
        eh->name = sh.heads[h].name;
        eh->metric = sh.heads[h].metric;
        eh->count = sh.heads[h].count;
        eh->curve_names[eh->ncurves++] = "model";
        for (int i = 0; i < nb && i < RT_EVAL_MAX_BASELINES; i++)
            if (task_baseline_head(t, i) == h && eh->ncurves < 1 + RT_EVAL_MAX_BASELINES) {
                curve_of_baseline[i] = eh->ncurves;
                eh->curve_names[eh->ncurves++] = task_baseline_name(t, i);
            }
        for (int c = 0; c < eh->ncurves; c++) {
            metric[h][c] = malloc((size_t)(prompts * eh->count) * sizeof(double));
            eh->curve[c] = calloc((size_t)eh->count, sizeof(task_curve_point));
            okay = okay && metric[h][c] && eh->curve[c];
        }
        counted[h] = malloc((size_t)(prompts * eh->count) * sizeof(float));
        okay = okay && counted[h];
        if (sh.heads[h].count * sh.heads[h].width > maxw) maxw = sh.heads[h].count * sh.heads[h].width;
    }
    hp = malloc((size_t)(B * maxw) * sizeof(float));
    if (!okay || !hp) {
        snprintf(err, errlen, "evaluate: out of memory");
        okay = false;
    }
    for (int64_t first = 0; okay && first < prompts; first += B) {
        okay = task_sample(t, st, seed, TASK_EVAL, (uint64_t)first, &batch, &terr);
        if (!okay) {
            snprintf(err, errlen, "evaluate: %s", terr.msg);
            break;
        }
        memcpy(tok->data, batch.tokens, (size_t)(B * T * sh.d_tok) * sizeof(float));
        if (!(okay = rt_plan_run(p, 0, err, errlen))) break;
        for (int h = 0, channel = 0; h < sh.nheads; channel += (int)sh.heads[h].width, h++) {
            int64_t off = first * sh.heads[h].count;
            gather_head(pred->data, B, T, d_out, &sh.heads[h], channel, hp);
            task_score(&sh, h, &batch, hp, metric[h][0] + off, counted[h] + off);
        }
        for (int i = 0; okay && i < nb && i < RT_EVAL_MAX_BASELINES; i++) {
            int h = task_baseline_head(t, i);
            if (!(okay = task_baseline_predict(t, i, &batch, hp, &terr))) {
                snprintf(err, errlen, "evaluate: baseline %s: %s", task_baseline_name(t, i), terr.msg);
                break;
            }
            task_score(&sh, h, &batch, hp, metric[h][curve_of_baseline[i]] + first * sh.heads[h].count, NULL);
        }
    }
    for (int h = 0; okay && h < sh.nheads; h++) {
        rt_eval_head *eh = &out->heads[h];
        for (int c = 0; c < eh->ncurves; c++)
            task_curve(metric[h][c], counted[h], prompts, eh->count, NBOOT, seed, eh->curve[c]);
        double s = 0;
        int64_t n = 0;
        for (int64_t i = 0; i < eh->count; i++)
            if (eh->curve[0][i].n > 0) s += eh->curve[0][i].mean, n++;
        out->mean_model += n ? s / (double)n : 0;
    }
    for (int h = 0; h < TASK_MAX_HEADS; h++) {
        for (int c = 0; c < 1 + RT_EVAL_MAX_BASELINES; c++) free(metric[h][c]);
        free(counted[h]);
    }
    free(hp);
    task_batch_free(&batch);
    if (!okay) rt_eval_result_free(out);
    return okay;
}

bool rt_eval_copy_baselines(rt_eval_result *to, const rt_eval_result *from) {
    for (int h = 0; h < to->nheads && h < from->nheads; h++) {
        rt_eval_head *a = &to->heads[h];
        const rt_eval_head *b = &from->heads[h];
        if (a->count != b->count) return false;
        for (int c = 1; c < b->ncurves && a->ncurves < 1 + RT_EVAL_MAX_BASELINES; c++) {
            task_curve_point *copy = malloc((size_t)b->count * sizeof *copy);
            if (!copy) return false;
            memcpy(copy, b->curve[c], (size_t)b->count * sizeof *copy);
            a->curve_names[a->ncurves] = b->curve_names[c];
            a->curve[a->ncurves++] = copy;
        }
    }
    return true;
}

void rt_eval_print(const rt_eval_result *r, FILE *f) {
    for (int h = 0; h < r->nheads; h++) {
        const rt_eval_head *eh = &r->heads[h];
        fprintf(f, "head %s: %s over %lld prompts (mean per position)\n", eh->name,
                eh->metric == TASK_METRIC_ACCURACY ? "accuracy" : "squared error", (long long)r->prompts);
        fprintf(f, "%8s", "examples");
        for (int c = 0; c < eh->ncurves; c++) fprintf(f, " %14.14s", eh->curve_names[c]);
        fprintf(f, "\n");
        for (int64_t i = 0; i < eh->count; i++) {
            if (eh->curve[0][i].n == 0) continue;
            fprintf(f, "%8lld", (long long)i);
            for (int c = 0; c < eh->ncurves; c++) fprintf(f, " %14.6g", eh->curve[c][i].mean);
            fprintf(f, "\n");
        }
    }
}

void rt_eval_write_csv(const rt_eval_result *r, FILE *f) {
    fprintf(f, "head,position,curve,mean,std,lo,hi,n\n");
    for (int h = 0; h < r->nheads; h++) {
        const rt_eval_head *eh = &r->heads[h];
        for (int c = 0; c < eh->ncurves; c++)
            for (int64_t i = 0; i < eh->count; i++) {
                const task_curve_point *pt = &eh->curve[c][i];
                fprintf(f, "%s,%lld,%s,%.9g,%.9g,%.9g,%.9g,%lld\n", eh->name, (long long)i, eh->curve_names[c],
                        pt->mean, pt->std, pt->lo, pt->hi, (long long)pt->n);
            }
    }
}
