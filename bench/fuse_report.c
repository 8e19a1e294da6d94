/* fuse_report.c — what the fusion passes do to each model of models.lua: node counts and the interpreter's
 * value memory (the sum of every node's size, which is what ir_values_new allocates: every node keeps its
 * tensor), for the forward graph and for the training graph (forward + loss + pass_autodiff + cse + dce),
 * unfused vs fused.
 *
 *   build/bench/fuse_report [CONFIG [BATCH]]        (default: tiny 64; linear_regression prompts)
 *   build/bench/fuse_report --print MODEL [SET]     the fused forward graph of MODEL (tiny, batch 2, SET
 *                                                   e.g. n_layer=1), in the text form
 *
 * Sizes are given as f32 bytes (the interpreter itself holds doubles: twice that). Also times one
 * interpreted training step (forward + backward) of each graph. */
#include "frontend/frontend.h"
#include "ir/interp.h"
#include "passes/autodiff.h"
#include "passes/fuse.h"
#include "passes/passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mib(const ir_graph *g) {
    double total = 0;
    for (ir_id i = 0; i < g->nnodes; i++) total += (double)ir_numel(g->nodes[i].shape) * 4.0;
    return total / (1024.0 * 1024.0);
}

/* Largest node (f32 MiB). */
static double largest(const ir_graph *g) {
    double m = 0;
    for (ir_id i = 0; i < g->nnodes; i++) {
        double s = (double)ir_numel(g->nodes[i].shape) * 4.0 / (1024.0 * 1024.0);
        if (s > m) m = s;
    }
    return m;
}

/* forward + sum(pred^2) loss + autodiff + cleanup. */
static ir_graph *train_graph(const ir_graph *fwd) {
    ir_graph *g = ir_graph_clone(fwd);
    ir_id p = ir_output_find(g, "pred");
    ir_id sq = ir_unary(g, OP_square, p);
    ir_id l = ir_reduce(g, OP_sum, ir_reshape(g, sq, ir_shape_of(1, (int64_t[]){ir_numel(g->nodes[p].shape)})), 0);
    if (l == IR_NONE || !ir_output_add(g, "loss", l) || !pass_autodiff(g, NULL) || !pass_cse(g, NULL) || !pass_dce(g, NULL)) {
        fprintf(stderr, "train graph: %s\n", ir_error(g));
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

static double step_seconds(const ir_graph *g) {
    ir_values *v = ir_values_new(g);
    if (!v) return -1;
    ir_values_init_params(g, v, 1);
    char err[256];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    bool okay = ir_interp(g, v, NULL, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ir_values_free(v);
    return okay ? (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec) : -1;
}

/* Prints the fused forward graph of one model. */
static int print_fused(const char *model, const char *set) {
    fe_shape sh;
    char err[1024];
    if (!fe_task_shape("linear_regression", 2, &sh, err, sizeof err)) return 1;
    fe_model *m = fe_build(&(fe_options){.model = model, .config = "tiny", .set = set, .shape = sh}, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    bool okay = pass_fuse(m->graph, NULL);
    char *text = okay ? ir_print(m->graph) : NULL;
    if (text) fputs(text, stdout);
    else fprintf(stderr, "%s\n", ir_error(m->graph));
    free(text);
    fe_model_free(m);
    return okay ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--print") == 0) return print_fused(argv[2], argc > 3 ? argv[3] : NULL);
    const char *config = argc > 1 ? argv[1] : "tiny";
    int64_t B = argc > 2 ? atoll(argv[2]) : 64;
    bool timing = getenv("FUSE_REPORT_TIME") != NULL;
    static const char *models[] = {"transformer", "mamba", "s4", "s4_mamba", "standard_hybrid", "mambaformer",
                                   "transformer_mamba", "mamba_hybrid"};
    printf("config %s, batch %lld, linear_regression prompts; MiB = f32 bytes of every node's value\n", config, (long long)B);
    printf("%-18s %15s %8s %8s | %15s %8s %8s | %9s %9s%s\n", "model", "fwd nodes", "fwd MiB", "fused", "train nodes",
           "tr MiB", "fused", "largest", "fused", timing ? "   step s   fused" : "");
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        fe_shape sh;
        char err[1024];
        if (!fe_task_shape("linear_regression", B, &sh, err, sizeof err)) return 1;
        fe_model *m = fe_build(&(fe_options){.model = models[i], .config = config, .shape = sh}, err, sizeof err);
        if (!m) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        ir_graph *f = ir_graph_clone(m->graph);
        if (!pass_fuse(f, NULL)) {
            fprintf(stderr, "%s\n", ir_error(f));
            return 1;
        }
        ir_graph *tu = train_graph(m->graph), *tf = train_graph(f);
        if (!tu || !tf) return 1;
        char a[32], b[32];
        snprintf(a, sizeof a, "%d->%d", m->graph->nnodes, f->nnodes);
        snprintf(b, sizeof b, "%d->%d", tu->nnodes, tf->nnodes);
        printf("%-18s %15s %8.1f %8.1f | %15s %8.1f %8.1f | %9.2f %9.2f", models[i], a, mib(m->graph), mib(f), b, mib(tu),
               mib(tf), largest(tu), largest(tf));
        if (timing) printf(" %8.2f %7.2f", step_seconds(tu), step_seconds(tf));
        printf("\n");
        ir_graph_free(f);
        ir_graph_free(tu);
        ir_graph_free(tf);
        fe_model_free(m);
    }
    return 0;
}
