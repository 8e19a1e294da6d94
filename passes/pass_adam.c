/* pass_adam.c — appends global-norm clipping and the Adam/AdamW update as graph ops (see adam.h). */
#include "passes/adam.h"
#include "passes/autodiff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ir_adam_opts ir_adam_defaults(void) {
    return (ir_adam_opts){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .clip = 10.0};
}

bool ir_adam_decay_matrices(const ir_node *param, void *user) {
    (void)user;
    return param->shape.rank >= 2;
}

static ir_id k(ir_graph *g, double v) { return ir_scalar(g, v); }
static ir_id add(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_add, a, b); }
static ir_id mul(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_mul, a, b); }
static ir_id dvd(ir_graph *g, ir_id a, ir_id b) { return ir_binary(g, OP_div, a, b); }

/* An input named prefix + name of shape s, failing when the name is taken. */
static ir_id named_input(ir_graph *g, const char *prefix, const char *name, ir_shape s) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s", prefix, name);
    if (ir_find_source(g, OP_input, buf) != IR_NONE) {
        ir_errorf(g, "adam: the graph already has an input named '%s'", buf);
        return IR_NONE;
    }
    return ir_input(g, buf, s);
}

static bool named_output(ir_graph *g, const char *prefix, const char *name, ir_id id) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s", prefix, name);
    return ir_output_add(g, buf, id);
}

/* sum(x^2) over every element, as f32[]. */
static ir_id sum_squares(ir_graph *g, ir_id x) {
    ir_shape s = g->nodes[x].shape;
    ir_id flat = ir_reshape(g, ir_unary(g, OP_square, x), ir_shape_of(1, (int64_t[]){ir_numel(s)}));
    return ir_reshape(g, ir_reduce(g, OP_sum, flat, 0), ir_shape_scalar());
}

/* beta^t as exp(t ln beta); 0 for beta = 0 (ln 0 = -inf). */
static ir_id pow_step(ir_graph *g, double beta, ir_id step) {
    if (beta == 0) return k(g, 0);
    return ir_unary(g, OP_exp, mul(g, step, k(g, log(beta))));
}

bool pass_adam(ir_graph *g, const ir_adam_opts *o) {
    if (ir_failed(g)) return false; /* an earlier error stands */
    if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps >= 0 && o->weight_decay >= 0)) {
        ir_errorf(g, "adam: need 0 <= beta1, beta2 < 1 and eps, weight_decay >= 0 (got %g, %g, %g, %g)", o->beta1,
                  o->beta2, o->eps, o->weight_decay);
        return false;
    }
    /* the params with a gradient, in node order */
    int32_t n = g->nnodes, np = 0;
    ir_id *param = malloc((size_t)(n ? n : 1) * sizeof *param), *grad = malloc((size_t)(n ? n : 1) * sizeof *grad);
    if (!param || !grad) {
        free(param);
        free(grad);
        ir_errorf(g, "adam: out of memory");
        return false;
    }
    for (ir_id i = 0; i < n; i++) {
        if (g->nodes[i].op != OP_param) continue;
        char name[512];
        ir_id d = ir_output_find(g, ir_grad_name(g->nodes[i].attr.name, name, sizeof name));
        if (d == IR_NONE) continue;
        param[np] = i;
        grad[np++] = d;
    }
    ir_loc saved = g->loc;
    g->loc = (ir_loc){0};
    if (np == 0) ir_errorf(g, "adam: the graph has no \"grad:\" outputs (run pass_autodiff first)");
    ir_id lr = np ? named_input(g, "adam:", "lr", ir_shape_scalar()) : IR_NONE;
    ir_id step = named_input(g, "adam:", "step", ir_shape_scalar());

    /* global norm and clipping factor */
    ir_id total = IR_NONE;
    for (int i = 0; i < np; i++) {
        ir_id s = sum_squares(g, grad[i]);
        total = i == 0 ? s : add(g, total, s);
    }
    ir_id norm = ir_unary(g, OP_sqrt, total), scale = IR_NONE;
    ir_output_add(g, "grad_norm", norm);
    if (o->clip > 0) scale = ir_binary(g, OP_min, k(g, 1), dvd(g, k(g, o->clip), add(g, norm, k(g, 1e-6))));

    /* bias corrections: step_size = lr / (1 - beta1^t), sqrt(1 - beta2^t) */
    ir_id bc1 = ir_binary(g, OP_sub, k(g, 1), pow_step(g, o->beta1, step));
    ir_id bc2 = ir_binary(g, OP_sub, k(g, 1), pow_step(g, o->beta2, step));
    ir_id step_size = dvd(g, lr, bc1), bc2_sqrt = ir_unary(g, OP_sqrt, bc2);
    ir_id shrink = o->weight_decay > 0 ? ir_binary(g, OP_sub, k(g, 1), mul(g, lr, k(g, o->weight_decay))) : IR_NONE;

    for (int i = 0; i < np && !g->failed; i++) {
        ir_node p = g->nodes[param[i]]; /* a copy: g->nodes moves as nodes are added */
        g->loc = p.loc;
        ir_id gr = scale != IR_NONE ? mul(g, grad[i], scale) : grad[i];
        ir_id m = named_input(g, "adam:m:", p.attr.name, p.shape), v = named_input(g, "adam:v:", p.attr.name, p.shape);
        ir_id m1 = add(g, mul(g, m, k(g, o->beta1)), mul(g, gr, k(g, 1 - o->beta1)));
        ir_id v1 = add(g, mul(g, v, k(g, o->beta2)), mul(g, ir_unary(g, OP_square, gr), k(g, 1 - o->beta2)));
        ir_id denom = add(g, dvd(g, ir_unary(g, OP_sqrt, v1), bc2_sqrt), k(g, o->eps));
        ir_id w = param[i];
        if (shrink != IR_NONE && (!o->decay || o->decay(&p, o->user))) w = mul(g, w, shrink);
        ir_id w1 = ir_binary(g, OP_sub, w, mul(g, step_size, dvd(g, m1, denom)));
        if (!g->failed) {
            named_output(g, "new:", p.attr.name, w1);
            named_output(g, "adam:m_new:", p.attr.name, m1);
            named_output(g, "adam:v_new:", p.attr.name, v1);
        }
    }
    g->loc = saved;
    free(param);
    free(grad);
    return !g->failed;
}
