/* test_fuse_models.c — the fusion passes on every model of models.lua and on a user's hybrid
 * (tests/lua/user_hybrid.lua), built by the frontend at tiny size:
 *   1. each model fuses exactly where its patterns occur (fused ops counted per op and model);
 *   2. the fused graph verifies and predicts what the unfused one predicts (interpreter, double, 1e-9);
 *   3. loss and every gradient agree through pass_autodiff (fused VJPs vs the primitives'), 1e-6;
 *   4. the `--no-fuse` list: disabling a pattern by name keeps it unfused; "all" keeps the graph as it was;
 *      an unknown name is an error;
 *   5. the pass list knows `fuse` and `fuse_<pattern>`.
 * Dimensions: B prompts, T tokens. */
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "passes/adam.h"
#include "passes/fuse.h"
#include "passes/passes.h"
#include "tests/gradcheck.h"
#include "tests/tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fe_model *build(const char *model, const char *set, int64_t B, char *err, size_t errlen) {
    fe_shape sh;
    if (!fe_task_shape("linear_regression", B, &sh, err, errlen)) return NULL;
    return fe_build(&(fe_options){.model = model, .config = "tiny", .set = set, .shape = sh}, err, errlen);
}

/* Largest |a - b| / max(1, |a|) of output `name` of two graphs run on the same params and tokens. */
static double compare_pred(const ir_graph *a, const ir_graph *b, const char *name) {
    ir_values *va = ir_values_new(a), *vb = ir_values_new(b);
    double worst = -1;
    char err[512];
    if (va && vb) {
        ir_values_init_params(a, va, 5);
        ir_values_init_params(b, vb, 5);
        gc_fill_normal(a, va, 5);
        gc_fill_normal(b, vb, 5);
        for (ir_id i = 0; i < a->nnodes; i++) /* Adam's inputs: step 1, lr 1e-3, moments >= 0 */
            for (int64_t e = 0; a->nodes[i].op == OP_input && e < ir_numel(a->nodes[i].shape); e++) {
                const char *nm = a->nodes[i].attr.name;
                double *x = &va->t[i].data[e], *y = &vb->t[ir_find_source(b, OP_input, nm)].data[e];
                *x = *y = strcmp(nm, "adam:step") == 0 ? 1 : strcmp(nm, "adam:lr") == 0 ? 1e-3 : strncmp(nm, "adam:", 5) == 0 ? fabs(*x) : *x;
            }
        if (ir_interp(a, va, NULL, err, sizeof err) && ir_interp(b, vb, NULL, err, sizeof err)) {
            ir_id x = ir_output_find(a, name), y = ir_output_find(b, name);
            worst = 0;
            for (int64_t e = 0; e < ir_numel(a->nodes[x].shape); e++) {
                double d = fabs(va->t[x].data[e] - vb->t[y].data[e]) / fmax(1.0, fabs(va->t[x].data[e]));
                if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
            }
        } else
            diag("interp: %s", err);
    }
    ir_values_free(va);
    ir_values_free(vb);
    return worst;
}

typedef struct want {
    const char *model;
    int attention, sscan, s4, conv_silu, layernorm, mm; /* mm: matmul_* ops of every kind */
} want;

static int mm_count(const ir_graph *g) {
    return fuse_count(g, OP_matmul_bias) + fuse_count(g, OP_matmul_bias_gelu) + fuse_count(g, OP_matmul_bias_silu) +
           fuse_count(g, OP_matmul_res) + fuse_count(g, OP_matmul_bias_res);
}

static void test_model(const want *w, const char *set) {
    char err[1024] = "";
    fe_model *m = build(w->model, set, 2, err, sizeof err);
    if (!ok(m != NULL, "%s builds", w->model)) {
        diag("%s", err);
        return;
    }
    ir_graph *g = ir_graph_clone(m->graph);
    int before = g->nnodes;
    bool fused = pass_fuse(g, NULL) && ir_verify(g);
    if (!ok(fused, "%s: pass_fuse and verify", w->model)) diag("%s", ir_error(g));
    diag("%s: %d nodes -> %d", w->model, before, g->nnodes);
    is_int(fuse_count(g, OP_attention), w->attention, "%s: %d attention", w->model, w->attention);
    is_int(fuse_count(g, OP_selective_scan_gated), w->sscan, "%s: %d selective_scan_gated", w->model, w->sscan);
    is_int(fuse_count(g, OP_s4_scan), w->s4, "%s: %d s4_scan", w->model, w->s4);
    is_int(fuse_count(g, OP_causal_conv1d_silu), w->conv_silu, "%s: %d causal_conv1d_silu", w->model, w->conv_silu);
    is_int(fuse_count(g, OP_layernorm), w->layernorm, "%s: %d layernorm", w->model, w->layernorm);
    is_int(mm_count(g), w->mm, "%s: %d matmuls with an epilogue", w->model, w->mm);
    is_int(fuse_count(g, OP_scan) + fuse_count(g, OP_cscan), 0, "%s: no scan left", w->model);
    int sliced = 0; /* projections read in column slices 32 wide or more (in_proj's x | z, c_attn's q | k | v) */
    for (ir_id i = 0; i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        ir_op in = n->op == OP_slice ? g->nodes[ir_in(g, n, 0)].op : OP_COUNT;
        sliced += (in == OP_matmul || in == OP_matmul_bias) && n->attr.end - n->attr.start >= 32 &&
                  n->attr.axis == n->shape.rank - 1;
    }
    is_int(sliced, 0, "%s: no projection read in wide column slices (slice_matmul)", w->model);
    double d = compare_pred(m->graph, g, "pred");
    ok(d >= 0 && d < 1e-9, "%s: fused prediction equals unfused (%.3g)", w->model, d);
    ir_graph *h = ir_graph_clone(m->graph); /* common subexpressions merged first: the same fusions */
    ok(pass_simplify(h, NULL) && pass_cse(h, NULL) && pass_fuse(h, NULL) && fuse_count(h, OP_COUNT) == fuse_count(g, OP_COUNT),
       "%s: after simplify and cse, %d fused ops too", w->model, fuse_count(g, OP_COUNT));
    ir_graph_free(h);
    fe_model_free(m);
    ir_graph_free(g);
}

/* Loss = sum(pred * w): the fused graph's loss and gradients against the unfused graph's. */
static void test_model_grads(const char *model) {
    char err[1024] = "";
    fe_model *m = build(model, "n_layer=2", 1, err, sizeof err);
    if (!m) {
        ok(0, "%s builds: %s", model, err);
        return;
    }
    ir_graph *a = ir_graph_clone(m->graph), *b = ir_graph_clone(m->graph);
    gc_add_weighted_loss(a, ir_output_find(a, "pred"), "gc:w");
    gc_add_weighted_loss(b, ir_output_find(b, "pred"), "gc:w");
    bool fused = pass_fuse(b, NULL);
    ok(fused && fuse_count(b, OP_COUNT) > 0, "%s: fused with a loss appended", model);
    double d = gc_compare(a, b, &(gc_opts){.seed = 3}, err, sizeof err);
    if (d < 0) diag("%s", err);
    ok(d >= 0 && d < 1e-6, "%s: loss and every gradient equal through the fused VJPs (%.3g)", model, d);
    ir_graph_free(a);
    ir_graph_free(b);
    fe_model_free(m);
}

/* The whole training pipeline (autodiff, Adam, simplify, cse, dce, verify) on a fused graph: one
 * interpreted step updates every param as the unfused graph's step does. */
static void test_train_pipeline(const char *model) {
    char err[1024] = "";
    fe_model *m = build(model, "n_layer=2", 2, err, sizeof err);
    if (!m) {
        ok(0, "%s builds: %s", model, err);
        return;
    }
    ir_graph *g[2] = {ir_graph_clone(m->graph), ir_graph_clone(m->graph)};
    ir_adam_opts adam = ir_adam_defaults();
    bool okay = pass_fuse(g[1], NULL);
    for (int k = 0; k < 2; k++) {
        ir_id p = ir_output_find(g[k], "pred");
        ir_id l = ir_reduce(g[k], OP_sum, ir_reshape(g[k], ir_unary(g[k], OP_square, p), ir_shape_of(1, (int64_t[]){ir_numel(g[k]->nodes[p].shape)})), 0);
        okay = okay && ir_output_add(g[k], "loss", l) && pass_train_graph(g[k], NULL, &adam);
    }
    if (!ok(okay, "%s: fused graph through autodiff, adam, simplify, cse, dce, verify", model)) diag("%s", ir_error(g[1]));
    double worst = 0;
    int checked = 0;
    for (int k = 0; okay && k < g[0]->noutputs; k++) {
        const char *name = g[0]->outputs[k].name;
        if (strncmp(name, "new:", 4) != 0) continue;
        double d = compare_pred(g[0], g[1], name);
        worst = d < 0 || d > worst ? (d < 0 ? INFINITY : d) : worst;
        checked++;
    }
    ok(okay && checked > 0 && worst < 1e-9, "%s: a training step updates %d params alike (%.3g)", model, checked, worst);
    ir_graph_free(g[0]);
    ir_graph_free(g[1]);
    fe_model_free(m);
}

static void test_disable(void) {
    char err[1024] = "";
    fe_model *m = build("mambaformer", "n_layer=2", 2, err, sizeof err);
    if (!m) {
        ok(0, "mambaformer builds: %s", err);
        return;
    }
    ir_graph *g = ir_graph_clone(m->graph);
    ok(pass_fuse(g, "attention, selective_scan"), "disable two patterns by name");
    is_int(fuse_count(g, OP_attention) + fuse_count(g, OP_selective_scan) + fuse_count(g, OP_selective_scan_gated), 0,
           "attention and selective_scan stay unfused");
    ok(fuse_count(g, OP_causal_conv1d_silu) > 0 && fuse_count(g, OP_layernorm) > 0, "the others fuse");
    ir_graph_free(g);
    g = ir_graph_clone(m->graph);
    ok(pass_fuse(g, "all"), "disable all");
    is_int((int)(ir_graph_hash(g) == ir_graph_hash(m->graph)), 1, "'all' leaves the graph as it was");
    ok(!pass_fuse(g, "attn"), "an unknown pattern name is an error");
    like(ir_error(g), "unknown pattern 'attn'", "message names it: %s", ir_error(g));
    ir_graph_free(g);
    g = ir_graph_clone(m->graph);
    ok(pass_run_list(g, "fuse_layernorm", NULL, NULL) && fuse_count(g, OP_COUNT) == fuse_count(g, OP_layernorm) &&
           fuse_count(g, OP_layernorm) > 0,
       "pass list: fuse_layernorm fuses LayerNorms only");
    ok(pass_run_list(g, "fuse,verify", NULL, NULL) && fuse_count(g, OP_attention) > 0, "pass list: fuse");
    ir_graph_free(g);
    fe_model_free(m);
}

int main(void) {
    /* tiny: D 64, 3 layers = 6 mixer blocks (GPT-2: 3 blocks); per mixer block one LayerNorm, plus norm_f */
    static const want models[] = {
        /* attention per GPT-2 block; layernorm 2 per block + ln_f; matmuls: read_in, (c_attn as q, k, v
           (slice_matmul: three products), c_proj+res, c_fc+gelu, c_proj+res) per block, read_out */
        {"transformer", 3, 0, 0, 0, 7, 2 + 6 * 3},
        {"transformer_nope", 3, 0, 0, 0, 7, 2 + 6 * 3},
        /* mamba block: in_proj (no bias), x_proj (no bias), dt_proj+bias, out_proj+residual */
        {"mamba", 0, 6, 0, 6, 7, 2 + 2 * 6},
        /* s4 block: output_linear + bias, its GLU halves two products */
        {"s4", 0, 0, 6, 0, 7, 2 + 2 * 6},
        /* s4_mamba block: out_proj + residual only (conv silu fused) */
        {"s4_mamba", 0, 0, 6, 6, 7, 2 + 6},
        /* A M A M A M: attention block q, k, v + bias, c_proj+bias+res */
        {"standard_hybrid", 3, 3, 0, 3, 7, 2 + 3 * 2 + 3 * 4},
        {"mambaformer", 3, 4, 0, 4, 8, 2 + 3 * 4 + 4 * 2},
        /* 1 Mamba + 3 GPT-2 blocks */
        {"transformer_mamba", 3, 1, 0, 1, 8, 2 + 2 + 6 * 3},
        /* 6 blocks, the third (index n//2 = 3, 1-based) attention */
        {"mamba_hybrid", 1, 5, 0, 5, 7, 2 + 5 * 2 + 4},
        /* 6 blocks, every third attention: M M A M M A */
        {ICLC_SOURCE_DIR "/tests/lua/user_hybrid.lua:mamba_attn", 2, 4, 0, 4, 7, 2 + 4 * 2 + 2 * 4},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) test_model(&models[i], NULL);
    test_model_grads("transformer");
    test_model_grads("mambaformer");
    test_model_grads("s4_mamba");
    test_model_grads("s4");
    test_train_pipeline("mambaformer");
    test_train_pipeline("s4");
    test_disable();
    return done_testing();
}
