/* `iclc demo` — iclc's main job on a built-in default: train a tiny Transformer on in-context linear
 * regression for a few minutes and print its error at every context length beside the least-squares
 * baseline. `iclc demo --ir` instead prints a small example graph's IR and interprets it. */
#include "ir/interp.h"
#include "runtime/cli.h"
#include "runtime/rt_exec.h"
#include "runtime/rt_train.h"

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

/* The training demo: small enough for a few minutes on 2 cores with the fastest backend built in. */
static int demo_train(const char *out, int64_t steps) {
    rt_train_opts o = rt_train_defaults();
    bool jit = rt_executor_find("jit") != NULL;
    o.model = "transformer";
    o.config = "tiny";
    o.set = jit ? NULL : "D=32,layers=2,heads=2";
    o.task = "linear_regression";
    o.task_params = jit ? "d=5,N=11" : "d=2,N=6";
    o.backend = jit ? "jit" : "interp";
    o.steps = steps > 0 ? steps : jit ? 4000 : 400;
    o.lr = jit ? 1e-3 : 3e-3;
    o.eval_every = 0;
    o.eval_prompts = 640;
    o.save_every = 0;
    o.log_every = 20;
    o.out = out;
    printf("iclc demo: training a tiny Transformer (%s) on in-context linear regression (%s), %lld steps;\n"
           "its squared error at every context length is printed beside the least-squares baseline.\n\n",
           o.set ? o.set : "config tiny", o.task_params, (long long)o.steps);
    return rt_train(&o);
}

int cli_demo(int argc, char **argv) {
    int npos;
    bool ir = false;
    const char *out = "runs/demo";
    int64_t steps = 0;
    cli_flag flags[] = {{"ir", FLAG_BOOL, &ir}, {"out", FLAG_STR, &out}, {"steps", FLAG_INT, &steps}};
    if (!cli_parse("demo", argc, argv, flags, 3, &npos)) return CLI_USAGE;
    if (npos) return cli_usage_error("demo", "takes no arguments");
    if (!ir) return demo_train(out, steps);
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
        for (int64_t i = 0; i < ir_numel(x->shape); i++) x->data[i] = (double)(i % 4) - 1.5 + 0.5 * (double)(i / 4);
        if (ir_interp(g, v, &(ir_interp_opts){.round_f32 = true}, err, sizeof err)) {
            ir_tensor *y = &v->t[ir_output_find(g, "y")];
            printf("# interpreted with x[i][j] = j - 1.5 + i/2 and seed 1:\n");
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
