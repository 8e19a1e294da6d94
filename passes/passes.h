/* passes.h — whole-graph cleanup passes: simplification, dead-code elimination, common-subexpression
 * elimination, and extraction of a subgraph (e.g. the forward-only evaluation graph out of a training graph).
 *
 * Conventions shared by every pass here:
 * - pass_simplify, pass_dce and pass_cse rewrite the graph in place (the ir_graph pointer stays valid), renumbering
 *   the nodes densely while keeping their relative order, so the graph stays topological.
 * - Each node keeps its location: a backward node still points at the forward node's Lua line.
 * - `map` (optional, NULL to skip) receives, for every old node id, its new id, or IR_NONE for a node
 *   that was removed; it must have room for the old g->nnodes entries. A node merged by CSE maps to the
 *   new id of the node it was merged into.
 * - Names and outputs are kept. On failure (out of memory, or a graph that does not verify) they return false with the error
 *   recorded in g, and g is unchanged.
 *
 *   ir_id map[g->nnodes];
 *   pass_autodiff(g, NULL) && pass_simplify(g, NULL) && pass_cse(g, NULL) && pass_dce(g, map);
 */
#ifndef ICLC_PASSES_PASSES_H
#define ICLC_PASSES_PASSES_H

#include "ir/ir.h"

/* Removes every node no output depends on. Inputs and params are always kept (they are the graph's
 * interface: checkpoints and callers find them by name). */
bool pass_dce(ir_graph *g, ir_id *map);

/* Merges nodes with the same op, inputs, attributes, dtype and shape into the first of them (inputs
 * and params, each unique by name, are never merged). add, mul, max, min, eq and ne also match with
 * their operands swapped. One forward sweep, so chains of duplicates collapse completely. */
bool pass_cse(ir_graph *g, ir_id *map);

/* Local rewrites that keep every value (up to the sign of a zero): constant folding (rounded to f32 as the
 * executors compute), identities (x*1, x+0, reshape to the same shape, reduction over a size-1 axis, ...)
 * and chains of reshapes, broadcasts and permutes; then dead-code elimination. See pass_simplify.c. */
bool pass_simplify(ir_graph *g, ir_id *map);

/* A new graph holding only the outputs named in names[0..n) (every output when names is NULL) and the
 * nodes they depend on, plus every param, and every input when keep_inputs. NULL with a message in
 * err for an unknown output name or on allocation failure. The caller frees the result. */
ir_graph *pass_extract(const ir_graph *g, const char *const *names, int n, bool keep_inputs, ir_id *map,
                       char *err, size_t errlen);

/* ---- passes by name (passes/pass_pipeline.c) ---- */

/* Called after each pass of pass_run_list, e.g. to print the graph for --dump-after=PASS. */
typedef void pass_after_fn(const char *pass, const ir_graph *g, void *user);

/* Runs the comma-separated passes of `list` in order ("autodiff,adam,simplify,cse,dce,verify"), each
 * with its default options (autodiff: loss "loss", every param; adam: ir_adam_defaults()). false with
 * the error in g, also for an unknown pass name. */
bool pass_run_list(ir_graph *g, const char *list, pass_after_fn *after, void *user);
/* "autodiff, adam, simplify, cse, dce, verify", for usage messages. */
const char *pass_names(void);

#endif
