/* rt_exec_interp.c — the interpreter as an executor: the oracle that the JIT is compared with.
 * Each run converts the f32 input/param buffers to double, interprets the graph in fp32 mode
 * (every op's result rounded to float) and converts the outputs back. */
#include "ir/interp.h"
#include "runtime/rt_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct interp_plan {
    rt_plan base;
    ir_values *values;
} interp_plan;

static bool interp_run(rt_plan *p, uint64_t step, char *err, size_t errlen) {
    interp_plan *ip = (interp_plan *)p;
    for (int i = 0; i < p->nbuffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        if (b->is_output) continue;
        double *d = ip->values->t[b->id].data;
        for (int64_t k = 0, n = ir_numel(b->shape); k < n; k++) d[k] = b->data[k];
    }
    if (!ir_interp(p->graph, ip->values, &(ir_interp_opts){.round_f32 = true, .step = step}, err, errlen))
        return false;
    for (int i = 0; i < p->nbuffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        if (!b->is_output) continue;
        const double *d = ip->values->t[b->id].data;
        for (int64_t k = 0, n = ir_numel(b->shape); k < n; k++) b->data[k] = (float)d[k];
    }
    return true;
}

static void interp_free(rt_plan *p) {
    interp_plan *ip = (interp_plan *)p;
    ir_values_free(ip->values);
    rt_plan_release(p);
    free(ip);
}

static const rt_plan_ops interp_ops = {interp_run, interp_free};

static rt_plan *interp_compile(const rt_executor *ex, const ir_graph *g, const rt_plan_opts *opts, char *err,
                               size_t errlen) {
    (void)opts;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    interp_plan *ip = calloc(1, sizeof *ip);
    if (!ip) {
        snprintf(err, errlen, "interp: out of memory");
        return NULL;
    }
    if (!rt_plan_init(&ip->base, ex, &interp_ops, g, err, errlen)) {
        free(ip);
        return NULL;
    }
    ip->values = ir_values_new(ip->base.graph);
    if (!ip->values) {
        snprintf(err, errlen, "interp: out of memory for %d values", g->nnodes);
        interp_free(&ip->base);
        return NULL;
    }
    for (ir_id i = 0; i < ip->base.graph->nnodes; i++) {
        int64_t n = ir_numel(ip->base.graph->nodes[i].shape);
        ip->base.data_bytes += (n ? n : 1) * (int64_t)sizeof(double);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ip->base.seconds_compile = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return &ip->base;
}

const rt_executor rt_executor_interp = {"interp", "the reference interpreter (slow, the oracle)", interp_compile,
                                        NULL};
