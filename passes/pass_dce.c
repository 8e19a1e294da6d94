/* pass_dce.c — dead-code elimination and subgraph extraction, and the graph copier they (and CSE)
 * share: a pass decides which nodes to keep and what to replace, pass_rebuild makes the new graph. */
#include "passes/passes.h"
#include "passes/rebuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ir_id pass_copy_node(ir_graph *ng, const ir_graph *g, ir_id i, const ir_id *in) {
    const ir_node *n = &g->nodes[i];
    ir_attrs a = n->attr;
    a.name = ir_intern(ng, n->attr.name);
    if (a.init.kind == INIT_DATA && n->op == OP_param) {
        ir_init copy = ir_init_data(ng, n->attr.init.data, (int64_t)n->attr.init.a);
        memcpy(copy.post, n->attr.init.post, sizeof copy.post);
        a.init = copy;
    }
    ir_set_loc(ng, n->loc.file, n->loc.line);
    ir_id id = ir_build(ng, n->op, in, n->nin, &a, &n->shape);
    if (id != IR_NONE) ng->nodes[id].dtype = n->dtype;
    return id;
}

ir_graph *pass_rebuild(const ir_graph *g, const bool *keep, const ir_id *repl, const bool *out_keep, ir_id *map,
                       char *err, size_t errlen) {
    ir_graph *ng = ir_graph_new();
    ir_id *newid = malloc((size_t)(g->nnodes ? g->nnodes : 1) * sizeof *newid);
    int32_t maxin = 1;
    for (ir_id i = 0; i < g->nnodes; i++)
        if (g->nodes[i].nin > maxin) maxin = g->nodes[i].nin;
    ir_id *in = malloc((size_t)maxin * sizeof *in);
    bool okay = ng && newid && in;
    if (!okay) {
        snprintf(err, errlen, "rebuild: out of memory");
        ir_graph_free(ng);
        free(newid);
        free(in);
        return NULL;
    }
    for (ir_id i = 0; okay && i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        newid[i] = IR_NONE;
        if (repl && repl[i] != i) {
            newid[i] = newid[repl[i]];
            continue;
        }
        if (!keep[i]) continue;
        for (int k = 0; k < n->nin; k++) {
            ir_id x = ir_in(g, n, k);
            in[k] = newid[repl ? repl[x] : x];
        }
        newid[i] = pass_copy_node(ng, g, i, in);
        if (newid[i] == IR_NONE) {
            snprintf(err, errlen, "rebuild: node %%%d: %s", i, ir_error(ng));
            okay = false;
            break;
        }
    }
    ir_set_loc(ng, g->loc.file, g->loc.line);
    for (int k = 0; okay && k < g->noutputs; k++) {
        ir_id id = newid[g->outputs[k].id];
        if (id == IR_NONE || (out_keep && !out_keep[k])) continue;
        if (!ir_output_add(ng, g->outputs[k].name, id)) {
            snprintf(err, errlen, "rebuild: %s", ir_error(ng));
            okay = false;
        }
    }
    if (okay && map) memcpy(map, newid, (size_t)g->nnodes * sizeof *map);
    free(newid);
    free(in);
    if (!okay) {
        ir_graph_free(ng);
        return NULL;
    }
    return ng;
}

void pass_adopt(ir_graph *g, ir_graph *ng) {
    ir_graph old = *g;
    *g = *ng;
    *ng = old;
    ir_graph_free(ng);
}

/* keep[i] |= some kept node (or an output) depends on i. Seeds must be set by the caller. */
static void mark_reachable(const ir_graph *g, bool *keep) {
    for (ir_id i = g->nnodes - 1; i >= 0; i--) {
        if (!keep[i]) continue;
        const ir_node *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++) keep[ir_in(g, n, k)] = true;
    }
}

bool pass_dce(ir_graph *g, ir_id *map) {
    if (ir_failed(g)) return false; /* an earlier error stands */
    bool *keep = calloc((size_t)(g->nnodes ? g->nnodes : 1), sizeof *keep);
    if (!keep) {
        ir_errorf(g, "dce: out of memory");
        return false;
    }
    for (int k = 0; k < g->noutputs; k++) keep[g->outputs[k].id] = true;
    for (ir_id i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_input || g->nodes[i].op == OP_param) keep[i] = true;
    mark_reachable(g, keep);
    char err[1024];
    ir_graph *ng = pass_rebuild(g, keep, NULL, NULL, map, err, sizeof err);
    free(keep);
    if (!ng) {
        ir_errorf(g, "dce: %s", err);
        return false;
    }
    pass_adopt(g, ng);
    return true;
}

ir_graph *pass_extract(const ir_graph *g, const char *const *names, int n, bool keep_inputs, ir_id *map,
                       char *err, size_t errlen) {
    bool *keep = calloc((size_t)(g->nnodes ? g->nnodes : 1), sizeof *keep);
    bool *out_kept = calloc((size_t)(g->noutputs ? g->noutputs : 1), sizeof *out_kept);
    if (!keep || !out_kept) {
        snprintf(err, errlen, "extract: out of memory");
        free(keep);
        free(out_kept);
        return NULL;
    }
    for (int k = 0; k < g->noutputs; k++) out_kept[k] = names == NULL;
    for (int j = 0; names && j < n; j++) {
        int found = -1;
        for (int k = 0; k < g->noutputs && found < 0; k++)
            if (strcmp(g->outputs[k].name, names[j]) == 0) found = k;
        if (found < 0) {
            snprintf(err, errlen, "extract: the graph has no output named '%s'", names[j]);
            free(keep);
            free(out_kept);
            return NULL;
        }
        out_kept[found] = true;
    }
    for (int k = 0; k < g->noutputs; k++)
        if (out_kept[k]) keep[g->outputs[k].id] = true;
    for (ir_id i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_param || (keep_inputs && g->nodes[i].op == OP_input)) keep[i] = true;
    mark_reachable(g, keep);
    ir_graph *ng = pass_rebuild(g, keep, NULL, out_kept, map, err, errlen);
    free(keep);
    free(out_kept);
    return ng;
}
