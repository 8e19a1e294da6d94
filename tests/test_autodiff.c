/* test_autodiff.c — the structure of the graphs pass_autodiff builds (names, pruning, locations, which ops
 * the rules emit, errors) and the cleanup passes (DCE, CSE, extract). Numerical correctness of every rule is
 * test_gradcheck's job. */
#include "ir/interp.h"
#include "ir/ir.h"
#include "passes/autodiff.h"
#include "passes/passes.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ir_shape sh1(int64_t a) { return ir_shape_of(1, (int64_t[]){a}); }
static ir_shape sh2(int64_t a, int64_t b) { return ir_shape_of(2, (int64_t[]){a, b}); }
static ir_shape sh3(int64_t a, int64_t b, int64_t c) { return ir_shape_of(3, (int64_t[]){a, b, c}); }

/* Sum of every element of x as an f32[1]. */
static ir_id sum_all(ir_graph *g, ir_id x) {
    ir_id flat = ir_reshape(g, x, sh1(x == IR_NONE ? 0 : ir_numel(g->nodes[x].shape)));
    return ir_reduce(g, OP_sum, flat, 0);
}

/* Number of nodes with op `op` among ids [from, g->nnodes). */
static int count_op(const ir_graph *g, ir_op op, ir_id from) {
    int n = 0;
    for (ir_id i = from; i < g->nnodes; i++) n += g->nodes[i].op == op;
    return n;
}

/* Interprets g in double with params from seed 1 and inputs 0.1*(i+1) (mod 7 pattern); NULL on error. */
static ir_values *run(const ir_graph *g) {
    ir_values *v = ir_values_new(g);
    ir_values_init_params(g, v, 1);
    for (ir_id i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_input)
            for (int64_t e = 0; e < ir_numel(g->nodes[i].shape); e++) v->t[i].data[e] = 0.1 * (double)(e % 7 + 1);
    char err[256];
    if (!ir_interp(g, v, NULL, err, sizeof err)) {
        diag("interp: %s", err);
        ir_values_free(v);
        return NULL;
    }
    return v;
}

/* A small model: y = tanh(x W^T + b) ; loss = sum(y * y) + sum(gt(y, 0) * y); an unused param. */
static ir_graph *small_model(void) {
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "model.lua", 3);
    ir_id x = ir_input(g, "x", sh2(4, 3));
    ir_id w = ir_param(g, "lin.weight", sh2(5, 3), ir_init_normal(0, 0.5));
    ir_id b = ir_param(g, "lin.bias", sh1(5), ir_init_normal(0, 0.5));
    ir_param(g, "unused", sh1(2), ir_init_ones());
    ir_set_loc(g, "model.lua", 10);
    ir_id mm = ir_matmul(g, x, w, false, true);
    ir_set_loc(g, "model.lua", 11);
    ir_id y = ir_unary(g, OP_tanh, ir_binary(g, OP_add, mm, b));
    ir_set_loc(g, "model.lua", 12);
    ir_id gate = ir_binary(g, OP_gt, y, ir_scalar(g, 0));
    ir_id l = ir_binary(g, OP_add, sum_all(g, ir_binary(g, OP_mul, y, y)), sum_all(g, ir_binary(g, OP_mul, gate, y)));
    ir_output_add(g, "loss", l);
    ir_output_add(g, "pred", y);
    return g;
}

static void test_names_and_outputs(void) {
    ir_graph *g = small_model();
    int32_t nfwd = g->nnodes, nout = g->noutputs;
    ok(pass_autodiff(g, NULL), "autodiff of the small model %s", ir_error(g));
    is_int(g->noutputs, nout + 3, "one grad output per param");
    is_str(g->outputs[nout].name, "grad:lin.weight", "first grad output is named grad:<param>");
    is_str(g->outputs[nout + 2].name, "grad:unused", "params come in node order");
    ir_id gw = ir_output_find(g, "grad:lin.weight"), gb = ir_output_find(g, "grad:lin.bias");
    ok(gw >= nfwd && gb >= nfwd, "gradients are new nodes appended after the forward graph");
    ok(ir_shape_eq(g->nodes[gw].shape, sh2(5, 3)) && ir_shape_eq(g->nodes[gb].shape, sh1(5)), "gradients have the params' shapes");
    ir_id gu = ir_output_find(g, "grad:unused");
    ok(g->nodes[gu].op == OP_const && g->nodes[gu].attr.value == 0, "a param off every path gets a zero const");
    ok(ir_verify(g), "backward graph verifies %s", ir_error(g));
    char *text = ir_print(g);
    like(text, "output \"grad:lin.bias\" = %", "backward graph prints with its grad outputs");
    free(text);
    ir_values *v = run(g);
    ok(v != NULL, "backward graph interprets");
    ir_values_free(v);
    char buf[64];
    is_str(ir_grad_name("a.b", buf, sizeof buf), "grad:a.b", "ir_grad_name");
    ir_graph_free(g);
}

static void test_pruning(void) {
    ir_graph *g = small_model();
    int32_t nfwd = g->nnodes;
    pass_autodiff(g, NULL);
    /* x is an input: only dW = dZ^T x is built, never dx = dZ W. */
    is_int(count_op(g, OP_matmul, nfwd), 1, "one backward matmul (none for the input x)");
    is_int(count_op(g, OP_permute, nfwd), 0, "matmul rules use ta/tb, not permutes");
    /* the gt(y, 0) gate is NODIFF: its branch adds gradient through y only (mul by the gate) */
    is_int(count_op(g, OP_gt, nfwd), 0, "no gradient work through the comparison");
    ir_graph_free(g);

    /* only the listed params */
    g = small_model();
    const char *only[] = {"lin.bias"};
    ok(pass_autodiff(g, &(ir_grad_opts){.params = only, .nparams = 1}), "autodiff wrt lin.bias only");
    ok(ir_output_find(g, "grad:lin.bias") != IR_NONE && ir_output_find(g, "grad:lin.weight") == IR_NONE,
       "only the requested param gets a grad output");
    is_int(count_op(g, OP_matmul, 0), 1, "no backward matmul at all when W is not requested");
    ir_graph_free(g);
}

static void test_locations(void) {
    ir_graph *g = small_model();
    int32_t nfwd = g->nnodes;
    pass_autodiff(g, NULL);
    int mm_line = -1, bad_loc = 0;
    for (ir_id i = nfwd; i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->op == OP_matmul) mm_line = n->loc.line;
        if (!n->loc.file || strcmp(n->loc.file, "model.lua") != 0) bad_loc++;
    }
    is_int(mm_line, 10, "the backward matmul points at the forward matmul's line");
    is_int(bad_loc, 0, "every backward node has a location in model.lua");
    pass_cse(g, NULL);
    pass_dce(g, NULL);
    ir_id gw = ir_output_find(g, "grad:lin.weight");
    is_int(g->nodes[gw].loc.line, 10, "locations survive CSE and DCE");
    ir_graph_free(g);
}

static void test_errors(void) {
    ir_graph *g = small_model();
    ok(!pass_autodiff(g, &(ir_grad_opts){.loss = "nope"}), "unknown loss output fails");
    like(ir_error(g), "no output named 'nope'", "  with its name");
    ir_clear_error(g);
    ok(!pass_autodiff(g, &(ir_grad_opts){.loss = "pred"}), "a loss of 20 elements fails");
    like(ir_error(g), "must have one element, it is f32[4,5]", "  with its type");
    ir_clear_error(g);
    const char *bad[] = {"lin.weight", "missing"};
    ok(!pass_autodiff(g, &(ir_grad_opts){.params = bad, .nparams = 2}), "unknown param fails");
    like(ir_error(g), "no param named 'missing'", "  with its name");
    ir_graph_free(g);
}

/* Forward scan: the backward has a reverse scan; reverse scan: a forward one. */
static void test_scan_structure(void) {
    for (int rev = 0; rev < 2; rev++) {
        ir_graph *g = ir_graph_new();
        ir_id a = ir_param(g, "a", sh3(2, 5, 3), ir_init_normal(0, 0.5));
        ir_id b = ir_param(g, "b", sh3(2, 5, 3), ir_init_normal(0, 1));
        ir_id h0 = ir_param(g, "h0", sh3(2, 1, 3), ir_init_normal(0, 1));
        ir_output_add(g, "loss", sum_all(g, ir_scan(g, a, b, h0, 1, rev)));
        int32_t nfwd = g->nnodes;
        pass_autodiff(g, NULL);
        int scans = 0, dir_ok = 0;
        for (ir_id i = nfwd; i < g->nnodes; i++)
            if (g->nodes[i].op == OP_scan) scans++, dir_ok += g->nodes[i].attr.reverse == !rev && g->nodes[i].attr.axis == 1;
        ok(scans == 1 && dir_ok == 1, "the VJP of a %s scan is one %s scan", rev ? "reverse" : "forward",
           rev ? "forward" : "reverse");
        ir_graph_free(g);
    }
}

/* Broadcast gradients come back with as few sums as possible: [B,T,D] -> [D] is one sum over [B*T, D];
 * [B,T,D] -> [B,T,1] one sum over the last axis; [B,T,D] -> [] one sum. */
static void test_unbroadcast(void) {
    const int64_t want[3][3] = {{1, 4, 0}, {3, 2, 3}, {0, 0, 0}}; /* rank, dims */
    const int sums[3] = {1, 1, 1};
    for (int k = 0; k < 3; k++) {
        ir_graph *g = ir_graph_new();
        ir_id x = ir_input(g, "x", sh3(2, 3, 4));
        ir_shape ps = ir_shape_of((int)want[k][0], (int64_t[]){want[k][1], want[k][2], k == 1 ? 1 : 0});
        ir_id p = ir_param(g, "p", ps, ir_init_normal(0, 1));
        ir_output_add(g, "loss", sum_all(g, ir_binary(g, OP_mul, ir_binary(g, OP_add, x, p), x)));
        int32_t nfwd = g->nnodes;
        ok(pass_autodiff(g, NULL) && ir_verify(g), "unbroadcast case %d %s", k, ir_error(g));
        is_int(count_op(g, OP_sum, nfwd), sums[k], "  %d sum(s) for the param's gradient", sums[k]);
        ir_graph_free(g);
    }
}

/* rmax splits dy evenly between tied maxima (finite differences cannot check a tie). */
static void test_rmax_ties(void) {
    ir_graph *g = ir_graph_new();
    const float vals[6] = {1, 3, 3, 2, 0, 2};
    ir_id x = ir_param(g, "x", sh2(2, 3), ir_init_data(g, vals, 6));
    ir_output_add(g, "loss", sum_all(g, ir_reduce(g, OP_rmax, x, 1)));
    pass_autodiff(g, NULL);
    ir_values *v = run(g);
    const double *d = v->t[ir_output_find(g, "grad:x")].data;
    ok(d[0] == 0 && d[1] == 0.5 && d[2] == 0.5 && d[3] == 0.5 && d[4] == 0 && d[5] == 0.5,
       "rmax gradient: [0 .5 .5; .5 0 .5] for rows [1 3 3; 2 0 2]");
    ir_values_free(v);
    ir_graph_free(g);
}

static void test_dce(void) {
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "dce.lua", 1);
    ir_id x = ir_input(g, "x", sh1(4));
    ir_input(g, "unused_in", sh1(2));
    ir_id dead = ir_unary(g, OP_exp, x);
    ir_unary(g, OP_log, dead);
    ir_set_loc(g, "dce.lua", 7);
    ir_id y = ir_unary(g, OP_sin, x);
    ir_output_add(g, "y", y);
    ir_id map[8];
    int32_t before = g->nnodes;
    ok(pass_dce(g, map), "dce runs");
    is_int(g->nnodes, before - 2, "two dead nodes removed");
    ok(ir_find_source(g, OP_input, "unused_in") != IR_NONE, "unused inputs are kept");
    ok(map[dead] == IR_NONE && map[y] == 2 && map[x] == 0, "map gives new ids, IR_NONE for removed nodes");
    is_int(ir_output_find(g, "y"), 2, "outputs follow their node");
    is_int(g->nodes[2].loc.line, 7, "locations are kept");
    ok(ir_verify(g), "verifies after dce");
    ir_graph_free(g);
}

static void test_cse(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", sh2(2, 3)), w = ir_input(g, "w", sh2(2, 3));
    ir_id e1 = ir_unary(g, OP_exp, x), e2 = ir_unary(g, OP_exp, x);
    ir_id a1 = ir_binary(g, OP_add, e1, w), a2 = ir_binary(g, OP_add, w, e2); /* commutative + chain */
    ir_id s1 = ir_binary(g, OP_sub, e1, w), s2 = ir_binary(g, OP_sub, w, e1); /* not commutative */
    ir_id r0 = ir_reduce(g, OP_sum, x, 0), r1 = ir_reduce(g, OP_sum, x, 1);   /* attrs differ */
    ir_id k1 = ir_scalar(g, 2), k2 = ir_scalar(g, 2), k3 = ir_scalar(g, 3);
    ir_output_add(g, "a", ir_binary(g, OP_mul, a1, k1));
    ir_output_add(g, "b", ir_binary(g, OP_mul, a2, k2));
    ir_output_add(g, "c", ir_binary(g, OP_mul, s1, k3));
    ir_output_add(g, "d", s2);
    ir_output_add(g, "e", r0);
    ir_output_add(g, "f", r1);
    ir_values *before = run(g);
    double want_b = before->t[ir_output_find(g, "b")].data[4];
    ir_id map[32];
    ok(pass_cse(g, map), "cse runs");
    ok(map[e2] == map[e1] && map[a2] == map[a1] && map[k2] == map[k1], "duplicates merge (incl. swapped add)");
    ok(map[s1] != map[s2] && map[r0] != map[r1] && map[k3] != map[k1], "different operand order / attrs / values stay");
    is_int(ir_output_find(g, "a"), ir_output_find(g, "b"), "outputs a and b are now one node");
    ok(ir_verify(g), "verifies after cse");
    ir_values *after = run(g);
    is_double(after->t[ir_output_find(g, "b")].data[4], want_b, 0, "values unchanged");
    ir_values_free(before);
    ir_values_free(after);
    ir_graph_free(g);
}

static void test_simplify_rules(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", sh2(2, 3));
    ir_id c = ir_binary(g, OP_mul, ir_scalar(g, 3), ir_unary(g, OP_exp, ir_scalar(g, 0))); /* 3 * e^0 = 3 */
    ir_id cb = ir_broadcast(g, ir_reshape(g, c, sh2(1, 1)), sh2(2, 3));                  /* const [2,3] */
    ir_id a = ir_binary(g, OP_add, ir_binary(g, OP_mul, x, ir_scalar(g, 1)), ir_scalar(g, 0)); /* x */
    ir_id r = ir_reshape(g, ir_reshape(g, a, sh1(6)), sh2(3, 2));                         /* one reshape */
    ir_id p = ir_permute(g, ir_permute(g, x, (int[]){1, 0}), (int[]){1, 0});              /* x */
    ir_id s1 = ir_reduce(g, OP_sum, ir_reshape(g, x, sh3(2, 1, 3)), 1);                  /* size-1 axis */
    ir_id n2 = ir_unary(g, OP_neg, ir_unary(g, OP_neg, ir_slice(g, x, 1, 0, 3)));        /* full slice */
    ir_output_add(g, "cb", cb);
    ir_output_add(g, "a", a);
    ir_output_add(g, "r", r);
    ir_output_add(g, "p", p);
    ir_output_add(g, "s1", s1);
    ir_output_add(g, "n2", n2);
    ir_output_add(g, "pad0", ir_pad(g, x, 0, 0, 0, 1.0));
    ok(!ir_failed(g), "simplify test graph builds %s", ir_error(g));
    ir_values *before = run(g);
    ir_id old[8];
    for (int k = 0; k < g->noutputs; k++) old[k] = g->outputs[k].id;
    ok(pass_simplify(g, NULL) && ir_verify(g), "simplify runs and verifies %s", ir_error(g));
    ir_id o = ir_output_find(g, "cb");
    ok(g->nodes[o].op == OP_const && g->nodes[o].attr.value == 3 && ir_shape_eq(g->nodes[o].shape, sh2(2, 3)),
       "consts fold through elementwise ops, reshape and broadcast");
    is_int(ir_output_find(g, "a"), 0, "x*1+0 is x");
    o = ir_output_find(g, "r");
    ok(g->nodes[o].op == OP_reshape && ir_in(g, &g->nodes[o], 0) == 0, "reshape(reshape x) is one reshape of x");
    is_int(ir_output_find(g, "p"), 0, "permute(permute x) with inverse perms is x");
    o = ir_output_find(g, "s1");
    ok(g->nodes[o].op == OP_reshape, "a sum over a size-1 axis disappears (leaving the reshape)");
    is_int(ir_output_find(g, "n2"), 0, "neg(neg(full slice x)) is x");
    is_int(ir_output_find(g, "pad0"), 0, "a zero pad is x");
    is_int(g->nnodes, 4, "four nodes left: x, the const, the reshapes (%d)", g->nnodes);
    ir_values *after = run(g);
    int same = 1;
    for (int k = 0; k < g->noutputs; k++)
        for (int64_t e = 0; e < 6; e++) same &= before->t[old[k]].data[e] == after->t[g->outputs[k].id].data[e];
    ok(same, "values unchanged");
    ir_values_free(before);
    ir_values_free(after);
    ir_graph_free(g);
}

/* autodiff + simplify + cse + dce keep every value bit for bit in f32 emulation. */
static void test_simplify_model(void) {
    ir_graph *ref = small_model(), *g = small_model();
    pass_autodiff(ref, NULL);
    pass_autodiff(g, NULL);
    int32_t n0 = g->nnodes;
    ok(pass_simplify(g, NULL) && pass_cse(g, NULL) && pass_dce(g, NULL), "simplify + cse + dce");
    ok(g->nnodes < n0, "the backward graph shrinks (%d -> %d nodes)", n0, g->nnodes);
    ir_values *va = ir_values_new(ref), *vb = ir_values_new(g);
    ir_values_init_params(ref, va, 4);
    ir_values_init_params(g, vb, 4);
    for (int e = 0; e < 12; e++)
        va->t[ir_find_source(ref, OP_input, "x")].data[e] = vb->t[ir_find_source(g, OP_input, "x")].data[e] = 0.3 * e - 1.1;
    char err[256];
    ir_interp_opts f32 = {.round_f32 = true};
    ok(ir_interp(ref, va, &f32, err, sizeof err) && ir_interp(g, vb, &f32, err, sizeof err), "both run in f32");
    int same = 1;
    for (int k = 0; k < ref->noutputs; k++) {
        ir_id a = ref->outputs[k].id, b = ir_output_find(g, ref->outputs[k].name);
        for (int64_t e = 0; e < ir_numel(ref->nodes[a].shape); e++) same &= va->t[a].data[e] == vb->t[b].data[e];
    }
    ok(same, "every output is bit-identical in f32");
    ir_values_free(va);
    ir_values_free(vb);
    ir_graph_free(ref);
    ir_graph_free(g);
}

/* autodiff then CSE+DCE: same gradients, fewer nodes; extract gives the forward graph back. */
static void test_pipeline(void) {
    ir_graph *g = small_model();
    int32_t nfwd = g->nnodes;
    pass_autodiff(g, NULL);
    ir_values *v0 = run(g);
    int32_t n0 = g->nnodes;
    ok(pass_cse(g, NULL) && pass_dce(g, NULL), "cse + dce after autodiff");
    ok(g->nnodes < n0, "cse + dce shrink the backward graph (%d -> %d nodes)", n0, g->nnodes);
    ir_values *v1 = run(g);
    int same = 1;
    /* compare by name through a fresh autodiff of the original */
    ir_graph *ref = small_model();
    pass_autodiff(ref, NULL);
    ir_values *vr = run(ref);
    for (int k = 0; k < ref->noutputs; k++) {
        ir_id a = ref->outputs[k].id, b = ir_output_find(g, ref->outputs[k].name);
        for (int64_t e = 0; e < ir_numel(ref->nodes[a].shape); e++) same &= vr->t[a].data[e] == v1->t[b].data[e];
    }
    ok(same, "every output (loss, pred, grads) is bit-identical after cse + dce");
    char err[256];
    const char *names[] = {"loss"};
    ir_graph *ev = pass_extract(g, names, 1, false, NULL, err, sizeof err);
    ok(ev && ev->noutputs == 1 && ev->nnodes <= nfwd && count_op(ev, OP_matmul, 0) == 1,
       "extract(loss) gives the forward graph only (%d nodes)", ev ? ev->nnodes : -1);
    ok(ev && ir_find_source(ev, OP_param, "unused") != IR_NONE, "extract keeps every param");
    ok(!pass_extract(g, (const char *[]){"nope"}, 1, false, NULL, err, sizeof err), "extract of an unknown output fails");
    like(err, "no output named 'nope'", "  with its name");
    ir_graph_free(ev);
    ir_values_free(v0);
    ir_values_free(v1);
    ir_values_free(vr);
    ir_graph_free(ref);
    ir_graph_free(g);
}

static void after(const char *pass, const ir_graph *g, void *user) {
    char *log = user;
    snprintf(log + strlen(log), 256 - strlen(log), "%s:%d ", pass, g->nnodes);
}

static void test_run_list(void) {
    ir_graph *g = small_model();
    char log[256] = "";
    ok(pass_run_list(g, "autodiff,adam,simplify,cse,dce,verify", after, log), "pass_run_list %s", ir_error(g));
    like(log, "autodiff:", "the callback sees every pass (%s)", log);
    like(log, "verify:", "  up to the last");
    ok(ir_output_find(g, "new:lin.weight") != IR_NONE, "the list built the update");
    ir_graph_free(g);
    g = small_model();
    ok(!pass_run_list(g, "autodiff,frobnicate", NULL, NULL), "an unknown pass fails");
    like(ir_error(g), "unknown pass 'frobnicate' (known: autodiff, adam", "  listing the known ones");
    ir_graph_free(g);
}

/* x [B, M, K] times W (tb: [N, K], else [K, N]), loss = sum(y * y); autodiff done; NULL on error. */
static ir_graph *weight_model(int64_t B, int64_t M, int64_t K, int64_t N, bool tb, ir_id *x, ir_id *y) {
    ir_graph *g = ir_graph_new();
    *x = ir_input(g, "x", sh3(B, M, K));
    ir_id w = ir_param(g, "w", tb ? sh2(N, K) : sh2(K, N), ir_init_normal(0, 0.5));
    *y = ir_matmul(g, *x, w, false, tb);
    ir_output_add(g, "loss", sum_all(g, ir_binary(g, OP_mul, *y, *y)));
    if (!ok(pass_autodiff(g, NULL), "autodiff of [%lld, %lld, %lld] times W (tb %d) %s", (long long)B, (long long)M,
            (long long)K, tb, ir_error(g))) {
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

/* grad:w of weight_model interpreted, against dL/dW = sum over rows r of 2 y[r, c] x[r, k]: max error. */
static double weight_grad_error(const ir_graph *g, ir_id x, ir_id y, int64_t rows, int64_t K, int64_t N, bool tb) {
    ir_values *v = run(g);
    if (!ok(v != NULL, "the backward graph interprets")) return INFINITY;
    const double *xv = v->t[x].data, *yv = v->t[y].data, *gv = v->t[ir_output_find(g, "grad:w")].data;
    double worst = 0;
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < N; c++) {
            double ref = 0;
            for (int64_t r = 0; r < rows; r++) ref += 2 * yv[r * N + c] * xv[r * K + k];
            double got = tb ? gv[c * K + k] : gv[k * N + c];
            if (fabs(got - ref) > worst) worst = fabs(got - ref);
        }
    ir_values_free(v);
    return worst;
}

/* A rank-2 weight applied to a batch of rows: dW is one matmul over all B*M rows (reshapes, no batched
 * product and no sum over the batch), with both weight layouts, and its values are the direct sums. */
static void test_weight_grad_folds_batch(void) {
    for (int tb = 0; tb < 2; tb++) {
        ir_id x, y;
        ir_graph *g = weight_model(2, 4, 3, 5, tb, &x, &y);
        if (!g) continue;
        const ir_node *n = &g->nodes[ir_output_find(g, "grad:w")];
        ok(n->op == OP_matmul && g->nodes[ir_in(g, n, 0)].shape.rank == 2 && g->nodes[ir_in(g, n, 1)].shape.rank == 2,
           "tb %d: grad:w is one rank-2 matmul", tb);
        ok(n->attr.ta && !n->attr.tb, "tb %d: it contracts over the rows (ta)", tb);
        int sums = 0;
        for (ir_id i = 0; i < g->nnodes; i++) sums += g->nodes[i].op == OP_sum && g->nodes[i].shape.rank > 1;
        is_int(sums, 0, "tb %d: no sum over the batch", tb);
        double e = weight_grad_error(g, x, y, 8, 3, 5, tb);
        ok(e < 1e-12, "tb %d: dW equals the direct sum (max error %g)", tb, e);
        ir_graph_free(g);
    }
}

/* Many rows (B*M = 1024): dW is a batch of 4 chunk products (256 rows each) and a sum of their partials,
 * equal to the direct sum. */
static void test_weight_grad_chunks(void) {
    ir_id x, y;
    ir_graph *g = weight_model(8, 128, 3, 5, true, &x, &y);
    if (!g) return;
    const ir_node *n = &g->nodes[ir_output_find(g, "grad:w")];
    while (n->op == OP_reshape) n = &g->nodes[ir_in(g, n, 0)];
    const ir_node *mm = n->op == OP_sum ? &g->nodes[ir_in(g, n, 0)] : NULL;
    ok(mm && mm->op == OP_matmul && mm->shape.rank == 3 && mm->shape.dim[0] == 4 && n->attr.axis == 0,
       "grad:w sums the partials of 4 chunk products over axis 0");
    double e = weight_grad_error(g, x, y, 1024, 3, 5, true);
    ok(e < 1e-9, "chunked dW equals the direct sum (max error %g)", e);
    ir_graph_free(g);
}

/* A narrow weight (4 input columns, W [64, 4] with tb): dW [64, 4] is built as the transpose of the 4 x 64
 * product (the kernel vectorises along columns), equal to the direct sum. */
static void test_weight_grad_narrow(void) {
    ir_id x, y;
    ir_graph *g = weight_model(2, 16, 4, 64, true, &x, &y);
    if (!g) return;
    const ir_node *n = &g->nodes[ir_output_find(g, "grad:w")];
    const ir_node *mm = n->op == OP_permute ? &g->nodes[ir_in(g, n, 0)] : NULL;
    ok(mm && mm->op == OP_matmul && mm->shape.dim[0] == 4 && mm->shape.dim[1] == 64,
       "grad:w is the transpose of a [4, 64] product");
    double e = weight_grad_error(g, x, y, 32, 4, 64, true);
    ok(e < 1e-10, "transposed dW equals the direct sum (max error %g)", e);
    ir_graph_free(g);
}

int main(void) {
    test_run_list();
    test_names_and_outputs();
    test_pruning();
    test_weight_grad_folds_batch();
    test_weight_grad_chunks();
    test_weight_grad_narrow();
    test_locations();
    test_errors();
    test_scan_structure();
    test_rmax_ties();
    test_unbroadcast();
    test_dce();
    test_cse();
    test_pipeline();
    test_simplify_rules();
    test_simplify_model();
    return done_testing();
}
