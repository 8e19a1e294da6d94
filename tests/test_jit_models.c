/* Every model of models.lua at its tiny config, through the JIT and the interpreter: forward, loss and
 * the gradients of every parameter (pass_autodiff) on a small prompt batch, every output compared
 * (3e-4: long backward reductions, e.g. the gradients of S4 kernel parameters sum over L x L products). transformer and mamba at 1 and 2 threads, the others at 1 (compile
 * time). Adam is left out here: it divides gradients by their own size, so parameters whose exact
 * gradient is zero (e.g. the key bias of attention) get updates of ±lr from fp32 noise in either
 * executor; tests/test_jit_train.c checks whole training steps on well-conditioned graphs. */
#include "passes/autodiff.h"
#include "passes/passes.h"
#include "runtime/rt_loss.h"
#include "runtime/rt_model.h"
#include "tests/jit_harness.h"

#include <stdlib.h>
#include <unistd.h>

static const char *const models[] = {"transformer", "transformer_nope", "mamba", "mambaformer", "s4",
                                     "s4_mamba", "standard_hybrid", "mamba_hybrid", "transformer_mamba"};

/* Params from their initializers (seed 3), loss masks 1. */
static void setup(rt_plan *p) {
    for (int i = 0; i < p->nbuffers; i++) {
        rt_buffer *b = &p->buffers[i];
        const ir_node *n = &p->graph->nodes[b->id];
        int64_t count = ir_numel(b->shape);
        if (b->is_output) continue;
        if (n->op == OP_param) ir_init_fill(n, 3, b->data);
        else if (!strncmp(b->name, "mask:", 5))
            for (int64_t k = 0; k < count; k++) b->data[k] = 1;
    }
}

int main(void) {
    char dir[] = "/tmp/iclc-jit-models-XXXXXX", cmd[300], err[1024];
    if (mkdtemp(dir)) setenv("XDG_CACHE_HOME", dir, 1), unsetenv("ICLC_NO_CACHE");
    task_error te;
    task *t = task_create("linear_regression", "d=5", &te);
    ok(t != NULL, "task %s", t ? "" : te.msg);
    int64_t B = 2, N = 6;
    for (size_t i = 0; t && i < sizeof models / sizeof models[0]; i++) {
        rt_model_spec spec = {models[i], "tiny", NULL};
        ir_graph *g = rt_model_build(&spec, t, B, N, true, NULL, err, sizeof err);
        if (!ok(g != NULL, "%s builds %s", models[i], g ? "" : err)) continue;
        task_shape sh = task_shape_at(t, N);
        rt_head heads[TASK_MAX_HEADS];
        rt_task_heads(&sh, heads);
        ir_output_add(g, "loss", rt_loss_append(g, ir_output_find(g, "pred"), heads, sh.nheads));
        if (ok(pass_autodiff(g, NULL) && pass_simplify(g, NULL) && pass_cse(g, NULL) && pass_dce(g, NULL),
               "%s: gradient graph %s", models[i], ir_error(g))) {
            char label[96];
            snprintf(label, sizeof label, "%s tiny forward + gradients", models[i]);
            harness_max_threads = i < 3 ? 2 : 1;
            check_graph_carry(label, g, FILL_SIGNED, 3e-4, 1, NULL, 0, setup);
        }
        ir_graph_free(g);
    }
    task_free(t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
