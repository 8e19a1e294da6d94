/* test_rt_bench.c — the non-printing parts of `iclc bench`: FLOP counts, matmul shape normalisation,
 * training/evaluation graph building, plan filling (params, carries, batches) and memory readings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_bench.h"
#include "tests/tap.h"

static ir_shape S(int r, int64_t a, int64_t b, int64_t c) { return ir_shape_of(r, (int64_t[]){a, b, c}); }

static void test_flops(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", S(3, 2, 3, 4));                    /* 24 elements */
    ir_id w = ir_param(g, "w", S(2, 4, 5, 0), ir_init_zeros());
    ir_id y = ir_matmul(g, x, w, false, false);                   /* [2,3,5]: 2*2*3*5*4 = 240 */
    ir_id z = ir_unary(g, OP_exp, ir_binary(g, OP_add, y, y));    /* 30 + 30 */
    ir_id r = ir_reduce(g, OP_sum, z, 2);                          /* 30 inputs */
    ir_id p = ir_permute(g, r, (int[]){1, 0, 2});                 /* 0 */
    ir_id a = ir_input(g, "a", S(3, 2, 7, 3));
    ir_id h = ir_scan(g, a, a, ir_input(g, "h0", S(3, 2, 1, 3)), 1, false); /* 2 * 42 */
    ir_output_add(g, "p", p);
    ir_output_add(g, "h", h);
    ok(!ir_failed(g), "graph builds %s", ir_error(g));
    rt_flops f = rt_bench_flops(g);
    is_double(f.matmul, 240, 0, "matmul FLOPs = 2 M N K batch");
    is_double(f.total, 240 + 60 + 30 + 84, 0, "total = matmul + elementwise + reduction inputs + 2 per scan element");
    is_int(f.n_matmul, 1, "one matmul");
    ir_graph_free(g);
}

static void test_mm_shapes(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", S(3, 2, 3, 4));
    ir_id w = ir_param(g, "w", S(2, 5, 4, 0), ir_init_zeros());
    ir_output_add(g, "y1", ir_matmul(g, x, w, false, true));                 /* folds to 6x5x4 */
    ir_output_add(g, "y2", ir_matmul(g, ir_unary(g, OP_neg, x), w, false, true)); /* same shape again */
    ir_id b = ir_input(g, "b", S(3, 2, 4, 5));
    ir_output_add(g, "y3", ir_matmul(g, x, b, false, false));                /* batch 2 */
    ir_id a2 = ir_input(g, "a2", S(2, 3, 4, 0));
    ir_output_add(g, "y4", ir_matmul(g, a2, b, false, false));               /* A broadcast over the batch */
    ir_output_add(g, "y5", ir_matmul(g, x, ir_input(g, "dy", S(3, 2, 3, 5)), true, false)); /* x^T dy per batch */
    ok(!ir_failed(g), "graph builds %s", ir_error(g));
    int n = 0;
    rt_mm_shape *s = rt_bench_matmul_shapes(g, &n);
    is_int(n, 4, "four distinct shapes");
    int seen = 0;
    for (int i = 0; i < n; i++) {
        const rt_mm_shape *m = &s[i];
        if (m->n_batch == 0 && m->M == 6 && m->N == 5 && m->K == 4 && m->tb && !m->ta) {
            is_int(m->count, 2, "x W^T with x [2,3,4]: batch folded into M = 6, counted twice");
            seen |= 1;
        } else if (m->n_batch == 1 && m->M == 3 && m->N == 5 && m->K == 4 && !m->ta && m->a_stride[0] == 12) {
            ok(m->batch[0] == 2 && m->b_stride[0] == 20 && m->c_stride[0] == 15, "batched: strides 12/20/15");
            seen |= 2;
        } else if (m->n_batch == 1 && m->a_stride[0] == 0) {
            ok(m->batch[0] == 2 && m->b_stride[0] == 20 && m->M == 3, "A broadcast over the batch: stride 0");
            seen |= 4;
        } else if (m->n_batch == 1 && m->ta && m->M == 4 && m->N == 5 && m->K == 3) {
            ok(m->a_stride[0] == 12 && m->b_stride[0] == 15 && m->c_stride[0] == 20, "x^T dy stays batched");
            seen |= 8;
        }
        ok(m->flops > 0, "shape %d has FLOPs", i);
    }
    is_int(seen, 15, "every expected shape was found");
    for (int i = 1; i < n; i++)
        ok(s[i - 1].flops * s[i - 1].count >= s[i].flops * s[i].count, "sorted by FLOPs (%d)", i);
    free(s);
    ir_graph_free(g);
}

static void test_graphs_and_plan(void) {
    char err[4096];
    task_error te;
    task *t = task_create("linear_regression", "d=4,N=5", &te);
    if (!ok(t != NULL, "task %s", t ? "" : te.msg)) return;
    rt_model_spec spec = {.model = "transformer", .config = "tiny", .set = "D=16,layers=1,heads=2"};
    const rt_executor *ex = rt_executor_find("interp");
    char skipped[512];
    ir_graph *g = build_training_graph(&spec, t, 3, 5, ex, NULL, skipped, sizeof skipped, err, sizeof err);
    if (!ok(g != NULL, "training graph of a small transformer %s", g ? "" : err)) {
        task_free(t);
        return;
    }
    ok(ir_output_find(g, "loss") != IR_NONE && ir_output_find(g, "grad_norm") != IR_NONE &&
           ir_output_find(g, "new:read_in.weight") != IR_NONE,
       "outputs loss, grad_norm, new:read_in.weight");
    ok(ir_find_source(g, OP_input, "target:y") != IR_NONE && ir_find_source(g, OP_input, "mask:y") != IR_NONE,
       "inputs target:y, mask:y");
    rt_flops f = rt_bench_flops(g);
    ok(f.total > f.matmul && f.matmul > 0, "FLOPs counted (%.0f, matmul %.0f)", f.total, f.matmul);
    int fused = 0;
    for (ir_id i = 0; i < g->nnodes; i++) fused += (ir_ops[g->nodes[i].op].flags & OPF_FUSED) != 0;
    ok(fused > 0, "the training graph is fused (%d fused ops; left out: '%s')", fused, skipped);
    ir_graph *gu = build_training_graph(&spec, t, 3, 5, ex, "all", skipped, sizeof skipped, err, sizeof err);
    int fused_u = 0;
    for (ir_id i = 0; gu && i < gu->nnodes; i++) fused_u += (ir_ops[gu->nodes[i].op].flags & OPF_FUSED) != 0;
    ok(gu && fused_u == 0, "no_fuse \"all\": no fused ops");
    if (gu) {
        rt_flops fu = rt_bench_flops(gu);
        ok(fu.matmul >= f.matmul, "the unfused graph has at least the fused graph's matmul FLOPs");
    }
    ir_graph_free(gu);
    ir_graph *ev = build_eval_graph(&spec, t, 3, 5, ex, NULL, err, sizeof err);
    ok(ev && ir_output_find(ev, "pred") != IR_NONE && ir_output_find(ev, "loss") == IR_NONE,
       "evaluation graph: pred, no loss %s", ev ? "" : err);

    rt_plan *p = rt_plan_compile(rt_executor_find("interp"), g, NULL, err, sizeof err);
    if (ok(p != NULL, "interp plan %s", p ? "" : err)) {
        ok(rt_bench_plan_setup(p, 1, 1e-3, err, sizeof err), "setup: params, lr, carries %s", err);
        ok(p->ncarries > 0, "%d carries declared", p->ncarries);
        float *lr = rt_plan_buffer(p, "adam:lr");
        ok(lr && *lr == 1e-3f, "adam:lr set");
        float *w = rt_plan_buffer(p, "read_in.weight");
        float w0 = w ? w[0] : 0;
        ok(w && w0 != 0, "params initialised (read_in.weight[0] = %g)", (double)w0);
        float l0 = NAN, l1 = NAN;
        for (int step = 0; step < 2; step++) {
            ok(rt_bench_plan_feed(p, t, 3, 5, 1, step, err, sizeof err), "feed step %d %s", step, err);
            float *sp = rt_plan_buffer(p, "adam:step");
            ok(sp && *sp == step + 1, "adam:step = %d", step + 1);
            ok(rt_plan_run(p, (uint64_t)step, err, sizeof err), "run step %d %s", step, err);
            float *loss = rt_plan_buffer(p, "loss");
            if (step == 0) l0 = *loss;
            else l1 = *loss;
        }
        ok(isfinite(l0) && isfinite(l1) && l0 > 0, "losses finite: %g, %g", (double)l0, (double)l1);
        w = rt_plan_buffer(p, "read_in.weight");
        ok(w && w[0] != w0, "the weights moved (carry new:P -> P)");
        rt_plan_free(p);
    }
    if (ev) {
        rt_plan *pe = rt_plan_compile(rt_executor_find("interp"), ev, NULL, err, sizeof err);
        ok(pe && rt_bench_plan_setup(pe, 1, 0, err, sizeof err) && rt_bench_plan_feed(pe, t, 3, 5, 1, 0, err, sizeof err) &&
               rt_plan_run(pe, 0, err, sizeof err),
           "evaluation plan runs without targets %s", err);
        rt_plan_free(pe);
    }
    rt_model_spec bad = {.model = "no_such_model", .config = "tiny"};
    ir_graph *gb = build_training_graph(&bad, t, 3, 5, ex, NULL, NULL, 0, err, sizeof err);
    ok(gb == NULL && strlen(err) > 0, "unknown model: error (%s)", err);
    ir_graph_free(ev);
    ir_graph_free(g);
    task_free(t);
}

static void test_memory(void) {
    int64_t rss = rt_bench_rss();
    ok(rss > 0, "VmRSS %lld", (long long)rss);
    ok(rt_bench_reset_peak(), "peak reset through /proc/self/clear_refs");
    int64_t before = rt_bench_peak_rss();
    size_t n = 64 << 20;
    volatile char *buf = malloc(n);
    for (size_t i = 0; buf && i < n; i += 4096) buf[i] = (char)i;
    int64_t after = rt_bench_peak_rss();
    ok(after - before >= (int64_t)(n / 2), "peak grows by a touched 64 MB buffer (%lld bytes)", (long long)(after - before));
    free((void *)buf);
}

int main(void) {
    test_flops();
    test_mm_shapes();
    test_graphs_and_plan();
    test_memory();
    return done_testing();
}
