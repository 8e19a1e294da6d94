/* test_adam.c — pass_adam against a plain C Adam/AdamW with torch-style global-norm clipping, over several
 * steps of random gradients (relative 1e-6, interpreted in double), plus its interface and errors, and a
 * tiny end-to-end fit (autodiff + adam) whose loss must fall. */
#include "ir/interp.h"
#include "ir/ir.h"
#include "ir/philox.h"
#include "passes/adam.h"
#include "passes/autodiff.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NP = 3, STEPS = 6 };
static const char *pname[NP] = {"w", "b", "emb"};
static const int64_t pdims[NP][3] = {{2, 4, 3}, {1, 5, 0}, {2, 3, 2}}; /* rank, dims */

static ir_shape pshape(int i) {
    return ir_shape_of((int)pdims[i][0], (int64_t[]){pdims[i][1], pdims[i][2]});
}

/* The reference: clip_grad_norm_ then Adam/AdamW, in double, on flat arrays. */
typedef struct ref_state {
    double *p[NP], *m[NP], *v[NP];
} ref_state;

static double ref_step(ref_state *s, double *const *grad, const int64_t *len, const ir_adam_opts *o, double lr, int t,
                       const bool *decay) {
    double total = 0;
    for (int i = 0; i < NP; i++)
        for (int64_t e = 0; e < len[i]; e++) total += grad[i][e] * grad[i][e];
    double norm = sqrt(total), coef = 1;
    if (o->clip > 0) coef = fmin(1.0, o->clip / (norm + 1e-6));
    double bc1 = 1 - pow(o->beta1, t), bc2 = 1 - pow(o->beta2, t);
    for (int i = 0; i < NP; i++)
        for (int64_t e = 0; e < len[i]; e++) {
            double g = grad[i][e] * coef;
            s->m[i][e] = o->beta1 * s->m[i][e] + (1 - o->beta1) * g;
            s->v[i][e] = o->beta2 * s->v[i][e] + (1 - o->beta2) * g * g;
            if (decay[i]) s->p[i][e] *= 1 - lr * o->weight_decay;
            double denom = sqrt(s->v[i][e]) / sqrt(bc2) + o->eps;
            s->p[i][e] -= lr / bc1 * s->m[i][e] / denom;
        }
    return norm;
}

static ir_id src(const ir_graph *g, const char *prefix, const char *name) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s%s", prefix, name);
    return ir_find_source(g, OP_input, buf);
}
static ir_id out(const ir_graph *g, const char *prefix, const char *name) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s%s", prefix, name);
    return ir_output_find(g, buf);
}

/* Gradients are inputs "g:<name>" exposed as "grad:<name>", so the update is tested on its own. */
static void check_against_reference(const char *label, ir_adam_opts o, double grad_scale) {
    ir_graph *g = ir_graph_new();
    for (int i = 0; i < NP; i++) {
        ir_param(g, pname[i], pshape(i), ir_init_normal(0, 1));
        char gn[32], on[32];
        snprintf(gn, sizeof gn, "g:%s", pname[i]);
        snprintf(on, sizeof on, "grad:%s", pname[i]);
        ir_output_add(g, on, ir_input(g, gn, pshape(i)));
    }
    ok(pass_adam(g, &o) && ir_verify(g), "%s: pass_adam builds a graph that verifies %s", label, ir_error(g));
    ir_values *v = ir_values_new(g);
    ir_values_init_params(g, v, 9);
    int64_t len[NP];
    bool decay[NP];
    ref_state s;
    double *grads[NP];
    for (int i = 0; i < NP; i++) {
        ir_id p = ir_find_source(g, OP_param, pname[i]);
        len[i] = ir_numel(pshape(i));
        decay[i] = o.weight_decay > 0 && (!o.decay || o.decay(&g->nodes[p], o.user));
        s.p[i] = malloc((size_t)len[i] * sizeof(double));
        s.m[i] = calloc((size_t)len[i], sizeof(double));
        s.v[i] = calloc((size_t)len[i], sizeof(double));
        grads[i] = malloc((size_t)len[i] * sizeof(double));
        memcpy(s.p[i], v->t[p].data, (size_t)len[i] * sizeof(double));
    }
    double worst = 0, worst_norm = 0;
    int clipped = 0;
    char err[256];
    for (int t = 1; t <= STEPS; t++) {
        double lr = 1e-3 * t; /* lr changes every step: it is an input */
        v->t[src(g, "adam:", "lr")].data[0] = lr;
        v->t[src(g, "adam:", "step")].data[0] = t;
        philox_key key = philox_make_key(77, (uint32_t)t);
        for (int i = 0; i < NP; i++)
            for (int64_t e = 0; e < len[i]; e++) {
                double z0, z1;
                philox_normal2(philox_block(key, (uint64_t)i, (uint64_t)e), &z0, &z1);
                grads[i][e] = v->t[src(g, "g:", pname[i])].data[e] = z0 * grad_scale * (t % 2 ? 1 : 0.01);
            }
        if (!ir_interp(g, v, NULL, err, sizeof err)) diag("interp: %s", err);
        double norm = ref_step(&s, grads, len, &o, lr, t, decay);
        clipped += o.clip > 0 && norm > o.clip;
        double gn = v->t[ir_output_find(g, "grad_norm")].data[0];
        worst_norm = fmax(worst_norm, fabs(gn - norm) / norm);
        for (int i = 0; i < NP; i++) {
            double *np = v->t[out(g, "new:", pname[i])].data, *nm = v->t[out(g, "adam:m_new:", pname[i])].data;
            double *nv = v->t[out(g, "adam:v_new:", pname[i])].data;
            for (int64_t e = 0; e < len[i]; e++) {
                worst = fmax(worst, fabs(np[e] - s.p[i][e]) / fmax(fabs(s.p[i][e]), 1e-3));
                worst = fmax(worst, fabs(nm[e] - s.m[i][e]) / fmax(fabs(s.m[i][e]), 1e-12));
                worst = fmax(worst, fabs(nv[e] - s.v[i][e]) / fmax(fabs(s.v[i][e]), 1e-12));
            }
            /* carry the state: new -> param, m_new -> m, v_new -> v */
            memcpy(v->t[ir_find_source(g, OP_param, pname[i])].data, np, (size_t)len[i] * sizeof(double));
            memcpy(v->t[src(g, "adam:m:", pname[i])].data, nm, (size_t)len[i] * sizeof(double));
            memcpy(v->t[src(g, "adam:v:", pname[i])].data, nv, (size_t)len[i] * sizeof(double));
        }
    }
    ok(worst <= 1e-6, "%s: params and moments match plain C over %d steps (worst rel. error %.2g)", label, STEPS, worst);
    ok(worst_norm <= 1e-12, "%s: grad_norm matches (worst rel. error %.2g)", label, worst_norm);
    if (o.clip > 0 && grad_scale > 1) ok(clipped > 0 && clipped < STEPS, "%s: %d of %d steps clipped", label, clipped, STEPS);
    for (int i = 0; i < NP; i++) free(s.p[i]), free(s.m[i]), free(s.v[i]), free(grads[i]);
    ir_values_free(v);
    ir_graph_free(g);
}

static void test_interface(void) {
    ir_graph *g = ir_graph_new();
    ir_id w = ir_param(g, "w", ir_shape_of(1, (int64_t[]){3}), ir_init_zeros());
    ir_adam_opts o = ir_adam_defaults();
    ok(!pass_adam(g, &o), "no grad outputs: error");
    like(ir_error(g), "no \"grad:\" outputs", "  says to run autodiff first");
    ir_graph_free(g);

    g = ir_graph_new();
    w = ir_param(g, "w", ir_shape_of(1, (int64_t[]){3}), ir_init_zeros());
    ir_output_add(g, "grad:w", w);
    ir_input(g, "adam:lr", ir_shape_scalar());
    ok(!pass_adam(g, &o), "a taken adam: name is an error");
    like(ir_error(g), "already has an input named 'adam:lr'", "  naming it");
    ir_graph_free(g);

    g = ir_graph_new();
    w = ir_param(g, "w", ir_shape_of(1, (int64_t[]){3}), ir_init_zeros());
    ir_output_add(g, "grad:w", w);
    o.beta2 = 1.0;
    ok(!pass_adam(g, &o), "beta2 = 1 is refused");
    ir_graph_free(g);

    o = ir_adam_defaults();
    ok(o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8 && o.weight_decay == 0 && o.clip == 10,
       "defaults are torch's Adam with the reference's clip 10");
}

/* A NaN or Inf gradient shows in grad_norm (the runtime's stop signal). */
static void test_nonfinite(void) {
    const double bad[2] = {NAN, INFINITY};
    for (int k = 0; k < 2; k++) {
        ir_graph *g = ir_graph_new();
        ir_param(g, "w", ir_shape_of(1, (int64_t[]){3}), ir_init_ones());
        ir_id gi = ir_input(g, "g", ir_shape_of(1, (int64_t[]){3}));
        ir_output_add(g, "grad:w", gi);
        ir_adam_opts o = ir_adam_defaults();
        pass_adam(g, &o);
        ir_values *v = ir_values_new(g);
        v->t[gi].data[1] = bad[k];
        v->t[ir_find_source(g, OP_input, "adam:step")].data[0] = 1;
        char err[128];
        ir_interp(g, v, NULL, err, sizeof err);
        double n = v->t[ir_output_find(g, "grad_norm")].data[0];
        ok(k == 0 ? isnan(n) : isinf(n), "a%s gradient gives grad_norm %g", k ? "n Inf" : " NaN", n);
        ir_values_free(v);
        ir_graph_free(g);
    }
}

/* Linear regression y = x w* fitted by autodiff + adam in the interpreter: the loss falls 100x. */
static void test_fit(void) {
    enum { Bn = 16, D = 4 };
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", ir_shape_of(2, (int64_t[]){Bn, D})), y = ir_input(g, "y", ir_shape_of(2, (int64_t[]){Bn, 1}));
    ir_id w = ir_param(g, "w", ir_shape_of(2, (int64_t[]){D, 1}), ir_init_zeros());
    ir_id err = ir_binary(g, OP_sub, ir_matmul(g, x, w, false, false), y);
    ir_output_add(g, "loss", ir_reduce(g, OP_mean, ir_reduce(g, OP_mean, ir_unary(g, OP_square, err), 0), 1));
    ir_adam_opts o = ir_adam_defaults();
    ok(pass_train_graph(g, NULL, &o), "pass_train_graph %s", ir_error(g));
    x = ir_find_source(g, OP_input, "x"), y = ir_find_source(g, OP_input, "y"), w = ir_find_source(g, OP_param, "w");
    ir_values *v = ir_values_new(g);
    const double wstar[D] = {1, -2, 0.5, 3};
    for (int b = 0; b < Bn; b++) {
        double acc = 0;
        for (int d = 0; d < D; d++) {
            double xv = sin(1.3 * b + 0.7 * d * d + d);
            v->t[x].data[b * D + d] = xv;
            acc += xv * wstar[d];
        }
        v->t[y].data[b] = acc;
    }
    ir_id lr = ir_find_source(g, OP_input, "adam:lr"), st = ir_find_source(g, OP_input, "adam:step");
    ir_id loss = ir_output_find(g, "loss"), nw = ir_output_find(g, "new:w");
    ir_id m = ir_find_source(g, OP_input, "adam:m:w"), vv = ir_find_source(g, OP_input, "adam:v:w");
    ir_id m1 = ir_output_find(g, "adam:m_new:w"), v1 = ir_output_find(g, "adam:v_new:w");
    double first = 0, last = 0;
    char msg[256];
    for (int t = 1; t <= 300; t++) {
        v->t[lr].data[0] = 0.05;
        v->t[st].data[0] = t;
        ir_interp(g, v, &(ir_interp_opts){.round_f32 = true}, msg, sizeof msg);
        if (t == 1) first = v->t[loss].data[0];
        last = v->t[loss].data[0];
        memcpy(v->t[w].data, v->t[nw].data, D * sizeof(double));
        memcpy(v->t[m].data, v->t[m1].data, D * sizeof(double));
        memcpy(v->t[vv].data, v->t[v1].data, D * sizeof(double));
    }
    ok(last < first / 100, "loss falls from %.4g to %.3g in 300 steps", first, last);
    ir_values_free(v);
    ir_graph_free(g);
}

int main(void) {
    ir_adam_opts o = ir_adam_defaults();
    check_against_reference("adam, clip 10", o, 1.0);
    check_against_reference("adam, clipping active", o, 10.0);
    o.clip = 0;
    check_against_reference("adam, no clipping", o, 10.0);
    o = ir_adam_defaults();
    o.weight_decay = 0.1;
    check_against_reference("adamw, all params decay", o, 1.0);
    o.decay = ir_adam_decay_matrices;
    check_against_reference("adamw, matrices only", o, 3.0);
    o = (ir_adam_opts){.beta1 = 0.5, .beta2 = 0.9, .eps = 1e-3, .clip = 2.0};
    check_against_reference("other betas and eps", o, 1.0);
    test_interface();
    test_nonfinite();
    test_fit();
    return done_testing();
}
