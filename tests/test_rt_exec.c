/* The executor interface through the interpreter executor: named buffers, runs, carries. */
#include "runtime/rt_exec.h"
#include "tests/tap.h"

int main(void) {
    /* counter' = counter + x * w; y = sum(x * w) */
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", ir_shape_of(1, (int64_t[]){3}));
    ir_id w = ir_param(g, "w", ir_shape_of(1, (int64_t[]){3}), ir_init_constant(2));
    ir_id c = ir_input(g, "counter", ir_shape_of(1, (int64_t[]){3}));
    ir_id xw = ir_binary(g, OP_mul, x, w);
    ok(ir_output_add(g, "y", ir_reduce(g, OP_sum, xw, 0)), "outputs added");
    ok(ir_output_add(g, "counter_next", ir_binary(g, OP_add, c, xw)), "state output added");
    ok(ir_output_add(g, "w", w), "a param may also be an output");
    ok(ir_verify(g), "graph verifies");

    char err[256] = "";
    ok(rt_executor_find("interp") == &rt_executor_interp, "interp executor found by name");
    ok(rt_executor_find("nope") == NULL, "unknown executor: NULL");
    rt_plan *p = rt_plan_compile(&rt_executor_interp, g, NULL, err, sizeof err);
    ir_graph_free(g); /* the plan owns a copy */
    ok(p != NULL, "plan compiles: %s", err);
    int64_t want = 4 * (3 + 3 + 3 + 1 + 3); /* buffers x, w, counter, y, counter_next (w is shared) */
    for (ir_id i = 0; i < p->graph->nnodes; i++) want += 8 * ir_numel(p->graph->nodes[i].shape);
    is_int(p->data_bytes, want, "data_bytes: the buffers (float) and one double per element of every node");
    float *bx = rt_plan_buffer(p, "x"), *bw = rt_plan_buffer(p, "w"), *bc = rt_plan_buffer(p, "counter");
    ok(bx && bw && bc, "input, param and state buffers by name");
    ok(rt_plan_buffer(p, "missing") == NULL, "unknown buffer: NULL");
    ok(rt_plan_find(p, "w") && !rt_plan_find(p, "w")->is_output, "output that is a param shares its buffer");
    for (int i = 0; i < 3; i++) bx[i] = (float)(i + 1), bw[i] = 0.5f, bc[i] = 0;
    ok(rt_plan_carry(p, "counter_next", "counter", err, sizeof err), "carry declared");
    ok(!rt_plan_carry(p, "y", "counter", err, sizeof err), "carry with different shapes refused");
    like(err, "shapes differ", "... with a message");
    ok(!rt_plan_carry(p, "nope", "counter", err, sizeof err), "carry from an unknown output refused");
    for (int step = 0; step < 3; step++) ok(rt_plan_run(p, (uint64_t)step, err, sizeof err), "run %d: %s", step, err);
    is_double(rt_plan_buffer(p, "y")[0], 3.0, 1e-7, "y = sum(x * w)");
    bc = rt_plan_buffer(p, "counter");
    is_double(bc[0], 1.5, 1e-7, "carried state accumulated over 3 runs [0]");
    is_double(bc[2], 4.5, 1e-7, "carried state accumulated over 3 runs [2]");
    rt_plan_free(p);
    return done_testing();
}
