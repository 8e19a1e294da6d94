/* cg_fused_conv.c — kernels of the depthwise causal convolution causal_conv1d(_silu) and their _grad ops
 * (semantics: ir/ir_fused.c).
 *
 * Dimension names: B batch, L tokens, E channels, K taps, W vector lanes.
 *
 * As in the selective scan, vector lanes run across channels (x[b, t, e .. e + W) is one load) and a body
 * is emitted for W lanes and for one (the channels that do not fill a vector). Taps before the sequence
 * start read zero: their loads are clamped to a valid index and masked by a select.
 *
 *   forward   items (b, block of CB channels): y_t = bias + sum_j w_j x_(t-K+1+j), SiLU optional
 *   backward  items b: a first sweep writes dz_t (through the SiLU: the pre-activation recomputed) into
 *             dx's storage and sums dw_j, dbias in registers (this batch item's partials,
 *             ir_grad_per_batch); a second sweep turns dz into dx in place, ascending: dx_s reads
 *             dz_s .. dz_(s+K-1), and dz_s is read by no later s. */
#include "codegen/cg_fb.h"

#include <stdbool.h>

enum { CB = 16 }; /* channels per forward item */

typedef struct cv {
    int64_t B, L, E, K;
    bool silu;
    LLVMValueRef x, w, bias, dy, out;
    int64_t o_dw, o_db;
} cv;

static bool is_grad(ir_op op) { return op == OP_causal_conv1d_grad || op == OP_causal_conv1d_silu_grad; }

static cv cv_of(const ir_graph *g, const ir_node *n, LLVMValueRef out, const LLVMValueRef *in) {
    const ir_shape *x = &g->nodes[ir_in(g, n, 0)].shape;
    cv c = {.B = x->dim[0], .L = x->dim[1], .E = x->dim[2], .K = g->nodes[ir_in(g, n, 1)].shape.dim[1],
            .silu = n->op == OP_causal_conv1d_silu || n->op == OP_causal_conv1d_silu_grad, .out = out};
    if (in) c.x = in[0], c.w = in[1], c.bias = in[2], c.dy = is_grad(n->op) ? in[3] : NULL;
    if (in && is_grad(n->op)) c.o_dw = ir_grad_offset(g, n, 1), c.o_db = ir_grad_offset(g, n, 2);
    return c;
}

/* p[(b L + t) E + e ..] on w lanes, zero unless 0 <= t < L (t may be out of range). */
static LLVMValueRef ld_t(fb *f, const cv *c, int w, LLVMValueRef p, LLVMValueRef b, LLVMValueRef t, LLVMValueRef e) {
    LLVMValueRef in = LLVMBuildAnd(f->b, LLVMBuildICmp(f->b, LLVMIntSGE, t, I(f, 0), ""),
                                   LLVMBuildICmp(f->b, LLVMIntSLT, t, I(f, c->L), ""), "");
    LLVMValueRef tc = LLVMBuildSelect(f->b, in, t, I(f, 0), "");
    LLVMValueRef x = vld(f, w, p, iadd(f, imul(f, iadd(f, imul(f, b, I(f, c->L)), tc), I(f, c->E)), e));
    return LLVMBuildSelect(f->b, in, x, vconst(f, 0, w), "");
}

/* w[e + lane, j] for every tap j (lane stride K). */
static void taps(fb *f, const cv *c, int w, LLVMValueRef e, LLVMValueRef *wj) {
    for (int64_t j = 0; j < c->K; j++) wj[j] = vgather(f, w, c->w, iadd(f, imul(f, e, I(f, c->K)), I(f, j)), c->K);
}

/* The pre-activation at step t. */
static LLVMValueRef pre(fb *f, const cv *c, int w, const LLVMValueRef *wj, LLVMValueRef bias, LLVMValueRef b, LLVMValueRef t,
                        LLVMValueRef e) {
    LLVMValueRef z = bias;
    for (int64_t j = 0; j < c->K; j++) z = vfma(f, wj[j], ld_t(f, c, w, c->x, b, iadd(f, t, I(f, j - c->K + 1)), e), z);
    return z;
}

static LLVMValueRef at(fb *f, const cv *c, LLVMValueRef b, LLVMValueRef t, LLVMValueRef e) {
    return iadd(f, imul(f, iadd(f, imul(f, b, I(f, c->L)), t), I(f, c->E)), e);
}

static void fwd_body(fb *f, const void *cp, int w, const void *unused, LLVMValueRef b, LLVMValueRef e) {
    const cv *c = cp;
    (void)unused;
    LLVMValueRef wj[c->K > 0 ? c->K : 1], bias = vld(f, w, c->bias, e);
    taps(f, c, w, e, wj);
    cg_loop tl;
    loop_n(f, &tl, c->L, "t");
    LLVMValueRef z = pre(f, c, w, wj, bias, b, tl.iv, e);
    if (c->silu) z = fmul(f, z, vsigmoid(f, z));
    vst(f, w, c->out, at(f, c, b, tl.iv, e), z);
    tl.no_unroll = 1;
    end(f, &tl);
}

/* acc: K + 1 w-lane stack entries (dw_j, then dbias), allocated in the entry block. */
static void grad_body(fb *f, const void *cp, int w, const void *accp, LLVMValueRef b, LLVMValueRef e) {
    const cv *c = cp;
    LLVMValueRef acc_ = *(const LLVMValueRef *)accp, wj[c->K > 0 ? c->K : 1], bias = vld(f, w, c->bias, e), K = I(f, c->K);
    taps(f, c, w, e, wj);
    for (int64_t j = 0; j <= c->K; j++) vset(f, w, acc_, I(f, j), vconst(f, 0, w));
    /* sweep 1: dz into dx's storage; dw, dbias summed in the accumulators */
    cg_loop tl;
    loop_n(f, &tl, c->L, "t");
    LLVMValueRef i = at(f, c, b, tl.iv, e), dz = vld(f, w, c->dy, i);
    if (c->silu) {
        LLVMValueRef z = pre(f, c, w, wj, bias, b, tl.iv, e), sg = vsigmoid(f, z), one = vconst(f, 1, w);
        dz = fmul(f, dz, fmul(f, sg, fadd(f, one, fmul(f, z, fsub(f, one, sg)))));
    }
    vst(f, w, c->out, i, dz);
    vset(f, w, acc_, K, fadd(f, vget(f, w, acc_, K), dz));
    for (int64_t j = 0; j < c->K; j++) {
        LLVMValueRef xj = ld_t(f, c, w, c->x, b, iadd(f, tl.iv, I(f, j - c->K + 1)), e);
        vset(f, w, acc_, I(f, j), vfma(f, dz, xj, vget(f, w, acc_, I(f, j))));
    }
    tl.no_unroll = 1;
    end(f, &tl);
    /* this batch item's partials */
    LLVMValueRef pw = iadd(f, I(f, c->o_dw), imul(f, iadd(f, imul(f, b, I(f, c->E)), e), K));
    for (int64_t j = 0; j < c->K; j++) vscatter(f, w, c->out, iadd(f, pw, I(f, j)), c->K, vget(f, w, acc_, I(f, j)));
    vst(f, w, c->out, iadd(f, I(f, c->o_db), iadd(f, imul(f, b, I(f, c->E)), e)), vget(f, w, acc_, K));
    /* sweep 2: dx_s = sum_j w_j dz_(s+K-1-j), in place, ascending */
    loop_n(f, &tl, c->L, "s");
    LLVMValueRef dx = vconst(f, 0, w);
    for (int64_t j = 0; j < c->K; j++) dx = vfma(f, wj[j], ld_t(f, c, w, c->out, b, iadd(f, tl.iv, I(f, c->K - 1 - j)), e), dx);
    vst(f, w, c->out, at(f, c, b, tl.iv, e), dx);
    tl.no_unroll = 1;
    end(f, &tl);
}

void cg_conv_range(const ir_graph *g, const ir_node *n, int64_t *range, int64_t *work) {
    cv c = cv_of(g, n, NULL, NULL);
    *range = is_grad(n->op) ? c.B : c.B * ((c.E + CB - 1) / CB);
    *work = c.B * c.L * c.E * (c.K ? c.K : 1) * (is_grad(n->op) ? 6 : 2);
}

void cg_conv_emit(fb *f, const ir_graph *g, const ir_node *n, LLVMValueRef begin, LLVMValueRef end_, LLVMValueRef out,
                  const LLVMValueRef *in) {
    cv c = cv_of(g, n, out, in);
    int W = cg_jit_cpu(f->v->jit)->vec_floats;
    LLVMValueRef accw = vstack(f, W, c.K + 1, "acc"), acc1 = vstack(f, 1, c.K + 1, "acc");
    cg_loop it;
    loop(f, &it, begin, end_, "item");
    if (is_grad(n->op)) {
        LLVMValueRef row0 = imul(f, it.iv, I(f, c.L * c.E)); /* this item's rows, read one line per row and group */
        fb_prefetch_range(f, c.x, row0, c.L * c.E, 0), fb_prefetch_range(f, c.dy, row0, c.L * c.E, 0);
        fb_prefetch_range(f, c.out, row0, c.L * c.E, 1);
        channels(f, &c, W, &accw, &acc1, it.iv, I(f, 0), I(f, c.E), grad_body);
    } else {
        int64_t nblk = (c.E + CB - 1) / CB;
        LLVMValueRef b = LLVMBuildUDiv(f->b, it.iv, I(f, nblk), "");
        LLVMValueRef e0 = imul(f, LLVMBuildURem(f->b, it.iv, I(f, nblk), ""), I(f, CB));
        channels(f, &c, W, NULL, NULL, b, e0, min_i(f, iadd(f, e0, I(f, CB)), I(f, c.E)), fwd_body);
    }
    it.no_unroll = 1;
    end(f, &it);
}
