/* pass_simplify.c — value-preserving local rewrites, in one forward sweep that copies the graph and
 * rewrites each node given its already-simplified inputs, then dead-code elimination.
 *
 * Rules:
 * - constant folding: an elementwise op of consts, and a movement or reduction of a const, becomes a
 *   const. Folded values are computed by the reference interpreter on f32-rounded operands and rounded
 *   to f32, as the f32 executors compute them.
 * - identities: reshape/broadcast to the same shape, identity permute, full slice, zero pad, one-input
 *   concat, reduction over a size-1 axis, neg(neg x), x*1, 1*x, x+0, 0+x, x-0, x/1 -> x (broadcast to
 *   the node's shape when the shapes differ).
 * - chains: reshape(reshape x), broadcast(broadcast x), permute(permute x) -> one node.
 * Every rule is exact except for the sign of a zero (x + 0 with x = -0). */
#include "ir/interp.h"
#include "passes/passes.h"
#include "passes/rebuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ir_interp_fn *const interp_fns[] = {
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) interp,
#include "ir/ops.def"
#undef OP
};
_Static_assert(sizeof interp_fns / sizeof interp_fns[0] == OP_COUNT, "one interpreter function per op");

/* True when node x of g is a const (its value in *v). */
static bool const_of(const ir_graph *g, ir_id x, double *v) {
    if (g->nodes[x].op != OP_const) return false;
    if (v) *v = g->nodes[x].attr.value;
    return true;
}

static bool is_value(const ir_graph *g, ir_id x, double want) {
    double v;
    return const_of(g, x, &v) && v == want;
}

static double f32(double x) { return (double)(float)x; }

/* x as the node's shape: x itself when shapes agree, else broadcast. */
static ir_id as_shape(ir_graph *ng, ir_id x, ir_shape s) {
    return ir_shape_eq(ng->nodes[x].shape, s) ? x : ir_broadcast(ng, x, s);
}

/* The value of an elementwise op on scalar consts. */
static double eval_scalar(const ir_node *n, const double *vals) {
    ir_tensor in[4];
    double args[4], out = 0;
    for (int k = 0; k < n->nin && k < 4; k++) {
        args[k] = f32(vals[k]);
        in[k] = (ir_tensor){.shape = ir_shape_scalar(), .data = &args[k]};
    }
    ir_node tmp = *n;
    tmp.shape = ir_shape_scalar();
    ir_tensor o = {.shape = ir_shape_scalar(), .data = &out};
    interp_fns[n->op](&tmp, in, &o, &(ir_interp_opts){.round_f32 = true});
    return f32(out);
}

/* Folds node n (inputs in[] of ng) when every input is a const; IR_NONE when it does not apply. */
static ir_id fold(ir_graph *ng, const ir_node *n, const ir_id *in) {
    double v[4];
    if (n->nin == 0 || n->nin > 4) return IR_NONE;
    for (int k = 0; k < n->nin; k++)
        if (!const_of(ng, in[k], &v[k])) return IR_NONE;
    uint32_t fl = ir_ops[n->op].flags;
    if (fl & (OPF_UNARY | OPF_BINARY | OPF_ELEMWISE)) return ir_const(ng, eval_scalar(n, v), n->shape);
    switch (n->op) {
    case OP_reshape:
    case OP_broadcast:
    case OP_permute:
    case OP_slice:
    case OP_rmax:
    case OP_mean: return ir_const(ng, v[0], n->shape);
    case OP_sum: return ir_const(ng, f32(f32(v[0]) * (double)ng->nodes[in[0]].shape.dim[n->attr.axis]), n->shape);
    case OP_pad: return v[0] == n->attr.value ? ir_const(ng, v[0], n->shape) : IR_NONE;
    case OP_concat:
        for (int k = 1; k < n->nin; k++)
            if (v[k] != v[0]) return IR_NONE;
        return ir_const(ng, v[0], n->shape);
    default: return IR_NONE;
    }
}

/* Identities and chains; IR_NONE when no rule applies. */
static ir_id rewrite(ir_graph *ng, const ir_node *n, const ir_id *in) {
    if (n->nin == 0) return IR_NONE;
    const ir_node x = ng->nodes[in[0]];
    ir_id x0 = x.nin > 0 ? ir_in(ng, &x, 0) : IR_NONE;
    switch (n->op) {
    case OP_reshape:
        if (ir_shape_eq(x.shape, n->shape)) return in[0];
        if (x.op == OP_reshape) return ir_reshape(ng, x0, n->shape);
        return IR_NONE;
    case OP_broadcast:
        if (ir_shape_eq(x.shape, n->shape)) return in[0];
        if (x.op == OP_broadcast) return ir_broadcast(ng, x0, n->shape);
        return IR_NONE;
    case OP_permute: {
        bool identity = true;
        for (int i = 0; i < n->shape.rank; i++) identity &= n->attr.perm[i] == i;
        if (identity) return in[0];
        if (x.op != OP_permute) return IR_NONE;
        identity = true;
        int perm[IR_MAX_RANK]; /* out dim i = x dim p[i] = x0 dim px[p[i]] */
        for (int i = 0; i < n->shape.rank; i++) {
            perm[i] = (int)x.attr.perm[n->attr.perm[i]];
            identity &= perm[i] == i;
        }
        return identity ? x0 : ir_permute(ng, x0, perm);
    }
    case OP_sum:
    case OP_mean:
    case OP_rmax: return x.shape.dim[n->attr.axis] == 1 ? in[0] : IR_NONE;
    case OP_slice: return n->attr.start == 0 && n->attr.end == x.shape.dim[n->attr.axis] ? in[0] : IR_NONE;
    case OP_pad: return n->attr.lo == 0 && n->attr.hi == 0 ? in[0] : IR_NONE;
    case OP_concat: return n->nin == 1 ? in[0] : IR_NONE;
    case OP_neg: return x.op == OP_neg ? x0 : IR_NONE;
    case OP_mul:
        if (is_value(ng, in[1], 1)) return as_shape(ng, in[0], n->shape);
        if (is_value(ng, in[0], 1)) return as_shape(ng, in[1], n->shape);
        return IR_NONE;
    case OP_add:
        if (is_value(ng, in[1], 0)) return as_shape(ng, in[0], n->shape);
        if (is_value(ng, in[0], 0)) return as_shape(ng, in[1], n->shape);
        return IR_NONE;
    case OP_sub: return is_value(ng, in[1], 0) ? as_shape(ng, in[0], n->shape) : IR_NONE;
    case OP_div: return is_value(ng, in[1], 1) ? as_shape(ng, in[0], n->shape) : IR_NONE;
    default: return IR_NONE;
    }
}

bool pass_simplify(ir_graph *g, ir_id *map) {
    if (ir_failed(g)) return false; /* an earlier error stands */
    int32_t maxin = 1;
    for (ir_id i = 0; i < g->nnodes; i++)
        if (g->nodes[i].nin > maxin) maxin = g->nodes[i].nin;
    ir_graph *ng = ir_graph_new();
    ir_id *newid = malloc((size_t)(g->nnodes ? g->nnodes : 1) * sizeof *newid);
    ir_id *in = malloc((size_t)maxin * sizeof *in);
    bool okay = ng && newid && in;
    if (!okay) ir_errorf(g, "simplify: out of memory");
    for (ir_id i = 0; okay && i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        for (int k = 0; k < n->nin; k++) in[k] = newid[ir_in(g, n, k)];
        ir_set_loc(ng, n->loc.file, n->loc.line);
        ir_id r = fold(ng, n, in);
        if (r == IR_NONE && !ng->failed) r = rewrite(ng, n, in);
        if (r == IR_NONE && !ng->failed) r = pass_copy_node(ng, g, i, in);
        if (r == IR_NONE || ng->failed) {
            ir_errorf(g, "simplify: node %%%d (%s): %s", i, ir_ops[n->op].name, ir_error(ng));
            okay = false;
        }
        newid[i] = r;
    }
    if (okay) ir_set_loc(ng, g->loc.file, g->loc.line);
    for (int k = 0; okay && k < g->noutputs; k++)
        if (!ir_output_add(ng, g->outputs[k].name, newid[g->outputs[k].id])) {
            ir_errorf(g, "simplify: %s", ir_error(ng));
            okay = false;
        }
    ir_id *dmap = okay ? malloc((size_t)(ng->nnodes ? ng->nnodes : 1) * sizeof *dmap) : NULL;
    if (okay && (!dmap || !pass_dce(ng, dmap))) {
        ir_errorf(g, "simplify: %s", dmap ? ir_error(ng) : "out of memory");
        okay = false;
    }
    if (okay && map)
        for (ir_id i = 0; i < g->nnodes; i++) map[i] = dmap[newid[i]];
    if (okay) pass_adopt(g, ng);
    else ir_graph_free(ng);
    free(dmap);
    free(newid);
    free(in);
    return okay;
}
