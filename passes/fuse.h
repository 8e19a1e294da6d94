/* fuse.h — the fusion passes: pattern matchers over a forward graph that replace what frontend/nn.lua
 * writes in primitives by the fused ops at the end of ir/ops.def (docs/fusion.md).
 *
 *   if (!pass_fuse(g, NULL)) fprintf(stderr, "%s\n", ir_error(g));   // every pattern
 *   pass_fuse(g, "attention,layernorm");                             // all but these two
 *   pass_fuse(g, "all");                                             // none (the unfused graph)
 *
 * Run it on the forward graph BEFORE pass_autodiff, so the backward uses the fused ops' own VJPs.
 * A pattern is fused only when it matches exactly: same ops, the shapes the fused op assumes, constants
 * with the values it builds in (zero initial state, a causal mask, a zero conv padding, ...), and no
 * intermediate the fused op would hide is used elsewhere or is a graph output. Anything else stays as it
 * is. Node ids change (the graph is rebuilt and dead nodes are removed); names, outputs, locations stay:
 * a fused node carries the location of the pattern's last node. */
#ifndef ICLC_PASSES_FUSE_H
#define ICLC_PASSES_FUSE_H

#include "ir/ir.h"

/* The patterns, in the order pass_fuse runs them. */
#define FUSE_PATTERNS "slice_matmul, attention, selective_scan, s4_scan, causal_conv1d, layernorm, matmul_epilogue, attention_lse"

/* Runs every pattern except those named in disabled_csv ("a,b"; NULL or "" = none disabled; "all" = every
 * one disabled). false with the error in g for an unknown name or a failure (g unchanged then). */
bool pass_fuse(ir_graph *g, const char *disabled_csv);

/* The patterns for a training graph's backward part, run after pass_autodiff (and pass_adam): attention_lse
 * merges each attention with the attention_lse its VJP built on the same q, k into one attention_fwd (one
 * sweep over the scores writes the output and the row statistics). Honours the same disabled list as
 * pass_fuse. */
bool pass_fuse_backward(ir_graph *g, const char *disabled_csv);

/* Whether pattern `name` is one of pass_fuse_backward's (it needs autodiff, and forward fusions, first). */
bool pass_fuse_is_backward(const char *name);

/* Runs one pattern by name (one of FUSE_PATTERNS). false with the error in g for an unknown name. */
bool pass_fuse_one(ir_graph *g, const char *pattern);

/* Number of nodes of g whose op is a fused op (OPF_FUSED); of one op when op < OP_COUNT. */
int fuse_count(const ir_graph *g, ir_op op);

/* ---- for the pattern files (passes/pass_fuse_*.c) ---- */

enum { FUSE_MAX_LEAVES = 8, FUSE_MAX_INTERIOR = 64 };

struct fuse_ctx;
typedef struct fuse_match fuse_match;

/* Builds the fused replacement of m->root into ng; newid maps old ids to ids of ng. Returns the new id. */
typedef ir_id fuse_emit_fn(ir_graph *ng, const ir_id *newid, const fuse_match *m);

struct fuse_match {
    ir_id root;                        /* the pattern's last node: its value is what the fused op replaces */
    ir_op op;                          /* the fused op */
    ir_attrs attrs;
    ir_id leaf[FUSE_MAX_LEAVES];       /* the fused op's inputs (old ids); IR_NONE = pattern-specific default */
    int nleaf;
    fuse_emit_fn *emit;                /* NULL = ir_build(op, leaves, attrs) */
    const ir_graph *old;               /* the graph matched (set by fuse_accept) */
};

typedef struct fuse_ctx {
    const ir_graph *g;
    int32_t *uses;   /* uses[x]: input slots reading x plus graph outputs naming x */
    ir_id *user;     /* user[x]: the one node reading x when uses[x] == 1 and x is no output, else IR_NONE */
    bool *taken;     /* claimed by an accepted match */
    fuse_match *m;
    int nm, cap;
} fuse_ctx;

/* Accepts match m if every interior node (interior[0..n), the nodes the fused op hides) is free, no graph
 * output, and read only by nodes of the pattern (interior or m->root). Returns whether it was accepted. */
bool fuse_accept(fuse_ctx *c, const fuse_match *m, const ir_id *interior, int n);

/* Small readers of the old graph. */
static inline const ir_node *fz_node(const fuse_ctx *c, ir_id x) { return &c->g->nodes[x]; }
static inline bool fz_is(const fuse_ctx *c, ir_id x, ir_op op) { return x != IR_NONE && c->g->nodes[x].op == op; }
static inline ir_id fz_in(const fuse_ctx *c, ir_id x, int k) { return ir_in(c->g, &c->g->nodes[x], k); }
static inline ir_shape fz_shape(const fuse_ctx *c, ir_id x) { return c->g->nodes[x].shape; }
/* x is a const (any shape) or a one-element const; its value into *v. */
bool fz_const(const fuse_ctx *c, ir_id x, double *v);
bool fz_shape_is(const fuse_ctx *c, ir_id x, int rank, const int64_t *dims);
/* x = op(a, b) in either operand order with pred(a) (first try a = input 0): sets *a, *b. */
bool fz_binary(const fuse_ctx *c, ir_id x, ir_op op, bool (*pred)(const fuse_ctx *, ir_id, void *), void *user,
               ir_id *a, ir_id *b);
/* Evaluates a node that depends on constants only (const, iota and ops over them) into out[numel];
 * false when it depends on an input, param or rand_mask, or on failure. */
bool fz_eval_const(const fuse_ctx *c, ir_id x, double *out, int64_t numel);

/* The matchers: try node `root` (not taken) and add a match when it fits. */
void fuse_match_attention(fuse_ctx *c, ir_id root);
void fuse_match_selective_scan(fuse_ctx *c, ir_id root);
void fuse_match_s4_scan(fuse_ctx *c, ir_id root);
void fuse_match_causal_conv1d(fuse_ctx *c, ir_id root);
void fuse_match_layernorm(fuse_ctx *c, ir_id root);
void fuse_match_matmul_epilogue(fuse_ctx *c, ir_id root);
void fuse_match_slice_matmul(fuse_ctx *c, ir_id root);
void fuse_match_attention_lse(fuse_ctx *c, ir_id root);

#endif
