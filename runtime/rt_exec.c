/* rt_exec.c — what every executor's plan shares: named buffers, carries, the run wrapper. */
#include "runtime/rt_exec.h"
#include "runtime/rt_exec_jit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rt_executor *const executors[] = {&rt_executor_interp, &rt_executor_jit};

const rt_executor *rt_executor_find(const char *name) {
    for (size_t i = 0; i < sizeof executors / sizeof executors[0]; i++)
        if (strcmp(executors[i]->name, name) == 0) return executors[i];
    return NULL;
}

const char *rt_executor_names(void) { return "interp, jit"; }

bool rt_executor_runs(const rt_executor *ex, const ir_graph *g, char *err, size_t errlen) {
    for (ir_id i = 0; ex->supports && i < g->nnodes; i++)
        if (!ex->supports(g->nodes[i].op)) {
            snprintf(err, errlen, "the %s executor has no kernel for %s", ex->name, ir_ops[g->nodes[i].op].name);
            return false;
        }
    return true;
}

rt_plan *rt_plan_compile(const rt_executor *ex, const ir_graph *g, const rt_plan_opts *opts, char *err,
                         size_t errlen) {
    static const rt_plan_opts defaults = {0};
    return ex->compile(ex, g, opts ? opts : &defaults, err, errlen);
}

void rt_plan_free(rt_plan *p) {
    if (p) p->ops->free(p);
}

const rt_buffer *rt_plan_find(const rt_plan *p, const char *name) {
    for (int i = 0; i < p->nbuffers; i++)
        if (strcmp(p->buffers[i].name, name) == 0) return &p->buffers[i];
    return NULL;
}

float *rt_plan_buffer(rt_plan *p, const char *name) {
    const rt_buffer *b = rt_plan_find(p, name);
    return b ? b->data : NULL;
}

bool rt_plan_carry(rt_plan *p, const char *from, const char *to, char *err, size_t errlen) {
    const rt_buffer *f = rt_plan_find(p, from), *t = rt_plan_find(p, to);
    if (!f || !f->is_output || !t || t->is_output) {
        snprintf(err, errlen, "carry %s -> %s: %s", from, to,
                 !f || !f->is_output ? "no such output" : "no such input or param");
        return false;
    }
    if (!ir_shape_eq(f->shape, t->shape)) {
        snprintf(err, errlen, "carry %s -> %s: shapes differ", from, to);
        return false;
    }
    rt_carry *c = realloc(p->carries, (size_t)(p->ncarries + 1) * sizeof *c);
    if (!c) {
        snprintf(err, errlen, "carry %s -> %s: out of memory", from, to);
        return false;
    }
    p->carries = c;
    p->carries[p->ncarries++] = (rt_carry){(int)(f - p->buffers), (int)(t - p->buffers)};
    return true;
}

bool rt_plan_run(rt_plan *p, uint64_t step, char *err, size_t errlen) {
    if (!p->ops->run(p, step, err, errlen)) return false;
    /* Swap storage: the input now holds the new state; the output's old storage is scratch. */
    for (int i = 0; i < p->ncarries; i++) {
        rt_buffer *f = &p->buffers[p->carries[i].from], *t = &p->buffers[p->carries[i].to];
        float *tmp = t->data;
        t->data = f->data;
        f->data = tmp;
    }
    return true;
}

static bool add_buffer(rt_plan *p, const char *name, ir_id id, bool is_output) {
    const ir_node *n = &p->graph->nodes[id];
    int64_t count = ir_numel(n->shape);
    float *data = calloc((size_t)(count ? count : 1), sizeof(float));
    if (!data) return false;
    p->buffers[p->nbuffers++] = (rt_buffer){name, id, n->shape, data, is_output};
    p->data_bytes += (count ? count : 1) * (int64_t)sizeof(float);
    return true;
}

bool rt_plan_init(rt_plan *p, const rt_executor *ex, const rt_plan_ops *ops, const ir_graph *g, char *err,
                  size_t errlen) {
    *p = (rt_plan){.ops = ops, .executor = ex};
    p->graph = ir_graph_clone(g);
    int cap = g->noutputs;
    for (ir_id i = 0; i < g->nnodes; i++) cap += g->nodes[i].op == OP_input || g->nodes[i].op == OP_param;
    p->buffers = calloc((size_t)(cap ? cap : 1), sizeof *p->buffers);
    bool okay = p->graph && p->buffers;
    for (ir_id i = 0; okay && i < g->nnodes; i++) {
        const ir_node *n = &p->graph->nodes[i];
        if (n->op == OP_input || n->op == OP_param) okay = add_buffer(p, n->attr.name, i, false);
    }
    for (int i = 0; okay && i < g->noutputs; i++) {
        const ir_output *o = &p->graph->outputs[i];
        const ir_node *n = &p->graph->nodes[o->id];
        if ((n->op == OP_input || n->op == OP_param) && strcmp(n->attr.name, o->name) == 0) continue;
        if (rt_plan_find(p, o->name)) {
            snprintf(err, errlen, "output '%s' has the name of an input or param", o->name);
            rt_plan_release(p);
            return false;
        }
        okay = add_buffer(p, o->name, o->id, true);
    }
    if (!okay) {
        snprintf(err, errlen, "compiling a plan: out of memory");
        rt_plan_release(p);
        return false;
    }
    return true;
}

void rt_plan_release(rt_plan *p) {
    for (int i = 0; i < p->nbuffers; i++) free(p->buffers[i].data);
    free(p->buffers);
    free(p->carries);
    ir_graph_free(p->graph);
    p->buffers = NULL;
    p->carries = NULL;
    p->graph = NULL;
    p->nbuffers = p->ncarries = 0;
}
