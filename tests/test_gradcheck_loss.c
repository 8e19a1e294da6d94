/* test_gradcheck_loss.c — the training loss (runtime/rt_loss.c) differentiated by pass_autodiff, against
 * finite differences: squared error and BCE heads, strided read-outs, a head running past the end (pad),
 * masks with zeros. */
#include "ir/ir.h"
#include "runtime/rt_loss.h"
#include "tests/gradcheck.h"
#include "tests/tap.h"

/* targets: N(0,1) (squared) or +-1 (bce); masks: 0/1 with the first position counted. */
static void fill(const ir_graph *g, ir_values *v, void *user) {
    (void)user;
    for (ir_id i = 0; i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->op != OP_input) continue;
        bool mask = strncmp(n->attr.name, "mask:", 5) == 0, bce = strstr(n->attr.name, "bce") != NULL;
        for (int64_t e = 0; e < ir_numel(n->shape); e++) {
            double *x = &v->t[i].data[e];
            if (mask) *x = e == 0 || (e * 7) % 3 != 0;
            else if (bce) *x = (e * 5) % 3 ? 1 : -1;
        }
    }
}

int main(void) {
    enum { B = 2, T = 7, D = 3 };
    const rt_head heads[] = {
        {"sq", 0, 2, 4, 1, RT_LOSS_SQUARED, 2}, /* positions 0, 2, 4, 6; channel 2 */
        {"bce", 1, 2, 4, 2, RT_LOSS_BCE, 0},    /* positions 1, 3, 5, (7 = pad); channels 0..1 */
        {"sq_all", 0, 1, T, D, RT_LOSS_SQUARED, 0},
    };
    for (int k = 0; k < 3; k++) {
        ir_graph *g = ir_graph_new();
        ir_id pred = ir_param(g, "pred", ir_shape_of(3, (int64_t[]){B, T, D}), ir_init_normal(0, 1));
        ir_id loss = k < 2 ? rt_loss_append(g, pred, &heads[k], 1) : rt_loss_append(g, pred, heads, 3);
        ok(loss != IR_NONE && ir_output_add(g, "loss", loss), "loss %d builds %s", k, ir_error(g));
        gradcheck(g, &(gc_opts){.seed = 3 + (uint64_t)k, .fill = fill, .cleanup = k == 2}, k == 0 ? "squared head" : k == 1 ? "bce head" : "three heads");
        ir_graph_free(g);
    }
    return done_testing();
}
