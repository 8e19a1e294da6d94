/* ir.h — iclc's tensor IR: a typed, shaped SSA dataflow graph.
 *
 * A graph is an array of nodes in topological order; a node's id is its index. Each node has an op
 * (ir/ops.def), input ids, attributes, a dtype and a static shape, and the source location (Lua
 * file:line) that built it. Builders check shapes as they go and report errors as values: a builder
 * returns IR_NONE and leaves a message in the graph; any builder given IR_NONE as an input returns
 * IR_NONE too, so a chain of calls needs one check at the end.
 *
 *   ir_graph *g = ir_graph_new();
 *   ir_id x = ir_input(g, "x", ir_shape_of(2, (int64_t[]){64, 20}));
 *   ir_id w = ir_param(g, "w", ir_shape_of(2, (int64_t[]){128, 20}), ir_init_normal(0.02));
 *   ir_id y = ir_matmul(g, x, w, false, true);        // x @ w^T : f32[64,128]
 *   if (y == IR_NONE) fprintf(stderr, "%s\n", ir_error(g));
 */
#ifndef ICLC_IR_IR_H
#define ICLC_IR_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IR_MAX_RANK 6
#define IR_NONE (-1)

typedef int32_t ir_id;

typedef enum ir_dtype { IR_F32, IR_BF16 } ir_dtype;

typedef struct ir_shape {
    int rank;
    int64_t dim[IR_MAX_RANK];
} ir_shape;

/* ---- ops (ir/ops.def) ---- */
typedef enum ir_op {
#define OP(name, ...) OP_##name,
#include "ir/ops.def"
#undef OP
    OP_COUNT
} ir_op;

enum ir_op_flags {
    OPF_SOURCE = 1 << 0,   /* no inputs */
    OPF_UNARY = 1 << 1,    /* elementwise, one input */
    OPF_BINARY = 1 << 2,   /* elementwise, two broadcast inputs */
    OPF_ELEMWISE = 1 << 3, /* elementwise with broadcasting (implied by UNARY and BINARY) */
    OPF_REDUCE = 1 << 4,   /* reduction over one axis */
    OPF_MOVEMENT = 1 << 5, /* moves elements, computes nothing */
    OPF_CONTRACT = 1 << 6, /* matmul-like */
    OPF_SCAN = 1 << 7,     /* linear recurrence along an axis */
    OPF_NODIFF = 1 << 8,   /* output is piecewise constant: no gradient flows through */
    OPF_FUSED = 1 << 9,    /* created by a fusion pass, never by users */
};

/* ---- attributes (ir/attrs.def) ---- */
typedef enum ir_attr_kind { ATTR_STR, ATTR_INIT, ATTR_F64, ATTR_INT, ATTR_PERM, ATTR_BOOL } ir_attr_kind;

typedef enum ir_attr_id {
#define ATTR(name, kind, dflt) ATTR_ID_##name,
#include "ir/attrs.def"
#undef ATTR
    ATTR_COUNT
} ir_attr_id;
#define AT(name) (1u << ATTR_ID_##name)

typedef enum ir_init_kind {
    INIT_ZEROS,    /* 0 */
    INIT_ONES,     /* 1 */
    INIT_CONSTANT, /* a */
    INIT_NORMAL,   /* N(a, b^2): mean a, standard deviation b */
    INIT_UNIFORM,  /* U[a, b) */
    INIT_DATA,     /* explicit values (data, one float per element) */
    INIT_COUNT
} ir_init_kind;

/* Transforms applied, in order, to each drawn value (e.g. Mamba's dt bias: uniform in log space, then
 * exp, then the inverse of softplus). */
typedef enum ir_init_post { INIT_POST_NONE, INIT_POST_EXP, INIT_POST_SOFTPLUS_INV, INIT_POST_COUNT } ir_init_post;
#define IR_INIT_MAX_POST 2

typedef struct ir_init {
    ir_init_kind kind;
    double a, b;
    const float *data; /* INIT_DATA: owned by the graph */
    ir_init_post post[IR_INIT_MAX_POST]; /* INIT_POST_NONE-terminated */
} ir_init;

typedef struct ir_attrs {
    const char *name; /* interned in the graph */
    ir_init init;
    double value;
    int64_t seed;
    int64_t axis, start, end, lo, hi;
    int64_t perm[IR_MAX_RANK];
    bool reverse, ta, tb, softplus;
} ir_attrs;

/* The boolean attributes as one bit set (for hashes and cache keys: a new flag goes here once). */
static inline uint64_t ir_attrs_flags(const ir_attrs *a) {
    return (uint64_t)a->reverse | (uint64_t)a->ta << 1 | (uint64_t)a->tb << 2 | (uint64_t)a->softplus << 3;
}

/* Where a node came from: the Lua file:line (or the IR text file:line) that built it. */
typedef struct ir_loc {
    const char *file; /* interned in the graph; NULL when unknown */
    int line;
} ir_loc;

typedef struct ir_node {
    ir_op op;
    ir_dtype dtype;
    ir_shape shape;
    int32_t nin;    /* number of inputs */
    int32_t in_off; /* inputs are g->args[in_off .. in_off + nin) */
    ir_attrs attr;
    ir_loc loc;
} ir_node;

typedef struct ir_output {
    const char *name; /* interned */
    ir_id id;
} ir_output;

typedef struct ir_graph {
    ir_node *nodes;
    int32_t nnodes, cap_nodes;
    ir_id *args; /* input ids of every node */
    int32_t nargs, cap_args;
    ir_output *outputs;
    int32_t noutputs, cap_outputs;
    char **strings; /* interned strings (names, file names) */
    int32_t nstrings, cap_strings;
    float **blobs; /* INIT_DATA arrays */
    int32_t nblobs, cap_blobs;
    ir_loc loc;     /* stamped on every node built from now on */
    char err[1024]; /* first error since ir_clear_error */
    bool failed;
} ir_graph;

/* ---- the op table ---- */
typedef struct ir_op_info {
    const char *name;
    int arity; /* -1 = variadic */
    uint32_t attrs;
    uint32_t flags;
} ir_op_info;
extern const ir_op_info ir_ops[OP_COUNT];

typedef struct ir_attr_info {
    const char *name;
    ir_attr_kind kind;
} ir_attr_info;
extern const ir_attr_info ir_attr_table[ATTR_COUNT];

/* Op by name (the text form's spelling); returns OP_COUNT when unknown. */
ir_op ir_op_by_name(const char *name);

/* ---- shapes ---- */
ir_shape ir_shape_of(int rank, const int64_t *dims);
ir_shape ir_shape_scalar(void);
int64_t ir_numel(ir_shape s);
bool ir_shape_eq(ir_shape a, ir_shape b);
/* "f32[64,82,128]" into buf; returns buf. */
char *ir_type_str(ir_dtype t, ir_shape s, char *buf, size_t len);
const char *ir_dtype_name(ir_dtype t);
/* Row-major strides of s (in elements). */
void ir_strides(ir_shape s, int64_t *strides);
/* NumPy broadcast of a and b; false when incompatible. */
bool ir_broadcast_shapes(ir_shape a, ir_shape b, ir_shape *out);

/* ---- packed gradients of the fused ops (ir/ir_fused.c) ----
 * A fused op's `_grad` node returns the gradients of its inputs (all but dy) in one flat tensor, in input
 * order. The gradient of a parameter shared by the whole batch (selective_scan's A and D, a conv's w and
 * bias, LayerNorm's w and b) is packed as per-batch partial sums [B, shape] (B = dim 0 of input 0) that
 * the VJP adds up: a kernel parallel over the batch then writes disjoint pieces (no races, deterministic). */
/* true when input `input` of grad op `grad` is packed as per-batch partials. */
bool ir_grad_per_batch(ir_op grad, int input);
/* Offset of input `input`'s piece in grad node n's output (input = n->nin - 1: the total size). */
int64_t ir_grad_offset(const ir_graph *g, const ir_node *n, int input);

/* ---- graphs ---- */
ir_graph *ir_graph_new(void);
void ir_graph_free(ir_graph *g);
/* A deep copy of g (nodes, inputs, outputs, strings, data blobs; not the error). NULL on allocation failure. */
ir_graph *ir_graph_clone(const ir_graph *g);
static inline ir_node *ir_node_at(const ir_graph *g, ir_id id) { return &g->nodes[id]; }
static inline ir_id ir_in(const ir_graph *g, const ir_node *n, int i) { return g->args[n->in_off + i]; }
/* A string owned by the graph, equal to s (one copy per distinct string). NULL on allocation failure. */
const char *ir_intern(ir_graph *g, const char *s);
/* Sets the location stamped on nodes built from now on. */
void ir_set_loc(ir_graph *g, const char *file, int line);

/* Errors: the first failure's message, "op: what is wrong: shapes (file:line)". */
const char *ir_error(const ir_graph *g);
bool ir_failed(const ir_graph *g);
void ir_clear_error(ir_graph *g);
/* Records an error (printf-style) at the graph's current location unless one is already recorded. */
void ir_errorf(ir_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- building ----
 * The generic builder: op, inputs, attributes (NULL = all defaults) and, for ops whose shape is given
 * rather than inferred (sources, reshape, broadcast), that shape. Checks arity, attributes and shapes. */
ir_id ir_build(ir_graph *g, ir_op op, const ir_id *in, int nin, const ir_attrs *attrs, const ir_shape *shape);

ir_id ir_input(ir_graph *g, const char *name, ir_shape s);
ir_id ir_param(ir_graph *g, const char *name, ir_shape s, ir_init init);
ir_id ir_const(ir_graph *g, double value, ir_shape s);
ir_id ir_scalar(ir_graph *g, double value); /* rank-0 const */
ir_id ir_iota(ir_graph *g, ir_shape s, int axis);
ir_id ir_rand_mask(ir_graph *g, ir_shape s, double p, int64_t seed);
ir_id ir_unary(ir_graph *g, ir_op op, ir_id x);
ir_id ir_binary(ir_graph *g, ir_op op, ir_id a, ir_id b);
ir_id ir_select(ir_graph *g, ir_id c, ir_id a, ir_id b);
ir_id ir_reduce(ir_graph *g, ir_op op, ir_id x, int axis);
ir_id ir_reshape(ir_graph *g, ir_id x, ir_shape s);
ir_id ir_permute(ir_graph *g, ir_id x, const int *perm);
ir_id ir_broadcast(ir_graph *g, ir_id x, ir_shape s);
ir_id ir_slice(ir_graph *g, ir_id x, int axis, int64_t start, int64_t end);
ir_id ir_concat(ir_graph *g, const ir_id *xs, int n, int axis);
ir_id ir_pad(ir_graph *g, ir_id x, int axis, int64_t lo, int64_t hi, double value);
ir_id ir_matmul(ir_graph *g, ir_id a, ir_id b, bool ta, bool tb);
ir_id ir_scan(ir_graph *g, ir_id a, ir_id b, ir_id h0, int axis, bool reverse);
ir_id ir_cscan(ir_graph *g, ir_id a, ir_id b, ir_id h0, int axis, bool reverse);

/* Marks id as a named graph output. false (with an error) on a missing or duplicate name or a bad id. */
bool ir_output_add(ir_graph *g, const char *name, ir_id id);
/* Output id by name, IR_NONE when absent. */
ir_id ir_output_find(const ir_graph *g, const char *name);
/* Node id of the input or param named `name`, IR_NONE when absent. */
ir_id ir_find_source(const ir_graph *g, ir_op op, const char *name);

ir_init ir_init_zeros(void);
ir_init ir_init_ones(void);
ir_init ir_init_constant(double v);
ir_init ir_init_normal(double mean, double std);
ir_init ir_init_uniform(double lo, double hi);
/* Copies n floats into the graph; n must equal the param's element count. */
ir_init ir_init_data(ir_graph *g, const float *values, int64_t n);
/* init with `post` appended to its transforms (kept unchanged when already full). */
ir_init ir_init_then(ir_init init, ir_init_post post);
/* "exp", "softplus_inv"; NULL for an unknown value. ir_init_post_by_name returns INIT_POST_COUNT when unknown. */
const char *ir_init_post_name(ir_init_post p);
ir_init_post ir_init_post_by_name(const char *name);

/* Fills out[0..numel) with a param's initial values. A pure function of (seed, param name, element
 * index), so the same seed gives the same weights whatever the order or number of params. */
void ir_init_fill(const ir_node *param, uint64_t seed, float *out);

/* ---- whole-graph checks ----
 * Verifies every node: known op, arity, inputs defined earlier (topological order, no dangling ids),
 * attributes valid and canonical (axes normalised to >= 0, perm entries past the rank 0), shape equal
 * to what its shape rule infers, outputs valid, input names unique, param names unique.
 * Returns false with the message in the graph's error. */
bool ir_verify(ir_graph *g);

/* A structural 64-bit hash of the graph (ops, attributes, shapes, edges, outputs; not locations). */
uint64_t ir_graph_hash(const ir_graph *g);

/* ---- text form (ir/ir_print.c, ir/ir_parse.c) ---- */
/* Prints g in the text form; returns a malloc'd string (caller frees), NULL on allocation failure. */
char *ir_print(const ir_graph *g);
/* Parses the text form. On failure returns NULL and writes "file:line:col: expected ..." into err. */
ir_graph *ir_parse(const char *text, const char *filename, char *err, size_t errlen);

/* Runs n's shape rule (n's inputs must be in g): sets n->shape or records an error. */
bool ir_infer_shape(ir_graph *g, ir_node *n);

/* ---- shape rules (ir/ir_shape.c): one per ops.def row; set n->shape or record an error ---- */
typedef bool ir_shape_fn(ir_graph *g, ir_node *n);
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) ir_shape_fn shape;
#include "ir/ops.def"
#undef OP

#endif
