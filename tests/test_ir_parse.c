/* The IR text form (ir/ir_print.c, ir/ir_parse.c): print(parse(text)) == text for every tests/ir/ example file
 * and for C-built graphs with every op and attribute kind; parse(print(g)) keeps the structural hash; a
 * table of malformed inputs with their line:col and message; non-canonical input read and printed
 * canonically; a mutation fuzz loop that must never crash. */
#include "frontend/frontend.h"
#include "ir/ir.h"
#include "passes/adam.h"
#include "passes/fuse.h"
#include "runtime/rt_loss.h"
#include "tests/tap.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IR_DIR ICLC_SOURCE_DIR "/tests/ir"
#define FUZZ_ITERS 20000 /* ICLC_FUZZ_ITERS=N overrides (for long runs by hand) */

#define SH(...) ir_shape_of((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[len] = '\0';
    fclose(f);
    return buf;
}

/* text without its comment lines and blank lines: what the printer writes for it. */
static char *strip_comments(const char *text) {
    char *out = malloc(strlen(text) + 1);
    size_t o = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        const char *q = p;
        while (q < p + len && (*q == ' ' || *q == '\t')) q++;
        if (!(*q == '#' || *q == '\n' || q == p + len)) {
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    out[o] = '\0';
    return out;
}

/* parse(text) must succeed; then print(parse(text)) == want and parse(print(..)) has the same hash. */
static void check_round_trip(const char *text, const char *want, const char *label) {
    char err[512];
    ir_graph *g = ir_parse(text, label, err, sizeof err);
    if (!ok(g != NULL, "%s: parses", label)) {
        diag("  %s", err);
        return;
    }
    ok(ir_verify(g), "%s: verifies", label);
    char *printed = ir_print(g);
    is_str(printed, want, "%s: print(parse(text)) == text", label);
    ir_graph *g2 = printed ? ir_parse(printed, label, err, sizeof err) : NULL;
    ok(g2 && ir_graph_hash(g2) == ir_graph_hash(g), "%s: parse(print(g)) keeps the structural hash", label);
    ir_graph_free(g2);
    ir_graph_free(g);
    free(printed);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The example files, each in canonical printed form (apart from comments). Returns their texts for the fuzzer. */
static int test_files(char **texts, int max) {
    DIR *d = opendir(IR_DIR);
    if (!ok(d != NULL, "opens %s", IR_DIR)) return 0;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".ir") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    ok(n >= 7, "at least 7 example files (got %d)", n);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", IR_DIR, names[i]);
        char *text = read_file(path);
        if (ok(text != NULL, "reads %s", names[i])) {
            char *want = strip_comments(text);
            check_round_trip(text, want, names[i]);
            free(want);
            if (kept < max) texts[kept++] = text;
            else free(text);
        }
        free(names[i]);
    }
    return kept;
}

/* A graph built in C with every op and every attribute kind, tricky numbers and strings. */
static ir_graph *build_everything(void) {
    ir_graph *g = ir_graph_new();
    ir_set_loc(g, "we\"ird\\file\n.lua", 3);
    ir_id x = ir_input(g, "x \"quoted\" back\\slash\nnew\tline \x01 caf\xc3\xa9", SH(2, 3));
    ir_set_loc(g, NULL, 0);
    ir_id s = ir_input(g, "s", ir_shape_scalar());
    float vals[6] = {0.1f, -0.0f, 1e-30f, 3.4028235e38f, 1.4e-45f, -7.25f};
    ir_param(g, "p.data", SH(2, 3), ir_init_then(ir_init_then(ir_init_data(g, vals, 6), INIT_POST_EXP), INIT_POST_SOFTPLUS_INV));
    ir_param(g, "p.empty", SH(0), ir_init_data(g, NULL, 0));
    ir_param(g, "p.zeros", SH(3), ir_init_zeros());
    ir_param(g, "p.ones", SH(3), ir_init_then(ir_init_ones(), INIT_POST_SOFTPLUS_INV));
    ir_param(g, "p.const", SH(1), ir_init_constant(-1e-300));
    ir_param(g, "p.normal", SH(4, 4), ir_init_normal(-0.0, 0.1));
    ir_param(g, "p.uniform", SH(4), ir_init_then(ir_init_uniform(-6.907755278982137, -2.3025850929940455), INIT_POST_EXP));
    ir_const(g, 1e-300, ir_shape_scalar());
    ir_const(g, 0.1, SH(1));
    ir_const(g, -0.0, SH(1));
    ir_const(g, 4.9406564584124654e-324, SH(1)); /* the smallest subnormal */
    ir_const(g, 1.7976931348623157e308, SH(1));
    ir_const(g, -INFINITY, SH(2, 3));
    ir_const(g, INFINITY, SH(1));
    ir_const(g, NAN, SH(1));
    ir_const(g, 1.0 / 3.0, SH(1));
    ir_iota(g, SH(2, 3), -1);
    ir_rand_mask(g, SH(2, 3), 0.25, -123456789012345);
    ir_id u = x;
    for (int op = 0; op < OP_COUNT; op++)
        if (ir_ops[op].flags & OPF_UNARY) u = ir_unary(g, (ir_op)op, u);
    ir_id b = u;
    for (int op = 0; op < OP_COUNT; op++)
        if (ir_ops[op].flags & OPF_BINARY) b = ir_binary(g, (ir_op)op, b, s);
    ir_select(g, b, u, s);
    ir_reduce(g, OP_sum, b, 0);
    ir_reduce(g, OP_rmax, b, -1);
    ir_reduce(g, OP_mean, b, 1);
    ir_id r = ir_reshape(g, b, SH(3, 1, 2));
    ir_permute(g, r, (int[]){2, 0, 1});
    ir_broadcast(g, r, SH(4, 3, 5, 2));
    ir_slice(g, b, 1, 1, 3);
    ir_concat(g, (ir_id[]){b, x, u}, 3, -1);
    ir_pad(g, b, 0, 2, 1, -0.5);
    ir_id m1 = ir_matmul(g, x, x, false, true);
    ir_matmul(g, x, x, true, false);
    ir_matmul(g, m1, ir_input(g, "m", SH(5, 1, 3, 2)), true, true);
    ir_id a3 = ir_input(g, "a3", SH(4, 3, 2));
    ir_id h0 = ir_input(g, "h0", SH(1, 3, 2));
    ir_scan(g, a3, a3, h0, 0, false);
    ir_scan(g, a3, a3, h0, 0, true);
    ir_cscan(g, a3, a3, h0, 0, false);
    ir_id last = ir_cscan(g, a3, a3, h0, 0, true);
    ir_output_add(g, "out \"1\"\n", last);
    ir_output_add(g, "m1 \\ out", m1);
    ir_output_add(g, "u", u);
    return g;
}

static void test_built_graph(void) {
    ir_graph *g = build_everything();
    if (!ok(!ir_failed(g), "the all-ops graph builds")) diag("  %s", ir_error(g));
    bool used[OP_COUNT] = {false};
    for (ir_id i = 0; i < g->nnodes; i++) used[g->nodes[i].op] = true;
    int missing = 0;
    for (int op = 0; op < OP_COUNT; op++)
        if (!used[op] && !(ir_ops[op].flags & OPF_FUSED)) {
            diag("  op %s is not in the graph", ir_ops[op].name);
            missing++;
        }
    /* fused ops are made by the fusion passes: test_model_graphs round-trips them */
    is_int(missing, 0, "every primitive op of ops.def is in the graph");
    char *text = ir_print(g);
    char err[512];
    ir_graph *g2 = ir_parse(text, "built.ir", err, sizeof err);
    if (!ok(g2 != NULL, "parse(print(all-ops graph))")) diag("  %s", err);
    if (g2) {
        ok(ir_graph_hash(g2) == ir_graph_hash(g), "same structural hash");
        char *text2 = ir_print(g2);
        is_str(text2, text, "print(parse(print(g))) == print(g)");
        free(text2);
        is_str(g2->nodes[0].attr.name, g->nodes[0].attr.name, "name with quotes, backslashes, newline, tab, \\x01, UTF-8");
        is_str(g2->nodes[0].loc.file, g->nodes[0].loc.file, "loc file with escapes");
        is_int(g2->nodes[0].loc.line, 3, "loc line");
        ok(g2->nodes[1].loc.file == NULL, "a node without loc(...) has no location");
        const ir_node *data = &g2->nodes[2];
        bool same = data->attr.init.kind == INIT_DATA && (int64_t)data->attr.init.a == 6;
        for (int k = 0; same && k < 6; k++) same = memcmp(&data->attr.init.data[k], &g->nodes[2].attr.init.data[k], 4) == 0;
        ok(same, "data() floats read back bit for bit (incl. -0 and a subnormal)");
        ok(data->attr.init.post[0] == INIT_POST_EXP && data->attr.init.post[1] == INIT_POST_SOFTPLUS_INV,
           "two transforms in order");
        ir_id z = IR_NONE;
        for (ir_id i = 0; i < g2->nnodes; i++)
            if (g2->nodes[i].op == OP_const && g2->nodes[i].attr.value == 0) z = i;
        ok(z != IR_NONE && signbit(g2->nodes[z].attr.value), "-0 keeps its sign");
    }
    like(text, "value=-inf", "-inf prints");
    like(text, "value=4.94066e-324", "subnormal prints");
    like(text, "init=constant(-1e-300)", "tiny negative prints");
    like(text, "data(0.1, -0, 1e-30, 3.4028235e+38, 1e-45, -7.25)|exp|softplus_inv", "data floats print shortest");
    like(text, "output \"out \\\"1\\\"\\n\" = %", "output name escaped");
    like(text, "\\x01", "control characters as \\xHH");
    free(text);
    ir_graph_free(g2);
    ir_graph_free(g);

    /* small random graphs of elementwise ops, reductions and matmuls */
    uint64_t state = 12345;
    int good = 0;
    for (int it = 0; it < 50; it++) {
        ir_graph *r = ir_graph_new();
        ir_id ids[40];
        int n = 0;
        ids[n++] = ir_input(r, "a", SH(3, 4));
        ids[n++] = ir_param(r, "w", SH(4, 4), ir_init_normal(0, 0.5));
        ids[n++] = ir_const(r, (double)(it - 25) / 7.0, ir_shape_scalar());
        while (n < 40) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            unsigned pick = (unsigned)(state >> 33);
            ir_id p = ids[pick % (unsigned)n], q = ids[(pick >> 8) % (unsigned)n];
            ir_id y = IR_NONE;
            switch ((pick >> 16) % 4) {
            case 0: y = ir_unary(r, (ir_op)(OP_neg + (int)((pick >> 20) % (OP_sin - OP_neg + 1))), p); break;
            case 1: y = ir_binary(r, (ir_op)(OP_add + (int)((pick >> 20) % (OP_ne - OP_add + 1))), p, q); break;
            case 2: y = ir_matmul(r, p, ids[1], false, (pick >> 20) & 1); break;
            default: y = ir_reduce(r, OP_sum, p, -1); break;
            }
            if (y == IR_NONE) ir_clear_error(r);
            else ids[n++] = y;
        }
        ir_output_add(r, "y", ids[n - 1]);
        char *t = ir_print(r);
        ir_graph *r2 = ir_parse(t, "rand.ir", err, sizeof err);
        char *t2 = r2 ? ir_print(r2) : NULL;
        good += r2 && ir_graph_hash(r2) == ir_graph_hash(r) && t2 && strcmp(t, t2) == 0;
        free(t);
        free(t2);
        ir_graph_free(r2);
        ir_graph_free(r);
    }
    is_int(good, 50, "50 random graphs round-trip with the same hash");
}

/* print(g) parses back to the same hash and prints the same; returns pass. */
static bool round_trips(const ir_graph *g, const char *label) {
    char err[512];
    char *t = ir_print(g);
    ir_graph *g2 = t ? ir_parse(t, label, err, sizeof err) : NULL;
    char *t2 = g2 ? ir_print(g2) : NULL;
    bool pass = g2 && ir_graph_hash(g2) == ir_graph_hash(g) && t2 && strcmp(t, t2) == 0;
    if (!g2) diag("  %s", t ? err : "print failed");
    free(t);
    free(t2);
    ir_graph_free(g2);
    return pass;
}

/* Every built-in model (tiny, small batch) round-trips, and so does a whole training graph (model, loss,
 * gradients, Adam update) of two of them: real graphs with loc(...) clauses on every node. */
static void test_model_graphs(void) {
    bool fused_seen[OP_COUNT] = {false};
    char err[1024] = "";
    fe_catalog *c = fe_catalog_load(NULL, NULL, err, sizeof err);
    fe_shape sh;
    if (!ok(c && fe_task_shape("linear_regression", 2, &sh, err, sizeof err), "catalog and task shape")) {
        diag("  %s", err);
        fe_catalog_free(c);
        return;
    }
    for (int i = 0; i < c->nmodels; i++) {
        fe_model *m = fe_build(&(fe_options){.model = c->models[i], .config = "tiny", .shape = sh}, err, sizeof err);
        if (!m) {
            ok(0, "model %s builds", c->models[i]);
            diag("  %s", err);
            continue;
        }
        ok(round_trips(m->graph, c->models[i]), "model %s (tiny, %d nodes) round-trips", c->models[i], m->graph->nnodes);
        bool train = strcmp(c->models[i], "transformer") == 0 || strcmp(c->models[i], "mamba") == 0 ||
                     strcmp(c->models[i], "s4") == 0 || strcmp(c->models[i], "standard_hybrid") == 0;
        if (train) {
            ir_graph *g = m->graph;
            /* fused, then differentiated: the graph holds the fused ops and their gradient ops */
            if (!pass_fuse(g, NULL)) diag("  %s", ir_error(g));
            rt_head head = {.name = "y", .start = 0, .stride = 1, .count = sh.T, .width = 1, .loss = RT_LOSS_SQUARED};
            ir_id loss = rt_loss_append(g, ir_output_find(g, "pred"), &head, 1);
            ir_adam_opts adam = ir_adam_defaults();
            bool built = loss != IR_NONE && ir_output_add(g, "loss", loss) && pass_train_graph(g, NULL, &adam);
            if (!built) diag("  %s", ir_error(g));
            ok(built && round_trips(g, c->models[i]), "fused training graph of %s (%d nodes) round-trips",
               c->models[i], g->nnodes);
            for (ir_id k = 0; k < g->nnodes; k++)
                if (ir_ops[g->nodes[k].op].flags & OPF_FUSED) fused_seen[g->nodes[k].op] = true;
        }
        fe_model_free(m);
    }
    fe_catalog_free(c);
    int distinct = 0;
    for (int op = 0; op < OP_COUNT; op++) distinct += fused_seen[op];
    ok(distinct >= 10, "the fused training graphs round-tripped %d distinct fused ops", distinct);
}

/* Input that is not canonical still parses, and prints canonically. */
static void test_non_canonical(void) {
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"  %0=input{name=\"x\"}:f32[ 2 , 3 ]   # trailing comment\r\n%1 = sum %0 {axis=-1} : f32[2,1]\n",
         "%0 = input {name=\"x\"} : f32[2,3]\n%1 = sum %0 {axis=1} : f32[2,1]\n"},
        {"# only a comment\n\n\t\n%0 = input {name=\"a\"} : f32[2,2]\n%1 = matmul %0, %0 {tb=false, ta=true} : f32[2,2]\n"
         "output \"y\" = %1",
         "%0 = input {name=\"a\"} : f32[2,2]\n%1 = matmul %0, %0 {ta=true} : f32[2,2]\noutput \"y\" = %1\n"},
        {"%0 = const {value=+1.5E+2} : f32[]\n%1 = const {value=0x1p-2} : f32[]\n%2 = const {value=INF} : f32[]\n",
         "%0 = const {value=150} : f32[]\n%1 = const {value=0.25} : f32[]\n%2 = const {value=inf} : f32[]\n"},
        {"%0 = param {init=data(0.30000001192092896, 2.0), name=\"p\"} : f32[2]\n",
         "%0 = param {name=\"p\", init=data(0.3, 2)} : f32[2]\n"},
        {"%0 = input {name=\"x\\x41\\t\"} : f32[1] loc ( \"f.lua\" : 9 )\n",
         "%0 = input {name=\"xA\\t\"} : f32[1] loc(\"f.lua\":9)\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512], label[32];
        snprintf(label, sizeof label, "non-canonical %zu", i);
        ir_graph *g = ir_parse(cases[i].in, label, err, sizeof err);
        if (!ok(g != NULL, "%s parses", label)) diag("  %s", err);
        char *t = g ? ir_print(g) : NULL;
        is_str(t, cases[i].want, "%s prints canonically", label);
        free(t);
        ir_graph_free(g);
    }
    char err[64] = "x";
    ir_graph *g = ir_parse("%0 = bogus : f32[]", NULL, err, sizeof err);
    ok(!g && strncmp(err, "<input>:1:6: expected an op name", 32) == 0, "no file name: <input>, err truncated safely");
    ok(ir_parse("%0 = bogus : f32[]", "f", NULL, 0) == NULL, "err may be NULL");
    g = ir_parse("%0 = input {name=\"x\"} : f32[2]", "f", NULL, 0);
    ok(g != NULL, "no newline at the end is fine");
    ir_graph_free(g);
}

/* Malformed input: "file:line:col: message". */
static void test_errors(void) {
    static const struct {
        const char *text, *where, *msg;
    } cases[] = {
        {"", "1:1", "expected a node line (%0 = op ...), got end of input"},
        {"# nothing\n\n", "3:1", "got end of input"},
        {"x = 1\n", "1:1", "expected a node line (%N = op ...), an output line or a comment, got 'x'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = matmull %0, %0 : f32[2]\n", "2:6",
         "expected an op name, got 'matmull' (did you mean matmul?)"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = sqr %0 : f32[2]\n", "2:6", "did you mean sqrt?"},
        {"%0 = frobnicate : f32[2]\n", "1:6", "got 'frobnicate' (the ops are listed in docs/ir.md)"},
        {"%1 = input {name=\"x\"} : f32[2]\n", "1:1", "expected %0 (node ids count up from %0 by one), got '%1'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%2 = neg %0 : f32[2]\n", "2:1", "expected %1"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = neg %1 : f32[2]\n", "2:10",
         "expected an operand defined on an earlier line (%0..%0), got '%1'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = add %0, %7 : f32[2]\n", "2:14", "got '%7'"},
        {"%0 = input {name=\"x\"} : f32[2]\noutput \"y\" = %3\n", "2:14",
         "expected a node defined on an earlier line (%0..%0), got '%3'"},
        {"%0 = input {name=\"x\"} : f32[2]\noutput \"y\" = %0\noutput \"y\" = %0\n", "3:8",
         "output 'y' is defined twice"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = add %0 : f32[2]\n", "2:6", "add: expects 2 inputs, got 1"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = neg %0, %0 : f32[2]\n", "2:6", "neg: expects 1 input, got 2"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = neg %0 : f32[3]\n", "2:15",
         "expected type f32[2] (inferred from the inputs), got f32[3]"},
        {"%0 = input {name=\"x\"} : f32[2,3]\n%1 = input {name=\"w\"} : f32[2,3]\n%2 = matmul %0, %1 : f32[2,3]\n",
         "3:6", "matmul: inner dims differ: f32[2,3] x f32[2,3]"},
        {"%0 = input {name=\"x\"} : f32[2,3] loc(\"m.lua\":57)\n%1 = reshape %0 : f32[7] loc(\"m.lua\":58)\n", "2:6",
         "reshape: element counts differ: f32[2,3] -> f32[7] (m.lua:58)"},
        {"%0 = input {name=\"x\"} : f32(2)\n", "1:28", "expected '[' right after the dtype, got '('"},
        {"%0 = input {name=\"x\"} : f64[2]\n", "1:25", "expected a type (f32[dims]), got 'f64'"},
        {"%0 = input {name=\"x\"} : f32[2,-3]\n", "1:31", "expected a dimension (an integer >= 0), got '-3'"},
        {"%0 = input {name=\"x\"} : f32[2;3]\n", "1:30", "expected ',' or ']', got ';'"},
        {"%0 = input {name=\"x\"} : f32[1,1,1,1,1,1,1]\n", "1:41", "a type has more than 6 dimensions"},
        {"%0 = input {name=\"x\"} : f32[99999999999999999999]\n", "1:29", "(out of the 64-bit integer range)"},
        {"%0 = input {name=\"x\"} : f32[1048576,1048576,2]\n", "1:6", "has more than 2^40 elements"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = sum %0 {axis=99999999999999999999} : f32[1]\n", "2:19",
         "(out of the 64-bit integer range)"},
        {"%0 = const {value=1e999} : f32[]\n", "1:19", "expected a number, got '1e999' (out of the f64 range)"},
        {"%0 = param {name=\"p\", init=data(1e39)} : f32[1]\n", "1:33", "(out of the f32 range)"},
        {"%0 = input {name=\"x} : f32[2]\n", "1:18", "unterminated string"},
        {"%0 = input {name=\"x\\q\"} : f32[2]\n", "1:20", "expected an escape (\\\" \\\\ \\n \\t \\xHH), got '\\q'"},
        {"%0 = input {name=\"x\\x4\"} : f32[2]\n", "1:20", "expected an escape"},
        {"%0 = input {name=\"x\\x00\"} : f32[2]\n", "1:20", "\\x00 is not allowed in a string"},
        {"%0 = input {name=\"a\x01\"} : f32[2]\n", "1:20", "control character \\x01 in a string"},
        {"%0 = param {name=\"p\", init=gaussian(0, 1)} : f32[2]\n", "1:28",
         "expected an initializer (zeros, ones, constant(v), normal(mean, std), uniform(lo, hi), data(v, ...)), got 'gaussian'"},
        {"%0 = param {name=\"p\", init=normal(0 1)} : f32[2]\n", "1:37", "expected ',', got '1'"},
        {"%0 = param {name=\"p\", init=normal(0, -1)} : f32[2]\n", "1:6", "normal initializer needs std >= 0, got -1"},
        {"%0 = param {name=\"p\", init=zeros|log} : f32[2]\n", "1:34", "expected a transform (exp, softplus_inv), got 'log'"},
        {"%0 = param {name=\"p\", init=zeros|exp|exp|exp} : f32[2]\n", "1:42", "at most 2 transforms"},
        {"%0 = param {name=\"p\", init=data(1, 2)} : f32[3]\n", "1:6", "param 'p': 2 initial values for 3 elements"},
        {"%0 = param {name=\"p\", init=data(1,, 2)} : f32[3]\n", "1:35", "expected a number, got ','"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = sum %0 {axs=0} : f32[1]\n", "2:14",
         "expected an attribute of sum (axis), got 'axs'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = exp %0 {axis=0} : f32[2]\n", "2:13",
         "expected ':' (exp takes no attributes), got '{'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = sum %0 : f32[1]\n", "2:13",
         "expected attribute axis= (sum needs axis), got ':'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = slice %0 {axis=0, end=1} : f32[1]\n", "2:31",
         "expected attribute start= (slice needs axis, start, end), got ':'"},
        {"%0 = input : f32[2]\n", "1:12", "expected attribute name= (input needs name), got ':'"},
        {"%0 = input {name=\"x\", name=\"y\"} : f32[2]\n", "1:23", "attribute name is given twice"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = sum %0 {axis=1.5} : f32[1]\n", "2:19", "expected an integer, got '1.5'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = sum %0 {axis=0 : f32[1]\n", "2:21", "expected ',' or '}', got ':'"},
        {"%0 = input {name=\"x\"} : f32[2,2]\n%1 = matmul %0, %0 {ta=yes} : f32[2,2]\n", "2:24",
         "expected true or false, got 'yes'"},
        {"%0 = input {name=\"x\"} : f32[2,3]\n%1 = permute %0 {perm=[1,0,2]} : f32[3,2]\n", "2:6",
         "permute: perm has 3 entries for f32[2,3] of rank 2"},
        {"%0 = input {name=\"x\"} : f32[2,3]\n%1 = permute %0 {perm=[1,1]} : f32[3,2]\n", "2:6",
         "permute: perm is not a permutation"},
        {"%0 = input {name=\"x\"} : f32[2,3]\n%1 = permute %0 {perm=[0,1,2,3,4,5,6]} : f32[3,2]\n", "2:36",
         "perm has more than 6 entries"},
        {"%0 = input {name=\"x\"} : f32[2] garbage\n", "1:32", "expected loc(\"file\":line) or the end of the line, got 'garbage'"},
        {"%0 = input {name=\"x\"} : f32[2]\noutput \"y\" = %0 extra\n", "2:17", "expected the end of the line, got 'extra'"},
        {"%0 = input {name=\"x\"} : f32[2] loc(\"f\":1.5)\n", "1:40", "expected a line number, got '1.5'"},
        {"%0 = input {name=\"x\"} : f32[2] loc(\"f\":99999999999)\n", "1:40", "line number 99999999999 is out of range"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = input {name=\"x\"} : f32[3]\n", "2:13",
         "input name \"x\" is already used by %0"},
        {"%0 = input {name=\"\"} : f32[2]\n", "1:6", "input: needs a name"},
        {"%0 = input {name=\"x\"} : f32[2]\noutput \"\" = %0\n", "2:8", "output: needs a name"},
        {"%99999999999 = input {name=\"x\"} : f32[2]\n", "1:1", "node id %99999999999 is out of range"},
        {"%0 input {name=\"x\"} : f32[2]\n", "1:4", "expected '=', got 'input'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = neg %0, : f32[2]\n", "2:14", "expected an operand (%N), got ':'"},
        {"%0 = input {name=\"x\"} : f32[2]\n%1 = neg %0 f32[2]\n", "2:13", "expected ',' or ':', got 'f32'"},
        {"%0 = rand_mask {value=1, seed=0} : f32[2]\n", "1:6", "rand_mask: drop probability 1 is outside [0, 1)"},
        {"%0 = const {value=1.5.5} : f32[]\n", "1:19", "expected a number, got '1.5.5'"},
        {"%0 = const {value=\"1\"} : f32[]\n", "1:19", "expected a number, got '\"1\"'"},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    ok(n >= 25, "%d malformed inputs", n);
    for (int i = 0; i < n; i++) {
        char err[512], want[64];
        ir_graph *g = ir_parse(cases[i].text, "t.ir", err, sizeof err);
        snprintf(want, sizeof want, "t.ir:%s: ", cases[i].where);
        bool pass = !g && strncmp(err, want, strlen(want)) == 0 && strstr(err, cases[i].msg);
        ok(pass, "error %d at %s: %s", i, cases[i].where, cases[i].msg);
        if (!pass) diag("  got: %s", g ? "(parsed)" : err);
        ir_graph_free(g);
    }
}

/* Random mutations of valid text never crash; whatever parses prints canonically and verifies. */
static void test_fuzz(char **texts, int ntexts) {
    static const char pieces[][16] = {"%",  "%0", "%99", ",",   "{",   "}",     "[",  "]",  "=",     ":",
                                      "\"", "\\", "\n",  "#",   "-",   "1e999", "-0", "(",  ")",     "|",
                                      " ",  "f32[", "nan", "inf", "\\x", "axis=", "0",  "17", "true", "9999999999999"};
    uint64_t state = 0x5eed;
    int iters = getenv("ICLC_FUZZ_ITERS") ? atoi(getenv("ICLC_FUZZ_ITERS")) : FUZZ_ITERS;
    int parsed = 0, canonical = 0, bad_prefix = 0;
    if (!ntexts) {
        skip(1, "no texts");
        return;
    }
    for (int it = 0; it < iters; it++) {
        const char *src = texts[it % ntexts];
        size_t len = strlen(src);
        char *t = malloc(len * 2 + 64);
        memcpy(t, src, len + 1);
        int nmut = 1 + it % 4;
        for (int m = 0; m < nmut; m++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t r = state >> 17;
            size_t cur = strlen(t), pos = cur ? (size_t)(r % cur) : 0;
            switch ((r >> 40) % 5) {
            case 0: /* delete a few bytes */
                memmove(t + pos, t + pos + (pos + 3 <= cur ? 3 : cur - pos), cur - pos - (pos + 3 <= cur ? 3 : cur - pos) + 1);
                break;
            case 1: /* overwrite one byte with any byte but NUL */
                if (cur) t[pos] = (char)(1 + (r >> 8) % 255);
                break;
            case 2: { /* insert a piece */
                const char *p = pieces[(r >> 8) % (sizeof pieces / sizeof pieces[0])];
                size_t pl = strlen(p);
                if (cur + pl < len * 2 + 60) {
                    memmove(t + pos + pl, t + pos, cur - pos + 1);
                    memcpy(t + pos, p, pl);
                }
                break;
            }
            case 3: /* truncate */
                t[pos] = '\0';
                break;
            default: /* change a digit */
                for (size_t k = pos; k < cur; k++)
                    if (t[k] >= '0' && t[k] <= '9') {
                        t[k] = (char)('0' + (r >> 8) % 10);
                        break;
                    }
                break;
            }
        }
        char err[256];
        ir_graph *g = ir_parse(t, "fuzz.ir", err, sizeof err);
        if (g) {
            parsed++;
            char *p1 = ir_print(g);
            ir_graph *g2 = ir_parse(p1, "fuzz.ir", err, sizeof err);
            char *p2 = g2 ? ir_print(g2) : NULL;
            canonical += g2 && ir_verify(g) && p2 && strcmp(p1, p2) == 0 && ir_graph_hash(g) == ir_graph_hash(g2);
            if (!g2) diag("  reparse failed: %s", err);
            free(p1);
            free(p2);
            ir_graph_free(g2);
            ir_graph_free(g);
        } else if (strncmp(err, "fuzz.ir:", 8) != 0) {
            bad_prefix++;
            diag("  message without a position: %s", err);
        }
        free(t);
    }
    ok(1, "%d mutated inputs, no crash (%d parsed)", iters, parsed);
    is_int(canonical, parsed, "every mutated input that parses round-trips and verifies");
    is_int(bad_prefix, 0, "every error starts with file:");
}

int main(void) {
    char *texts[16];
    int ntexts = test_files(texts, 16);
    test_built_graph();
    test_model_graphs();
    test_non_canonical();
    test_errors();
    test_fuzz(texts, ntexts);
    for (int i = 0; i < ntexts; i++) free(texts[i]);
    return done_testing();
}
