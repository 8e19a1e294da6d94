/* cg_fused.c — kernels of the fused ops (see cg_fused.h); each follows its interpreter in ir/ir_fused.c.
 *
 * Dimension names: B batch, L tokens, E channels, N state size. */
#include "codegen/cg_fused.h"
#include "codegen/cg_fb.h"
#include "codegen/cg_fused_attn.h"
#include "codegen/cg_fused_s4.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The selective scan's forward and backward ops (codegen/cg_fused_sscan.c). */
static bool is_sscan(ir_op op) {
    return op == OP_selective_scan || op == OP_selective_scan_gated || op == OP_selective_scan_grad ||
           op == OP_selective_scan_gated_grad;
}

/* The causal convolution's forward and backward ops (codegen/cg_fused_conv.c). */
static bool is_conv(ir_op op) {
    return op == OP_causal_conv1d || op == OP_causal_conv1d_silu || op == OP_causal_conv1d_grad || op == OP_causal_conv1d_silu_grad;
}

static const ir_shape *in_shape(const ir_graph *g, const ir_node *n, int i) { return &g->nodes[ir_in(g, n, i)].shape; }

/* ---- LayerNorm over the last axis (rows R of width D) ---- */

/* Mean and 1/sqrt(var + eps) of the row at x[off ..] (mean of the centred squares), via sv[0..1]. */
static void ln_stats(fb *f, LLVMValueRef x, LLVMValueRef off, int64_t D, double eps, LLVMValueRef sv, LLVMValueRef *mu,
                     LLVMValueRef *rstd) {
    cg_loop l;
    st(f, sv, I(f, 0), F(f, 0));
    st(f, sv, I(f, 1), F(f, 0));
    loop_n(f, &l, D, "m");
    acc(f, sv, I(f, 0), ld(f, x, iadd(f, off, l.iv)));
    end(f, &l);
    *mu = fmul(f, ld(f, sv, I(f, 0)), F(f, (float)(1.0 / (double)D)));
    loop_n(f, &l, D, "v");
    LLVMValueRef c = fsub(f, ld(f, x, iadd(f, off, l.iv)), *mu);
    acc(f, sv, I(f, 1), fmul(f, c, c));
    end(f, &l);
    LLVMValueRef var = fadd(f, fmul(f, ld(f, sv, I(f, 1)), F(f, (float)(1.0 / (double)D))), F(f, (float)eps));
    *rstd = LLVMBuildFDiv(f->b, F(f, 1), cg_intrinsic(f->v->jit, f->b, f->v->m, "llvm.sqrt", &f->f32, 1, &var, 1), "");
}

static int64_t ln_width(const ir_graph *g, const ir_node *n) {
    const ir_shape *x = in_shape(g, n, 0);
    return x->dim[x->rank - 1];
}

/* Items = rows. */
static void emit_ln(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                    LLVMValueRef out, const LLVMValueRef *in) {
    int64_t D = ln_width(g, n);
    LLVMValueRef sv = stack(f, 2, "s"), mu, rstd;
    cg_loop it, l;
    loop(f, &it, begin, end_, "row");
    LLVMValueRef off = imul(f, it.iv, I(f, D));
    ln_stats(f, in[0], off, D, n->attr.value, sv, &mu, &rstd);
    loop_n(f, &l, D, "d");
    LLVMValueRef xh = fmul(f, fsub(f, ld(f, in[0], iadd(f, off, l.iv)), mu), rstd);
    st(f, out, iadd(f, off, l.iv), fadd(f, fmul(f, xh, ld(f, in[1], l.iv)), ld(f, in[2], l.iv)));
    end(f, &l);
    it.no_unroll = 1;
    end(f, &it);
}

/* Items = batch items p (dim 0 of x): p's rows, dx and this item's partials of dw, db (ir_grad_per_batch). */
static void emit_ln_grad(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                         LLVMValueRef out, const LLVMValueRef *in) {
    int64_t D = ln_width(g, n), P = in_shape(g, n, 0)->dim[0], R = D ? ir_numel(*in_shape(g, n, 0)) / D : 0;
    int64_t RP = P ? R / P : 0, o_dw = ir_grad_offset(g, n, 1), o_db = ir_grad_offset(g, n, 2);
    LLVMValueRef x = in[0], w = in[1], dy = in[3], sv = stack(f, 4, "s"), mu, rstd;
    cg_loop it, rl, l;
    loop(f, &it, begin, end_, "item");
    LLVMValueRef pw = iadd(f, I(f, o_dw), imul(f, it.iv, I(f, D))), pb = iadd(f, I(f, o_db), imul(f, it.iv, I(f, D)));
    zero(f, out, pw, D);
    zero(f, out, pb, D);
    loop_n(f, &rl, RP, "r");
    LLVMValueRef off = imul(f, iadd(f, imul(f, it.iv, I(f, RP)), rl.iv), I(f, D));
    ln_stats(f, x, off, D, n->attr.value, sv, &mu, &rstd);
    st(f, sv, I(f, 2), F(f, 0));
    st(f, sv, I(f, 3), F(f, 0));
    loop_n(f, &l, D, "d");
    {
        LLVMValueRef i = iadd(f, off, l.iv), xh = fmul(f, fsub(f, ld(f, x, i), mu), rstd), dyi = ld(f, dy, i);
        LLVMValueRef gh = fmul(f, dyi, ld(f, w, l.iv));
        acc(f, sv, I(f, 2), gh);
        acc(f, sv, I(f, 3), fmul(f, gh, xh));
        acc(f, out, iadd(f, pw, l.iv), fmul(f, dyi, xh));
        acc(f, out, iadd(f, pb, l.iv), dyi);
    }
    end(f, &l);
    LLVMValueRef mg = fmul(f, ld(f, sv, I(f, 2)), F(f, (float)(1.0 / (double)D)));
    LLVMValueRef mgx = fmul(f, ld(f, sv, I(f, 3)), F(f, (float)(1.0 / (double)D)));
    loop_n(f, &l, D, "dx");
    {
        LLVMValueRef i = iadd(f, off, l.iv), xh = fmul(f, fsub(f, ld(f, x, i), mu), rstd);
        LLVMValueRef gh = fmul(f, ld(f, dy, i), ld(f, w, l.iv));
        st(f, out, i, fmul(f, rstd, fsub(f, fsub(f, gh, mg), fmul(f, xh, mgx))));
    }
    end(f, &l);
    rl.no_unroll = it.no_unroll = 1;
    end(f, &rl);
    end(f, &it);
}

/* ---- matmul epilogues ---- */

cg_error cg_fused_mm_epilogue(cg_mm_epilogue_ctx *ctx, LLVMValueRef *acc) {
    ir_op op = (ir_op)(intptr_t)ctx->user;
    bool bias = op != OP_matmul_res, res = op == OP_matmul_res || op == OP_matmul_bias_res;
    cg_val v = {ctx->jit, ctx->b, ctx->mod};
    LLVMValueRef R = NULL;
    if (res) { /* the residual of this batch: [M, N] at batch * M * N */
        int64_t MN = ctx->desc->M * ctx->desc->N;
        R = cg_gep_f32(ctx->jit, ctx->b, ctx->extra[bias ? 1 : 0], LLVMBuildMul(ctx->b, ctx->batch, cg_i64(ctx->jit, MN), ""));
    }
    for (int c = 0; c < ctx->nvec; c++) {
        LLVMValueRef bv = bias ? cg_mm_epi_load_cols(ctx, ctx->extra[0], c) : NULL;
        for (int r = 0; r < ctx->rows; r++) {
            LLVMValueRef z = acc[r * ctx->nvec + c];
            if (bias) z = LLVMBuildFAdd(ctx->b, z, bv, "");
            if (op == OP_matmul_bias_gelu) z = cg_gelu(&v, NULL, &z);
            if (op == OP_matmul_bias_silu) z = cg_silu(&v, NULL, &z);
            if (res) z = LLVMBuildFAdd(ctx->b, cg_mm_epi_load_tile(ctx, R, ctx->desc->N, r, c), z, "");
            acc[r * ctx->nvec + c] = z;
        }
    }
    return cg_ok();
}

/* ---- the interface ---- */

bool cg_fused_has_kernel(ir_op op) { return is_sscan(op) || is_conv(op) || op == OP_layernorm ||
                                            op == OP_layernorm_grad || cg_s4_has_kernel(op) || cg_attn_has_kernel(op); }

void cg_fused_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work) {
    *range = 1, *work = 1;
    if (cg_attn_has_kernel(n->op)) {
        cg_attn_range(g, n, range, work);
    } else if (is_sscan(n->op)) {
        cg_sscan_range(g, n, range, work);
    } else if (is_conv(n->op)) {
        cg_conv_range(g, n, range, work);
    } else if (n->op == OP_layernorm || n->op == OP_layernorm_grad) {
        int64_t D = ln_width(g, n), R = D ? ir_numel(*in_shape(g, n, 0)) / D : 0;
        *range = n->op == OP_layernorm ? R : in_shape(g, n, 0)->dim[0];
        *work = R * D * (n->op == OP_layernorm ? 6 : 14);
    } else if (cg_s4_has_kernel(n->op)) cg_s4_range(g, n, range, work);
}

void cg_fused_emit(cg_val *v, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_,
                   LLVMValueRef out, const LLVMValueRef *in) {
    fb f = {.v = v, .b = v->b, .f32 = LLVMFloatTypeInContext(cg_jit_context(v->jit))};
    if (cg_attn_has_kernel(n->op)) cg_attn_emit(v, g, n, begin, end_, out, in);
    else if (is_sscan(n->op)) cg_sscan_emit(&f, g, n, begin, end_, out, in);
    else if (is_conv(n->op)) cg_conv_emit(&f, g, n, begin, end_, out, in);
    else if (n->op == OP_layernorm) emit_ln(&f, g, n, begin, end_, out, in);
    else if (n->op == OP_layernorm_grad) emit_ln_grad(&f, g, n, begin, end_, out, in);
    else if (cg_s4_has_kernel(n->op)) cg_s4_emit(v, g, n, begin, end_, out, in);
}
