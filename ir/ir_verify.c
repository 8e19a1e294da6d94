/* ir_verify.c — whole-graph checks: every node well formed, in topological order, shaped as its
 * shape rule says; source names unique; outputs valid. */
#include "ir/ir.h"

#include <string.h>

static bool check_node(ir_graph *g, ir_id id) {
    const ir_node *n = &g->nodes[id];
    g->loc = n->loc; /* errors name the node's own location */
    if ((unsigned)n->op >= OP_COUNT) {
        ir_errorf(g, "node %%%d: unknown op %d", id, (int)n->op);
        return false;
    }
    const ir_op_info *info = &ir_ops[n->op];
    if (n->dtype != IR_F32) {
        ir_errorf(g, "node %%%d (%s): dtype %s is not supported yet", id, info->name, ir_dtype_name(n->dtype));
        return false;
    }
    if (info->arity >= 0 ? n->nin != info->arity : n->nin < 1) {
        ir_errorf(g, "node %%%d (%s): has %d inputs", id, info->name, n->nin);
        return false;
    }
    if (n->in_off < 0 || n->in_off + n->nin > g->nargs) {
        ir_errorf(g, "node %%%d (%s): input list out of range", id, info->name);
        return false;
    }
    for (int i = 0; i < n->nin; i++) {
        ir_id x = ir_in(g, n, i);
        if (x < 0 || x >= id) {
            ir_errorf(g, "node %%%d (%s): input %d refers to %%%d, %s", id, info->name, i, x,
                      x >= id && x < g->nnodes ? "which comes later (not topological)" : "which does not exist");
            return false;
        }
    }
    ir_node copy = *n;
    if (!ir_infer_shape(g, &copy)) return false;
    if (!ir_shape_eq(copy.shape, n->shape)) {
        char want[96], got[96];
        ir_errorf(g, "node %%%d (%s): shape %s, but its inputs give %s", id, info->name,
                  ir_type_str(n->dtype, n->shape, got, sizeof got), ir_type_str(n->dtype, copy.shape, want, sizeof want));
        return false;
    }
    if (n->op == OP_input || n->op == OP_param) {
        ir_id first = ir_find_source(g, n->op, n->attr.name);
        if (first != id) {
            ir_errorf(g, "node %%%d: %s name '%s' is already used by %%%d", id, info->name, n->attr.name, first);
            return false;
        }
    }
    return true;
}

bool ir_verify(ir_graph *g) {
    ir_loc saved = g->loc;
    bool okay = true;
    for (ir_id id = 0; okay && id < g->nnodes; id++) okay = check_node(g, id);
    g->loc = (ir_loc){0};
    for (int i = 0; okay && i < g->noutputs; i++) {
        const ir_output *o = &g->outputs[i];
        if (o->id < 0 || o->id >= g->nnodes) {
            ir_errorf(g, "output '%s' refers to %%%d, which does not exist", o->name, o->id);
            okay = false;
        }
        for (int k = 0; okay && k < i; k++)
            if (strcmp(g->outputs[k].name, o->name) == 0) {
                ir_errorf(g, "output '%s' is defined twice", o->name);
                okay = false;
            }
    }
    g->loc = saved;
    return okay;
}
