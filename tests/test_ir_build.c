/* Builders (ir/ir_graph.c) and shape rules (ir/ir_shape.c): every error path with its exact message,
 * IR_NONE propagation, source locations, and the small shape/graph utilities. */
#include "tests/op_harness.h"

#include <inttypes.h>

static ir_graph *G;

/* Checks that `got` (a builder's result) is IR_NONE and the graph's error is exactly `want`, that the
 * failure added no node, then clears the error. */
static void fails(ir_id got, int32_t nodes_before, const char *want) {
    ok(got == IR_NONE && ir_failed(G), "fails: %s", want);
    is_str(ir_error(G), want, "  message");
    is_int(G->nnodes, nodes_before, "  no node added");
    ir_clear_error(G);
}

/* FAIL(expr, "message"): evaluates a builder call on G and checks it fails with message + " (b.lua:7)". */
#define FAIL(expr, msg)                                                                                                \
    do {                                                                                                               \
        int32_t before_ = G->nnodes;                                                                                   \
        ir_id got_ = (expr);                                                                                           \
        fails(got_, before_, msg " (b.lua:7)");                                                                        \
    } while (0)

static ir_id in(const char *name, ir_shape s) {
    ir_id id = ir_input(G, name, s);
    if (id == IR_NONE) diag("input %s failed: %s", name, ir_error(G));
    return id;
}

static void test_generic_errors(void) {
    ir_id x = in("x", SH(2, 3));
    char msg[96];
    snprintf(msg, sizeof msg, "unknown op %d (b.lua:7)", OP_COUNT);
    int32_t before = G->nnodes;
    fails(ir_build(G, OP_COUNT, NULL, 0, NULL, NULL), before, msg);
    FAIL(ir_build(G, (ir_op)-1, &x, 1, NULL, NULL), "unknown op -1");
    FAIL(ir_unary(G, OP_exp, 42), "exp: input 0 is not a node of this graph (id 42)");
    FAIL(ir_binary(G, OP_add, x, -5), "add: input 1 is not a node of this graph (id -5)");
    FAIL(ir_unary(G, OP_exp, IR_NONE), "exp: input 0 is not a node of this graph (id -1)");
    FAIL(ir_build(G, OP_add, &x, 1, NULL, NULL), "add: expects 2 inputs, got 1");
    FAIL(ir_build(G, OP_exp, (ir_id[]){x, x}, 2, NULL, NULL), "exp: expects 1 input, got 2");
    FAIL(ir_build(G, OP_const, &x, 1, NULL, NULL), "const: expects 0 inputs, got 1");
    FAIL(ir_build(G, OP_scan, (ir_id[]){x, x}, 2, NULL, NULL), "scan: expects 3 inputs, got 2");
    FAIL(ir_concat(G, NULL, 0, 0), "concat: expects at least 1 input, got 0");
    FAIL(ir_unary(G, OP_add, x), "add is not a unary op");
    FAIL(ir_unary(G, (ir_op)999, x), "op 999 is not a unary op");
    FAIL(ir_binary(G, OP_exp, x, x), "exp is not a binary op");
    FAIL(ir_binary(G, OP_select, x, x), "select is not a binary op");
    FAIL(ir_reduce(G, OP_add, x, 0), "add is not a reduction");

    ok(ir_output_add(G, "y", x), "output y added");
    ok(!ir_output_add(G, "z", 99), "output of a bogus id refused");
    is_str(ir_error(G), "output 'z': not a node of this graph (id 99) (b.lua:7)", "  message");
    ir_clear_error(G);
    ok(!ir_output_add(G, NULL, x) && !ir_output_add(G, "", x), "output without a name refused");
    is_str(ir_error(G), "output: needs a name (b.lua:7)", "  message");
    ir_clear_error(G);
    ok(!ir_output_add(G, "y", x), "duplicate output name refused");
    is_str(ir_error(G), "output 'y' is defined twice (b.lua:7)", "  message");
    ir_clear_error(G);
}

static void test_source_errors(void) {
    FAIL(ir_input(G, "r7", (ir_shape){.rank = 7}), "input: rank 7 is outside 0..6");
    FAIL(ir_input(G, "rn", (ir_shape){.rank = -1}), "input: rank -1 is outside 0..6");
    FAIL(ir_input(G, "neg", SH(2, -1)), "input: dimension 1 is negative (-1)");
    FAIL(ir_input(G, "big", SH(1 << 20, 1 << 21)), "input: shape f32[1048576,2097152] has more than 2^40 elements");
    ok(ir_input(G, "edge", SH(1 << 20, 1 << 20)) != IR_NONE, "exactly 2^40 elements is allowed");
    FAIL(ir_input(G, "", SH(2)), "input: needs a name");
    FAIL(ir_input(G, NULL, SH(2)), "input: needs a name");
    FAIL(ir_param(G, NULL, SH(2), ir_init_zeros()), "param: needs a name");
    FAIL(ir_param(G, "w", SH(2), (ir_init){.kind = INIT_COUNT}), "param 'w': bad initializer");
    FAIL(ir_param(G, "w", SH(2), (ir_init){.kind = INIT_ZEROS, .post = {7}}), "param 'w': bad initializer transform");
    FAIL(ir_param(G, "w", SH(2), ir_init_normal(0, -1)), "param 'w': normal initializer needs std >= 0, got -1");
    FAIL(ir_param(G, "w", SH(2), ir_init_normal(0, NAN)), "param 'w': normal initializer needs std >= 0, got nan");
    FAIL(ir_param(G, "w", SH(2), ir_init_uniform(2, 1)), "param 'w': uniform initializer needs lo <= hi, got [2, 1]");
    FAIL(ir_param(G, "w", SH(2, 2), ir_init_data(G, (const float[]){1, 2, 3}, 3)), "param 'w': 3 initial values for 4 elements");
    ok(ir_param(G, "w", SH(2), ir_init_uniform(1, 1)) != IR_NONE, "uniform with lo == hi is allowed");
    ok(ir_param(G, "w0", SH(2), ir_init_normal(0, 0)) != IR_NONE, "normal with std 0 is allowed");
    FAIL(ir_const(G, 1, SH(-3)), "const: dimension 0 is negative (-3)");
    FAIL(ir_iota(G, SH(2, 3), 2), "iota: axis 2 is out of range for rank 2");
    FAIL(ir_iota(G, SH(2, 3), -3), "iota: axis -3 is out of range for rank 2");
    FAIL(ir_iota(G, SCALAR, 0), "iota: axis 0 is out of range for rank 0");
    FAIL(ir_iota(G, SH(-1), 0), "iota: dimension 0 is negative (-1)");
    FAIL(ir_rand_mask(G, SH(4), 1, 0), "rand_mask: drop probability 1 is outside [0, 1)");
    FAIL(ir_rand_mask(G, SH(4), -0.1, 0), "rand_mask: drop probability -0.1 is outside [0, 1)");
    FAIL(ir_rand_mask(G, SH(4), NAN, 0), "rand_mask: drop probability nan is outside [0, 1)");
    FAIL(ir_rand_mask(G, (ir_shape){.rank = 9}, 0.5, 0), "rand_mask: rank 9 is outside 0..6");
}

static void test_elementwise_errors(void) {
    ir_id a = in("a23", SH(2, 3)), b = in("b4", SH(4)), e = in("e0", SH(0)), c = in("c3", SH(3));
    for (int op = 0; op < OP_COUNT; op++) {
        if (!(ir_ops[op].flags & OPF_BINARY)) continue;
        char want[128];
        snprintf(want, sizeof want, "%s: shapes do not broadcast: f32[2,3] x f32[4] (b.lua:7)", ir_ops[op].name);
        int32_t before = G->nnodes;
        fails(ir_binary(G, (ir_op)op, a, b), before, want);
    }
    FAIL(ir_binary(G, OP_add, e, c), "add: shapes do not broadcast: f32[0] x f32[3]");
    FAIL(ir_select(G, c, a, b), "select: shapes do not broadcast: f32[3], f32[2,3], f32[4]");
    FAIL(ir_select(G, b, a, c), "select: shapes do not broadcast: f32[4], f32[2,3], f32[3]");
    ok(ir_binary(G, OP_add, e, in("one", SH(1))) != IR_NONE, "[0] + [1] broadcasts to [0]");
}

static void test_reduce_movement_errors(void) {
    ir_id x = in("x234", SH(2, 3, 4)), s = in("s", SCALAR), z = in("z20", SH(2, 0));
    FAIL(ir_reduce(G, OP_sum, x, 3), "sum: axis 3 is out of range for rank 3");
    FAIL(ir_reduce(G, OP_mean, x, -4), "mean: axis -4 is out of range for rank 3");
    FAIL(ir_reduce(G, OP_rmax, s, 0), "rmax: axis 0 is out of range for rank 0");
    FAIL(ir_reduce(G, OP_mean, z, 1), "mean: axis 1 of f32[2,0] is empty (only sum reduces an empty axis)");
    FAIL(ir_reduce(G, OP_rmax, z, -1), "rmax: axis 1 of f32[2,0] is empty (only sum reduces an empty axis)");
    ok(ir_reduce(G, OP_sum, z, 1) != IR_NONE, "sum over an empty axis is allowed");
    ok(ir_reduce(G, OP_mean, z, 0) != IR_NONE, "mean over a non-empty axis of an empty tensor is allowed");

    FAIL(ir_reshape(G, x, SH(5, 5)), "reshape: element counts differ: f32[2,3,4] -> f32[5,5]");
    FAIL(ir_reshape(G, x, SCALAR), "reshape: element counts differ: f32[2,3,4] -> f32[]");
    FAIL(ir_reshape(G, x, (ir_shape){.rank = 7}), "reshape: rank 7 is outside 0..6");
    FAIL(ir_reshape(G, x, SH(-2, -12)), "reshape: dimension 0 is negative (-2)");

    FAIL(ir_permute(G, x, (const int[]){0, 0, 1}), "permute: perm is not a permutation of 0..2 for f32[2,3,4]");
    FAIL(ir_permute(G, x, (const int[]){0, 1, 3}), "permute: perm is not a permutation of 0..2 for f32[2,3,4]");
    FAIL(ir_permute(G, x, (const int[]){-1, 0, 1}), "permute: perm is not a permutation of 0..2 for f32[2,3,4]");
    ir_id p = ir_permute(G, x, (const int[]){2, 0, 1});
    ok(p != IR_NONE && G->nodes[p].attr.perm[3] == 0 && G->nodes[p].attr.perm[0] == 2, "permute stores its perm");

    FAIL(ir_broadcast(G, x, SH(3, 4)), "broadcast: f32[2,3,4] does not broadcast to f32[3,4]");
    FAIL(ir_broadcast(G, x, SH(2, 5, 4)), "broadcast: f32[2,3,4] does not broadcast to f32[2,5,4]");
    ir_id b21 = in("b21", SH(2, 1));
    FAIL(ir_broadcast(G, b21, SH(1, 3)), "broadcast: f32[2,1] does not broadcast to f32[1,3]");
    FAIL(ir_broadcast(G, x, SH(-2, 3, 4)), "broadcast: dimension 0 is negative (-2)");

    FAIL(ir_slice(G, x, 1, 2, 5), "slice: range 2..5 is outside 0..3 of axis 1 of f32[2,3,4]");
    FAIL(ir_slice(G, x, -1, -1, 2), "slice: range -1..2 is outside 0..4 of axis 2 of f32[2,3,4]");
    FAIL(ir_slice(G, x, 0, 2, 1), "slice: range 2..1 is outside 0..2 of axis 0 of f32[2,3,4]");
    FAIL(ir_slice(G, x, 3, 0, 1), "slice: axis 3 is out of range for rank 3");
    FAIL(ir_slice(G, s, 0, 0, 1), "slice: axis 0 is out of range for rank 0");

    ir_id y = in("y", SH(2, 5, 4)), w = in("w", SH(2, 3));
    FAIL(ir_concat(G, (const ir_id[]){x, w}, 2, 0), "concat: input 1 does not match along the other axes of axis 0: f32[2,3,4] vs f32[2,3]");
    FAIL(ir_concat(G, (const ir_id[]){x, y}, 2, 2), "concat: input 1 does not match along the other axes of axis 2: f32[2,3,4] vs f32[2,5,4]");
    FAIL(ir_concat(G, (const ir_id[]){x, x, y}, 3, -3), "concat: input 2 does not match along the other axes of axis 0: f32[2,3,4] vs f32[2,5,4]");
    FAIL(ir_concat(G, (const ir_id[]){s, s}, 2, 0), "concat: axis 0 is out of range for rank 0");
    FAIL(ir_concat(G, (const ir_id[]){x, y}, 2, 3), "concat: axis 3 is out of range for rank 3");
    ir_id huge = in("huge", SH(INT64_C(1) << 40)), one = in("one1", SH(1));
    FAIL(ir_concat(G, (const ir_id[]){huge, one}, 2, 0), "concat: shape f32[1099511627777] has more than 2^40 elements");

    FAIL(ir_pad(G, x, 0, -1, 0, 0), "pad: lo and hi must be >= 0, got -1 and 0");
    FAIL(ir_pad(G, x, 1, 0, -3, 0), "pad: lo and hi must be >= 0, got 0 and -3");
    FAIL(ir_pad(G, x, 1, INT64_MAX, INT64_MAX, 0),
         "pad: lo and hi must be at most 2^40, got 9223372036854775807 and 9223372036854775807");
    FAIL(ir_pad(G, huge, 0, 1, 0, 0), "pad: shape f32[1099511627777] has more than 2^40 elements");
    FAIL(ir_pad(G, x, -4, 1, 1, 0), "pad: axis -4 is out of range for rank 3");
}

static void test_contraction_errors(void) {
    ir_id v3 = in("v3", SH(3)), m34 = in("m34", SH(3, 4)), m45 = in("m45", SH(4, 5)), m32 = in("m32", SH(3, 2));
    ir_id t234 = in("t234", SH(2, 3, 4)), t345 = in("t345", SH(3, 4, 5)), s = in("sc", SCALAR);
    FAIL(ir_matmul(G, v3, m34, false, false), "matmul: operands need rank >= 2: f32[3] x f32[3,4]");
    FAIL(ir_matmul(G, m34, s, false, false), "matmul: operands need rank >= 2: f32[3,4] x f32[]");
    FAIL(ir_matmul(G, m34, m34, false, false), "matmul: inner dims differ: f32[3,4] x f32[3,4]");
    FAIL(ir_matmul(G, m34, m45, true, false), "matmul: inner dims differ: f32[3,4]^T x f32[4,5]");
    FAIL(ir_matmul(G, m34, m32, false, true), "matmul: inner dims differ: f32[3,4] x f32[3,2]^T");
    FAIL(ir_matmul(G, m34, m34, true, true), "matmul: inner dims differ: f32[3,4]^T x f32[3,4]^T");
    FAIL(ir_matmul(G, t234, t345, false, false), "matmul: batch dims do not broadcast: f32[2,3,4] x f32[3,4,5]");
    ok(ir_matmul(G, m34, m32, true, false) != IR_NONE, "matmul ta [3,4]^T x [3,2] builds");

    ir_id a = in("a32", SH(3, 2)), b = in("b33", SH(3, 3)), h = in("h12", SH(1, 2)), h2 = in("h2", SH(2));
    ir_id c3 = in("c33", SH(3, 3)), c1 = in("c2", SH(2)), hc = in("hc", SH(1));
    FAIL(ir_scan(G, a, b, h, 0, false), "scan: a and b differ: f32[3,2] vs f32[3,3]");
    FAIL(ir_scan(G, a, a, h, 2, false), "scan: axis 2 is out of range for rank 2");
    FAIL(ir_scan(G, a, a, h2, 0, false), "scan: initial state must be f32[1,2], got f32[2]");
    FAIL(ir_scan(G, a, a, h, 1, false), "scan: initial state must be f32[3,1], got f32[1,2]");
    FAIL(ir_scan(G, s, s, s, 0, false), "scan: axis 0 is out of range for rank 0");
    FAIL(ir_cscan(G, c3, c3, h, 0, false), "cscan: needs a last axis of size 2 (re, im) that is not the scan axis: f32[3,3]");
    FAIL(ir_cscan(G, a, a, h, -1, false), "cscan: needs a last axis of size 2 (re, im) that is not the scan axis: f32[3,2]");
    FAIL(ir_cscan(G, c1, c1, hc, 0, false), "cscan: needs a last axis of size 2 (re, im) that is not the scan axis: f32[2]");
    FAIL(ir_cscan(G, a, b, h, 0, false), "cscan: a and b differ: f32[3,2] vs f32[3,3]");
    FAIL(ir_cscan(G, a, a, h2, 0, true), "cscan: initial state must be f32[1,2], got f32[2]");
    ir_id sc = ir_scan(G, a, a, h, -2, true);
    ok(sc != IR_NONE && G->nodes[sc].attr.axis == 0 && G->nodes[sc].attr.reverse, "scan stores axis -2 as 0, and reverse");
}

/* The documented example, IR_NONE propagation and the first-error rule. */
static void test_propagation_and_loc(void) {
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "models.lua", 57);
    ir_id a = ir_input(g, "a", SH(64, 82, 64)), b = ir_param(g, "b", SH(128, 256), ir_init_normal(0, 0.02));
    ok(g->nodes[a].loc.file && strcmp(g->nodes[a].loc.file, "models.lua") == 0 && g->nodes[a].loc.line == 57,
       "nodes carry the location set by ir_set_loc");
    ir_id y = ir_matmul(g, a, b, false, false);
    ok(y == IR_NONE, "matmul with differing inner dims fails");
    is_str(ir_error(g), "matmul: inner dims differ: f32[64,82,64] x f32[128,256] (models.lua:57)", "the documented message");
    ir_set_loc(g, "other.lua", 3);
    int32_t n = g->nnodes;
    ir_id z = ir_binary(g, OP_add, y, a);
    z = ir_unary(g, OP_exp, z);
    z = ir_reduce(g, OP_sum, z, 0);
    z = ir_permute(g, z, (const int[]){1, 0});
    z = ir_concat(g, (const ir_id[]){a, z}, 2, 0);
    z = ir_scan(g, z, z, z, 0, false);
    z = ir_matmul(g, z, a, false, false);
    z = ir_select(g, a, z, a);
    z = ir_unary(g, OP_add, z); /* a second, different mistake */
    ok(z == IR_NONE && g->nnodes == n, "a chain of builders on IR_NONE gives IR_NONE and adds nothing");
    ok(!ir_output_add(g, "z", z), "ir_output_add of IR_NONE fails");
    is_str(ir_error(g), "matmul: inner dims differ: f32[64,82,64] x f32[128,256] (models.lua:57)",
           "the first error is kept through the chain");
    ir_clear_error(g);
    ok(!ir_failed(g) && strcmp(ir_error(g), "") == 0, "ir_clear_error clears");
    ir_set_loc(g, NULL, 0);
    ok(ir_matmul(g, a, b, false, true) == IR_NONE, "another matmul fails");
    is_str(ir_error(g), "matmul: inner dims differ: f32[64,82,64] x f32[128,256]^T", "no location: no suffix");
    ir_clear_error(g);
    ir_set_loc(g, "m.lua", 1);
    ir_id w = ir_param(g, "w", SH(82, 64), ir_init_uniform(-1, 1));
    ir_id ok_id = ir_matmul(g, a, w, false, true);
    char t[96];
    ok(ok_id == n + 1 && !ir_failed(g), "a good build after errors gets the next id");
    is_str(th_type(g->nodes[ok_id].shape, t), "f32[64,82,82]", "x @ w^T shape");
    ok(g->nodes[ok_id].loc.line == 1 && g->nodes[ok_id].loc.file == ir_intern(g, "m.lua"), "location interned");
    ir_errorf(g, "custom %d", 5);
    ir_errorf(g, "second");
    is_str(ir_error(g), "custom 5 (m.lua:1)", "ir_errorf keeps the first message");
    ir_graph_free(g);
}

static void test_utilities(void) {
    char buf[96];
    is_str(ir_type_str(IR_F32, SCALAR, buf, sizeof buf), "f32[]", "type of a scalar");
    is_str(ir_type_str(IR_F32, SH(64, 82, 128), buf, sizeof buf), "f32[64,82,128]", "type of a rank-3 tensor");
    is_str(ir_type_str(IR_BF16, SH(0, 1), buf, sizeof buf), "bf16[0,1]", "bf16 type");
    char small[6];
    is_str(ir_type_str(IR_F32, SH(123456, 7), small, sizeof small), "f32[1", "type string truncates safely");
    is_int(ir_numel(SCALAR), 1, "a scalar has one element");
    is_int(ir_numel(SH(3, 0, 2)), 0, "a zero dim gives no elements");
    is_int(ir_numel(SH(2, 3, 4)), 24, "numel");
    ok(ir_shape_eq(SH(2, 3), ir_shape_of(2, (const int64_t[]){2, 3})) && !ir_shape_eq(SH(2, 3), SH(2, 3, 1)) &&
           !ir_shape_eq(SH(2, 3), SH(3, 2)) && ir_shape_eq(SCALAR, ir_shape_scalar()),
       "ir_shape_eq");
    int64_t st[IR_MAX_RANK];
    ir_strides(SH(2, 3, 4), st);
    ok(st[0] == 12 && st[1] == 4 && st[2] == 1, "row-major strides");
    ir_shape r;
    ok(ir_broadcast_shapes(SH(2, 1, 3), SH(4, 1), &r) && ir_shape_eq(r, SH(2, 4, 3)), "broadcast [2,1,3] [4,1]");
    ok(ir_broadcast_shapes(SCALAR, SH(5), &r) && ir_shape_eq(r, SH(5)), "broadcast scalar [5]");
    ok(ir_broadcast_shapes(SH(0), SH(1), &r) && ir_shape_eq(r, SH(0)), "broadcast [0] [1]");
    ok(!ir_broadcast_shapes(SH(0), SH(2), &r) && !ir_broadcast_shapes(SH(2, 3), SH(2), &r), "incompatible shapes");
    is_str(ir_dtype_name(IR_F32), "f32", "dtype name");

    int unary = 0, binary = 0, names_ok = 1;
    for (int op = 0; op < OP_COUNT; op++) {
        const ir_op_info *i = &ir_ops[op];
        names_ok &= ir_op_by_name(i->name) == (ir_op)op;
        if (i->flags & OPF_UNARY) unary += i->arity == 1;
        if (i->flags & OPF_BINARY) binary += i->arity == 2;
        if ((i->flags & OPF_SOURCE) && i->arity != 0) ok(0, "source %s has inputs", i->name);
    }
    ok(names_ok, "every op name maps back to its op");
    is_int(ir_op_by_name("nosuchop"), OP_COUNT, "unknown op name");
    ok(unary == 17 && binary == 12, "17 unary ops of arity 1, 12 binary ops of arity 2 (%d, %d)", unary, binary);

    ir_graph *g = ir_graph_new();
    const char *s1 = ir_intern(g, "abc"), *s2 = ir_intern(g, "abc");
    ok(s1 == s2 && s1 != NULL && ir_intern(g, NULL) == NULL, "ir_intern returns one copy per string");
    ir_id x = ir_input(g, "x", SH(2)), w = ir_param(g, "x", SH(2), ir_init_ones());
    ok(ir_find_source(g, OP_input, "x") == x && ir_find_source(g, OP_param, "x") == w &&
           ir_find_source(g, OP_input, "y") == IR_NONE,
       "ir_find_source looks up inputs and params by name");
    ok(ir_output_add(g, "out", w) && ir_output_find(g, "out") == w && ir_output_find(g, "nope") == IR_NONE,
       "ir_output_find");
    ir_id sum = ir_reduce(g, OP_sum, x, -1);
    is_int(g->nodes[sum].attr.axis, 0, "builders store negative axes normalised");
    ir_graph_free(g);
}

/* Clone and hash: a deep copy with the same structure; the hash sees attributes but not locations. */
static void test_clone_hash(void) {
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "c.lua", 9);
    ir_id x = ir_input(g, "x", SH(2, 3));
    ir_init dt = ir_init_then(ir_init_data(g, (const float[]){0.5f, 1, 2}, 3), INIT_POST_EXP);
    ir_id w = ir_param(g, "w", SH(3), dt);
    ir_id y = ir_binary(g, OP_mul, x, w), s = ir_reduce(g, OP_sum, y, 1);
    ir_id c = ir_concat(g, (const ir_id[]){y, y, x}, 3, 1);
    ok(ir_output_add(g, "s", s) && ir_output_add(g, "c", c), "outputs");
    ir_graph *k = ir_graph_clone(g);
    ok(k && k->nnodes == g->nnodes && k->noutputs == 2 && ir_output_find(k, "c") == c, "clone has the same nodes and outputs");
    ok(k && ir_graph_hash(k) == ir_graph_hash(g), "clone has the same hash");
    if (k) {
        const ir_init *ki = &k->nodes[w].attr.init;
        ok(ki->kind == INIT_DATA && ki->data != g->nodes[w].attr.init.data && ki->data[2] == 2 &&
               ki->post[0] == INIT_POST_EXP,
           "clone copies initial data and transforms");
        ok(k->nodes[y].loc.file && strcmp(k->nodes[y].loc.file, "c.lua") == 0 && k->nodes[y].loc.file != g->nodes[y].loc.file,
           "clone keeps locations, interned in the clone");
        ok(k->nodes[x].attr.name != g->nodes[x].attr.name && strcmp(k->nodes[x].attr.name, "x") == 0,
           "clone interns names");
        ok(ir_verify(k), "clone verifies: %s", ir_error(k));
        uint64_t h = ir_graph_hash(k);
        k->nodes[y].loc.line = 100;
        ok(ir_graph_hash(k) == h, "hash ignores locations");
        k->nodes[s].attr.axis = 0;
        ok(ir_graph_hash(k) != h, "hash sees an attribute");
        k->nodes[s].attr.axis = 1;
        k->nodes[w].attr.init.post[0] = INIT_POST_NONE;
        ok(ir_graph_hash(k) != h, "hash sees an initializer transform");
        k->nodes[w].attr.init.post[0] = INIT_POST_EXP;
        ((float *)k->blobs[0])[1] = 5;
        ok(ir_graph_hash(k) != h, "hash sees initial data");
    }
    ir_graph_free(k);
    ir_graph_free(g);
}

int main(void) {
    G = ir_graph_new();
    ir_set_loc(G, "b.lua", 7);
    test_generic_errors();
    test_source_errors();
    test_elementwise_errors();
    test_reduce_movement_errors();
    test_contraction_errors();
    ir_graph_free(G);
    test_propagation_and_loc();
    test_utilities();
    test_clone_hash();
    return done_testing();
}
