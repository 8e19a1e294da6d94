/* The whole-graph verifier (ir/ir_verify.c). A valid graph is built with the builders, cloned, and each
 * clone is broken by editing g->nodes / g->args / g->outputs directly; ir_verify must refuse it with a
 * message that names the node and its own source location. */
#include "tests/op_harness.h"

/* The base graph; node k is built at line 10 + k of v.lua.
 *   %0 x = input [2,3]   %1 w = param [3,4]   %2 b = param [4]   %3 = matmul %0 %1 : [2,4]
 *   %4 = add %3 %2       %5 = sum %4 axis 1   %6 = permute %4 (1,0)   %7 = concat %4 %4 axis 0
 *   %8 = rand_mask [2]   %9 = slice %4 axis 1 1..3   %10 = reshape %4 [8]
 *   outputs y = %5, z = %7 */
static ir_graph *base(void) {
    ir_graph *g = ir_graph_new();
    ir_id id[11];
    int k = 0;
#define AT_LINE(expr) (ir_set_loc(g, "v.lua", 10 + k), id[k] = (expr), k++)
    AT_LINE(ir_input(g, "x", SH(2, 3)));
    AT_LINE(ir_param(g, "w", SH(3, 4), ir_init_normal(0, 0.02)));
    AT_LINE(ir_param(g, "b", SH(4), ir_init_zeros()));
    AT_LINE(ir_matmul(g, id[0], id[1], false, false));
    AT_LINE(ir_binary(g, OP_add, id[3], id[2]));
    AT_LINE(ir_reduce(g, OP_sum, id[4], -1));
    AT_LINE(ir_permute(g, id[4], (const int[]){1, 0}));
    AT_LINE(ir_concat(g, (const ir_id[]){id[4], id[4]}, 2, 0));
    AT_LINE(ir_rand_mask(g, SH(2), 0.5, 1));
    AT_LINE(ir_slice(g, id[4], 1, 1, 3));
    AT_LINE(ir_reshape(g, id[4], SH(8)));
#undef AT_LINE
    ir_set_loc(g, NULL, 0);
    ir_output_add(g, "y", id[5]);
    ir_output_add(g, "z", id[7]);
    return g;
}

/* Refused with exactly `want`; frees g. */
static void refused(ir_graph *g, const char *want, const char *what) {
    ok(!ir_verify(g), "refuses %s", what);
    is_str(ir_error(g), want, "  message");
    ir_graph_free(g);
}

static int32_t arg_of(const ir_graph *g, ir_id node, int i) { return g->nodes[node].in_off + i; }

int main(void) {
    ir_graph *g0 = base();
    ok(!ir_failed(g0) && g0->nnodes == 11, "base graph builds: %s", ir_error(g0));
    ok(ir_verify(g0), "base graph verifies: %s", ir_error(g0));
    ir_graph *empty = ir_graph_new();
    ok(ir_verify(empty), "an empty graph verifies");
    ir_graph_free(empty);
    ir_graph *g;

    /* ids: dangling, negative, forward, self */
    g = ir_graph_clone(g0);
    g->args[arg_of(g, 4, 1)] = 99;
    refused(g, "node %4 (add): input 1 refers to %99, which does not exist (v.lua:14)", "a dangling id");
    g = ir_graph_clone(g0);
    g->args[arg_of(g, 7, 1)] = -1;
    refused(g, "node %7 (concat): input 1 refers to %-1, which does not exist (v.lua:17)", "a negative id");
    g = ir_graph_clone(g0);
    g->args[arg_of(g, 3, 0)] = 5;
    refused(g, "node %3 (matmul): input 0 refers to %5, which comes later (not topological) (v.lua:13)",
            "a forward reference");
    g = ir_graph_clone(g0);
    g->args[arg_of(g, 4, 0)] = 4;
    refused(g, "node %4 (add): input 0 refers to %4, which comes later (not topological) (v.lua:14)", "a self reference");

    /* shapes */
    g = ir_graph_clone(g0);
    g->nodes[4].shape = SH(2, 5);
    refused(g, "node %4 (add): shape f32[2,5], but its inputs give f32[2,4] (v.lua:14)", "a wrong declared shape");
    g = ir_graph_clone(g0);
    g->nodes[5].shape = SH(2);
    refused(g, "node %5 (sum): shape f32[2], but its inputs give f32[2,1] (v.lua:15)", "a wrong declared rank");
    g = ir_graph_clone(g0);
    g->nodes[4].shape.rank = 7;
    refused(g, "node %4 (add): rank 7 is outside 0..6 (v.lua:14)", "a rank above the maximum");
    g = ir_graph_clone(g0);
    g->nodes[0].shape.dim[0] = -2;
    refused(g, "node %0: input: dimension 0 is negative (-2) (v.lua:10)", "a negative dim on a source");
    g = ir_graph_clone(g0);
    g->nodes[10].shape = SH(9);
    refused(g, "node %10: reshape: element counts differ: f32[2,4] -> f32[9] (v.lua:20)", "a reshape to the wrong count");
    g = ir_graph_clone(g0);
    g->args[arg_of(g, 4, 1)] = 0; /* add [2,4] + x [2,3] */
    refused(g, "node %4: add: shapes do not broadcast: f32[2,4] x f32[2,3] (v.lua:14)", "inputs that do not broadcast");
    g = ir_graph_clone(g0);
    g->args[arg_of(g, 3, 1)] = 0; /* matmul [2,3] x [2,3] */
    refused(g, "node %3: matmul: inner dims differ: f32[2,3] x f32[2,3] (v.lua:13)", "a matmul whose inputs changed");

    /* arity and the argument list */
    g = ir_graph_clone(g0);
    g->nodes[4].nin = 1;
    refused(g, "node %4 (add): expects 2 inputs, got 1 (v.lua:14)", "a binary op with one input");
    g = ir_graph_clone(g0);
    g->nodes[5].nin = 2;
    refused(g, "node %5 (sum): expects 1 input, got 2 (v.lua:15)", "a reduction with two inputs");
    g = ir_graph_clone(g0);
    g->nodes[7].nin = 0;
    refused(g, "node %7 (concat): expects at least 1 input, got 0 (v.lua:17)", "a concat with no inputs");
    g = ir_graph_clone(g0);
    g->nodes[0].nin = 1;
    refused(g, "node %0 (input): expects 0 inputs, got 1 (v.lua:10)", "a source with an input");
    g = ir_graph_clone(g0);
    g->nodes[9].in_off = g->nargs;
    refused(g, "node %9 (slice): input list out of range (v.lua:19)", "an input list past the end");
    g = ir_graph_clone(g0);
    g->nodes[9].in_off = -1;
    refused(g, "node %9 (slice): input list out of range (v.lua:19)", "a negative input offset");

    /* ops, dtypes, attributes */
    g = ir_graph_clone(g0);
    g->nodes[5].op = OP_COUNT;
    char want[128];
    snprintf(want, sizeof want, "node %%5: unknown op %d (v.lua:15)", OP_COUNT);
    refused(g, want, "an unknown op");
    g = ir_graph_clone(g0);
    g->nodes[5].dtype = IR_BF16;
    refused(g, "node %5 (sum): dtype bf16 is not supported yet (v.lua:15)", "a bf16 node");
    g = ir_graph_clone(g0);
    g->nodes[5].attr.axis = 2;
    refused(g, "node %5: sum: axis 2 is out of range for rank 2 (v.lua:15)", "an axis out of range");
    g = ir_graph_clone(g0);
    g->nodes[5].attr.axis = -1;
    refused(g, "node %5 (sum): axis -1 is not normalised (should be 1) (v.lua:15)", "an axis that is not normalised");
    g = ir_graph_clone(g0);
    g->nodes[6].attr.perm[0] = 0; /* (1,0) -> (0,0) */
    refused(g, "node %6: permute: perm is not a permutation of 0..1 for f32[2,4] (v.lua:16)", "a bad perm");
    g = ir_graph_clone(g0);
    g->nodes[6].attr.perm[4] = 3;
    refused(g, "node %6 (permute): perm entries past the rank must be 0 (v.lua:16)", "junk past a perm's rank");
    g = ir_graph_clone(g0);
    g->nodes[8].attr.value = 1.5;
    refused(g, "node %8: rand_mask: drop probability 1.5 is outside [0, 1) (v.lua:18)", "a drop probability above 1");
    g = ir_graph_clone(g0);
    g->nodes[9].attr.end = 5;
    refused(g, "node %9: slice: range 1..5 is outside 0..4 of axis 1 of f32[2,4] (v.lua:19)", "a slice past the end");
    g = ir_graph_clone(g0);
    g->nodes[1].attr.init.b = -1;
    refused(g, "node %1: param 'w': normal initializer needs std >= 0, got -1 (v.lua:11)", "a bad initializer");
    g = ir_graph_clone(g0);
    g->nodes[0].attr.name = NULL;
    refused(g, "node %0: input: needs a name (v.lua:10)", "an input without a name");

    /* names */
    g = ir_graph_clone(g0);
    g->nodes[2].attr.name = g->nodes[1].attr.name;
    g->nodes[2].shape = g->nodes[1].shape; /* keep the rest of the graph consistent up to node 2 */
    refused(g, "node %2: param name 'w' is already used by %1 (v.lua:12)", "a duplicate param name");
    g = ir_graph_clone(g0);
    ir_input(g, "x", SH(2));
    refused(g, "node %11: input name 'x' is already used by %0", "a duplicate input name");

    /* outputs */
    g = ir_graph_clone(g0);
    g->outputs[0].id = 99;
    refused(g, "output 'y' refers to %99, which does not exist", "an output of a bogus id");
    g = ir_graph_clone(g0);
    g->outputs[1].id = -1;
    refused(g, "output 'z' refers to %-1, which does not exist", "an output of a negative id");
    g = ir_graph_clone(g0);
    g->outputs[1].name = g->outputs[0].name;
    refused(g, "output 'y' is defined twice", "a duplicate output name");
    g = ir_graph_clone(g0);
    g->outputs[1].name = NULL;
    refused(g, "output 1 has no name", "an output without a name");

    /* the verifier restores the current location and keeps an earlier error */
    g = ir_graph_clone(g0);
    ir_set_loc(g, "keep.lua", 3);
    ok(ir_verify(g) && g->loc.line == 3 && strcmp(g->loc.file, "keep.lua") == 0, "verify keeps the graph's location");
    g->nodes[4].shape = SH(1);
    ok(!ir_verify(g) && g->loc.line == 3, "a failed verify keeps the graph's location too");
    ir_clear_error(g);
    ir_errorf(g, "earlier");
    ok(!ir_verify(g), "a broken graph with an earlier error still fails");
    is_str(ir_error(g), "earlier (keep.lua:3)", "  and the earlier error is kept");
    ir_graph_free(g);

    ir_graph_free(g0);
    return done_testing();
}
