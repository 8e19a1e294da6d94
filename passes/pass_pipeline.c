/* pass_pipeline.c — passes by name (for `iclc graph --passes ... --dump-after=PASS`) and the standard
 * order that turns a forward graph into a training-step graph. */
#include "passes/adam.h"
#include "passes/autodiff.h"
#include "passes/passes.h"

#include <stdio.h>
#include <string.h>

static bool run_autodiff(ir_graph *g) { return pass_autodiff(g, NULL); }
static bool run_adam(ir_graph *g) {
    ir_adam_opts o = ir_adam_defaults();
    return pass_adam(g, &o);
}
static bool run_simplify(ir_graph *g) { return pass_simplify(g, NULL); }
static bool run_cse(ir_graph *g) { return pass_cse(g, NULL); }
static bool run_dce(ir_graph *g) { return pass_dce(g, NULL); }

static const struct {
    const char *name;
    bool (*run)(ir_graph *g);
} passes[] = {
    {"autodiff", run_autodiff}, {"adam", run_adam}, {"simplify", run_simplify},
    {"cse", run_cse},           {"dce", run_dce},   {"verify", ir_verify},
};
#define NPASSES ((int)(sizeof passes / sizeof passes[0]))

const char *pass_names(void) { return "autodiff, adam, simplify, cse, dce, verify"; }

bool pass_run_list(ir_graph *g, const char *list, pass_after_fn *after, void *user) {
    const char *p = list;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        int k = 0;
        while (k < NPASSES && (strlen(passes[k].name) != len || strncmp(passes[k].name, p, len) != 0)) k++;
        if (k == NPASSES) {
            ir_errorf(g, "unknown pass '%.*s' (known: %s)", (int)len, p, pass_names());
            return false;
        }
        if (!passes[k].run(g)) return false;
        if (after) after(passes[k].name, g, user);
        p += len;
        if (*p == ',') p++;
    }
    return true;
}

bool pass_train_graph(ir_graph *g, const ir_grad_opts *grad, const ir_adam_opts *adam) {
    return pass_autodiff(g, grad) && pass_adam(g, adam) && pass_simplify(g, NULL) && pass_cse(g, NULL) &&
           pass_dce(g, NULL) && ir_verify(g);
}
