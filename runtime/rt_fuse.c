/* rt_fuse.c — which fusion patterns an executor can take (see rt_fuse.h). */
#include "runtime/rt_fuse.h"

#include "passes/autodiff.h"
#include "passes/fuse.h"

#include <stdio.h>
#include <string.h>

void rt_fusion_skips(const rt_executor *ex, const ir_graph *g, const char *user, char *out, size_t len) {
    snprintf(out, len, "%s", user ? user : "");
    if (strcmp(out, "all") == 0) return;
    bool differentiate = ir_output_find(g, "loss") != IR_NONE;
    char patterns[] = FUSE_PATTERNS;
    for (char *save = NULL, *p = strtok_r(patterns, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
        if (user && strstr(user, p)) continue;
        ir_graph *c = ir_graph_clone(g);
        char why[256];
        bool runs;
        if (pass_fuse_is_backward(p)) /* on the training graph: after the forward fusions and autodiff */
            runs = !differentiate || (c && pass_fuse(c, user) && pass_autodiff(c, NULL) && pass_fuse_one(c, p) &&
                                      rt_executor_runs(ex, c, why, sizeof why));
        else
            runs = c && pass_fuse_one(c, p) && (!differentiate || pass_autodiff(c, NULL)) &&
                   rt_executor_runs(ex, c, why, sizeof why);
        ir_graph_free(c);
        if (!runs) {
            size_t n = strlen(out);
            snprintf(out + n, len - n, "%s%s", n ? "," : "", p);
        }
    }
}
