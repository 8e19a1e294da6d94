/* The reference interpreter, op by op (ir/ir_interp.c).
 *
 * Three tables, in the spirit of ggml's test-backend-ops: adding an op's test is one entry.
 *   hand_cases   small tensors whose results were worked out by hand (or are exact by definition)
 *   ew_cases     every elementwise op against a scalar formula, over a fixed list of shapes that covers
 *                size-1 dims, rank promotion, rank 0, rank 6 and empty tensors
 *   ref_cases    every other op against an explicit-loop reference written here, independently of the
 *                interpreter (coordinates by div/mod; scans re-run from h0 for every position)
 * Every case runs in double mode and in round_f32 mode. Then targeted checks: identities, the softplus
 * threshold, gelu against its formula, rand_mask statistics, round_f32 against double, and error paths.
 * The last check asserts that every op of ops.def was exercised. */
#include "tests/op_harness.h"

#include <complex.h>

static bool covered[OP_COUNT];

/* ---- helpers ---- */

/* Builds inputs of the given shapes, then op on them; IR_NONE with a failed TAP line on error. */
static ir_id build_op(ir_graph *g, ir_op op, int nin, const ir_shape *in, const ir_attrs *attr, const ir_shape *given,
                      ir_id *ids) {
    for (int k = 0; k < nin; k++) {
        ids[k] = ir_input(g, (const char *[]){"x0", "x1", "x2", "x3"}[k], in[k]);
    }
    return ir_build(g, op, ids, nin, attr, given);
}

/* Checks every value of a round_f32 run is a float and agrees with the double run. */
static void check_f32(const ir_tensor *f, const ir_tensor *d, double tol, const char *name) {
    int64_t n = ir_numel(d->shape), bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if ((double)(float)f->data[i] != f->data[i] && !isnan(f->data[i])) bad = i;
    ok(bad < 0, "%s: round_f32 values are floats", name);
    th_close(f->data, d->data, n, tol, "%s: round_f32 agrees with double", name);
}

/* Every graph the tables build must verify, and its clone must verify with the same hash. Prints a
 * line only on failure (the tables would otherwise double their output). */
static void check_graph(ir_graph *g, const char *name) {
    if (!ir_verify(g)) ok(0, "%s: the graph verifies: %s", name, ir_error(g));
    ir_graph *c = ir_graph_clone(g);
    if (!c || !ir_verify(c) || ir_graph_hash(c) != ir_graph_hash(g)) ok(0, "%s: the clone verifies with the same hash", name);
    ir_graph_free(c);
}

/* ---- 1. hand-computed cases ---- */

typedef struct hand_case {
    const char *name;
    ir_op op;
    int nin;
    ir_shape in[3];
    const double *x[3];
    ir_attrs attr;
    const ir_shape *given; /* shape for sources, reshape, broadcast; NULL = inferred */
    ir_shape out;
    const double *want;
} hand_case;

static void run_hand(const hand_case *c) {
    ir_graph *g = ir_graph_new();
    ir_id ids[3];
    ir_id y = build_op(g, c->op, c->nin, c->in, &c->attr, c->given, ids);
    covered[c->op] = true;
    if (!ok(y != IR_NONE, "%s: builds %s", c->name, ir_error(g))) {
        ir_graph_free(g);
        return;
    }
    check_graph(g, c->name);
    char a[96], b[96];
    is_str(th_type(g->nodes[y].shape, a), th_type(c->out, b), "%s: shape", c->name);
    for (int r = 0; r < 2; r++) {
        ir_values *v = th_run(g, c->nin, ids, c->x, r, 0);
        if (!v) continue;
        th_close(v->t[y].data, c->want, ir_numel(c->out), r ? 1e-7 : 1e-15, "%s (%s)", c->name, r ? "f32" : "f64");
        ir_values_free(v);
    }
    ir_graph_free(g);
}

#define D(...) ((const double[]){__VA_ARGS__})

static void test_hand(void) {
    const double e = 2.718281828459045;
    const hand_case cases[] = {
        /* sources */
        {"const 2x2", OP_const, 0, {{0}}, {0}, {.value = 1.5}, &SH(2, 2), SH(2, 2), D(1.5, 1.5, 1.5, 1.5)},
        {"const scalar", OP_const, 0, {{0}}, {0}, {.value = -3}, &SCALAR, SCALAR, D(-3)},
        {"iota axis 1", OP_iota, 0, {{0}}, {0}, {.axis = 1}, &SH(2, 3), SH(2, 3), D(0, 1, 2, 0, 1, 2)},
        {"iota axis 0", OP_iota, 0, {{0}}, {0}, {.axis = 0}, &SH(2, 3), SH(2, 3), D(0, 0, 0, 1, 1, 1)},
        {"iota axis -1", OP_iota, 0, {{0}}, {0}, {.axis = -1}, &SH(3, 2), SH(3, 2), D(0, 1, 0, 1, 0, 1)},
        {"rand_mask p=0 keeps all", OP_rand_mask, 0, {{0}}, {0}, {.value = 0, .seed = 7}, &SH(3), SH(3), D(1, 1, 1)},
        /* unary */
        {"neg", OP_neg, 1, {SH(3)}, {D(1, -2, 0)}, {0}, NULL, SH(3), D(-1, 2, 0)},
        {"exp", OP_exp, 1, {SH(3)}, {D(0, 1, -1)}, {0}, NULL, SH(3), D(1, e, 1 / e)},
        {"log", OP_log, 1, {SH(4)}, {D(1, e, 0.5, 0)}, {0}, NULL, SH(4), D(0, 1, -0.6931471805599453, -INFINITY)},
        {"sqrt", OP_sqrt, 1, {SH(3)}, {D(4, 2.25, 0)}, {0}, NULL, SH(3), D(2, 1.5, 0)},
        {"rsqrt", OP_rsqrt, 1, {SH(3)}, {D(4, 0.25, 16)}, {0}, NULL, SH(3), D(0.5, 2, 0.25)},
        {"tanh", OP_tanh, 1, {SH(3)}, {D(0, 1, -2)}, {0}, NULL, SH(3), D(0, 0.7615941559557649, -0.9640275800758169)},
        {"sigmoid", OP_sigmoid, 1, {SH(3)}, {D(0, 2, -2)}, {0}, NULL, SH(3), D(0.5, 0.8807970779778823, 0.11920292202211755)},
        {"relu", OP_relu, 1, {SH(4)}, {D(-1, 0, 2.5, -0.0)}, {0}, NULL, SH(4), D(0, 0, 2.5, 0)},
        {"gelu", OP_gelu, 1, {SH(4)}, {D(0, 1, -1, 3)}, {0}, NULL, SH(4), D(0, 0.8411919906082768, -0.15880800939172324, 2.996362607918227)},
        {"erf", OP_erf, 1, {SH(3)}, {D(0, 1, -0.5)}, {0}, NULL, SH(3), D(0, 0.8427007929497149, -0.5204998778130465)},
        {"silu", OP_silu, 1, {SH(3)}, {D(0, 1, -1)}, {0}, NULL, SH(3), D(0, 0.7310585786300049, -0.2689414213699951)},
        {"softplus", OP_softplus, 1, {SH(5)}, {D(0, 1, -30, 25, 20.5)}, {0}, NULL, SH(5),
         D(0.6931471805599453, 1.3132616875182228, 9.357622968839737e-14, 25, 20.5)},
        {"abs", OP_abs, 1, {SH(3)}, {D(-2, 0, 3)}, {0}, NULL, SH(3), D(2, 0, 3)},
        {"sign", OP_sign, 1, {SH(4)}, {D(-2, 0, 3, -0.0)}, {0}, NULL, SH(4), D(-1, 0, 1, 0)},
        {"square", OP_square, 1, {SH(3)}, {D(-2, 0.5, 3)}, {0}, NULL, SH(3), D(4, 0.25, 9)},
        {"cos", OP_cos, 1, {SH(2)}, {D(0, 1)}, {0}, NULL, SH(2), D(1, 0.5403023058681398)},
        {"sin", OP_sin, 1, {SH(2)}, {D(0, 1)}, {0}, NULL, SH(2), D(0, 0.8414709848078965)},
        {"neg of a scalar", OP_neg, 1, {SCALAR}, {D(4)}, {0}, NULL, SCALAR, D(-4)},
        /* binary, with broadcasting */
        {"add [2,3]+[3]", OP_add, 2, {SH(2, 3), SH(3)}, {D(1, 2, 3, 4, 5, 6), D(10, 20, 30)}, {0}, NULL, SH(2, 3),
         D(11, 22, 33, 14, 25, 36)},
        {"sub [2,1]-[1,3]", OP_sub, 2, {SH(2, 1), SH(1, 3)}, {D(10, 20), D(1, 2, 3)}, {0}, NULL, SH(2, 3),
         D(9, 8, 7, 19, 18, 17)},
        {"mul scalar*[2,2]", OP_mul, 2, {SCALAR, SH(2, 2)}, {D(3), D(1, -2, 0.5, 4)}, {0}, NULL, SH(2, 2), D(3, -6, 1.5, 12)},
        {"div [3]/[1]", OP_div, 2, {SH(3), SH(1)}, {D(1, 2, -3), D(4)}, {0}, NULL, SH(3), D(0.25, 0.5, -0.75)},
        {"div by zero", OP_div, 2, {SH(3), SCALAR}, {D(1, -1, 0), D(0)}, {0}, NULL, SH(3), D(INFINITY, -INFINITY, NAN)},
        {"max", OP_max, 2, {SH(4), SH(4)}, {D(1, 5, -2, 3), D(2, 4, -2, -7)}, {0}, NULL, SH(4), D(2, 5, -2, 3)},
        {"min", OP_min, 2, {SH(4), SH(4)}, {D(1, 5, -2, 3), D(2, 4, -2, -7)}, {0}, NULL, SH(4), D(1, 4, -2, -7)},
        {"lt", OP_lt, 2, {SH(3), SH(3)}, {D(1, 2, 3), D(2, 2, 2)}, {0}, NULL, SH(3), D(1, 0, 0)},
        {"le", OP_le, 2, {SH(3), SH(3)}, {D(1, 2, 3), D(2, 2, 2)}, {0}, NULL, SH(3), D(1, 1, 0)},
        {"gt", OP_gt, 2, {SH(3), SH(3)}, {D(1, 2, 3), D(2, 2, 2)}, {0}, NULL, SH(3), D(0, 0, 1)},
        {"ge", OP_ge, 2, {SH(3), SH(3)}, {D(1, 2, 3), D(2, 2, 2)}, {0}, NULL, SH(3), D(0, 1, 1)},
        {"eq", OP_eq, 2, {SH(3), SCALAR}, {D(1, 2, 3), D(2)}, {0}, NULL, SH(3), D(0, 1, 0)},
        {"ne", OP_ne, 2, {SH(3), SCALAR}, {D(1, 2, 3), D(2)}, {0}, NULL, SH(3), D(1, 0, 1)},
        {"select", OP_select, 3, {SH(3), SH(2, 3), SCALAR}, {D(1, 0, -2), D(1, 2, 3, 4, 5, 6), D(9)}, {0}, NULL, SH(2, 3),
         D(1, 9, 3, 4, 9, 6)},
        /* reductions keep the axis with size 1 */
        {"sum axis 0", OP_sum, 1, {SH(2, 3)}, {D(1, 2, 3, 4, 5, 6)}, {.axis = 0}, NULL, SH(1, 3), D(5, 7, 9)},
        {"sum axis -1", OP_sum, 1, {SH(2, 3)}, {D(1, 2, 3, 4, 5, 6)}, {.axis = -1}, NULL, SH(2, 1), D(6, 15)},
        {"sum over an empty axis", OP_sum, 1, {SH(2, 0)}, {D(0)}, {.axis = 1}, NULL, SH(2, 1), D(0, 0)},
        {"rmax axis 1", OP_rmax, 1, {SH(2, 3)}, {D(1, 7, 3, -4, -5, -6)}, {.axis = 1}, NULL, SH(2, 1), D(7, -4)},
        {"rmax keeps NaN", OP_rmax, 1, {SH(3)}, {D(1, NAN, 3)}, {.axis = 0}, NULL, SH(1), D(NAN)},
        {"mean axis 0", OP_mean, 1, {SH(2, 2)}, {D(1, 2, 4, 8)}, {.axis = 0}, NULL, SH(1, 2), D(2.5, 5)},
        /* movement */
        {"reshape [2,3]->[3,2]", OP_reshape, 1, {SH(2, 3)}, {D(1, 2, 3, 4, 5, 6)}, {0}, &SH(3, 2), SH(3, 2),
         D(1, 2, 3, 4, 5, 6)},
        {"reshape [1]->scalar", OP_reshape, 1, {SH(1)}, {D(7)}, {0}, &SCALAR, SCALAR, D(7)},
        {"permute [2,3]->[3,2]", OP_permute, 1, {SH(2, 3)}, {D(1, 2, 3, 4, 5, 6)}, {.perm = {1, 0}}, NULL, SH(3, 2),
         D(1, 4, 2, 5, 3, 6)},
        {"permute [2,1,2] (2,0,1)", OP_permute, 1, {SH(2, 1, 2)}, {D(1, 2, 3, 4)}, {.perm = {2, 0, 1}}, NULL, SH(2, 2, 1),
         D(1, 3, 2, 4)},
        {"broadcast [3]->[2,3]", OP_broadcast, 1, {SH(3)}, {D(1, 2, 3)}, {0}, &SH(2, 3), SH(2, 3), D(1, 2, 3, 1, 2, 3)},
        {"broadcast [2,1]->[2,2]", OP_broadcast, 1, {SH(2, 1)}, {D(1, 2)}, {0}, &SH(2, 2), SH(2, 2), D(1, 1, 2, 2)},
        {"slice axis 1 1..3", OP_slice, 1, {SH(2, 3)}, {D(1, 2, 3, 4, 5, 6)}, {.axis = 1, .start = 1, .end = 3}, NULL,
         SH(2, 2), D(2, 3, 5, 6)},
        {"slice axis -2 1..2", OP_slice, 1, {SH(2, 3)}, {D(1, 2, 3, 4, 5, 6)}, {.axis = -2, .start = 1, .end = 2}, NULL,
         SH(1, 3), D(4, 5, 6)},
        {"concat axis 1", OP_concat, 2, {SH(2, 1), SH(2, 2)}, {D(1, 2), D(3, 4, 5, 6)}, {.axis = 1}, NULL, SH(2, 3),
         D(1, 3, 4, 2, 5, 6)},
        {"concat axis 0", OP_concat, 2, {SH(1, 2), SH(1, 2)}, {D(1, 2), D(3, 4)}, {.axis = 0}, NULL, SH(2, 2),
         D(1, 2, 3, 4)},
        {"pad axis 1", OP_pad, 1, {SH(2, 2)}, {D(1, 2, 3, 4)}, {.axis = 1, .lo = 1, .hi = 2, .value = -1}, NULL, SH(2, 5),
         D(-1, 1, 2, -1, -1, -1, 3, 4, -1, -1)},
        /* matmul: [[1,2,3],[4,5,6]] x [[1,0],[0,1],[1,1]] = [[4,5],[10,11]] */
        {"matmul", OP_matmul, 2, {SH(2, 3), SH(3, 2)}, {D(1, 2, 3, 4, 5, 6), D(1, 0, 0, 1, 1, 1)}, {0}, NULL, SH(2, 2),
         D(4, 5, 10, 11)},
        {"matmul ta", OP_matmul, 2, {SH(3, 2), SH(3, 2)}, {D(1, 4, 2, 5, 3, 6), D(1, 0, 0, 1, 1, 1)}, {.ta = true}, NULL,
         SH(2, 2), D(4, 5, 10, 11)},
        {"matmul tb", OP_matmul, 2, {SH(2, 3), SH(2, 3)}, {D(1, 2, 3, 4, 5, 6), D(1, 0, 1, 0, 1, 1)}, {.tb = true}, NULL,
         SH(2, 2), D(4, 5, 10, 11)},
        {"matmul batch broadcast", OP_matmul, 2, {SH(2, 1, 2), SH(2, 1)}, {D(1, 2, 3, 4), D(10, 1)}, {0}, NULL,
         SH(2, 1, 1), D(12, 34)},
        /* scan: h = 0.5 h + b from h0 = 2: 2, 3, 4.5; reverse from the end: 4, 4, 3 */
        {"scan", OP_scan, 3, {SH(3), SH(3), SH(1)}, {D(0.5, 0.5, 0.5), D(1, 2, 3), D(2)}, {.axis = 0}, NULL, SH(3),
         D(2, 3, 4.5)},
        {"scan reverse", OP_scan, 3, {SH(3), SH(3), SH(1)}, {D(0.5, 0.5, 0.5), D(1, 2, 3), D(2)},
         {.axis = 0, .reverse = true}, NULL, SH(3), D(3, 4, 4)},
        /* scan along axis 1 of [2,2], h0 [2,1] = (1, 10), a = 1: running sums from h0 */
        {"scan axis 1", OP_scan, 3, {SH(2, 2), SH(2, 2), SH(2, 1)}, {D(1, 1, 1, 1), D(1, 2, 3, 4), D(1, 10)}, {.axis = 1},
         NULL, SH(2, 2), D(2, 4, 13, 17)},
        /* cscan: a = i, b = 1, h0 = 1: h0' = i + 1, h1 = i(i + 1) + 1 = i */
        {"cscan", OP_cscan, 3, {SH(2, 2), SH(2, 2), SH(1, 2)}, {D(0, 1, 0, 1), D(1, 0, 1, 0), D(1, 0)}, {.axis = 0}, NULL,
         SH(2, 2), D(1, 1, 0, 1)},
        /* reverse: h1 = i*1 + 1 = 1 + i, h0 = i(1 + i) + 1 = i */
        {"cscan reverse", OP_cscan, 3, {SH(2, 2), SH(2, 2), SH(1, 2)}, {D(0, 1, 0, 1), D(1, 0, 1, 0), D(1, 0)},
         {.axis = 0, .reverse = true}, NULL, SH(2, 2), D(0, 1, 1, 1)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_hand(&cases[i]);
}

/* ---- 2. elementwise ops against scalar formulas, over many shapes ---- */

static double f_neg(double x) { return -x; }
static double f_rsqrt(double x) { return 1 / sqrt(x); }
static double f_tanh(double x) { return 1 - 2 / (exp(2 * x) + 1); }
static double f_sigmoid(double x) { return 0.5 * (1 + tanh(0.5 * x)); }
static double f_relu(double x) { return x > 0 ? x : 0; }
static double f_gelu(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * pow(x, 3)))); }
static double f_erf(double x) { return 1 - erfc(x); }
static double f_silu(double x) { return x / (1 + exp(-x)); }
static double f_softplus(double x) { return x > 20 ? x : log(1 + exp(x)); }
static double f_sign(double x) { return x == 0 ? 0 : copysign(1, x); }
static double f_square(double x) { return pow(x, 2); }
static double f_add(double a, double b) { return a + b; }
static double f_sub(double a, double b) { return a - b; }
static double f_mul(double a, double b) { return a * b; }
static double f_div(double a, double b) { return a / b; }
static double f_lt(double a, double b) { return a < b ? 1 : 0; }
static double f_le(double a, double b) { return a <= b ? 1 : 0; }
static double f_gt(double a, double b) { return a > b ? 1 : 0; }
static double f_ge(double a, double b) { return a >= b ? 1 : 0; }
static double f_eq(double a, double b) { return a == b ? 1 : 0; }
static double f_ne(double a, double b) { return a != b ? 1 : 0; }

typedef struct ew_case {
    ir_op op;
    double (*f1)(double);
    double (*f2)(double, double);
    double lo, hi;
    bool integers; /* draw integers in [lo, hi) so that ties and equalities occur */
    double tol;
} ew_case;

/* NumPy broadcast of a and b, written out here rather than taken from ir_broadcast_shapes. */
static ir_shape ref_bshape(ir_shape a, ir_shape b) {
    ir_shape r = {.rank = a.rank > b.rank ? a.rank : b.rank};
    for (int i = 0; i < r.rank; i++) {
        int64_t da = i < r.rank - a.rank ? 1 : a.dim[i - (r.rank - a.rank)];
        int64_t db = i < r.rank - b.rank ? 1 : b.dim[i - (r.rank - b.rank)];
        r.dim[i] = da == 1 ? db : da;
    }
    return r;
}

/* One elementwise case on given input shapes: build, fill, run in both modes, compare. */
static void run_ew(const ew_case *c, int nin, const ir_shape *in, uint64_t *rng) {
    char name[160], t[3][96];
    int len = snprintf(name, sizeof name, "%s", ir_ops[c->op].name);
    for (int k = 0; k < nin; k++) len += snprintf(name + len, sizeof name - (size_t)len, " %s", th_type(in[k], t[k]));
    ir_graph *g = ir_graph_new();
    ir_id ids[3];
    ir_id y = build_op(g, c->op, nin, in, NULL, NULL, ids);
    covered[c->op] = true;
    if (!ok(y != IR_NONE, "%s: builds %s", name, ir_error(g))) {
        ir_graph_free(g);
        return;
    }
    check_graph(g, name);
    ir_shape out = in[0];
    for (int k = 1; k < nin; k++) out = ref_bshape(out, in[k]);
    is_str(th_type(g->nodes[y].shape, t[0]), th_type(out, t[1]), "%s: shape", name);

    double *x[3] = {0};
    for (int k = 0; k < nin; k++) {
        int64_t n = ir_numel(in[k]);
        x[k] = malloc((size_t)(n ? n : 1) * sizeof(double));
        bool cond = c->op == OP_select && k == 0; /* select's condition: -1, 0 or 1 */
        for (int64_t i = 0; i < n; i++)
            x[k][i] = cond ? floor(th_uniform(rng, -1, 2)) : c->integers ? floor(th_uniform(rng, c->lo, c->hi))
                                                                         : th_uniform(rng, c->lo, c->hi);
    }
    int64_t n = ir_numel(out);
    double *want = malloc((size_t)(n ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        int64_t oc[IR_MAX_RANK];
        th_coord(out, i, oc);
        double v[3];
        for (int k = 0; k < nin; k++) v[k] = x[k][th_bflat(out, in[k], oc)];
        want[i] = c->op == OP_select ? (v[0] != 0 ? v[1] : v[2]) : nin == 1 ? c->f1(v[0]) : c->f2(v[0], v[1]);
    }
    ir_values *d = th_run(g, nin, ids, (const double *const *)x, false, 0);
    ir_values *f = th_run(g, nin, ids, (const double *const *)x, true, 0);
    if (d && f) {
        th_close(d->t[y].data, want, n, c->tol, "%s: against the formula", name);
        check_f32(&f->t[y], &d->t[y], 1e-6, name);
    }
    ir_values_free(d);
    ir_values_free(f);
    free(want);
    for (int k = 0; k < nin; k++) free(x[k]);
    ir_graph_free(g);
}

static void test_elementwise(void) {
    const ew_case cases[] = {
        {OP_neg, f_neg, NULL, -3, 3, false, 0},
        {OP_exp, exp, NULL, -5, 5, false, 1e-15},
        {OP_log, log, NULL, 0.01, 10, false, 1e-15},
        {OP_sqrt, sqrt, NULL, 0, 10, false, 1e-15},
        {OP_rsqrt, f_rsqrt, NULL, 0.01, 10, false, 1e-15},
        {OP_tanh, f_tanh, NULL, -5, 5, false, 1e-14},
        {OP_sigmoid, f_sigmoid, NULL, -10, 10, false, 1e-14},
        {OP_relu, f_relu, NULL, -3, 3, false, 0},
        {OP_gelu, f_gelu, NULL, -6, 6, false, 1e-14},
        {OP_erf, f_erf, NULL, -3, 3, false, 1e-15},
        {OP_silu, f_silu, NULL, -10, 10, false, 1e-14},
        {OP_softplus, f_softplus, NULL, -30, 30, false, 1e-14},
        {OP_abs, fabs, NULL, -3, 3, false, 0},
        {OP_sign, f_sign, NULL, -2, 2, true, 0},
        {OP_square, f_square, NULL, -3, 3, false, 0},
        {OP_cos, cos, NULL, -7, 7, false, 1e-15},
        {OP_sin, sin, NULL, -7, 7, false, 1e-15},
        {OP_add, NULL, f_add, -3, 3, false, 0},
        {OP_sub, NULL, f_sub, -3, 3, false, 0},
        {OP_mul, NULL, f_mul, -3, 3, false, 0},
        {OP_div, NULL, f_div, 0.5, 3, false, 0},
        {OP_max, NULL, fmax, -2, 2, true, 0},
        {OP_min, NULL, fmin, -2, 2, true, 0},
        {OP_lt, NULL, f_lt, -2, 2, true, 0},
        {OP_le, NULL, f_le, -2, 2, true, 0},
        {OP_gt, NULL, f_gt, -2, 2, true, 0},
        {OP_ge, NULL, f_ge, -2, 2, true, 0},
        {OP_eq, NULL, f_eq, -2, 2, true, 0},
        {OP_ne, NULL, f_ne, -2, 2, true, 0},
        {OP_select, NULL, NULL, -3, 3, false, 0},
    };
    /* Shapes: rank 0, size-1 dims, rank promotion both ways, rank 6, and empty tensors (a zero-size
     * dim broadcasts against 1 and gives an empty result). */
    const ir_shape unary[] = {SCALAR, SH(1), SH(7), SH(2, 3, 4), SH(1, 1, 3), SH(0, 3), SH(2, 1, 3, 1, 2, 2)};
    const ir_shape binary[][2] = {
        {SH(2, 3), SH(2, 3)}, {SH(2, 3), SH(3)},       {SH(3), SH(2, 3)},     {SH(2, 1, 3), SH(4, 1)},
        {SCALAR, SH(2, 2)},   {SH(2, 2), SCALAR},      {SCALAR, SCALAR},      {SH(3, 1), SH(1, 4)},
        {SH(0, 3), SH(1, 3)}, {SH(1), SH(0)},          {SH(1, 1, 1, 1, 1, 2), SH(3, 1)},
    };
    const ir_shape ternary[][3] = {
        {SH(2, 3), SH(2, 3), SH(2, 3)}, {SH(3), SH(2, 1), SCALAR}, {SH(2, 1, 1), SH(1, 3, 1), SH(4)}, {SH(0, 2), SH(2), SH(1)},
    };
    uint64_t rng = 42;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ew_case *c = &cases[i];
        if (c->op == OP_select)
            for (size_t s = 0; s < sizeof ternary / sizeof ternary[0]; s++) run_ew(c, 3, ternary[s], &rng);
        else if (c->f1)
            for (size_t s = 0; s < sizeof unary / sizeof unary[0]; s++) run_ew(c, 1, &unary[s], &rng);
        else
            for (size_t s = 0; s < sizeof binary / sizeof binary[0]; s++) run_ew(c, 2, binary[s], &rng);
    }
}

/* ---- 3. the other ops against explicit-loop references ---- */

typedef struct ref_case ref_case;
/* Computes the expected output of c on inputs x (shapes c->in) into want; returns its shape. */
typedef ir_shape ref_fn(const ref_case *c, double *const *x, double *want);

struct ref_case {
    const char *name;
    ir_op op;
    int nin;
    ir_shape in[4];
    ir_attrs attr;
    const ir_shape *given;
    ref_fn *ref;
};

static int64_t axis_of(const ref_case *c, int rank) { return c->attr.axis < 0 ? c->attr.axis + rank : c->attr.axis; }

static ir_shape ref_const(const ref_case *c, double *const *x, double *want) {
    (void)x;
    for (int64_t i = 0; i < ir_numel(*c->given); i++) want[i] = c->attr.value;
    return *c->given;
}

static ir_shape ref_iota(const ref_case *c, double *const *x, double *want) {
    (void)x;
    ir_shape s = *c->given;
    for (int64_t i = 0; i < ir_numel(s); i++) {
        int64_t oc[IR_MAX_RANK];
        th_coord(s, i, oc);
        want[i] = (double)oc[axis_of(c, s.rank)];
    }
    return s;
}

static ir_shape ref_reduce(const ref_case *c, double *const *x, double *want) {
    ir_shape s = c->in[0], o = s;
    int64_t ax = axis_of(c, s.rank);
    o.dim[ax] = 1;
    for (int64_t i = 0; i < ir_numel(o); i++) {
        int64_t oc[IR_MAX_RANK];
        th_coord(o, i, oc);
        double acc = c->op == OP_rmax ? -INFINITY : 0;
        for (int64_t t = 0; t < s.dim[ax]; t++) {
            oc[ax] = t;
            double v = x[0][th_flat(s, oc)];
            acc = c->op == OP_rmax ? fmax(acc, v) : acc + v;
        }
        want[i] = c->op == OP_mean ? acc / (double)s.dim[ax] : acc;
    }
    return o;
}

static ir_shape ref_copy(const ref_case *c, double *const *x, double *want) {
    memcpy(want, x[0], (size_t)ir_numel(c->in[0]) * sizeof(double));
    return *c->given;
}

static ir_shape ref_permute(const ref_case *c, double *const *x, double *want) {
    ir_shape s = c->in[0], o = {.rank = s.rank};
    for (int d = 0; d < s.rank; d++) o.dim[d] = s.dim[c->attr.perm[d]];
    for (int64_t i = 0; i < ir_numel(o); i++) {
        int64_t oc[IR_MAX_RANK], ic[IR_MAX_RANK];
        th_coord(o, i, oc);
        for (int d = 0; d < s.rank; d++) ic[c->attr.perm[d]] = oc[d];
        want[i] = x[0][th_flat(s, ic)];
    }
    return o;
}

static ir_shape ref_broadcast(const ref_case *c, double *const *x, double *want) {
    ir_shape o = *c->given;
    for (int64_t i = 0; i < ir_numel(o); i++) {
        int64_t oc[IR_MAX_RANK];
        th_coord(o, i, oc);
        want[i] = x[0][th_bflat(o, c->in[0], oc)];
    }
    return o;
}

static ir_shape ref_slice(const ref_case *c, double *const *x, double *want) {
    ir_shape s = c->in[0], o = s;
    int64_t ax = axis_of(c, s.rank);
    o.dim[ax] = c->attr.end - c->attr.start;
    for (int64_t i = 0; i < ir_numel(o); i++) {
        int64_t oc[IR_MAX_RANK];
        th_coord(o, i, oc);
        oc[ax] += c->attr.start;
        want[i] = x[0][th_flat(s, oc)];
    }
    return o;
}

static ir_shape ref_concat(const ref_case *c, double *const *x, double *want) {
    ir_shape o = c->in[0];
    int64_t ax = axis_of(c, o.rank);
    for (int k = 1; k < c->nin; k++) o.dim[ax] += c->in[k].dim[ax];
    for (int64_t i = 0; i < ir_numel(o); i++) {
        int64_t oc[IR_MAX_RANK];
        th_coord(o, i, oc);
        int k = 0;
        while (oc[ax] >= c->in[k].dim[ax]) oc[ax] -= c->in[k++].dim[ax];
        want[i] = x[k][th_flat(c->in[k], oc)];
    }
    return o;
}

static ir_shape ref_pad(const ref_case *c, double *const *x, double *want) {
    ir_shape s = c->in[0], o = s;
    int64_t ax = axis_of(c, s.rank);
    o.dim[ax] += c->attr.lo + c->attr.hi;
    for (int64_t i = 0; i < ir_numel(o); i++) {
        int64_t oc[IR_MAX_RANK];
        th_coord(o, i, oc);
        oc[ax] -= c->attr.lo;
        want[i] = oc[ax] >= 0 && oc[ax] < s.dim[ax] ? x[0][th_flat(s, oc)] : c->attr.value;
    }
    return o;
}

/* The triple loop, batch dims broadcast: out[b.., i, j] = sum_k A[b.., i, k] B[b.., k, j]. */
static ir_shape ref_matmul(const ref_case *c, double *const *x, double *want) {
    ir_shape A = c->in[0], B = c->in[1];
    bool ta = c->attr.ta, tb = c->attr.tb;
    int64_t M = ta ? A.dim[A.rank - 1] : A.dim[A.rank - 2], K = ta ? A.dim[A.rank - 2] : A.dim[A.rank - 1];
    int64_t N = tb ? B.dim[B.rank - 2] : B.dim[B.rank - 1];
    ir_shape ba = {A.rank - 2, {0}}, bb = {B.rank - 2, {0}};
    memcpy(ba.dim, A.dim, sizeof A.dim);
    memcpy(bb.dim, B.dim, sizeof B.dim);
    ir_shape batch = ref_bshape(ba, bb), o = batch;
    o.dim[o.rank++] = M;
    o.dim[o.rank++] = N;
    for (int64_t bi = 0; bi < ir_numel(batch); bi++) {
        int64_t bc[IR_MAX_RANK];
        th_coord(batch, bi, bc);
        int64_t a0 = th_bflat(batch, ba, bc) * M * K, b0 = th_bflat(batch, bb, bc) * K * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) {
                    double a = ta ? x[0][a0 + k * M + i] : x[0][a0 + i * K + k];
                    double b = tb ? x[1][b0 + j * K + k] : x[1][b0 + k * N + j];
                    acc += a * b;
                }
                want[(bi * M + i) * N + j] = acc;
            }
    }
    return o;
}

/* scan and cscan: every position re-runs the recurrence from h0, step by step. */
static ir_shape ref_scan(const ref_case *c, double *const *x, double *want) {
    ir_shape s = c->in[0], hs = c->in[2];
    int64_t ax = axis_of(c, s.rank), T = s.dim[ax];
    bool cplx = c->op == OP_cscan;
    for (int64_t i = 0; i < ir_numel(s); i += cplx ? 2 : 1) {
        int64_t oc[IR_MAX_RANK], t = 0;
        th_coord(s, i, oc);
        t = oc[ax];
        oc[ax] = 0;
        int64_t h0 = th_flat(hs, oc);
        double complex h = cplx ? x[2][h0] + I * x[2][h0 + 1] : x[2][h0];
        for (int64_t step = 0; step < T; step++) {
            int64_t u = c->attr.reverse ? T - 1 - step : step;
            oc[ax] = u;
            int64_t p = th_flat(s, oc);
            double complex a = cplx ? x[0][p] + I * x[0][p + 1] : x[0][p];
            double complex b = cplx ? x[1][p] + I * x[1][p + 1] : x[1][p];
            h = a * h + b;
            if (u == t) break;
        }
        want[i] = creal(h);
        if (cplx) want[i + 1] = cimag(h);
    }
    return s;
}

#define WANT_MAX 4096

static void run_ref(const ref_case *c, uint64_t *rng) {
    ir_graph *g = ir_graph_new();
    ir_id ids[4];
    ir_id y = build_op(g, c->op, c->nin, c->in, &c->attr, c->given, ids);
    covered[c->op] = true;
    if (!ok(y != IR_NONE, "%s: builds %s", c->name, ir_error(g))) {
        ir_graph_free(g);
        return;
    }
    double *x[4] = {0}, *want = calloc(WANT_MAX, sizeof(double));
    for (int k = 0; k < c->nin; k++) {
        int64_t n = ir_numel(c->in[k]);
        x[k] = malloc((size_t)(n ? n : 1) * sizeof(double));
        th_fill(x[k], n, rng, -1.2, 1.2);
    }
    check_graph(g, c->name);
    ir_shape out = c->ref(c, x, want);
    char a[96], b[96];
    is_str(th_type(g->nodes[y].shape, a), th_type(out, b), "%s: shape", c->name);
    ir_values *d = th_run(g, c->nin, ids, (const double *const *)x, false, 0);
    ir_values *f = th_run(g, c->nin, ids, (const double *const *)x, true, 0);
    if (d && f && ir_shape_eq(g->nodes[y].shape, out)) {
        th_close(d->t[y].data, want, ir_numel(out), 1e-13, "%s: against the explicit loop", c->name);
        check_f32(&f->t[y], &d->t[y], 1e-5, c->name);
    }
    ir_values_free(d);
    ir_values_free(f);
    for (int k = 0; k < c->nin; k++) free(x[k]);
    free(want);
    ir_graph_free(g);
}

static void test_reference(void) {
    const ref_case cases[] = {
        {"const [2,3]", OP_const, 0, {{0}}, {.value = 0.25}, &SH(2, 3), ref_const},
        {"const empty", OP_const, 0, {{0}}, {.value = 1}, &SH(0, 4), ref_const},
        {"iota [2,3,4] axis 1", OP_iota, 0, {{0}}, {.axis = 1}, &SH(2, 3, 4), ref_iota},
        {"iota [2,3,4] axis -1", OP_iota, 0, {{0}}, {.axis = -1}, &SH(2, 3, 4), ref_iota},
        {"iota [5] axis 0", OP_iota, 0, {{0}}, {.axis = 0}, &SH(5), ref_iota},
        {"iota empty", OP_iota, 0, {{0}}, {.axis = 0}, &SH(0, 2), ref_iota},

        {"sum [3,4,5] axis 0", OP_sum, 1, {SH(3, 4, 5)}, {.axis = 0}, NULL, ref_reduce},
        {"sum [3,4,5] axis 1", OP_sum, 1, {SH(3, 4, 5)}, {.axis = 1}, NULL, ref_reduce},
        {"sum [3,4,5] axis -1", OP_sum, 1, {SH(3, 4, 5)}, {.axis = -1}, NULL, ref_reduce},
        {"sum [3,4,5] axis -3", OP_sum, 1, {SH(3, 4, 5)}, {.axis = -3}, NULL, ref_reduce},
        {"sum [1,4] axis 0", OP_sum, 1, {SH(1, 4)}, {.axis = 0}, NULL, ref_reduce},
        {"sum [2,0,3] axis 1 (empty axis)", OP_sum, 1, {SH(2, 0, 3)}, {.axis = 1}, NULL, ref_reduce},
        {"sum [0,3] axis 1 (empty result)", OP_sum, 1, {SH(0, 3)}, {.axis = 1}, NULL, ref_reduce},
        {"rmax [3,4,5] axis 1", OP_rmax, 1, {SH(3, 4, 5)}, {.axis = 1}, NULL, ref_reduce},
        {"rmax [3,4,5] axis -1", OP_rmax, 1, {SH(3, 4, 5)}, {.axis = -1}, NULL, ref_reduce},
        {"rmax [6] axis 0", OP_rmax, 1, {SH(6)}, {.axis = 0}, NULL, ref_reduce},
        {"rmax [0,3] axis 1 (empty result)", OP_rmax, 1, {SH(0, 3)}, {.axis = 1}, NULL, ref_reduce},
        {"mean [3,0] axis 0 (empty result)", OP_mean, 1, {SH(3, 0)}, {.axis = 0}, NULL, ref_reduce},
        {"mean [3,4,5] axis 2", OP_mean, 1, {SH(3, 4, 5)}, {.axis = 2}, NULL, ref_reduce},
        {"mean [3,4,5] axis -2", OP_mean, 1, {SH(3, 4, 5)}, {.axis = -2}, NULL, ref_reduce},
        {"mean [2,1,1,2,1,3] axis 3", OP_mean, 1, {SH(2, 1, 1, 2, 1, 3)}, {.axis = 3}, NULL, ref_reduce},

        {"reshape [2,3,4]->[4,6]", OP_reshape, 1, {SH(2, 3, 4)}, {0}, &SH(4, 6), ref_copy},
        {"reshape [6]->[1,6,1]", OP_reshape, 1, {SH(6)}, {0}, &SH(1, 6, 1), ref_copy},
        {"reshape scalar->[1,1]", OP_reshape, 1, {SCALAR}, {0}, &SH(1, 1), ref_copy},
        {"reshape [0,3]->[3,0,2]", OP_reshape, 1, {SH(0, 3)}, {0}, &SH(3, 0, 2), ref_copy},

        {"permute [2,3,4] (2,0,1)", OP_permute, 1, {SH(2, 3, 4)}, {.perm = {2, 0, 1}}, NULL, ref_permute},
        {"permute [2,3,4] (1,0,2)", OP_permute, 1, {SH(2, 3, 4)}, {.perm = {1, 0, 2}}, NULL, ref_permute},
        {"permute [2,3,4] identity", OP_permute, 1, {SH(2, 3, 4)}, {.perm = {0, 1, 2}}, NULL, ref_permute},
        {"permute rank 6 reversed", OP_permute, 1, {SH(2, 1, 3, 2, 1, 2)}, {.perm = {5, 4, 3, 2, 1, 0}}, NULL, ref_permute},
        {"permute [0,2]", OP_permute, 1, {SH(0, 2)}, {.perm = {1, 0}}, NULL, ref_permute},
        {"permute scalar", OP_permute, 1, {SCALAR}, {0}, NULL, ref_permute},

        {"broadcast [3]->[2,3]", OP_broadcast, 1, {SH(3)}, {0}, &SH(2, 3), ref_broadcast},
        {"broadcast [2,1]->[2,4]", OP_broadcast, 1, {SH(2, 1)}, {0}, &SH(2, 4), ref_broadcast},
        {"broadcast scalar->[2,2]", OP_broadcast, 1, {SCALAR}, {0}, &SH(2, 2), ref_broadcast},
        {"broadcast [1,3]->[2,1,2,3]", OP_broadcast, 1, {SH(1, 3)}, {0}, &SH(2, 1, 2, 3), ref_broadcast},
        {"broadcast [1]->[0]", OP_broadcast, 1, {SH(1)}, {0}, &SH(0), ref_broadcast},
        {"broadcast [2,3] identity", OP_broadcast, 1, {SH(2, 3)}, {0}, &SH(2, 3), ref_broadcast},

        {"slice [4,5] axis 0 1..3", OP_slice, 1, {SH(4, 5)}, {.axis = 0, .start = 1, .end = 3}, NULL, ref_slice},
        {"slice [4,5] axis -1 2..5", OP_slice, 1, {SH(4, 5)}, {.axis = -1, .start = 2, .end = 5}, NULL, ref_slice},
        {"slice [4,5] axis 1 2..2 (empty)", OP_slice, 1, {SH(4, 5)}, {.axis = 1, .start = 2, .end = 2}, NULL, ref_slice},
        {"slice [2,3,4] axis 1 full", OP_slice, 1, {SH(2, 3, 4)}, {.axis = 1, .start = 0, .end = 3}, NULL, ref_slice},

        {"concat axis 1 of three", OP_concat, 3, {SH(2, 1), SH(2, 3), SH(2, 0)}, {.axis = 1}, NULL, ref_concat},
        {"concat axis 0", OP_concat, 2, {SH(1, 2, 2), SH(3, 2, 2)}, {.axis = 0}, NULL, ref_concat},
        {"concat axis -2", OP_concat, 2, {SH(2, 1, 3), SH(2, 2, 3)}, {.axis = -2}, NULL, ref_concat},
        {"concat of one", OP_concat, 1, {SH(2, 2)}, {.axis = 1}, NULL, ref_concat},
        {"concat of four", OP_concat, 4, {SH(1), SH(2), SH(3), SH(1)}, {.axis = 0}, NULL, ref_concat},

        {"pad [2,3] axis 1 lo 1 hi 2", OP_pad, 1, {SH(2, 3)}, {.axis = 1, .lo = 1, .hi = 2, .value = -1.5}, NULL, ref_pad},
        {"pad [2,3] axis 0 hi 1", OP_pad, 1, {SH(2, 3)}, {.axis = 0, .hi = 1, .value = 7}, NULL, ref_pad},
        {"pad [2,3] axis -1 lo 2", OP_pad, 1, {SH(2, 3)}, {.axis = -1, .lo = 2}, NULL, ref_pad},
        {"pad [0,2] axis 0 lo 2", OP_pad, 1, {SH(0, 2)}, {.axis = 0, .lo = 2, .value = 3}, NULL, ref_pad},
        {"pad [2,3] nothing", OP_pad, 1, {SH(2, 3)}, {.axis = 1}, NULL, ref_pad},

        {"matmul [2,3]x[3,4]", OP_matmul, 2, {SH(2, 3), SH(3, 4)}, {0}, NULL, ref_matmul},
        {"matmul ta [3,2]x[3,4]", OP_matmul, 2, {SH(3, 2), SH(3, 4)}, {.ta = true}, NULL, ref_matmul},
        {"matmul tb [2,3]x[4,3]", OP_matmul, 2, {SH(2, 3), SH(4, 3)}, {.tb = true}, NULL, ref_matmul},
        {"matmul ta tb [3,2]x[4,3]", OP_matmul, 2, {SH(3, 2), SH(4, 3)}, {.ta = true, .tb = true}, NULL, ref_matmul},
        {"matmul [2,2,3]x[3,4]", OP_matmul, 2, {SH(2, 2, 3), SH(3, 4)}, {0}, NULL, ref_matmul},
        {"matmul [3,4]x[2,4,5]", OP_matmul, 2, {SH(3, 4), SH(2, 4, 5)}, {0}, NULL, ref_matmul},
        {"matmul tb [2,1,3,4]x[5,2,4]", OP_matmul, 2, {SH(2, 1, 3, 4), SH(5, 2, 4)}, {.tb = true}, NULL, ref_matmul},
        {"matmul ta [1,3,2]x[4,3,5]", OP_matmul, 2, {SH(1, 3, 2), SH(4, 3, 5)}, {.ta = true}, NULL, ref_matmul},
        {"matmul ta tb [3,1,4,2]x[1,2,3,4]", OP_matmul, 2, {SH(3, 1, 4, 2), SH(1, 2, 3, 4)}, {.ta = true, .tb = true}, NULL,
         ref_matmul},
        {"matmul rank 6", OP_matmul, 2, {SH(2, 1, 1, 1, 2, 3), SH(1, 2, 1, 1, 3, 2)}, {0}, NULL, ref_matmul},
        {"matmul [1,1]x[1,1]", OP_matmul, 2, {SH(1, 1), SH(1, 1)}, {0}, NULL, ref_matmul},
        {"matmul K=0 gives zeros", OP_matmul, 2, {SH(2, 0), SH(0, 3)}, {0}, NULL, ref_matmul},
        {"matmul M=0", OP_matmul, 2, {SH(0, 3), SH(3, 2)}, {0}, NULL, ref_matmul},
        {"matmul empty batch", OP_matmul, 2, {SH(0, 2, 3), SH(3, 2)}, {0}, NULL, ref_matmul},
        {"matmul empty batch tb", OP_matmul, 2, {SH(2, 3), SH(0, 4, 3)}, {.tb = true}, NULL, ref_matmul},

        {"scan [5] axis 0", OP_scan, 3, {SH(5), SH(5), SH(1)}, {.axis = 0}, NULL, ref_scan},
        {"scan [5] axis 0 reverse", OP_scan, 3, {SH(5), SH(5), SH(1)}, {.axis = 0, .reverse = true}, NULL, ref_scan},
        {"scan [3,4,2] axis 0", OP_scan, 3, {SH(3, 4, 2), SH(3, 4, 2), SH(1, 4, 2)}, {.axis = 0}, NULL, ref_scan},
        {"scan [3,4,2] axis 1", OP_scan, 3, {SH(3, 4, 2), SH(3, 4, 2), SH(3, 1, 2)}, {.axis = 1}, NULL, ref_scan},
        {"scan [3,4,2] axis 1 reverse", OP_scan, 3, {SH(3, 4, 2), SH(3, 4, 2), SH(3, 1, 2)}, {.axis = 1, .reverse = true},
         NULL, ref_scan},
        {"scan [3,4,2] axis -1", OP_scan, 3, {SH(3, 4, 2), SH(3, 4, 2), SH(3, 4, 1)}, {.axis = -1}, NULL, ref_scan},
        {"scan [3,4,2] axis -3 reverse", OP_scan, 3, {SH(3, 4, 2), SH(3, 4, 2), SH(1, 4, 2)}, {.axis = -3, .reverse = true},
         NULL, ref_scan},
        {"scan [2,0,3] axis 1 (T=0)", OP_scan, 3, {SH(2, 0, 3), SH(2, 0, 3), SH(2, 1, 3)}, {.axis = 1}, NULL, ref_scan},
        {"scan [1,3] axis 0 (T=1)", OP_scan, 3, {SH(1, 3), SH(1, 3), SH(1, 3)}, {.axis = 0}, NULL, ref_scan},
        {"cscan [4,2] axis 0", OP_cscan, 3, {SH(4, 2), SH(4, 2), SH(1, 2)}, {.axis = 0}, NULL, ref_scan},
        {"cscan [4,2] axis 0 reverse", OP_cscan, 3, {SH(4, 2), SH(4, 2), SH(1, 2)}, {.axis = 0, .reverse = true}, NULL,
         ref_scan},
        {"cscan [3,4,2] axis 1", OP_cscan, 3, {SH(3, 4, 2), SH(3, 4, 2), SH(3, 1, 2)}, {.axis = 1}, NULL, ref_scan},
        {"cscan [3,4,2] axis -3 reverse", OP_cscan, 3, {SH(3, 4, 2), SH(3, 4, 2), SH(1, 4, 2)},
         {.axis = -3, .reverse = true}, NULL, ref_scan},
        {"cscan [2,3,2,2] axis 2 reverse", OP_cscan, 3, {SH(2, 3, 2, 2), SH(2, 3, 2, 2), SH(2, 3, 1, 2)},
         {.axis = 2, .reverse = true}, NULL, ref_scan},
        {"cscan [0,3,2] axis 1 (empty)", OP_cscan, 3, {SH(0, 3, 2), SH(0, 3, 2), SH(0, 1, 2)}, {.axis = 1}, NULL, ref_scan},
        {"cscan [2,0,2] axis 1 (T=0)", OP_cscan, 3, {SH(2, 0, 2), SH(2, 0, 2), SH(2, 1, 2)}, {.axis = 1}, NULL, ref_scan},
        {"cscan [2,3,2,2] axis -3", OP_cscan, 3, {SH(2, 3, 2, 2), SH(2, 3, 2, 2), SH(2, 1, 2, 2)}, {.axis = -3}, NULL,
         ref_scan},
    };
    uint64_t rng = 7;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_ref(&cases[i], &rng);
}

/* ---- 4. targeted checks ---- */

/* Runs a one-input graph y = build(x) on the n values xs; returns y's values (caller frees). */
static double *run_unary_op(ir_op op, const double *xs, int64_t n, bool round_f32) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", ir_shape_of(1, &n)), y = ir_unary(g, op, x);
    ir_values *v = th_run(g, 1, &x, &xs, round_f32, 0);
    double *out = malloc((size_t)n * sizeof(double));
    if (v) memcpy(out, v->t[y].data, (size_t)n * sizeof(double));
    ir_values_free(v);
    ir_graph_free(g);
    return out;
}

static void test_identities(void) {
    uint64_t rng = 99;
    ir_shape s = SH(2, 3, 4, 5);
    const int perms[][4] = {{3, 1, 0, 2}, {1, 2, 3, 0}, {0, 3, 2, 1}, {2, 3, 0, 1}};
    for (size_t p = 0; p < sizeof perms / sizeof perms[0]; p++) {
        int inv[4];
        for (int i = 0; i < 4; i++) inv[perms[p][i]] = i;
        ir_graph *g = ir_graph_new();
        ir_id x = ir_input(g, "x", s), y = ir_permute(g, x, perms[p]), z = ir_permute(g, y, inv);
        ok(z != IR_NONE && ir_shape_eq(g->nodes[z].shape, s), "permute (%d,%d,%d,%d) then its inverse keeps the shape",
           perms[p][0], perms[p][1], perms[p][2], perms[p][3]);
        double xs[120];
        th_fill(xs, 120, &rng, -1, 1);
        const double *in = xs;
        ir_values *v = th_run(g, 1, &x, &in, false, 0);
        if (v) th_close(v->t[z].data, xs, 120, 0, "permute then its inverse is the identity");
        ir_values_free(v);
        ir_graph_free(g);
    }
    /* reshape round trip, and reshape of a permute equals the permute's row-major order */
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", s), r1 = ir_reshape(g, x, SH(6, 20)), r2 = ir_reshape(g, r1, SH(120)),
          r3 = ir_reshape(g, r2, s);
    ir_id p = ir_permute(g, x, (const int[]){1, 0, 2, 3}), pr = ir_reshape(g, p, SH(3, 40));
    ok(r3 != IR_NONE && pr != IR_NONE, "reshape chain builds");
    double xs[120];
    th_fill(xs, 120, &rng, -1, 1);
    const double *in = xs;
    ir_values *v = th_run(g, 1, &x, &in, false, 0);
    if (v) {
        th_close(v->t[r3].data, xs, 120, 0, "reshape [2,3,4,5]->[6,20]->[120]->[2,3,4,5] is the identity");
        th_close(v->t[pr].data, v->t[p].data, 120, 0, "reshape keeps the row-major order of its input");
    }
    ir_values_free(v);
    ir_graph_free(g);

    /* slice + concat of all the pieces gives back the input; pad then slice gives back the input */
    g = ir_graph_new();
    x = ir_input(g, "x", s);
    ir_id a = ir_slice(g, x, 2, 0, 1), b = ir_slice(g, x, 2, 1, 3), c = ir_slice(g, x, -2, 3, 4);
    ir_id cat = ir_concat(g, (const ir_id[]){a, b, c}, 3, 2);
    ir_id pad = ir_pad(g, x, 3, 2, 1, 9), back = ir_slice(g, pad, 3, 2, 7);
    ir_id bc = ir_broadcast(g, ir_reduce(g, OP_sum, x, 1), SH(2, 3, 4, 5));
    ok(cat != IR_NONE && back != IR_NONE && bc != IR_NONE, "slice/concat/pad chain builds: %s", ir_error(g));
    v = th_run(g, 1, &x, &in, false, 0);
    if (v) {
        th_close(v->t[cat].data, xs, 120, 0, "concat of the slices along an axis is the input");
        th_close(v->t[back].data, xs, 120, 0, "slice of the pad is the input");
        double want[120];
        for (int i = 0; i < 120; i++) {
            int64_t cc[4];
            th_coord(s, i, cc);
            want[i] = 0;
            for (cc[1] = 0; cc[1] < 3; cc[1]++) want[i] += xs[th_flat(s, cc)];
        }
        th_close(v->t[bc].data, want, 120, 1e-15, "broadcast of a kept-axis sum spreads it back");
    }
    ir_values_free(v);
    ir_graph_free(g);
}

static void test_softplus_gelu(void) {
    /* softplus is x itself above 20, log(1+e^x) at and below; the jump there is below 3e-9. */
    const double xs[] = {19.5, 20, nextafter(20, 21), 21, 40, -40, 0};
    double *y = run_unary_op(OP_softplus, xs, 7, false);
    is_double(y[0], log1p(exp(19.5)), 0, "softplus(19.5) = log1p(e^19.5)");
    ok(y[1] == log1p(exp(20.0)) && y[1] > 20 && y[1] - 20 < 3e-9, "softplus(20) = log1p(e^20), within 3e-9 of 20");
    ok(y[2] == xs[2] && y[3] == 21 && y[4] == 40, "softplus(x) = x exactly for x > 20");
    ok(y[5] > 0 && fabs(y[5] - exp(-40.0)) < 1e-30, "softplus(-40) = e^-40 (no underflow to 0)");
    is_double(y[6], log(2.0), 1e-16, "softplus(0) = log 2");
    free(y);

    /* gelu (tanh form) against its formula on a grid, and within 5e-4 of the exact erf form */
    enum { NG = 241 };
    double grid[NG], want[NG];
    for (int i = 0; i < NG; i++) {
        double x = -6 + 0.05 * i;
        grid[i] = x;
        want[i] = 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    }
    y = run_unary_op(OP_gelu, grid, NG, false);
    th_close(y, want, NG, 1e-15, "gelu = 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) on [-6, 6]");
    double worst = 0;
    for (int i = 0; i < NG; i++) worst = fmax(worst, fabs(y[i] - 0.5 * grid[i] * (1 + erf(grid[i] / sqrt(2)))));
    ok(worst < 5e-4 && worst > 1e-5, "gelu (tanh) is within 5e-4 of the erf form, but not equal (%.3g)", worst);
    free(y);
}

/* rand_mask: counts zeros over n elements; returns the mask values of one step. */
static void test_rand_mask(void) {
    enum { N = 200000 };
    const double p = 0.1;
    ir_graph *g = ir_graph_new();
    ir_id m = ir_rand_mask(g, SH(400, 500), p, 12345), m2 = ir_rand_mask(g, SH(400, 500), p, 777);
    ir_id m0 = ir_rand_mask(g, SH(4), 0, 1);
    ok(m != IR_NONE && m2 != IR_NONE && m0 != IR_NONE, "rand_mask builds: %s", ir_error(g));
    ir_values *s0 = th_run(g, 0, NULL, NULL, false, 0), *s0b = th_run(g, 0, NULL, NULL, false, 0);
    ir_values *s1 = th_run(g, 0, NULL, NULL, false, 1), *f0 = th_run(g, 0, NULL, NULL, true, 0);
    if (s0 && s0b && s1 && f0) {
        const double *a = s0->t[m].data, *b = s1->t[m].data, *c = s0->t[m2].data;
        int64_t zeros = 0, others = 0, diff_step = 0, diff_seed = 0, same = 0, both_zero = 0;
        for (int i = 0; i < N; i++) {
            zeros += a[i] == 0;
            others += a[i] != 0 && a[i] != 1 / (1 - p);
            diff_step += (a[i] == 0) != (b[i] == 0);
            diff_seed += (a[i] == 0) != (c[i] == 0);
            same += a[i] == s0b->t[m].data[i];
            both_zero += a[i] == 0 && b[i] == 0;
        }
        /* Binomial(N, p): mean N p, sd sqrt(N p (1-p)); 6 sd bounds */
        double mean = N * p, sd = sqrt(N * p * (1 - p));
        ok(fabs((double)zeros - mean) < 6 * sd, "rand_mask p=0.1: %lld zeros of %d, expected %.0f +- %.0f",
           (long long)zeros, N, mean, 6 * sd);
        is_int(others, 0, "rand_mask: kept elements are exactly 1/(1-p)");
        is_int(same, N, "rand_mask: the same step gives the same mask");
        /* two independent masks differ at 2p(1-p) N positions on average; they overlap at p^2 N */
        double dmean = 2 * p * (1 - p) * N, dsd = sqrt(dmean);
        ok(fabs((double)diff_step - dmean) < 6 * dsd, "rand_mask: steps 0 and 1 differ at %lld positions (expected %.0f)",
           (long long)diff_step, dmean);
        ok(fabs((double)diff_seed - dmean) < 6 * dsd, "rand_mask: seeds 12345 and 777 differ at %lld positions (expected %.0f)",
           (long long)diff_seed, dmean);
        ok(fabs((double)both_zero - p * p * N) < 6 * sqrt(p * p * N), "rand_mask: steps 0 and 1 drop together %lld times",
           (long long)both_zero);
        int64_t ff = 0;
        for (int i = 0; i < N; i++) ff += f0->t[m].data[i] != (double)(float)a[i];
        is_int(ff, 0, "rand_mask: round_f32 gives the same mask, scale rounded to float");
        th_close(s0->t[m0].data, (const double[]){1, 1, 1, 1}, 4, 0, "rand_mask p=0 keeps everything at scale 1");
    }
    ir_values_free(s0);
    ir_values_free(s0b);
    ir_values_free(s1);
    ir_values_free(f0);
    ir_graph_free(g);
}

static void test_round_f32(void) {
    /* y = (x + 1e-8) - x: 1e-8 in double, 0 once every op rounds to float; z = x / 3 */
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", SH(1)), t = ir_binary(g, OP_add, x, ir_scalar(g, 1e-8));
    ir_id y = ir_binary(g, OP_sub, t, x), z = ir_binary(g, OP_div, x, ir_scalar(g, 3));
    /* h = h + 4e-8 from 1, three steps: float rounds every step back to 1; rounding only the final
     * 1 + 1.2e-7 would give 1 + 2^-23 */
    ir_id sc = ir_scan(g, ir_const(g, 1, SH(3)), ir_const(g, 4e-8, SH(3)), ir_const(g, 1, SH(1)), 0, false);
    ir_id ca = ir_pad(g, ir_const(g, 1, SH(3, 1)), 1, 0, 1, 0); /* a = 1 + 0i; b = (1 + i) 4e-8; h0 = 1 + i */
    ir_id cs = ir_cscan(g, ca, ir_const(g, 4e-8, SH(3, 2)), ir_const(g, 1, SH(1, 2)), 0, false);
    const double one = 1;
    const double *in = &one;
    ir_values *d = th_run(g, 1, &x, &in, false, 0), *f = th_run(g, 1, &x, &in, true, 0);
    if (d && f) {
        is_double(d->t[y].data[0], 1e-8, 1e-15, "double mode keeps 1+1e-8");
        ok(f->t[y].data[0] == 0, "round_f32 rounds 1+1e-8 to 1 before the subtraction");
        ok(d->t[z].data[0] == 1.0 / 3, "double mode: 1/3 in double");
        ok(f->t[z].data[0] == (double)(1.0f / 3), "round_f32: 1/3 in float");
        ok(d->t[sc].data[2] > 1 && f->t[sc].data[2] == 1, "round_f32 rounds the scan state at every step");
        ok(d->t[cs].data[4] > 1 && d->t[cs].data[5] > 1 && f->t[cs].data[4] == 1 && f->t[cs].data[5] == 1,
           "round_f32 rounds the cscan state (re and im) at every step");
    }
    ir_values_free(d);
    ir_values_free(f);
    ir_graph_free(g);
}

static void test_interp_errors(void) {
    ir_graph *g = ir_graph_new(), *h = ir_graph_new();
    ir_id x = ir_input(g, "x", SH(2, 3));
    ir_unary(g, OP_exp, x);
    ir_input(h, "x", SH(2, 3));
    ir_values *v = ir_values_new(h);
    char err[256] = "";
    ok(!ir_interp(g, v, NULL, err, sizeof err), "values of another graph are refused");
    is_str(err, "interp: values are for a graph of 1 nodes, this one has 2", "... with a message");
    ir_values_free(v);
    v = ir_values_new(g);
    v->t[1].shape = SH(3, 2);
    ok(!ir_interp(g, v, NULL, err, sizeof err), "a value of the wrong shape is refused");
    is_str(err, "interp: value of %1 (exp) has the wrong shape", "... with a message");
    v->t[1].shape = SH(2, 3);
    ok(ir_interp(g, v, NULL, err, sizeof err), "NULL options mean double mode");
    g->args[g->nodes[1].in_off] = 1;
    ok(!ir_interp(g, v, NULL, err, sizeof err), "an unverified graph with a self reference is refused");
    is_str(err, "interp: input 0 of %1 (exp) is %1, not an earlier node", "... with a message");
    g->args[g->nodes[1].in_off] = 0;
    g->nodes[1].op = OP_COUNT;
    ok(!ir_interp(g, v, NULL, err, sizeof err), "an unknown op is refused");
    char want[64];
    snprintf(want, sizeof want, "interp: %%1 has unknown op %d", OP_COUNT);
    is_str(err, want, "... with a message");
    g->nodes[1].op = OP_exp;
    ir_values_free(v);
    /* a variadic op with more inputs than the interpreter's small buffer */
    ir_id xs[12];
    for (int i = 0; i < 12; i++) xs[i] = ir_const(h, i, SH(1));
    ir_id cat = ir_concat(h, xs, 12, 0);
    v = ir_values_new(h);
    ok(cat != IR_NONE && ir_interp(h, v, NULL, err, sizeof err), "concat of 12 inputs runs");
    th_close(v->t[cat].data, (const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 12, 0, "concat of 12 inputs");
    ir_values_free(v);
    ir_graph_free(g);
    ir_graph_free(h);
}

static void test_params(void) {
    ir_graph *g = ir_graph_new();
    ir_id w = ir_param(g, "w", SH(2, 2), ir_init_data(g, (const float[]){1, 2, 3, 4}, 4));
    ir_id x = ir_input(g, "x", SH(2));
    ir_id y = ir_matmul(g, w, ir_reshape(g, x, SH(2, 1)), false, false);
    ir_values *v = ir_values_new(g);
    ir_values_init_params(g, v, 1);
    v->t[x].data[0] = 1;
    v->t[x].data[1] = -1;
    char err[128];
    ok(ir_interp(g, v, NULL, err, sizeof err), "param graph runs");
    th_close(v->t[y].data, (const double[]){-1, -1}, 2, 0, "params come from ir_values_init_params");
    ir_values_free(v);
    ir_graph_free(g);
}

int main(void) {
    test_hand();
    test_elementwise();
    test_reference();
    test_identities();
    test_softplus_gelu();
    test_rand_mask();
    test_round_f32();
    test_interp_errors();
    test_params();
    covered[OP_input] = covered[OP_param] = true; /* every case above reads inputs; params in test_params */
    for (int op = 0; op < OP_COUNT; op++) /* fused ops: against their primitive patterns in tests/test_fuse_ops.c */
        if (!(ir_ops[op].flags & OPF_FUSED)) ok(covered[op], "op %s has interpreter tests", ir_ops[op].name);
    return done_testing();
}
