/* pass_train.c — the standard pass order that turns a forward graph into a training-step graph. */
#include "passes/adam.h"
#include "passes/autodiff.h"
#include "passes/passes.h"

bool pass_train_graph(ir_graph *g, const ir_grad_opts *grad, const ir_adam_opts *adam) {
    return pass_autodiff(g, grad) && pass_adam(g, adam) && pass_simplify(g, NULL) && pass_cse(g, NULL) &&
           pass_dce(g, NULL) && ir_verify(g);
}
