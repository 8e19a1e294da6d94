/* cg_fused.h — JIT kernels of the fused ops (the rows at the end of ir/ops.def whose codegen column is
 * cg_structural and whose flags have OPF_FUSED). Each fused node is one kernel of its own (CGK_FUSED):
 * every input is stored, bufs[0] is the output and bufs[1 + i] is input i. The semantics are those of
 * the interpreter functions in ir/ir_fused.c.
 *
 * Kernels so far:
 *   selective_scan, selective_scan_gated   range B*E items (batch, channel), sequential over time, the
 *                                          N-wide state on the stack (registers after SROA)
 *   selective_scan_grad, _gated_grad       one item (serial: dA/dD sum over batch, dBm/dCm over channels),
 *                                          states recomputed per chunk of ~sqrt(L) steps from checkpoints
 *   (not enabled: ops.def keeps cg_none, slower than unfused at 2 threads — channel-strided loops)
 *   causal_conv1d(_silu)                   range B*L items (batch, step), channels inner
 *   causal_conv1d(_silu)_grad              range E (channels: dx[..,e], dw[e], dbias[e] per item)
 *   layernorm                              range = rows
 *   layernorm_grad                         one item (dw, db sum over rows)
 *   matmul_bias/_gelu/_silu/_res/_bias_res the matmul kernel (CGK_MATMUL) with cg_fused_mm_epilogue
 *   s4_scan, s4_scan_grad                  codegen/cg_fused_s4.h (channel blocks, lanes across channels) */
#ifndef ICLC_CODEGEN_CG_FUSED_H
#define ICLC_CODEGEN_CG_FUSED_H

#include <stdbool.h>
#include <stdint.h>

#include "codegen/cg_matmul.h"
#include "codegen/cg_op.h"

/* true when the fused op has a JIT kernel here. */
bool cg_fused_has_kernel(ir_op op);

/* The parallel range and rough element operations of fused node n's kernel. */
void cg_fused_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work);

/* Emits the body of n's kernel at v->b: items [begin, end), output pointer out, input pointers in[]. */
void cg_fused_emit(cg_val *v, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end,
                   LLVMValueRef out, const LLVMValueRef *in);

/* The matmul epilogue of the matmul_bias/_gelu/_silu/_res/_bias_res ops (desc->epilogue_user = the op,
 * extra buffers: bias then residual, as the op's inputs 2 ..): + bias, activation, + residual. */
cg_error cg_fused_mm_epilogue(cg_mm_epilogue_ctx *ctx, LLVMValueRef *acc);

#endif
