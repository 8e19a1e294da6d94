/* ir_verify.c — whole-graph checks: every node well formed, in topological order, shaped as its
 * shape rule says; source names unique; outputs valid. */
#include "ir/ir.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Puts "node %id: " in front of the recorded error (a shape rule's message names the op, not the node). */
static void prefix_node(ir_graph *g, ir_id id) {
    char head[32];
    size_t n = (size_t)snprintf(head, sizeof head, "node %%%d: ", id), len = strlen(g->err);
    if (len + n >= sizeof g->err) len = sizeof g->err - n - 1; /* keep the head, cut the tail */
    memmove(g->err + n, g->err, len);
    memcpy(g->err, head, n);
    g->err[n + len] = '\0';
}

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
        int want = info->arity < 0 ? 1 : info->arity;
        ir_errorf(g, "node %%%d (%s): expects %s%d input%s, got %d", id, info->name, info->arity < 0 ? "at least " : "",
                  want, want == 1 ? "" : "s", n->nin);
        return false;
    }
    if (n->shape.rank < 0 || n->shape.rank > IR_MAX_RANK) {
        ir_errorf(g, "node %%%d (%s): rank %d is outside 0..%d", id, info->name, n->shape.rank, IR_MAX_RANK);
        return false;
    }
    if (n->in_off < 0 || n->in_off > g->nargs - n->nin) {
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
    bool failed_before = g->failed;
    if (!ir_infer_shape(g, &copy)) {
        if (!failed_before) prefix_node(g, id);
        return false;
    }
    /* Builders store axes normalised (>= 0) and perm entries past the rank as 0; later stages rely on it. */
    if (copy.attr.axis != n->attr.axis) {
        ir_errorf(g, "node %%%d (%s): axis %" PRId64 " is not normalised (should be %" PRId64 ")", id, info->name,
                  n->attr.axis, copy.attr.axis);
        return false;
    }
    if (memcmp(copy.attr.perm, n->attr.perm, sizeof n->attr.perm) != 0) {
        ir_errorf(g, "node %%%d (%s): perm entries past the rank must be 0", id, info->name);
        return false;
    }
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
        if (!o->name) {
            ir_errorf(g, "output %d has no name", i);
            okay = false;
            break;
        }
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
