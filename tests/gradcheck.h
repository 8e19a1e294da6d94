/* gradcheck.h — checks pass_autodiff's gradients of any graph against central finite differences,
 * everything interpreted in double. For tests only (uses tests/tap.h).
 *
 *   ir_graph *g = ...;                               // forward graph with a scalar output "loss"
 *   gradcheck(g, &(gc_opts){.seed = 7, .max_elems = 16}, "mlp");   // one TAP line per param
 *
 *   // any output, e.g. a model's prediction: loss = sum(pred * w) with random w
 *   gc_add_weighted_loss(g, ir_output_find(g, "pred"), "gc:w");
 *
 * The forward graph is left untouched: a copy gets the backward graph (pass_autodiff on every param),
 * is verified, and runs once to give the analytic gradients; each checked element of each param is then
 * moved by +-h and the forward graph re-run: fd = (L(x+h) - L(x-h)) / 2h. An element passes when
 * |an - fd| <= atol + rtol * max(|an|, |fd|). Params start from their initializers (seed), inputs are
 * N(0, 1) unless `fill` sets them (e.g. one-hot targets). `max_elems` > 0 checks a random subset of that
 * many elements per param (always including the first and the last) — the way to check whole models.
 * `cleanup` also runs the cleanup passes on the backward graph, checking that they keep the gradients.
 *
 * gc_compare(a, b, ...) compares the loss and gradients of two formulations of one function (a fused op
 * against its unfused expansion: STYLE.md point 4). */
#ifndef ICLC_TESTS_GRADCHECK_H
#define ICLC_TESTS_GRADCHECK_H

#include "ir/interp.h"
#include "ir/ir.h"
#include "ir/philox.h"
#include "passes/autodiff.h"
#include "passes/passes.h"
#include "tests/tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills inputs (and may overwrite params) of the forward graph g before the check. */
typedef void gc_fill_fn(const ir_graph *g, ir_values *v, void *user);

typedef struct gc_opts {
    const char *loss;  /* scalar output; NULL = "loss" */
    uint64_t seed;     /* params' initializers and the default N(0, 1) inputs */
    int max_elems;     /* elements checked per param; 0 = all */
    double h;          /* finite-difference step; 0 = 1e-6 */
    double rtol, atol; /* 0 = 1e-6 each */
    gc_fill_fn *fill;  /* NULL = defaults only */
    void *user;
    uint64_t step;     /* interp step (rand_mask draw) */
    bool cleanup;      /* run pass_simplify, pass_cse and pass_dce on the backward graph before checking it */
} gc_opts;

/* Fills every input of g with N(0, 1) draws keyed by (seed, input name). */
static inline void gc_fill_normal(const ir_graph *g, ir_values *v, uint64_t seed) {
    for (ir_id i = 0; i < g->nnodes; i++) {
        if (g->nodes[i].op != OP_input) continue;
        philox_key key = philox_make_key(seed, philox_hash_str(g->nodes[i].attr.name));
        for (int64_t e = 0, n = ir_numel(g->nodes[i].shape); e < n; e += 2) {
            double z0, z1;
            philox_normal2(philox_block(key, 0, (uint64_t)e), &z0, &z1);
            v->t[i].data[e] = z0;
            if (e + 1 < n) v->t[i].data[e + 1] = z1;
        }
    }
}

/* An analytic gradient `an` agrees with the finite difference `fd`; NaN never agrees. */
static inline bool gc_close(double an, double fd, double rtol, double atol) {
    return fabs(an - fd) <= atol + rtol * fmax(fabs(an), fabs(fd));
}

/* Appends loss = sum(y * w) over every element of y, w a new input `wname` of y's shape (random N(0, 1)
 * in gradcheck), as the output "loss": the generic scalar loss for checking any output (e.g. a model's
 * "pred"). Returns the loss id (IR_NONE with the error in g). */
static inline ir_id gc_add_weighted_loss(ir_graph *g, ir_id y, const char *wname) {
    if (y == IR_NONE) return IR_NONE;
    ir_shape s = g->nodes[y].shape;
    ir_id p = ir_binary(g, OP_mul, y, ir_input(g, wname, s));
    ir_id l = ir_reduce(g, OP_sum, ir_reshape(g, p, ir_shape_of(1, (int64_t[]){ir_numel(s)})), 0);
    return l != IR_NONE && ir_output_add(g, "loss", l) ? l : IR_NONE;
}

/* Runs the check; one TAP line per param (label: dloss/dparam). Returns the number of failed params,
 * or -1 (with a failed TAP line) when the graph cannot be differentiated or run. */
static inline int gradcheck(const ir_graph *fwd, const gc_opts *o, const char *label) {
    const char *loss = o->loss ? o->loss : "loss";
    double h = o->h > 0 ? o->h : 1e-6, rtol = o->rtol > 0 ? o->rtol : 1e-6, atol = o->atol > 0 ? o->atol : 1e-6;
    ir_interp_opts io = {.round_f32 = false, .step = o->step};
    char err[1024] = "";
    ir_graph *full = pass_extract(fwd, NULL, 0, true, NULL, err, sizeof err);
    ir_values *vf = NULL, *vb = NULL;
    int failed = 0;
    ir_id lf = ir_output_find(fwd, loss);
    bool okay = full && lf != IR_NONE && pass_autodiff(full, &(ir_grad_opts){.loss = loss}) &&
                (!o->cleanup || (pass_simplify(full, NULL) && pass_cse(full, NULL) && pass_dce(full, NULL))) &&
                ir_verify(full);
    if (!okay && full) snprintf(err, sizeof err, "%s", ir_error(full));
    if (okay) {
        vf = ir_values_new(fwd);
        vb = ir_values_new(full);
        okay = vf && vb;
    }
    if (okay) {
        ir_values_init_params(fwd, vf, o->seed);
        gc_fill_normal(fwd, vf, o->seed);
        if (o->fill) o->fill(fwd, vf, o->user);
        for (ir_id i = 0; i < fwd->nnodes; i++) { /* inputs and params, found by name */
            ir_op op = fwd->nodes[i].op;
            ir_id j = op == OP_input || op == OP_param ? ir_find_source(full, op, fwd->nodes[i].attr.name) : IR_NONE;
            for (int64_t e = 0, n = j == IR_NONE ? 0 : ir_numel(fwd->nodes[i].shape); e < n; e++)
                vb->t[j].data[e] = vf->t[i].data[e];
        }
        okay = ir_interp(full, vb, &io, err, sizeof err) && ir_interp(fwd, vf, &io, err, sizeof err);
    }
    if (!okay) {
        ok(0, "%s: gradcheck setup: %s", label, err[0] ? err : "no loss output or out of memory");
        failed = -1;
    }
    for (ir_id p = 0; okay && p < fwd->nnodes; p++) {
        const ir_node *pn = &fwd->nodes[p];
        if (pn->op != OP_param) continue;
        char gname[512];
        const double *an = vb->t[ir_output_find(full, ir_grad_name(pn->attr.name, gname, sizeof gname))].data;
        int64_t n = ir_numel(pn->shape), count = o->max_elems > 0 && o->max_elems < n ? o->max_elems : n;
        philox_key key = philox_make_key(o->seed, philox_hash_str(pn->attr.name) ^ 0x6763u);
        int bad = 0;
        double worst = 0;
        for (int64_t c = 0; c < count; c++) {
            int64_t e = count == n ? c : c == 0 ? 0 : c == 1 ? n - 1 : (int64_t)(philox_block(key, 1, (uint64_t)c).c[0] % (uint64_t)n);
            double *x = &vf->t[p].data[e], x0 = *x;
            *x = x0 + h;
            ir_interp(fwd, vf, &io, err, sizeof err);
            double lp = vf->t[lf].data[0];
            *x = x0 - h;
            ir_interp(fwd, vf, &io, err, sizeof err);
            double lm = vf->t[lf].data[0];
            *x = x0;
            double fd = (lp - lm) / (2 * h), g = an[e];
            double excess = fabs(g - fd) / (atol + rtol * fmax(fabs(g), fabs(fd)));
            if (excess > worst || isnan(excess)) worst = excess;
            if (!gc_close(g, fd, rtol, atol) && bad++ < 4) diag("  %s[%lld]: autodiff %.12g, finite difference %.12g", pn->attr.name, (long long)e, g, fd);
        }
        if (!ok(bad == 0, "%s: d%s/d%s (%lld of %lld elements)", label, loss, pn->attr.name, (long long)count, (long long)n)) {
            diag("  %d bad elements; worst error %.3g x tolerance", bad, worst);
            failed++;
        }
    }
    ir_values_free(vf);
    ir_values_free(vb);
    ir_graph_free(full);
    return failed;
}

/* Differentiates two forward graphs that compute the same loss from the same named params and inputs
 * (e.g. a fused op and its unfused expansion) and returns the largest difference of the loss and of every
 * param's gradient, relative to max(1, |value|); -1 when either cannot be differentiated or run (message
 * in err). Params come from a's initializers (seed) and inputs from N(0, 1) then `fill`, copied by name
 * into b. Interpreted in double. */
static inline double gc_compare(const ir_graph *a, const ir_graph *b, const gc_opts *o, char *err, size_t errlen) {
    const char *loss = o->loss ? o->loss : "loss";
    const ir_graph *src[2] = {a, b};
    ir_graph *full[2] = {NULL, NULL};
    ir_values *v[2] = {NULL, NULL};
    double worst = -1;
    bool okay = true;
    for (int k = 0; k < 2 && okay; k++) {
        full[k] = pass_extract(src[k], NULL, 0, true, NULL, err, errlen);
        okay = full[k] && pass_autodiff(full[k], &(ir_grad_opts){.loss = loss}) && ir_verify(full[k]);
        if (!okay && full[k]) snprintf(err, errlen, "%s", ir_error(full[k]));
        okay = okay && (v[k] = ir_values_new(full[k])) != NULL;
    }
    if (okay) {
        ir_values_init_params(full[0], v[0], o->seed);
        gc_fill_normal(full[0], v[0], o->seed);
        if (o->fill) o->fill(full[0], v[0], o->user);
        for (ir_id i = 0; i < full[0]->nnodes; i++) { /* sources of a -> b, by name */
            ir_op op = full[0]->nodes[i].op;
            ir_id j = op == OP_input || op == OP_param ? ir_find_source(full[1], op, full[0]->nodes[i].attr.name) : IR_NONE;
            for (int64_t e = 0, n = j == IR_NONE ? 0 : ir_numel(full[0]->nodes[i].shape); e < n; e++)
                v[1]->t[j].data[e] = v[0]->t[i].data[e];
        }
        ir_interp_opts io = {.step = o->step};
        okay = ir_interp(full[0], v[0], &io, err, errlen) && ir_interp(full[1], v[1], &io, err, errlen);
    }
    for (int k = 0; okay && k < full[0]->noutputs; k++) {
        const char *name = full[0]->outputs[k].name;
        if (strcmp(name, loss) != 0 && strncmp(name, "grad:", 5) != 0) continue;
        ir_id x = full[0]->outputs[k].id, y = ir_output_find(full[1], name);
        if (y == IR_NONE || !ir_shape_eq(full[0]->nodes[x].shape, full[1]->nodes[y].shape)) {
            snprintf(err, errlen, "output '%s' is missing or shaped differently in the second graph", name);
            okay = false;
            break;
        }
        if (worst < 0) worst = 0;
        for (int64_t e = 0; e < ir_numel(full[0]->nodes[x].shape); e++) {
            double p = v[0]->t[x].data[e], q = v[1]->t[y].data[e], d = fabs(p - q) / fmax(1.0, fabs(p));
            if (d > worst || isnan(d)) worst = isnan(d) ? INFINITY : d;
        }
    }
    for (int k = 0; k < 2; k++) {
        ir_values_free(v[k]);
        ir_graph_free(full[k]);
    }
    return okay ? worst : -1;
}

#endif
