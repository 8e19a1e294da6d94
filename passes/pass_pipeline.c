/* pass_pipeline.c — passes by name (for `iclc graph --passes ... --dump-after=PASS`) and the standard
 * order that turns a forward graph into a training-step graph. */
#include "passes/adam.h"
#include "passes/autodiff.h"
#include "passes/fuse.h"
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
static bool run_fuse(ir_graph *g) { return pass_fuse(g, NULL); }
static bool run_fuse_backward(ir_graph *g) { return pass_fuse_backward(g, NULL); }
static bool run_fuse_slice_matmul(ir_graph *g) { return pass_fuse_one(g, "slice_matmul"); }
static bool run_fuse_attention(ir_graph *g) { return pass_fuse_one(g, "attention"); }
static bool run_fuse_selective_scan(ir_graph *g) { return pass_fuse_one(g, "selective_scan"); }
static bool run_fuse_s4_scan(ir_graph *g) { return pass_fuse_one(g, "s4_scan"); }
static bool run_fuse_causal_conv1d(ir_graph *g) { return pass_fuse_one(g, "causal_conv1d"); }
static bool run_fuse_layernorm(ir_graph *g) { return pass_fuse_one(g, "layernorm"); }
static bool run_fuse_matmul_epilogue(ir_graph *g) { return pass_fuse_one(g, "matmul_epilogue"); }

static const struct {
    const char *name;
    bool (*run)(ir_graph *g);
} passes[] = {
    {"autodiff", run_autodiff}, {"adam", run_adam}, {"simplify", run_simplify},
    {"cse", run_cse},           {"dce", run_dce},   {"verify", ir_verify},
    /* passes/fuse.h: every pattern, or one (fuse_<pattern>) */
    {"fuse", run_fuse},
    {"fuse_backward", run_fuse_backward},
    {"fuse_slice_matmul", run_fuse_slice_matmul},
    {"fuse_attention", run_fuse_attention},
    {"fuse_selective_scan", run_fuse_selective_scan},
    {"fuse_s4_scan", run_fuse_s4_scan},
    {"fuse_causal_conv1d", run_fuse_causal_conv1d},
    {"fuse_layernorm", run_fuse_layernorm},
    {"fuse_matmul_epilogue", run_fuse_matmul_epilogue},
};
#define NPASSES ((int)(sizeof passes / sizeof passes[0]))

const char *pass_names(void) {
    return "autodiff, adam, simplify, cse, dce, verify, fuse, fuse_backward, fuse_slice_matmul, fuse_attention, "
           "fuse_selective_scan, fuse_s4_scan, fuse_causal_conv1d, fuse_layernorm, fuse_matmul_epilogue";
}

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
