/* The Lua frontend: every op of ir/ops.def through the generated binding (function and method form), the
 * sugar, numbers as constants, locations, the C API (configs, --set, hashes, task shapes, catalog). */
#include "frontend/frontend.h"
#include "tasks/task.h"
#include "tests/tap.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/iclc-test-frontend-XXXXXX";
static char err[8192];

/* Writes text to dir/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

/* A model whose body (Lua statements with x = f32[2,3] and tokens in scope) sets `r`, which becomes
 * output "r". Returns the built model or NULL (message in err). */
static fe_model *build_body(const char *body) {
    static char text[16384];
    snprintf(text, sizeof text,
             "local M = {configs = {tiny = {}}}\n"
             "function M.m(cfg, shape)\n"
             "  local tokens = iclc.input(\"tokens\", {shape.B, shape.T, shape.d_in})\n"
             "  local x = iclc.input(\"x\", {2, 3})\n"
             "  local r\n"
             "%s\n"
             "  iclc.output(\"r\", r)\n"
             "  return tokens:slice(2, 0, 1)\n"
             "end\n"
             "return M\n",
             body);
    const char *path = write_file("body.lua", text);
    char spec[600];
    snprintf(spec, sizeof spec, "%s:m", path);
    fe_shape sh;
    if (!fe_task_shape("linear_regression", 1, &sh, err, sizeof err)) return NULL;
    return fe_build(&(fe_options){.model = spec, .shape = sh}, err, sizeof err);
}

static const ir_node *output_node(const fe_model *m, const char *name) {
    ir_id id = ir_output_find(m->graph, name);
    return id == IR_NONE ? NULL : &m->graph->nodes[id];
}

/* ---- every op through the generated rule ---- */

/* The attribute table text for op, from the op table: each attribute gets a valid value for the
 * inputs below (x f32[2,3]; scan a/b f32[2,3,2], h0 f32[2,1,2]). */
static void attr_text(ir_op op, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "{");
    bool source = ir_ops[op].flags & OPF_SOURCE;
    if (source || op == OP_reshape || op == OP_broadcast)
        n += (size_t)snprintf(buf + n, len - n, "shape = %s, ",
                              op == OP_reshape ? "{3, 2}" : op == OP_broadcast ? "{4, 2, 3}" : "{2, 3}");
    for (int i = 0; i < ATTR_COUNT; i++) {
        if (!(ir_ops[op].attrs & (1u << i))) continue;
        const char *v = "0";
        switch (ir_attr_table[i].kind) {
        case ATTR_STR: v = "\"n\""; break;
        case ATTR_INIT: v = "iclc.init.normal(0.5)"; break;
        case ATTR_F64: v = "0.25"; break;
        case ATTR_PERM: v = "{1, 0}"; break;
        case ATTR_BOOL: v = strcmp(ir_attr_table[i].name, "ta") == 0 ? "false" : "true"; break;
        case ATTR_INT:
            if (strcmp(ir_attr_table[i].name, "end") == 0 || strcmp(ir_attr_table[i].name, "hi") == 0) v = "2";
            else if (strcmp(ir_attr_table[i].name, "axis") == 0 && (ir_ops[op].flags & OPF_SCAN)) v = "1";
            else if (strcmp(ir_attr_table[i].name, "seed") == 0) v = "7";
            break;
        }
        n += (size_t)snprintf(buf + n, len - n, "[\"%s\"] = %s, ", ir_attr_table[i].name, v);
    }
    snprintf(buf + n, len - n, "}");
}

/* Inputs of op: the Lua argument list before the attributes. */
static const char *inputs_text(ir_op op, bool method) {
    uint32_t f = ir_ops[op].flags;
    if (f & OPF_SOURCE) return "";
    if (f & OPF_SCAN)
        return method ? "a, b, h0" : "a, b, h0"; /* method form: a:scan(b, h0, ...) built below */
    if (f & OPF_CONTRACT) return "x, x";
    if (ir_ops[op].arity < 0 || ir_ops[op].arity == 2) return "x, x";
    if (ir_ops[op].arity == 3) return "x, x, x";
    return "x";
}

static void test_every_op(void) {
    int covered = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        if (ir_ops[op].flags & OPF_FUSED) continue;
        char attrs[512], body[2048];
        attr_text((ir_op)op, attrs, sizeof attrs);
        bool source = ir_ops[op].flags & OPF_SOURCE, scan = ir_ops[op].flags & OPF_SCAN;
        const char *pre = scan ? "  local a = iclc.input(\"a\", {2, 3, 2})\n  local b = iclc.input(\"b\", {2, 3, 2})\n"
                                 "  local h0 = iclc.input(\"h0\", {2, 1, 2})\n"
                               : "";
        const char *ins = inputs_text((ir_op)op, false);
        bool contract = ir_ops[op].flags & OPF_CONTRACT;
        /* matmul of x f32[2,3] with itself needs tb = true: the attr table sets every bool to true */
        (void)contract;
        snprintf(body, sizeof body, "%s  r = iclc.%s(%s%s%s)", pre, ir_ops[op].name, ins, ins[0] ? ", " : "", attrs);
        fe_model *m = build_body(body);
        const ir_node *n = m ? output_node(m, "r") : NULL;
        bool good = n && n->op == (ir_op)op;
        ok(good, "iclc.%s(...) builds a %s node", ir_ops[op].name, ir_ops[op].name);
        if (!good) diag("%s\n%s", body, m ? "wrong node" : err);
        covered += good;
        fe_model_free(m);
        if (source) continue;
        /* method form: first input is the receiver */
        const char *recv = scan ? "a" : "x";
        const char *rest = scan ? "b, h0, " : (ir_ops[op].arity == 1 ? "" : ir_ops[op].arity == 3 ? "x, x, " : "x, ");
        snprintf(body, sizeof body, "%s  r = %s:%s(%s%s)", pre, recv, ir_ops[op].name, rest, attrs);
        m = build_body(body);
        n = m ? output_node(m, "r") : NULL;
        ok(n && n->op == (ir_op)op, "x:%s(...) builds a %s node", ir_ops[op].name, ir_ops[op].name);
        if (!(n && n->op == (ir_op)op)) diag("%s\n%s", body, m ? "wrong node" : err);
        fe_model_free(m);
    }
    int total = 0;
    for (int op = 0; op < OP_COUNT; op++) total += !(ir_ops[op].flags & OPF_FUSED);
    is_int(covered, total, "every op of ops.def is reachable from Lua");
}

/* ---- sugar ---- */

static void check_shape(const ir_node *n, int rank, const int64_t *dims, const char *what) {
    bool same = n && n->shape.rank == rank;
    for (int i = 0; same && i < rank; i++) same = n->shape.dim[i] == dims[i];
    char t[96];
    ok(same, "%s has the expected shape", what);
    if (!same && n) diag("got %s", ir_type_str(IR_F32, n->shape, t, sizeof t));
}

typedef struct sugar_case {
    const char *body;
    const char *op;
    int rank;
    int64_t dims[4];
} sugar_case;

static void test_sugar(void) {
    static const sugar_case cases[] = {
        {"r = x + 1", "add", 2, {2, 3}},
        {"r = 1 - x", "sub", 2, {2, 3}},
        {"r = x * x", "mul", 2, {2, 3}},
        {"r = x / 2", "div", 2, {2, 3}},
        {"r = -x", "neg", 2, {2, 3}},
        {"r = x:sum(1)", "sum", 2, {2, 1}},
        {"r = x:mean(-1)", "mean", 2, {2, 1}},
        {"r = x:rmax(0)", "rmax", 2, {1, 3}},
        {"r = x:reshape{-1}", "reshape", 1, {6}},
        {"r = x:reshape{3, -1}", "reshape", 2, {3, 2}},
        {"r = x:permute{1, 0}", "permute", 2, {3, 2}},
        {"r = x:permute{-1, 0}", "permute", 2, {3, 2}},
        {"r = x:broadcast{5, 2, 3}", "broadcast", 3, {5, 2, 3}},
        {"r = x:slice(1, 1, 3)", "slice", 2, {2, 2}},
        {"r = x:slice(1, -2)", "slice", 2, {2, 2}},
        {"r = iclc.concat({x, x, x}, 0)", "concat", 2, {6, 3}},
        {"r = iclc.concat(x, x, {axis = 1})", "concat", 2, {2, 6}},
        {"r = x:pad(1, 1, 2, -1)", "pad", 2, {2, 6}},
        {"r = x:matmul(x, {tb = true})", "matmul", 2, {2, 2}},
        {"r = x:matmul(x, {ta = true})", "matmul", 2, {3, 3}},
        {"r = iclc.select(x:gt(0), x, 0)", "select", 2, {2, 3}},
        {"r = iclc.scalar(3)", "const", 0, {0}},
        {"r = iclc.const(2.5, {4})", "const", 1, {4}},
        {"r = iclc.iota({2, 5}, 1)", "iota", 2, {2, 5}},
        {"r = iclc.rand_mask({3}, 0.1, 4)", "rand_mask", 1, {3}},
        {"r = iclc.param('w', {3, 4}, iclc.init.uniform(-1, 1))", "param", 2, {3, 4}},
        {"r = x:max(0)", "max", 2, {2, 3}},
        {"local h = iclc.input('h', {2, 1, 2}); local a = iclc.input('a', {2, 5, 2}); "
         "r = iclc.cscan(a, a, h, {axis = 1, reverse = true})",
         "cscan", 3, {2, 5, 2}},
        {"local sh = x.shape; r = iclc.const(x.rank, {sh[1], sh[2], #sh})", "const", 3, {2, 3, 2}},
        {"assert(tostring(x):find('f32%[2,3%]')); r = x", "input", 2, {2, 3}},
        {"assert(x.op == 'input' and (x + 1).op == 'add'); r = x", "input", 2, {2, 3}},
        {"assert(iclc.input('x', {2, 3}).op == 'input'); r = iclc.input('x', {2, 3})", "input", 2, {2, 3}},
        {"r = require('iclc').exp(x)", "exp", 2, {2, 3}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, "  %s", cases[i].body);
        fe_model *m = build_body(body);
        const ir_node *n = m ? output_node(m, "r") : NULL;
        ok(n && strcmp(ir_ops[n->op].name, cases[i].op) == 0, "%s -> %s", cases[i].body, cases[i].op);
        if (!n) diag("%s", err);
        check_shape(n, cases[i].rank, cases[i].dims, cases[i].body);
        fe_model_free(m);
    }

    /* numbers become rank-0 constants, on either side */
    fe_model *m = build_body("  r = 2 * x - 0.5");
    const ir_node *n = m ? output_node(m, "r") : NULL;
    if (ok(n && n->op == OP_sub, "2 * x - 0.5 is a sub")) {
        const ir_node *c = &m->graph->nodes[ir_in(m->graph, n, 1)];
        ok(c->op == OP_const && c->shape.rank == 0 && c->attr.value == 0.5, "0.5 is a rank-0 const");
        const ir_node *mul = &m->graph->nodes[ir_in(m->graph, n, 0)];
        const ir_node *two = &m->graph->nodes[ir_in(m->graph, mul, 0)];
        ok(mul->op == OP_mul && two->op == OP_const && two->attr.value == 2, "2 * x: the number is the first input");
    }
    fe_model_free(m);

    /* attributes arrive in the node */
    m = build_body("  r = x:slice(1, -2):pad(0, 1, 3, 7.5)");
    n = m ? output_node(m, "r") : NULL;
    if (ok(n && n->op == OP_pad, "slice then pad")) {
        ok(n->attr.axis == 0 && n->attr.lo == 1 && n->attr.hi == 3 && n->attr.value == 7.5, "pad attributes");
        const ir_node *s = &m->graph->nodes[ir_in(m->graph, n, 0)];
        ok(s->attr.axis == 1 && s->attr.start == 1 && s->attr.end == 3, "slice(1, -2) = start 1, end 3");
    }
    fe_model_free(m);

    m = build_body("  r = iclc.param('dt', {4}, iclc.init.uniform(-3, -1):exp():softplus_inv())\n"
                   "  iclc.output('d', iclc.param('d', {2, 2}, iclc.init.data({1, 2, 3, 4})))\n"
                   "  iclc.output('nm', iclc.param('nm', {2}, iclc.init.normal(0.02, 1)))");
    n = m ? output_node(m, "r") : NULL;
    if (ok(n && n->op == OP_param, "params with initializers")) {
        ok(n->attr.init.kind == INIT_UNIFORM && n->attr.init.a == -3 && n->attr.init.post[0] == INIT_POST_EXP &&
               n->attr.init.post[1] == INIT_POST_SOFTPLUS_INV,
           "uniform:exp():softplus_inv()");
        const ir_node *d = output_node(m, "d");
        ok(d && d->attr.init.kind == INIT_DATA && d->attr.init.data[3] == 4, "init.data values");
        const ir_node *nm = output_node(m, "nm");
        ok(nm && nm->attr.init.kind == INIT_NORMAL && nm->attr.init.a == 1 && nm->attr.init.b == 0.02,
           "init.normal(std, mean)");
        is_int(m->nparams, 4 + 4 + 2, "parameter count sums the params");
    }
    fe_model_free(m);
}

/* ---- locations ---- */

static void test_locations(void) {
    const char *text = "local M = {configs = {tiny = {}}}\n"                       /* 1 */
                       "function M.m(cfg, shape)\n"                                /* 2 */
                       "  local x = iclc.input('tokens', {shape.B, shape.T, shape.d_in})\n" /* 3 */
                       "  local w = iclc.param('w', {shape.d_out, shape.d_in},\n"   /* 4 */
                       "                       iclc.init.zeros())\n"               /* 5 */
                       "\n"                                                        /* 6 */
                       "  local y = x:matmul(w, {tb = true})\n"                    /* 7 */
                       "  return y + 1\n"                                          /* 8 */
                       "end\n"
                       "return M\n";
    const char *path = write_file("loc.lua", text);
    char spec[600];
    snprintf(spec, sizeof spec, "%s:m", path);
    fe_shape sh;
    fe_task_shape("linear_regression", 2, &sh, err, sizeof err);
    fe_model *m = fe_build(&(fe_options){.model = spec, .shape = sh}, err, sizeof err);
    if (!ok(m != NULL, "location model builds")) {
        diag("%s", err);
        return;
    }
    static const struct {
        ir_op op;
        int line;
    } want[] = {{OP_input, 3}, {OP_param, 4}, {OP_matmul, 7}, {OP_const, 8}, {OP_add, 8}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const ir_node *n = NULL;
        for (ir_id k = 0; k < m->graph->nnodes && !n; k++)
            if (m->graph->nodes[k].op == want[i].op) n = &m->graph->nodes[k];
        ok(n && n->loc.line == want[i].line && n->loc.file && strcmp(n->loc.file, path) == 0,
           "%s node at %s:%d", ir_ops[want[i].op].name, "loc.lua", want[i].line);
        if (n && n->loc.line != want[i].line) diag("  got %s:%d", n->loc.file ? n->loc.file : "?", n->loc.line);
    }
    fe_model_free(m);

    /* a shape error names file:line, the op and the shapes */
    fe_model *bad = build_body("  local w = iclc.input('w', {4, 5})\n  r = x:matmul(w)");
    ok(!bad, "inner-dim mismatch fails");
    char want_msg[700];
    snprintf(want_msg, sizeof want_msg, "%s/body.lua:7: matmul: inner dims differ: f32[2,3] x f32[4,5]", dir);
    is_str(err, want_msg, "the message is file:line: op: what (shapes)");
    fe_model_free(bad);
}

/* ---- the C API ---- */

static void test_api(void) {
    const char *toy = "local M = {}\n"
                      "M.configs = {tiny = {D = 4, act = 'gelu', pe = true}, big = {D = 8, act = 'relu', pe = true}}\n"
                      "M.default_config = 'big'\n"
                      "function M.lin(cfg, shape)\n"
                      "  local x = iclc.input('tokens', {shape.B, shape.T, shape.d_in})\n"
                      "  local w = iclc.param('w', {cfg.D, shape.d_in}, iclc.init.zeros())\n"
                      "  local v = iclc.param('v', {shape.d_out, cfg.D}, iclc.init.zeros())\n"
                      "  local h = x:matmul(w, {tb = true})\n"
                      "  h = cfg.act == 'relu' and h:relu() or h:gelu()\n"
                      "  return h:matmul(v, {tb = true})\n"
                      "end\n"
                      "function M.describe(m, c) return m .. '/' .. c end\n"
                      "return M\n";
    const char *path = write_file("api.lua", toy);
    char spec[600];
    snprintf(spec, sizeof spec, "%s:lin", path);
    fe_shape sh;
    ok(fe_task_shape("linear_regression", 3, &sh, err, sizeof err), "linear_regression shape");
    fe_model *m = fe_build(&(fe_options){.model = spec, .shape = sh}, err, sizeof err);
    if (ok(m != NULL, "toy model builds with its default_config")) {
        is_str(m->config_name, "big", "default_config is used");
        is_int(m->nparams, 8 * 20 + 8, "param count at D = 8");
        is_int(m->nconfig, 3, "three resolved config keys");
        is_str(m->config[0].key, "D", "config sorted by key");
        is_str(m->config[0].value, "8", "integer value text");
        char hex[65];
        fe_sha256_hex(toy, strlen(toy), hex);
        is_str(m->model_sha256, hex, "model hash = SHA-256 of the file");
        ok(ir_find_source(m->graph, OP_input, "tokens") != IR_NONE && ir_output_find(m->graph, "pred") != IR_NONE,
           "graph has tokens and pred");
    } else {
        diag("%s", err);
    }
    fe_model_free(m);

    m = fe_build(&(fe_options){.model = spec, .config = "tiny", .set = "D=6,act=relu,pe=false", .shape = sh}, err,
                 sizeof err);
    if (ok(m != NULL, "--set overrides build")) {
        is_int(m->nparams, 6 * 20 + 6, "D=6 changes the count");
        is_str(m->config[1].value, "relu", "string override");
        is_str(m->config[2].value, "false", "boolean override");
        bool relu = false;
        for (ir_id i = 0; i < m->graph->nnodes; i++) relu |= m->graph->nodes[i].op == OP_relu;
        ok(relu, "the override reaches the model function");
    }
    fe_model_free(m);

    static const struct {
        const char *model, *config, *set, *want;
    } bad[] = {
        {"lin", "tiny", NULL, NULL}, /* filled below: unknown model in the built-in file is tested by frontend.t */
        {"%s:nosuch", "tiny", NULL, "unknown model 'nosuch'"},
        {"%s:lin", "huge", NULL, "unknown config 'huge'"},
        {"%s:lin", "tiny", "Dx=3", "has no key 'Dx' (keys: D, act, pe)"},
        {"%s:lin", "tiny", "D", "'D' is not key=value"},
        {"%s:lin", "tiny", "D=abc", "must be an integer"},
        {"%s:describe", "tiny", NULL, "api.lua:12: attempt to concatenate a table value"},
        {"%s", "tiny", NULL, "name the model too"},
        {"/nonexistent/x.lua:m", "tiny", NULL, "cannot read /nonexistent/x.lua"},
    };
    for (size_t i = 1; i < sizeof bad / sizeof bad[0]; i++) {
        char s[700];
        snprintf(s, sizeof s, bad[i].model, path);
        fe_model *b = fe_build(&(fe_options){.model = s, .config = bad[i].config, .set = bad[i].set, .shape = sh}, err,
                               sizeof err);
        ok(!b, "%s config %s set %s fails", bad[i].model, bad[i].config, bad[i].set ? bad[i].set : "-");
        like(err, bad[i].want, "  message: %s", bad[i].want);
        ok(!strchr(err, '\n'), "  one line");
        fe_model_free(b);
    }

    fe_catalog *c = fe_catalog_load(path, NULL, err, sizeof err);
    if (ok(c != NULL, "catalog of the toy file")) {
        is_int(c->nmodels, 1, "one model (describe is not one)");
        is_int(c->nconfigs, 2, "two configs");
        is_str(c->configs[0], "big", "configs sorted");
        is_str(c->describe[0], "lin/big", "describe(model, config)");
    }
    fe_catalog_free(c);
}

static void test_task_shapes(void) {
    static const struct {
        const char *task;
        int64_t T, d_in, d_out;
    } want[] = {{"linear_regression", 82, 20, 1},        {"sparse_linear_regression", 82, 20, 1},
                {"relu_2nn_regression", 202, 20, 1},     {"decision_tree", 202, 20, 1},
                {"ortho_outlier_regression", 202, 20, 1}, {"filter_linear_regression", 1024, 20, 1},
                {"sparse_parity", 280, 10, 1},            {"cot_io", 303, 19, 9},
                {"mqar", 68, 20, 20}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        fe_shape s;
        bool good = fe_task_shape(want[i].task, 64, &s, err, sizeof err);
        ok(good && s.B == 64 && s.T == want[i].T && s.d_in == want[i].d_in && s.d_out == want[i].d_out,
           "%s: T %lld, d_in %lld, d_out %lld", want[i].task, (long long)want[i].T, (long long)want[i].d_in,
           (long long)want[i].d_out);
    }
    /* the table agrees with tasks/ (each task's layout at the end of its curriculum) */
    for (int i = 0; i < task_count(); i++) {
        task_error te;
        task *t = task_create(task_name(i), NULL, &te);
        fe_shape f;
        if (!t || !fe_task_shape(task_name(i), 64, &f, err, sizeof err)) {
            ok(0, "%s: known to tasks/ and to the frontend", task_name(i));
            task_free(t);
            continue;
        }
        task_shape sh = task_shape_at(t, task_n_max(t));
        int64_t d_out = 0;
        for (int h = 0; h < sh.nheads; h++) d_out += sh.heads[h].width;
        double k = task_param(t, "k"), m = task_param(t, "m");
        ok(f.T == sh.T && f.d_in == sh.d_tok && f.d_out == d_out && f.n_points == task_n_max(t) &&
               f.d == (int64_t)task_param(t, "d") && (f.k == 0 || f.k == (int64_t)k) && (f.m == 0 || f.m == (int64_t)m),
           "%s: frontend shape = tasks/ layout", task_name(i));
        task_free(t);
    }
    fe_shape s;
    ok(!fe_task_shape("nosuch", 64, &s, err, sizeof err), "unknown task fails");
    like(err, "unknown task 'nosuch' (known: linear_regression", "and lists the known tasks");
    ok(!fe_task_shape("mqar", 0, &s, err, sizeof err), "batch 0 fails");
}

static void test_sha256(void) {
    char hex[65];
    fe_sha256_hex("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256('')");
    fe_sha256_hex("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256('abc')");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    fe_sha256_hex(m, strlen(m), hex);
    is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "sha256 of 56 bytes (two blocks)");
}

int main(void) {
    if (!mkdtemp(dir)) {
        printf("Bail out! cannot make a temporary directory\n");
        return 1;
    }
    test_every_op();
    test_sugar();
    test_locations();
    test_api();
    test_task_shapes();
    test_sha256();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
