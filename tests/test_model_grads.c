/* Gradient check of every model of models.lua at a tiny size: the gradient of every parameter
 * (a random subset of its elements) against central finite differences in double, through the
 * interpreter — the whole model (read-in, backbone, read-out) as the frontend builds it, plus the
 * training loss of runtime/rt_loss.c on a few heads. */
#include "frontend/frontend.h"
#include "runtime/rt_loss.h"
#include "tests/gradcheck.h"
#include "tests/tap.h"

static const char *const models[] = {"transformer", "transformer_nope", "mamba", "s4", "s4_mamba",
                                     "standard_hybrid", "mambaformer", "transformer_mamba", "mamba_hybrid"};

int main(void) {
    char err[1024];
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        fe_shape sh = {.task = "linear_regression", .B = 2, .T = 6, .d_in = 3, .d_out = 1, .n_points = 3, .d = 3};
        fe_model *m = fe_build(&(fe_options){.model = models[i], .config = "tiny",
                                             .set = "D=8,layers=1,heads=2,n_positions=8,dropout=0",
                                             .shape = sh},
                               err, sizeof err);
        if (!ok(m != NULL, "%s builds: %s", models[i], m ? "" : err)) continue;
        /* the training loss: squared error at the x tokens (positions 0, 2, 4) */
        rt_head head = {"y", 0, 2, 3, 1, RT_LOSS_SQUARED, 0};
        ir_id loss = rt_loss_append(m->graph, ir_output_find(m->graph, "pred"), &head, 1);
        ok(loss != IR_NONE && ir_output_add(m->graph, "loss", loss), "%s: loss appended %s", models[i],
           ir_error(m->graph));
        gradcheck(m->graph, &(gc_opts){.seed = 11 + i, .max_elems = 4}, models[i]);
        fe_model_free(m);
    }
    return done_testing();
}
