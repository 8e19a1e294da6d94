/* cg_fused_attn.h — JIT kernels of the fused causal attention ops (attention, attention_lse,
 * attention_grad); codegen/cg_fused.c dispatches to these from its interface functions. */
#ifndef ICLC_CODEGEN_CG_FUSED_ATTN_H
#define ICLC_CODEGEN_CG_FUSED_ATTN_H

#include <stdbool.h>
#include <stdint.h>

#include "codegen/cg_op.h"

/* true for the three attention ops. */
bool cg_attn_has_kernel(ir_op op);
/* Parallel range and rough element operations: (batch, head, 16-query block) items for attention and
 * attention_lse, (batch, head) items for attention_grad. */
void cg_attn_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work);
/* Emits the kernel body of n for items [begin, end) (as cg_fused_emit). */
void cg_attn_emit(cg_val *v, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_, LLVMValueRef out,
                  const LLVMValueRef *in);

#endif
