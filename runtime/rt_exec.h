/* rt_exec.h — the executor interface: how the runtime runs a compiled graph.
 *
 * An executor turns a verified graph into a *plan* and runs it. The runtime never sees graph nodes
 * through a plan: it talks to named f32 buffers — the graph's inputs, params and outputs — and asks for
 * runs. Two executors implement it: the reference interpreter ("interp", the oracle) and the LLVM JIT
 * ("jit"). Adding one means filling an rt_executor table.
 *
 *   rt_plan *p = rt_plan_compile(rt_executor_find("interp"), g, &opts, err, sizeof err);
 *   memcpy(rt_plan_buffer(p, "tokens"), tokens, bytes);        // inputs and params by name
 *   rt_plan_run(p, step, err, sizeof err);
 *   float *loss = rt_plan_buffer(p, "loss");                  // outputs by name
 *
 * State that a step updates (weights, optimizer moments) is declared as (output, input) pairs with
 * rt_plan_carry: after every run the output's contents become the input's, without a copy where the
 * executor can swap buffers. */
#ifndef ICLC_RUNTIME_RT_EXEC_H
#define ICLC_RUNTIME_RT_EXEC_H

#include "ir/ir.h"

typedef struct rt_plan rt_plan;

typedef struct rt_plan_opts {
    int threads; /* 0 = all cores */
} rt_plan_opts;

typedef struct rt_executor {
    const char *name;
    const char *summary;
    /* Compiles g (which the plan copies: the caller may free g afterwards). */
    rt_plan *(*compile)(const struct rt_executor *ex, const ir_graph *g, const rt_plan_opts *opts, char *err,
                        size_t errlen);
    /* Whether the executor can run op (NULL: every op). Passes ask before creating fused ops. */
    bool (*supports)(ir_op op);
} rt_executor;

/* The executors built into iclc, and lookup by name (NULL when unknown). */
extern const rt_executor rt_executor_interp;
const rt_executor *rt_executor_find(const char *name);
/* Whether ex can run every op of g (names the first one it cannot in err). */
bool rt_executor_runs(const rt_executor *ex, const ir_graph *g, char *err, size_t errlen);
/* "interp, jit": the names, for usage messages. */
const char *rt_executor_names(void);

/* What every plan provides. Executors embed `rt_plan` as their first member and fill `ops`. */
typedef struct rt_plan_ops {
    bool (*run)(rt_plan *p, uint64_t step, char *err, size_t errlen);
    void (*free)(rt_plan *p);
} rt_plan_ops;

typedef struct rt_buffer {
    const char *name; /* input, param or output name (owned by the plan's graph copy) */
    ir_id id;         /* node in the plan's graph */
    ir_shape shape;
    float *data;
    bool is_output;
} rt_buffer;

typedef struct rt_carry {
    int from, to; /* buffer indices: output -> input/param */
} rt_carry;

struct rt_plan {
    const rt_plan_ops *ops;
    const rt_executor *executor;
    ir_graph *graph; /* the plan's own copy */
    rt_buffer *buffers;
    int nbuffers;
    rt_carry *carries;
    int ncarries;
    double seconds_compile;
    int64_t data_bytes; /* tensor memory the plan holds: its buffers (rt_plan_init) plus the executor's own
                           (the JIT's arena and matmul scratch, the interpreter's values) */
};

rt_plan *rt_plan_compile(const rt_executor *ex, const ir_graph *g, const rt_plan_opts *opts, char *err,
                         size_t errlen);
void rt_plan_free(rt_plan *p);

/* The f32 buffer of an input, param or output by name (NULL when there is none). Inputs and params
 * keep their contents across runs; outputs are overwritten by each run. */
float *rt_plan_buffer(rt_plan *p, const char *name);
const rt_buffer *rt_plan_find(const rt_plan *p, const char *name);

/* After each run, output `from` is moved into input/param `to` (same shape). false + message when
 * either name is missing or the shapes differ. */
bool rt_plan_carry(rt_plan *p, const char *from, const char *to, char *err, size_t errlen);

/* Runs the plan once; `step` feeds step-dependent ops (rand_mask). Applies the carries afterwards. */
bool rt_plan_run(rt_plan *p, uint64_t step, char *err, size_t errlen);

/* ---- helpers for executors ---- */

/* Fills the common part of a plan: copies g, creates one buffer per input, param and named output
 * (outputs that are themselves inputs/params share the buffer). false + message on failure. */
bool rt_plan_init(rt_plan *p, const rt_executor *ex, const rt_plan_ops *ops, const ir_graph *g, char *err,
                  size_t errlen);
/* Frees what rt_plan_init allocated (not p itself). */
void rt_plan_release(rt_plan *p);

#endif
