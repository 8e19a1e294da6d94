/* cg_fused_s4.h — JIT kernels of the fused S4D scan (s4_scan, s4_scan_grad; semantics: ir/ir_fused.c
 * interp_s4_scan and interp_s4_scan_grad). Called from the interface functions of codegen/cg_fused.c.
 *
 * An item is a block of CG_S4_BLOCK consecutive channels h (independent of the CPU, so ranges and plans are
 * too); inside it, vector lanes run across W channels (W = the target's vec_floats, masked loads and stores
 * for the last W-block when H % W != 0), the complex state of a group of modes stays in registers, batch and
 * time run inside.
 *   s4_scan        range B * ceil(H / CG_S4_BLOCK) items (batch, channel block)
 *   s4_scan_grad   range ceil(H / CG_S4_BLOCK) items (da, db, dw, dD of a channel belong to one item,
 *                  summed over batch and time in a fixed order — no races, deterministic at any thread
 *                  count); a group's states of the whole sequence on the stack when they fit 32 KB, else
 *                  recomputed per chunk of ~sqrt(L) steps from checkpoints */
#ifndef ICLC_CODEGEN_CG_FUSED_S4_H
#define ICLC_CODEGEN_CG_FUSED_S4_H

#include <stdbool.h>
#include <stdint.h>

#include "codegen/cg_op.h"

enum { CG_S4_BLOCK = 16 }; /* channels per item */

/* true for s4_scan and s4_scan_grad. */
bool cg_s4_has_kernel(ir_op op);

/* The parallel range and rough element operations of s4 node n's kernel. */
void cg_s4_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work);

/* Emits the body of n's kernel at v->b: items [begin, end), output pointer out, input pointers in[]. */
void cg_s4_emit(cg_val *v, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end,
                LLVMValueRef out, const LLVMValueRef *in);

#endif
