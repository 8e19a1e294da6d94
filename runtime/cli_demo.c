/* `iclc demo` — iclc's main job on a built-in default. For now: build a small example graph (a
 * two-layer MLP with a softmax), print its IR, run it through the reference interpreter and print
 * the result. The training work replaces this with a short training run. */
#include "ir/interp.h"
#include "runtime/cli.h"

#include <stdio.h>
#include <stdlib.h>

/* y = softmax(gelu(x W1^T + b1) W2^T) over the last axis, for x f32[2,4]. */
static ir_graph *demo_graph(void) {
    ir_graph *g = ir_graph_new();
    if (!g) return NULL;
    ir_set_loc(g, "demo", 1);
    ir_id x = ir_input(g, "x", ir_shape_of(2, (int64_t[]){2, 4}));
    ir_id w1 = ir_param(g, "fc1.weight", ir_shape_of(2, (int64_t[]){8, 4}), ir_init_uniform(-0.5, 0.5));
    ir_id b1 = ir_param(g, "fc1.bias", ir_shape_of(1, (int64_t[]){8}), ir_init_constant(0.1));
    ir_id w2 = ir_param(g, "fc2.weight", ir_shape_of(2, (int64_t[]){3, 8}), ir_init_normal(0, 0.5));
    ir_set_loc(g, "demo", 2);
    ir_id h = ir_unary(g, OP_gelu, ir_binary(g, OP_add, ir_matmul(g, x, w1, false, true), b1));
    ir_set_loc(g, "demo", 3);
    ir_id z = ir_matmul(g, h, w2, false, true);
    ir_set_loc(g, "demo", 4);
    ir_id e = ir_unary(g, OP_exp, ir_binary(g, OP_sub, z, ir_reduce(g, OP_rmax, z, 1)));
    ir_id y = ir_binary(g, OP_div, e, ir_reduce(g, OP_sum, e, 1));
    if (!ir_output_add(g, "y", y) || !ir_verify(g)) {
        fprintf(stderr, "iclc demo: %s\n", ir_error(g));
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

int cli_demo(int argc, char **argv) {
    int npos;
    if (!cli_parse("demo", argc, argv, NULL, 0, &npos)) return CLI_USAGE;
    if (npos) return cli_usage_error("demo", "takes no arguments");
    ir_graph *g = demo_graph();
    if (!g) return CLI_FAIL;
    char *text = ir_print(g);
    printf("# the example graph\n%s", text ? text : "");
    free(text);

    ir_values *v = ir_values_new(g);
    int status = CLI_FAIL;
    char err[256];
    if (v) {
        ir_values_init_params(g, v, 1);
        ir_tensor *x = &v->t[ir_find_source(g, OP_input, "x")];
        for (int64_t i = 0; i < ir_numel(x->shape); i++) x->data[i] = (double)(i % 4) - 1.5;
        if (ir_interp(g, v, &(ir_interp_opts){.round_f32 = true}, err, sizeof err)) {
            ir_tensor *y = &v->t[ir_output_find(g, "y")];
            printf("# interpreted with x[i][j] = j - 1.5 and seed 1:\n");
            for (int64_t r = 0; r < y->shape.dim[0]; r++) {
                printf("y[%lld] =", (long long)r);
                for (int64_t c = 0; c < y->shape.dim[1]; c++) printf(" %.6f", y->data[r * y->shape.dim[1] + c]);
                printf("\n");
            }
            status = CLI_OK;
        } else {
            fprintf(stderr, "iclc demo: %s\n", err);
        }
    }
    ir_values_free(v);
    ir_graph_free(g);
    return status;
}
