/* JIT vs interpreter on model-like graphs: forward, gradients (pass_autodiff), and whole training steps
 * (autodiff + Adam) with carried weights and moments over several steps, at 1 and 2 threads. */
#include "passes/adam.h"
#include "passes/autodiff.h"
#include "passes/passes.h"
#include "tests/jit_harness.h"
#include "tests/jit_models.h"

#include <stdlib.h>
#include <unistd.h>

/* Params from their initializers, Adam state zero, lr 1e-2, step 1. */
static void setup_train(rt_plan *p) {
    for (int i = 0; i < p->nbuffers; i++) {
        rt_buffer *b = &p->buffers[i];
        const ir_node *n = &p->graph->nodes[b->id];
        int64_t count = ir_numel(b->shape);
        if (b->is_output) continue;
        if (n->op == OP_param) ir_init_fill(n, 5, b->data);
        else if (strncmp(b->name, "adam:m:", 7) == 0 || strncmp(b->name, "adam:v:", 7) == 0) memset(b->data, 0, (size_t)count * 4);
        else if (strcmp(b->name, "adam:lr") == 0) b->data[0] = 1e-2f;
        else if (strcmp(b->name, "adam:step") == 0) b->data[0] = 1;
    }
}

typedef void model_fn(ir_graph *g);
static void tiny_transformer(ir_graph *g) { jm_transformer(g, 2, 9, 16, 2, 2); }
static void tiny_mamba(ir_graph *g) { jm_mamba(g, 2, 9, 8, 16, 4, 2); }

/* Carries of a training graph: new:P -> P and the Adam moments. */
static int train_carries(const ir_graph *g, char names[][2][128], int cap) {
    int n = 0;
    for (ir_id i = 0; i < g->nnodes && n < cap; i++) {
        const ir_node *nd = &g->nodes[i];
        if (nd->op != OP_param) continue;
        snprintf(names[n][0], 128, "new:%s", nd->attr.name);
        snprintf(names[n][1], 128, "%s", nd->attr.name);
        n++;
        snprintf(names[n][0], 128, "adam:m_new:%s", nd->attr.name);
        snprintf(names[n][1], 128, "adam:m:%s", nd->attr.name);
        n++;
        snprintf(names[n][0], 128, "adam:v_new:%s", nd->attr.name);
        snprintf(names[n][1], 128, "adam:v:%s", nd->attr.name);
        n++;
    }
    return n;
}

static void run_model(const char *name, model_fn *build) {
    char label[128];
    ir_graph *g = ir_graph_new();
    build(g);
    ok(ir_verify(g), "%s: builds %s", name, ir_error(g));
    snprintf(label, sizeof label, "%s forward", name);
    check_graph_carry(label, g, FILL_SIGNED, 1e-5, 1, NULL, 0, setup_train);

    ir_graph *gg = ir_graph_clone(g);
    ok(pass_autodiff(gg, NULL) && pass_simplify(gg, NULL) && pass_cse(gg, NULL) && pass_dce(gg, NULL), "%s: autodiff %s",
       name, ir_error(gg));
    snprintf(label, sizeof label, "%s gradients", name);
    check_graph_carry(label, gg, FILL_SIGNED, 1e-4, 1, NULL, 0, setup_train);
    ir_graph_free(gg);

    ir_graph *tg = ir_graph_clone(g);
    ir_adam_opts ao = ir_adam_defaults();
    ok(pass_train_graph(tg, NULL, &ao), "%s: training graph %s", name, ir_error(tg));
    static char carries[300][2][128];
    int nc = train_carries(tg, carries, 300);
    const char *pairs[600];
    for (int i = 0; i < nc; i++) pairs[2 * i] = carries[i][0], pairs[2 * i + 1] = carries[i][1];
    snprintf(label, sizeof label, "%s training, 1 step", name);
    check_graph_carry(label, tg, FILL_SIGNED, 1e-4, 1, pairs, nc, setup_train);
    /* over several steps fp32 differences compound (Adam divides tiny moments): a looser bound */
    snprintf(label, sizeof label, "%s training, 3 steps", name);
    check_graph_carry(label, tg, FILL_SIGNED, 1e-3, 3, pairs, nc, setup_train);
    ir_graph_free(tg);
    ir_graph_free(g);
}

int main(void) {
    /* a private compile cache: the 1-step and 3-step checks compile the same training graph */
    char dir[] = "/tmp/iclc-jit-train-XXXXXX", cmd[300];
    if (mkdtemp(dir)) setenv("XDG_CACHE_HOME", dir, 1), unsetenv("ICLC_NO_CACHE");
    run_model("transformer", tiny_transformer);
    run_model("mamba", tiny_mamba);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
