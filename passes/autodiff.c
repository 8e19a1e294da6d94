/* autodiff.c — reverse-mode differentiation: walks the forward graph from the loss down, calls each
 * op's VJP rule (the `vjp` column of ir/ops.def) and adds up the gradients of nodes used several times.
 *
 * Pruning: a node is differentiated only when it depends on a requested param through differentiable
 * ops (`active`) and the loss depends on it (`live`). Sources other than requested params and OPF_NODIFF
 * ops are never active, so comparisons, masks and inputs cost no gradient work. */
#include "passes/autodiff.h"

#include <stdio.h>
#include <stdlib.h>

static ir_vjp_fn *const vjp_fns[] = {
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) vjp,
#include "ir/ops.def"
#undef OP
};
_Static_assert(sizeof vjp_fns / sizeof vjp_fns[0] == OP_COUNT, "one VJP rule per op");

char *ir_grad_name(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "grad:%s", name);
    return buf;
}

/* Sums gradient d (of a shape `want` broadcasts to) back to shape `want`: over the leading dims `want`
 * lacks and over the dims where `want` has size 1. Runs of adjacent summed dims are merged by a reshape
 * first, so a bias gradient [B,T,D] -> [D] is one sum over [B*T, D]. */
static ir_id unbroadcast(ir_graph *g, ir_id d, ir_shape want) {
    ir_shape s = g->nodes[d].shape;
    if (ir_shape_eq(s, want)) return d;
    int off = s.rank - want.rank;
    bool fits = off >= 0;
    for (int i = off; fits && i < s.rank; i++) fits = want.dim[i - off] == 1 || want.dim[i - off] == s.dim[i];
    if (!fits) { /* a rule returned a gradient of the wrong shape */
        char a[96], b[96];
        ir_errorf(g, "autodiff: gradient %s does not reduce to %s", ir_type_str(IR_F32, s, a, sizeof a),
                  ir_type_str(IR_F32, want, b, sizeof b));
        return IR_NONE;
    }
    /* merge adjacent dims of one kind (summed or kept; size-1 dims join either) when that saves sums */
    ir_shape m = {.rank = 0};
    bool summed[IR_MAX_RANK], ssum[IR_MAX_RANK];
    int nsum = 0, msum = 0;
    for (int i = 0; i < s.rank; i++) {
        ssum[i] = s.dim[i] != 1 && (i < off || want.dim[i - off] == 1);
        nsum += ssum[i];
        if (s.dim[i] == 1) continue;
        if (m.rank > 0 && summed[m.rank - 1] == ssum[i]) m.dim[m.rank - 1] *= s.dim[i];
        else summed[m.rank] = ssum[i], msum += ssum[i], m.dim[m.rank++] = s.dim[i];
    }
    if (msum < nsum) {
        d = ir_reshape(g, d, m);
        for (int i = 0; i < m.rank; i++)
            if (summed[i]) d = ir_reduce(g, OP_sum, d, i);
    } else {
        for (int i = 0; i < s.rank; i++)
            if (ssum[i]) d = ir_reduce(g, OP_sum, d, i);
    }
    if (d != IR_NONE && !ir_shape_eq(g->nodes[d].shape, want)) d = ir_reshape(g, d, want);
    return d;
}

/* Marks the params to differentiate in wrt[]; false with an error for an unknown name. */
static bool select_params(ir_graph *g, const ir_grad_opts *opts, bool *wrt) {
    if (!opts || !opts->params) {
        for (ir_id i = 0; i < g->nnodes; i++) wrt[i] = g->nodes[i].op == OP_param;
        return true;
    }
    for (int k = 0; k < opts->nparams; k++) {
        ir_id p = ir_find_source(g, OP_param, opts->params[k]);
        if (p == IR_NONE) {
            ir_errorf(g, "autodiff: no param named '%s'", opts->params[k]);
            return false;
        }
        wrt[p] = true;
    }
    return true;
}

/* diff[i]: node i depends on a requested param through differentiable ops, and the loss depends on it. */
static void mark_differentiable(const ir_graph *g, const bool *wrt, ir_id loss, bool *diff, bool *live) {
    int32_t n = g->nnodes;
    for (ir_id i = 0; i < n; i++) { /* active: forward from the params */
        const ir_node *nd = &g->nodes[i];
        bool a = false;
        if (nd->nin == 0) a = wrt[i];
        else if (!(ir_ops[nd->op].flags & OPF_NODIFF))
            for (int k = 0; k < nd->nin && !a; k++) a = diff[ir_in(g, nd, k)];
        diff[i] = a;
    }
    for (ir_id i = 0; i < n; i++) live[i] = false;
    live[loss] = diff[loss];
    for (ir_id i = loss; i >= 0; i--) { /* live: backward from the loss, through active nodes only */
        if (!live[i]) continue;
        const ir_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->nin; k++) {
            ir_id x = ir_in(g, nd, k);
            if (diff[x]) live[x] = true;
        }
    }
    for (ir_id i = 0; i < n; i++) diff[i] = diff[i] && live[i];
}

/* Runs the VJP rule of node id and adds the gradients of its inputs into grad[]. need/dx are scratch
 * arrays with room for the node's inputs. */
static bool backprop_node(ir_graph *g, ir_id id, const bool *diff, ir_id *grad, bool *need, ir_id *dx) {
    ir_node n = g->nodes[id]; /* a copy: building nodes may move g->nodes */
    bool any = false;
    for (int k = 0; k < n.nin; k++) {
        need[k] = diff[ir_in(g, &n, k)];
        dx[k] = IR_NONE;
        any |= need[k];
    }
    if (!any) return true;
    g->loc = n.loc; /* backward nodes point at the forward node's source line */
    ir_vjp c = {.g = g, .node = id, .dy = grad[id], .need = need, .dx = dx};
    if (!vjp_fns[n.op](&c)) {
        if (!g->failed) ir_errorf(g, "autodiff: %s: its gradient rule failed", ir_ops[n.op].name);
        return false;
    }
    for (int k = 0; k < n.nin; k++) {
        ir_id x = ir_in(g, &n, k);
        if (!need[k] || dx[k] == IR_NONE) continue;
        ir_id d = unbroadcast(g, dx[k], g->nodes[x].shape);
        grad[x] = grad[x] == IR_NONE ? d : ir_binary(g, OP_add, grad[x], d);
    }
    return !g->failed;
}

bool pass_autodiff(ir_graph *g, const ir_grad_opts *opts) {
    const char *loss_name = opts && opts->loss ? opts->loss : "loss";
    if (ir_failed(g)) return false; /* an earlier error stands */
    ir_id loss = ir_output_find(g, loss_name);
    if (loss == IR_NONE) {
        ir_errorf(g, "autodiff: the graph has no output named '%s'", loss_name);
        return false;
    }
    if (ir_numel(g->nodes[loss].shape) != 1) {
        char t[96];
        ir_errorf(g, "autodiff: the loss '%s' must have one element, it is %s", loss_name,
                  ir_type_str(g->nodes[loss].dtype, g->nodes[loss].shape, t, sizeof t));
        return false;
    }
    int32_t n = g->nnodes, maxin = 1;
    for (ir_id i = 0; i < n; i++)
        if (g->nodes[i].nin > maxin) maxin = g->nodes[i].nin;
    bool *wrt = calloc((size_t)n, sizeof *wrt), *diff = calloc((size_t)n, sizeof *diff);
    bool *live = calloc((size_t)n, sizeof *live);
    bool *need = calloc((size_t)maxin, sizeof *need);
    ir_id *grad = malloc((size_t)n * sizeof *grad), *dx = malloc((size_t)maxin * sizeof *dx);
    ir_loc saved = g->loc;
    bool okay = wrt && diff && live && need && grad && dx;
    if (!okay) ir_errorf(g, "autodiff: out of memory");
    okay = okay && select_params(g, opts, wrt);
    if (okay) {
        for (ir_id i = 0; i < n; i++) grad[i] = IR_NONE;
        mark_differentiable(g, wrt, loss, diff, live);
        if (diff[loss]) {
            g->loc = g->nodes[loss].loc;
            grad[loss] = ir_const(g, 1.0, g->nodes[loss].shape); /* dloss/dloss */
        }
        for (ir_id id = loss; okay && id >= 0; id--)
            if (diff[id] && grad[id] != IR_NONE && g->nodes[id].nin > 0) okay = backprop_node(g, id, diff, grad, need, dx);
    }
    /* one "grad:" output per requested param, in node order */
    for (ir_id p = 0; okay && p < n; p++) {
        if (!wrt[p]) continue;
        char name[512];
        ir_node param = g->nodes[p];
        g->loc = param.loc;
        ir_id d = grad[p] != IR_NONE ? grad[p] : ir_const(g, 0.0, param.shape); /* not on a path to the loss */
        okay = d != IR_NONE && ir_output_add(g, ir_grad_name(param.attr.name, name, sizeof name), d);
    }
    g->loc = saved;
    free(wrt);
    free(diff);
    free(live);
    free(need);
    free(grad);
    free(dx);
    return okay && !g->failed;
}
