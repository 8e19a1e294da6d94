/* ir_shape.c — the shape rule of every op (the `shape` column of ir/ops.def).
 *
 * A rule reads the node's inputs and attributes, and either sets n->shape (inferred ops) or checks the
 * shape the builder was given (sources, reshape, broadcast). On failure it records a message of the form
 * "op: what is wrong: f32[..] x f32[..]" and returns false.
 *
 * Zero-size dims (empty tensors) are allowed everywhere, with NumPy's meaning:
 *   - a size-0 dim broadcasts against 1 (the result is empty), not against any other size;
 *   - slices may be empty (start == end); concat and pad accept empty inputs (pad fills an empty axis);
 *   - matmul with M, N or a batch dim of 0 is empty, and with K = 0 gives zeros;
 *   - a scan over T = 0 steps is empty; sum over an empty axis gives 0;
 *   - mean and rmax over an empty axis have no value: they are errors.
 * Rank 0 (a scalar) is allowed wherever no axis is needed: input, param, const, rand_mask, elementwise
 * ops, reshape, permute and broadcast. Ops that take an axis (iota, reductions, slice, concat, pad, scan,
 * cscan) need rank >= 1, cscan a last axis of exactly 2 (re, im) that is not the scan axis, and matmul
 * rank >= 2. Axes may be negative (counted from the end); builders store them normalised (>= 0), and the
 * verifier insists on it. */
#include "ir/ir.h"

#include <inttypes.h>
#include <stdio.h>

#define TYPE_BUF 96

static const char *opname(const ir_node *n) { return ir_ops[n->op].name; }
static const ir_node *input(const ir_graph *g, const ir_node *n, int i) { return &g->nodes[ir_in(g, n, i)]; }

/* "f32[..]" of input i, in buf. */
static const char *in_type(const ir_graph *g, const ir_node *n, int i, char *buf) {
    const ir_node *x = input(g, n, i);
    return ir_type_str(x->dtype, x->shape, buf, TYPE_BUF);
}

/* Checks a shape is usable: rank 0..IR_MAX_RANK, dims >= 0, element count without overflow. */
static bool check_dims(ir_graph *g, const ir_node *n, ir_shape s) {
    if (s.rank < 0 || s.rank > IR_MAX_RANK) {
        ir_errorf(g, "%s: rank %d is outside 0..%d", opname(n), s.rank, IR_MAX_RANK);
        return false;
    }
    int64_t total = 1;
    for (int i = 0; i < s.rank; i++) {
        if (s.dim[i] < 0) {
            ir_errorf(g, "%s: dimension %d is negative (%" PRId64 ")", opname(n), i, s.dim[i]);
            return false;
        }
        if (s.dim[i] > 0 && total > (INT64_C(1) << 40) / s.dim[i]) {
            char buf[TYPE_BUF];
            ir_errorf(g, "%s: shape %s has more than 2^40 elements", opname(n), ir_type_str(n->dtype, s, buf, sizeof buf));
            return false;
        }
        total *= s.dim[i];
    }
    return true;
}

/* Normalises an axis attribute against rank (negative counts from the end). */
static bool norm_axis(ir_graph *g, ir_node *n, int rank, int64_t *axis) {
    int64_t a = *axis < 0 ? *axis + rank : *axis;
    if (a < 0 || a >= rank) {
        ir_errorf(g, "%s: axis %" PRId64 " is out of range for rank %d", opname(n), *axis, rank);
        return false;
    }
    *axis = a;
    return true;
}

bool shape_given(ir_graph *g, ir_node *n) {
    if (!check_dims(g, n, n->shape)) return false;
    if ((n->op == OP_input || n->op == OP_param) && (!n->attr.name || !n->attr.name[0])) {
        ir_errorf(g, "%s: needs a name", opname(n));
        return false;
    }
    if (n->op == OP_param) {
        const ir_init *in = &n->attr.init;
        if ((unsigned)in->kind >= INIT_COUNT) {
            ir_errorf(g, "param '%s': bad initializer", n->attr.name);
            return false;
        }
        for (int k = 0; k < IR_INIT_MAX_POST; k++)
            if ((unsigned)in->post[k] >= INIT_POST_COUNT) {
                ir_errorf(g, "param '%s': bad initializer transform", n->attr.name);
                return false;
            }
        if (in->kind == INIT_NORMAL && !(in->b >= 0)) {
            ir_errorf(g, "param '%s': normal initializer needs std >= 0, got %g", n->attr.name, in->b);
            return false;
        }
        if (in->kind == INIT_UNIFORM && !(in->a <= in->b)) {
            ir_errorf(g, "param '%s': uniform initializer needs lo <= hi, got [%g, %g]", n->attr.name, in->a, in->b);
            return false;
        }
        if (in->kind == INIT_DATA && (int64_t)in->a != ir_numel(n->shape)) {
            ir_errorf(g, "param '%s': %" PRId64 " initial values for %" PRId64 " elements", n->attr.name,
                      (int64_t)in->a, ir_numel(n->shape));
            return false;
        }
    }
    return true;
}

bool shape_iota(ir_graph *g, ir_node *n) {
    return check_dims(g, n, n->shape) && norm_axis(g, n, n->shape.rank, &n->attr.axis);
}

bool shape_rand_mask(ir_graph *g, ir_node *n) {
    if (!check_dims(g, n, n->shape)) return false;
    if (!(n->attr.value >= 0 && n->attr.value < 1)) {
        ir_errorf(g, "rand_mask: drop probability %g is outside [0, 1)", n->attr.value);
        return false;
    }
    return true;
}

bool shape_unary(ir_graph *g, ir_node *n) {
    n->shape = input(g, n, 0)->shape;
    return true;
}

bool shape_binary(ir_graph *g, ir_node *n) {
    if (ir_broadcast_shapes(input(g, n, 0)->shape, input(g, n, 1)->shape, &n->shape)) return true;
    char a[TYPE_BUF], b[TYPE_BUF];
    ir_errorf(g, "%s: shapes do not broadcast: %s x %s", opname(n), in_type(g, n, 0, a), in_type(g, n, 1, b));
    return false;
}

bool shape_select(ir_graph *g, ir_node *n) {
    ir_shape s;
    if (ir_broadcast_shapes(input(g, n, 0)->shape, input(g, n, 1)->shape, &s) &&
        ir_broadcast_shapes(s, input(g, n, 2)->shape, &n->shape))
        return true;
    char c[TYPE_BUF], a[TYPE_BUF], b[TYPE_BUF];
    ir_errorf(g, "select: shapes do not broadcast: %s, %s, %s", in_type(g, n, 0, c), in_type(g, n, 1, a),
              in_type(g, n, 2, b));
    return false;
}

bool shape_reduce(ir_graph *g, ir_node *n) {
    ir_shape s = input(g, n, 0)->shape;
    if (!norm_axis(g, n, s.rank, &n->attr.axis)) return false;
    if (s.dim[n->attr.axis] == 0 && n->op != OP_sum) {
        char a[TYPE_BUF];
        ir_errorf(g, "%s: axis %" PRId64 " of %s is empty (only sum reduces an empty axis)", opname(n), n->attr.axis,
                  in_type(g, n, 0, a));
        return false;
    }
    s.dim[n->attr.axis] = 1;
    n->shape = s;
    return true;
}

bool shape_reshape(ir_graph *g, ir_node *n) {
    if (!check_dims(g, n, n->shape)) return false;
    if (ir_numel(n->shape) == ir_numel(input(g, n, 0)->shape)) return true;
    char a[TYPE_BUF], b[TYPE_BUF];
    ir_errorf(g, "reshape: element counts differ: %s -> %s", in_type(g, n, 0, a),
              ir_type_str(n->dtype, n->shape, b, sizeof b));
    return false;
}

bool shape_permute(ir_graph *g, ir_node *n) {
    ir_shape s = input(g, n, 0)->shape;
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < s.rank; i++) {
        int64_t p = n->attr.perm[i];
        if (p < 0 || p >= s.rank || seen[p]) {
            char a[TYPE_BUF];
            ir_errorf(g, "permute: perm is not a permutation of 0..%d for %s", s.rank - 1, in_type(g, n, 0, a));
            return false;
        }
        seen[p] = true;
        n->shape.dim[i] = s.dim[p];
    }
    for (int i = s.rank; i < IR_MAX_RANK; i++) n->attr.perm[i] = 0;
    n->shape.rank = s.rank;
    return true;
}

bool shape_broadcast(ir_graph *g, ir_node *n) {
    ir_shape s = input(g, n, 0)->shape, out;
    if (check_dims(g, n, n->shape) && s.rank <= n->shape.rank && ir_broadcast_shapes(s, n->shape, &out) &&
        ir_shape_eq(out, n->shape))
        return true;
    if (g->failed) return false;
    char a[TYPE_BUF], b[TYPE_BUF];
    ir_errorf(g, "broadcast: %s does not broadcast to %s", in_type(g, n, 0, a),
              ir_type_str(n->dtype, n->shape, b, sizeof b));
    return false;
}

bool shape_slice(ir_graph *g, ir_node *n) {
    ir_shape s = input(g, n, 0)->shape;
    if (!norm_axis(g, n, s.rank, &n->attr.axis)) return false;
    int64_t len = s.dim[n->attr.axis];
    if (n->attr.start < 0 || n->attr.end < n->attr.start || n->attr.end > len) {
        char a[TYPE_BUF];
        ir_errorf(g, "slice: range %" PRId64 "..%" PRId64 " is outside 0..%" PRId64 " of axis %" PRId64 " of %s",
                  n->attr.start, n->attr.end, len, n->attr.axis, in_type(g, n, 0, a));
        return false;
    }
    s.dim[n->attr.axis] = n->attr.end - n->attr.start;
    n->shape = s;
    return true;
}

bool shape_concat(ir_graph *g, ir_node *n) {
    ir_shape s = input(g, n, 0)->shape;
    if (!norm_axis(g, n, s.rank, &n->attr.axis)) return false;
    int64_t ax = n->attr.axis;
    for (int i = 1; i < n->nin; i++) {
        ir_shape t = input(g, n, i)->shape;
        bool same = t.rank == s.rank;
        for (int d = 0; same && d < s.rank; d++) same = d == ax || t.dim[d] == s.dim[d];
        if (!same) {
            char a[TYPE_BUF], b[TYPE_BUF];
            ir_errorf(g, "concat: input %d does not match along the other axes of axis %" PRId64 ": %s vs %s", i, ax,
                      in_type(g, n, 0, a), in_type(g, n, i, b));
            return false;
        }
        s.dim[ax] += t.dim[ax];
        if (s.dim[ax] > (INT64_C(1) << 40)) break; /* check_dims reports it; stops before any overflow */
    }
    n->shape = s;
    return check_dims(g, n, s);
}

bool shape_pad(ir_graph *g, ir_node *n) {
    ir_shape s = input(g, n, 0)->shape;
    if (!norm_axis(g, n, s.rank, &n->attr.axis)) return false;
    if (n->attr.lo < 0 || n->attr.hi < 0) {
        ir_errorf(g, "pad: lo and hi must be >= 0, got %" PRId64 " and %" PRId64, n->attr.lo, n->attr.hi);
        return false;
    }
    if (n->attr.lo > (INT64_C(1) << 40) || n->attr.hi > (INT64_C(1) << 40)) { /* keeps the sum below from overflowing */
        ir_errorf(g, "pad: lo and hi must be at most 2^40, got %" PRId64 " and %" PRId64, n->attr.lo, n->attr.hi);
        return false;
    }
    s.dim[n->attr.axis] += n->attr.lo + n->attr.hi;
    n->shape = s;
    return check_dims(g, n, s);
}

bool shape_matmul(ir_graph *g, ir_node *n) {
    ir_shape a = input(g, n, 0)->shape, b = input(g, n, 1)->shape;
    char ta[TYPE_BUF], tb[TYPE_BUF];
    if (a.rank < 2 || b.rank < 2) {
        ir_errorf(g, "matmul: operands need rank >= 2: %s x %s", in_type(g, n, 0, ta), in_type(g, n, 1, tb));
        return false;
    }
    int64_t m = a.dim[a.rank - (n->attr.ta ? 1 : 2)], ka = a.dim[a.rank - (n->attr.ta ? 2 : 1)];
    int64_t kb = b.dim[b.rank - (n->attr.tb ? 1 : 2)], nn = b.dim[b.rank - (n->attr.tb ? 2 : 1)];
    if (ka != kb) {
        ir_errorf(g, "matmul: inner dims differ: %s%s x %s%s", in_type(g, n, 0, ta), n->attr.ta ? "^T" : "",
                  in_type(g, n, 1, tb), n->attr.tb ? "^T" : "");
        return false;
    }
    ir_shape ba = {.rank = a.rank - 2}, bb = {.rank = b.rank - 2}, batch;
    for (int i = 0; i < ba.rank; i++) ba.dim[i] = a.dim[i];
    for (int i = 0; i < bb.rank; i++) bb.dim[i] = b.dim[i];
    if (!ir_broadcast_shapes(ba, bb, &batch)) {
        ir_errorf(g, "matmul: batch dims do not broadcast: %s x %s", in_type(g, n, 0, ta), in_type(g, n, 1, tb));
        return false;
    }
    batch.dim[batch.rank] = m;
    batch.dim[batch.rank + 1] = nn;
    batch.rank += 2;
    n->shape = batch;
    return true;
}

/* scan and cscan: a, b of one shape; h0 equal to it but with size 1 along axis. For cscan the last axis
 * holds (re, im) and has size 2 and cannot be the scan axis. */
static bool shape_recurrence(ir_graph *g, ir_node *n, bool complex) {
    ir_shape a = input(g, n, 0)->shape, b = input(g, n, 1)->shape, h0 = input(g, n, 2)->shape;
    char ta[TYPE_BUF], tb[TYPE_BUF], th[TYPE_BUF];
    if (!ir_shape_eq(a, b)) {
        ir_errorf(g, "%s: a and b differ: %s vs %s", opname(n), in_type(g, n, 0, ta), in_type(g, n, 1, tb));
        return false;
    }
    if (!norm_axis(g, n, a.rank, &n->attr.axis)) return false;
    if (complex && (a.rank < 2 || a.dim[a.rank - 1] != 2 || n->attr.axis == a.rank - 1)) {
        ir_errorf(g, "cscan: needs a last axis of size 2 (re, im) that is not the scan axis: %s", in_type(g, n, 0, ta));
        return false;
    }
    ir_shape want = a;
    want.dim[n->attr.axis] = 1;
    if (!ir_shape_eq(h0, want)) {
        ir_errorf(g, "%s: initial state must be %s, got %s", opname(n), ir_type_str(IR_F32, want, ta, sizeof ta),
                  in_type(g, n, 2, th));
        return false;
    }
    n->shape = a;
    return true;
}

bool shape_scan(ir_graph *g, ir_node *n) { return shape_recurrence(g, n, false); }
bool shape_cscan(ir_graph *g, ir_node *n) { return shape_recurrence(g, n, true); }
