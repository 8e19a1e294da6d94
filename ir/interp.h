/* interp.h — the reference interpreter: the numerical oracle of every later stage.
 *
 * Every tensor is held in double. Reductions and matmuls accumulate in double. With
 * `round_f32` every op's result is rounded to float, which emulates fp32 execution (what the JIT
 * computes); without it the whole graph runs in double (for finite-difference gradient checks).
 *
 *   ir_values *v = ir_values_new(g);                  // one zeroed tensor per node
 *   ir_values_init_params(g, v, seed);                // params from their initializers
 *   ... fill v->t[input_id].data ...
 *   if (!ir_interp(g, v, &(ir_interp_opts){.round_f32 = true}, err, sizeof err)) ...
 *   double *y = v->t[ir_output_find(g, "y")].data;
 */
#ifndef ICLC_IR_INTERP_H
#define ICLC_IR_INTERP_H

#include "ir/ir.h"

typedef struct ir_tensor {
    ir_shape shape;
    double *data; /* ir_numel(shape) elements, row-major */
} ir_tensor;

typedef struct ir_values {
    int32_t n;      /* number of nodes of the graph these values belong to */
    ir_tensor *t;   /* t[id] is node id's value */
} ir_values;

typedef struct ir_interp_opts {
    bool round_f32; /* round every op's result to float */
    uint64_t step;  /* training step: rand_mask draws a new mask per step */
} ir_interp_opts;

/* One zeroed tensor per node of g; NULL on allocation failure. */
ir_values *ir_values_new(const ir_graph *g);
void ir_values_free(ir_values *v);
/* Fills every param's tensor from its initializer (ir_init_fill) with the given seed. */
void ir_values_init_params(const ir_graph *g, ir_values *v, uint64_t seed);

/* Evaluates every non-source node in order (inputs and params are read from v, consts/iota are
 * computed). Returns false with a message in err when a value is missing or shapes disagree. g should
 * have passed ir_verify; the interpreter itself only refuses unknown ops and inputs that are not earlier
 * nodes. */
bool ir_interp(const ir_graph *g, ir_values *v, const ir_interp_opts *opts, char *err, size_t errlen);

/* The per-op reference implementations (one per ops.def row). `in` holds the node's inputs in order;
 * `out` is already shaped and allocated. */
typedef void ir_interp_fn(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *opts);
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) ir_interp_fn interp;
#include "ir/ops.def"
#undef OP

#endif
