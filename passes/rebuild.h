/* rebuild.h — the graph copier under pass_dce, pass_cse and pass_extract. Private to passes/. */
#ifndef ICLC_PASSES_REBUILD_H
#define ICLC_PASSES_REBUILD_H

#include "ir/ir.h"

/* A new graph with the nodes i of g where keep[i], in order, each input x replaced by repl[x] (NULL =
 * identity; repl[x] <= x and must be kept), with names, initializers, dtypes and locations copied and
 * every shape re-checked by its rule. Outputs are copied (only those k with out_keep[k] unless out_keep
 * is NULL), skipping those whose node is dropped. map (optional) gets old id -> new id, IR_NONE for dropped nodes; a replaced node maps to its
 * replacement's new id. NULL with a message in err on failure. */
ir_graph *pass_rebuild(const ir_graph *g, const bool *keep, const ir_id *repl, const bool *out_keep, ir_id *map,
                       char *err, size_t errlen);

/* Copies node i of g into ng with inputs in[] (ids of ng): name, initializer, dtype and location copied,
 * the shape re-checked by its rule; returns the new id, IR_NONE with the error in ng. Sets ng's location
 * to the node's, so nodes a pass builds right after it share that location. */
ir_id pass_copy_node(ir_graph *ng, const ir_graph *g, ir_id i, const ir_id *in);

/* Replaces g's contents by ng's and frees ng (g's address stays valid for the caller). */
void pass_adopt(ir_graph *g, ir_graph *ng);

#endif
