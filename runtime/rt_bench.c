/* rt_bench.c — graphs, FLOP counts, matmul shapes, plan filling and memory readings for `iclc bench`
 * (see rt_bench.h). */
#include "runtime/rt_bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "passes/adam.h"
#include "passes/fuse.h"
#include "passes/passes.h"
#include "runtime/rt_fuse.h"
#include "runtime/rt_loss.h"

double rt_bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- FLOPs ---- */

rt_flops rt_bench_flops(const ir_graph *g) {
    rt_flops f = {0, 0, 0};
    for (ir_id i = 0; i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        uint32_t fl = ir_ops[n->op].flags;
        double out = (double)ir_numel(n->shape);
        if (n->op == OP_matmul) {
            const ir_node *a = &g->nodes[ir_in(g, n, 0)];
            int r = n->shape.rank;
            double K = (double)(n->attr.ta ? a->shape.dim[a->shape.rank - 2] : a->shape.dim[a->shape.rank - 1]);
            double v = 2.0 * out * K; /* out = batch * M * N */
            f.matmul += v, f.total += v, f.n_matmul++;
            (void)r;
        } else if (fl & OPF_REDUCE) {
            f.total += (double)ir_numel(g->nodes[ir_in(g, n, 0)].shape);
        } else if (n->op == OP_scan) {
            f.total += 2.0 * out;
        } else if (n->op == OP_cscan) {
            f.total += 4.0 * out;
        } else if (fl & (OPF_UNARY | OPF_BINARY | OPF_ELEMWISE)) {
            f.total += out;
        }
    }
    return f;
}

/* ---- graphs ---- */

/* The task's loss appended to a model graph (output "loss"). */
static bool append_loss(ir_graph *g, const task *t, int64_t N) {
    task_shape ts = task_shape_at(t, N);
    rt_head heads[TASK_MAX_HEADS];
    int64_t channel = 0;
    for (int h = 0; h < ts.nheads; h++) {
        const task_head *th = &ts.heads[h];
        heads[h] = (rt_head){th->name, th->start, th->stride, th->count, th->width,
                             th->loss == TASK_LOSS_BCE ? RT_LOSS_BCE : RT_LOSS_SQUARED, channel};
        channel += th->width;
    }
    ir_id loss = rt_loss_append(g, ir_output_find(g, "pred"), heads, ts.nheads);
    return loss != IR_NONE && ir_output_add(g, "loss", loss);
}

/* The patterns to leave unfused, as runtime/rt_train.c decides (rt_fuse.h): the user's list, plus every
 * pattern whose fused ops (forward or gradient) ex has no kernel for. */
static void choose_fusions(const ir_graph *model, const task *t, int64_t N, const rt_executor *ex, const char *no_fuse,
                           char *skip, size_t len) {
    snprintf(skip, len, "%s", no_fuse ? no_fuse : "");
    if (!ex || (no_fuse && strcmp(no_fuse, "all") == 0)) return;
    ir_graph *g = ir_graph_clone(model);
    if (g && append_loss(g, t, N)) rt_fusion_skips(ex, g, no_fuse, skip, len);
    ir_graph_free(g);
}

/* The model graph, fused. */
static ir_graph *fused_model(const rt_model_spec *m, const task *t, int64_t B, int64_t N, bool training,
                             const rt_executor *ex, const char *no_fuse, char *skipped, size_t skipped_len, char *err,
                             size_t errlen) {
    ir_graph *g = rt_model_build(m, t, B, N, training, NULL, err, errlen);
    if (!g) return NULL;
    char skip[512];
    choose_fusions(g, t, N, ex, no_fuse, skip, sizeof skip);
    if (skipped) snprintf(skipped, skipped_len, "%s", skip);
    if (!pass_fuse(g, skip)) {
        snprintf(err, errlen, "fusion of %s/%s: %s", m->model, m->config ? m->config : "", ir_error(g));
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

ir_graph *build_training_graph(const rt_model_spec *m, const task *t, int64_t B, int64_t N, const rt_executor *ex,
                               const char *no_fuse, char *skipped, size_t skipped_len, char *err, size_t errlen) {
    char skip[512];
    ir_graph *g = fused_model(m, t, B, N, true, ex, no_fuse, skip, sizeof skip, err, errlen);
    if (!g) return NULL;
    if (skipped) snprintf(skipped, skipped_len, "%s", skip);
    ir_adam_opts adam = ir_adam_defaults();
    if (!append_loss(g, t, N) || !pass_autodiff(g, NULL) || !pass_adam(g, &adam) || !pass_fuse_backward(g, skip) ||
        !pass_cse(g, NULL) ||
        !pass_dce(g, NULL) || !ir_verify(g)) {
        snprintf(err, errlen, "training graph of %s/%s: %s", m->model, m->config ? m->config : "", ir_error(g));
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

ir_graph *build_eval_graph(const rt_model_spec *m, const task *t, int64_t B, int64_t N, const rt_executor *ex,
                           const char *no_fuse, char *err, size_t errlen) {
    return fused_model(m, t, B, N, false, ex, no_fuse, NULL, 0, err, errlen);
}

/* ---- matmul shapes ---- */

static int cmp_flops_desc(const void *a, const void *b) {
    double fa = ((const rt_mm_shape *)a)->flops * ((const rt_mm_shape *)a)->count;
    double fb = ((const rt_mm_shape *)b)->flops * ((const rt_mm_shape *)b)->count;
    return fa < fb ? 1 : fa > fb ? -1 : 0;
}

static bool same_shape(const rt_mm_shape *a, const rt_mm_shape *b) {
    if (a->M != b->M || a->N != b->N || a->K != b->K || a->ta != b->ta || a->tb != b->tb || a->n_batch != b->n_batch)
        return false;
    for (int i = 0; i < a->n_batch; i++)
        if (a->batch[i] != b->batch[i] || a->a_stride[i] != b->a_stride[i] || a->b_stride[i] != b->b_stride[i])
            return false;
    return true;
}

/* The normalised GEMM description of matmul node n (false when its batch rank is too large). */
static bool mm_of_node(const ir_graph *g, const ir_node *n, rt_mm_shape *s) {
    ir_shape a = g->nodes[ir_in(g, n, 0)].shape, b = g->nodes[ir_in(g, n, 1)].shape, c = n->shape;
    memset(s, 0, sizeof *s);
    s->ta = n->attr.ta, s->tb = n->attr.tb;
    s->M = c.dim[c.rank - 2], s->N = c.dim[c.rank - 1];
    s->K = s->ta ? a.dim[a.rank - 2] : a.dim[a.rank - 1];
    int nb = c.rank - 2;
    int64_t dim[IR_MAX_RANK], as[IR_MAX_RANK], bs[IR_MAX_RANK], cs[IR_MAX_RANK];
    /* dense row-major strides of each operand's batch dims, 0 where broadcast or missing */
    int64_t sa = a.dim[a.rank - 1] * a.dim[a.rank - 2], sb = b.dim[b.rank - 1] * b.dim[b.rank - 2], sc = s->M * s->N;
    for (int i = nb - 1; i >= 0; i--) {
        int ia = i - (nb - (a.rank - 2)), ib = i - (nb - (b.rank - 2));
        dim[i] = c.dim[i];
        as[i] = ia >= 0 && a.dim[ia] != 1 ? sa : 0;
        bs[i] = ib >= 0 && b.dim[ib] != 1 ? sb : 0;
        cs[i] = sc;
        if (ia >= 0) sa *= a.dim[ia];
        if (ib >= 0) sb *= b.dim[ib];
        sc *= c.dim[i];
    }
    /* drop size-1 dims, merge neighbours whose strides chain */
    int k = 0;
    for (int i = 0; i < nb; i++) {
        if (dim[i] == 1) continue;
        if (k > 0 && as[k - 1] == as[i] * dim[i] && bs[k - 1] == bs[i] * dim[i] && cs[k - 1] == cs[i] * dim[i]) {
            dim[k - 1] *= dim[i], as[k - 1] = as[i], bs[k - 1] = bs[i], cs[k - 1] = cs[i];
            continue;
        }
        dim[k] = dim[i], as[k] = as[i], bs[k] = bs[i], cs[k] = cs[i], k++;
    }
    /* one batch dim over which B is broadcast and A is dense and untransposed: fold it into M */
    if (k == 1 && bs[0] == 0 && !s->ta && as[0] == s->M * s->K) {
        s->M *= dim[0];
        k = 0;
    }
    if (k > RT_MM_MAX_BATCH) return false;
    s->n_batch = k;
    for (int i = 0; i < k; i++) s->batch[i] = dim[i], s->a_stride[i] = as[i], s->b_stride[i] = bs[i], s->c_stride[i] = cs[i];
    s->a_numel = ir_numel(a), s->b_numel = ir_numel(b), s->c_numel = ir_numel(c);
    s->flops = 2.0 * (double)ir_numel(c) * (double)s->K;
    s->count = 1;
    return true;
}

rt_mm_shape *rt_bench_matmul_shapes(const ir_graph *g, int *n) {
    *n = 0;
    rt_mm_shape *out = NULL;
    int cap = 0;
    for (ir_id i = 0; i < g->nnodes; i++) {
        const ir_node *nd = &g->nodes[i];
        if (nd->op != OP_matmul || ir_numel(nd->shape) == 0) continue;
        rt_mm_shape s;
        if (!mm_of_node(g, nd, &s)) continue;
        int j = 0;
        while (j < *n && !same_shape(&out[j], &s)) j++;
        if (j < *n) {
            out[j].count++;
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            rt_mm_shape *p = realloc(out, (size_t)cap * sizeof *p);
            if (!p) {
                free(out);
                *n = 0;
                return NULL;
            }
            out = p;
        }
        out[(*n)++] = s;
    }
    if (*n) qsort(out, (size_t)*n, sizeof *out, cmp_flops_desc);
    return out;
}

/* ---- plans ---- */

bool rt_bench_plan_setup(rt_plan *p, uint64_t seed, double lr, char *err, size_t errlen) {
    for (int i = 0; i < p->nbuffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        const ir_node *n = &p->graph->nodes[b->id];
        if (n->op == OP_param) ir_init_fill(n, seed, b->data);
    }
    float *lrp = rt_plan_buffer(p, "adam:lr");
    if (lrp) *lrp = (float)lr;
    for (int i = 0; i < p->nbuffers; i++) {
        const char *name = p->buffers[i].name;
        char from[600], to[600];
        if (!p->buffers[i].is_output) continue;
        if (strncmp(name, "new:", 4) == 0) {
            snprintf(to, sizeof to, "%s", name + 4);
        } else if (strncmp(name, "adam:m_new:", 11) == 0) {
            snprintf(to, sizeof to, "adam:m:%s", name + 11);
        } else if (strncmp(name, "adam:v_new:", 11) == 0) {
            snprintf(to, sizeof to, "adam:v:%s", name + 11);
        } else {
            continue;
        }
        snprintf(from, sizeof from, "%s", name);
        if (!rt_plan_carry(p, from, to, err, errlen)) return false;
    }
    return true;
}

bool rt_bench_plan_feed(rt_plan *p, const task *t, int64_t B, int64_t N, uint64_t seed, int64_t step, char *err,
                        size_t errlen) {
    task_shape ts = task_shape_at(t, N);
    task_batch b = {.B = B, .N = N, .tokens = rt_plan_buffer(p, "tokens")};
    if (!b.tokens) {
        snprintf(err, errlen, "the plan has no input 'tokens'");
        return false;
    }
    float *scratch = NULL;
    size_t scratch_len = 0;
    for (int h = 0; h < ts.nheads; h++) {
        char name[160];
        snprintf(name, sizeof name, "target:%s", ts.heads[h].name);
        b.targets[h] = rt_plan_buffer(p, name);
        snprintf(name, sizeof name, "mask:%s", ts.heads[h].name);
        b.mask[h] = rt_plan_buffer(p, name);
        size_t need = (size_t)(B * ts.heads[h].count * (ts.heads[h].width + 1));
        if (!b.targets[h] || !b.mask[h]) scratch_len += need; /* evaluation plans have no targets */
    }
    if (scratch_len) {
        scratch = malloc(scratch_len * sizeof *scratch);
        if (!scratch) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        float *q = scratch;
        for (int h = 0; h < ts.nheads; h++) {
            if (b.targets[h] && b.mask[h]) continue;
            b.targets[h] = q, q += B * ts.heads[h].count * ts.heads[h].width;
            b.mask[h] = q, q += B * ts.heads[h].count;
        }
    }
    task_error te;
    task_state st = task_eval_state(t);
    st.N = N;
    bool okay = task_sample(t, st, seed, TASK_TRAIN, (uint64_t)(step * B), &b, &te);
    if (!okay) snprintf(err, errlen, "%s", te.msg);
    free(scratch);
    float *sp = rt_plan_buffer(p, "adam:step");
    if (sp) *sp = (float)(step + 1);
    return okay;
}

/* ---- memory ---- */

static int64_t status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int64_t v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtoll(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

int64_t rt_bench_rss(void) {
    int64_t kb = status_kb("VmRSS");
    return kb < 0 ? -1 : kb * 1024;
}

int64_t rt_bench_peak_rss(void) {
    int64_t kb = status_kb("VmHWM");
    return kb < 0 ? -1 : kb * 1024;
}

bool rt_bench_reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool okay = fputs("5", f) >= 0;
    return fclose(f) == 0 && okay;
}
