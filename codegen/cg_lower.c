/* cg_lower.c — LLVM IR of a plan's kernels (see cg_lower.h). */
#include "codegen/cg_lower.h"
#include "codegen/cg_op.h"
#include "ir/philox.h"

#include <llvm-c/DebugInfo.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An index into a node's value: one i64 per dim, or one flat element index. */
typedef struct ix {
    LLVMValueRef d[IR_MAX_RANK];
    LLVMValueRef flat;
} ix;

typedef struct memo {
    ir_id id;
    ix at;
    LLVMValueRef v;
} memo;

typedef struct em {
    cg_jit *jit;
    LLVMModuleRef m;
    LLVMBuilderRef b;
    const cg_plan *p;
    const ir_graph *g;
    const cg_kern *kn;
    cg_kernel k;
    cg_val val;
    LLVMTypeRef f32, i64, i32;
    memo *memo;
    int nmemo, cap;
    cg_error err;
} em;

static LLVMValueRef I(em *e, int64_t v) { return cg_i64(e->jit, v); }

static LLVMValueRef slot_ptr(em *e, int slot) {
    for (int i = 0; i < e->kn->nbufs; i++)
        if (e->kn->bufs[i] == slot) return e->k.bufs[i];
    if (!e->err.failed) e->err = cg_errorf("cg_lower: kernel %s has no buffer for slot %d", e->kn->name, slot);
    return e->k.bufs[0];
}

static LLVMValueRef add(em *e, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(e->b, a, b, ""); }
static LLVMValueRef mul(em *e, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWMul(e->b, a, b, ""); }
static LLVMValueRef smin(em *e, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(e->b, LLVMBuildICmp(e->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* Row-major element offset of index x in shape s. */
static LLVMValueRef linear(em *e, const ix *x, ir_shape s) {
    if (x->flat) return x->flat;
    LLVMValueRef off = I(e, 0);
    for (int j = 0; j < s.rank; j++) off = add(e, mul(e, off, I(e, s.dim[j])), x->d[j]);
    return off;
}

/* Splits the i64 value v into the dims [lo, hi) of shape s (row-major), writing x->d[lo..hi). */
static void delinearize(em *e, LLVMValueRef v, ir_shape s, int lo, int hi, ix *x) {
    for (int j = hi - 1; j >= lo; j--) {
        if (j == lo) x->d[j] = v;
        else if (s.dim[j] == 1) x->d[j] = I(e, 0);
        else {
            x->d[j] = LLVMBuildURem(e->b, v, I(e, s.dim[j]), "");
            v = LLVMBuildUDiv(e->b, v, I(e, s.dim[j]), "");
        }
    }
}

static LLVMValueRef load(em *e, ir_id id, const ix *x) {
    const ir_node *n = &e->g->nodes[id];
    LLVMValueRef off = ir_numel(n->shape) == 1 ? I(e, 0) : linear(e, x, n->shape);
    return LLVMBuildLoad2(e->b, e->f32, cg_gep_f32(e->jit, e->b, slot_ptr(e, e->p->slot[id]), off), "");
}

/* The index of input shape s broadcast to out shape o at index x (NumPy rules). */
static ix bcast(em *e, const ix *x, ir_shape o, ir_shape s) {
    ix c = {0};
    if (ir_numel(s) == 1) {
        if (x->flat) c.flat = I(e, 0);
        for (int j = 0; j < s.rank; j++) c.d[j] = I(e, 0);
        return c;
    }
    if (x->flat) { /* flat kernels only broadcast scalars */
        c.flat = x->flat;
        return c;
    }
    for (int j = 0; j < s.rank; j++) c.d[j] = s.dim[j] == 1 ? I(e, 0) : x->d[j + o.rank - s.rank];
    return c;
}

static LLVMValueRef value(em *e, ir_id id, const ix *x);

/* Philox4x32-10 of counter (lo = element, hi = step) under the node's key: keep-or-drop value. */
static LLVMValueRef philox_mask(em *e, const ir_node *n, LLVMValueRef lin) {
    LLVMBuilderRef b = e->b;
    philox_key key = philox_make_key((uint64_t)n->attr.seed, 0x6D61736Bu);
    LLVMValueRef step = LLVMBuildLoad2(b, e->i64, slot_ptr(e, CG_SLOT_STEP), "step");
    LLVMValueRef c[4] = {LLVMBuildTrunc(b, lin, e->i32, ""), LLVMBuildTrunc(b, LLVMBuildLShr(b, lin, I(e, 32), ""), e->i32, ""),
                         LLVMBuildTrunc(b, step, e->i32, ""), LLVMBuildTrunc(b, LLVMBuildLShr(b, step, I(e, 32), ""), e->i32, "")};
    uint32_t k0 = key.k[0], k1 = key.k[1];
    for (int round = 0; round < 10; round++) {
        LLVMValueRef p0 = LLVMBuildMul(b, LLVMBuildZExt(b, c[0], e->i64, ""), I(e, 0xD2511F53), "");
        LLVMValueRef p1 = LLVMBuildMul(b, LLVMBuildZExt(b, c[2], e->i64, ""), I(e, 0xCD9E8D57), "");
        LLVMValueRef hi1 = LLVMBuildTrunc(b, LLVMBuildLShr(b, p1, I(e, 32), ""), e->i32, "");
        LLVMValueRef hi0 = LLVMBuildTrunc(b, LLVMBuildLShr(b, p0, I(e, 32), ""), e->i32, "");
        LLVMValueRef n0 = LLVMBuildXor(b, LLVMBuildXor(b, hi1, c[1], ""), LLVMConstInt(e->i32, k0, 0), "");
        LLVMValueRef n2 = LLVMBuildXor(b, LLVMBuildXor(b, hi0, c[3], ""), LLVMConstInt(e->i32, k1, 0), "");
        c[1] = LLVMBuildTrunc(b, p1, e->i32, "");
        c[3] = LLVMBuildTrunc(b, p0, e->i32, "");
        c[0] = n0;
        c[2] = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    double p = n->attr.value, thr = ceil(p * 16777216.0);
    LLVMValueRef keep = LLVMBuildICmp(b, LLVMIntUGE, LLVMBuildLShr(b, c[0], LLVMConstInt(e->i32, 8, 0), ""),
                                      LLVMConstInt(e->i32, (unsigned long long)thr, 0), "");
    return LLVMBuildSelect(b, keep, cg_f32(e->jit, (float)(1.0 / (1.0 - p))), cg_f32(e->jit, 0.0f), "");
}

/* Computes node id at index x from its inputs (the node's own op, not a load). */
static LLVMValueRef compute(em *e, ir_id id, const ix *x) {
    const ir_graph *g = e->g;
    const ir_node *n = &g->nodes[id];
    LLVMBuilderRef b = e->b;
    switch (n->op) {
    case OP_const: return cg_f32(e->jit, (float)n->attr.value);
    case OP_iota: return LLVMBuildSIToFP(b, x->d[n->attr.axis], e->f32, "");
    case OP_rand_mask: return philox_mask(e, n, ir_numel(n->shape) == 1 ? I(e, 0) : linear(e, x, n->shape));
    case OP_broadcast: {
        ir_id in = ir_in(g, n, 0);
        ix c = bcast(e, x, n->shape, g->nodes[in].shape);
        return value(e, in, &c);
    }
    case OP_reshape: { /* inline only over flat-evaluable inputs: same element order */
        ix c = {.flat = x->flat ? x->flat : linear(e, x, n->shape)};
        return value(e, ir_in(g, n, 0), &c);
    }
    case OP_permute: {
        ix c = {0};
        for (int j = 0; j < n->shape.rank; j++) c.d[n->attr.perm[j]] = x->d[j];
        return value(e, ir_in(g, n, 0), &c);
    }
    case OP_slice: {
        ix c = *x;
        c.d[n->attr.axis] = add(e, x->d[n->attr.axis], I(e, n->attr.start));
        return value(e, ir_in(g, n, 0), &c);
    }
    case OP_pad: {
        ir_id in = ir_in(g, n, 0);
        int64_t len = g->nodes[in].shape.dim[n->attr.axis];
        ix c = *x;
        LLVMValueRef s = LLVMBuildSub(b, x->d[n->attr.axis], I(e, n->attr.lo), "");
        LLVMValueRef inb = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGE, s, I(e, 0), ""),
                                        LLVMBuildICmp(b, LLVMIntSLT, s, I(e, len), ""), "");
        c.d[n->attr.axis] = LLVMBuildSelect(b, inb, s, I(e, 0), "");
        LLVMValueRef v = value(e, in, &c);
        return LLVMBuildSelect(b, inb, v, cg_f32(e->jit, (float)n->attr.value), "");
    }
    case OP_concat: {
        LLVMValueRef r = NULL, t = x->d[n->attr.axis];
        int64_t at = 0;
        for (int k = 0; k < n->nin; k++) {
            ir_id in = ir_in(g, n, k);
            int64_t len = g->nodes[in].shape.dim[n->attr.axis];
            ix c = *x;
            LLVMValueRef s = LLVMBuildSub(b, t, I(e, at), "");
            LLVMValueRef cl = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, s, I(e, 0), ""), I(e, 0), s, "");
            c.d[n->attr.axis] = smin(e, cl, I(e, len - 1));
            LLVMValueRef v = value(e, in, &c);
            r = k == 0 ? v : LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGE, t, I(e, at), ""), v, r, "");
            at += len;
        }
        return r;
    }
    default: break;
    }
    cg_op_fn *fn = cg_op_emitter(n->op);
    if (!fn || fn == cg_structural || n->nin > 8) {
        if (!e->err.failed) e->err = cg_errorf("cg_lower: %%%d (%s) cannot be fused into a loop", id, ir_ops[n->op].name);
        return cg_f32(e->jit, 0.0f);
    }
    LLVMValueRef in[8];
    for (int k = 0; k < n->nin; k++) {
        ir_id c = ir_in(g, n, k);
        ix cx = bcast(e, x, n->shape, g->nodes[c].shape);
        in[k] = value(e, c, &cx);
    }
    return fn(&e->val, n, in);
}

static bool same_ix(const ix *a, const ix *b, int rank) {
    if (a->flat != b->flat) return false;
    for (int j = 0; j < rank; j++)
        if (a->d[j] != b->d[j]) return false;
    return true;
}

/* Node id at index x: a load when it has storage, else its (memoised) computation. */
static void remember(em *e, ir_id id, const ix *x, LLVMValueRef v) {
    if (e->nmemo == e->cap) {
        int cap = e->cap ? 2 * e->cap : 64;
        memo *m = realloc(e->memo, (size_t)cap * sizeof *m);
        if (!m) return;
        e->memo = m;
        e->cap = cap;
    }
    e->memo[e->nmemo++] = (memo){id, *x, v};
}

static LLVMValueRef value(em *e, ir_id id, const ix *x) {
    int rank = e->g->nodes[id].shape.rank;
    for (int i = 0; i < e->nmemo; i++) /* inline nodes and the roots computed so far in this element */
        if (e->memo[i].id == id && same_ix(&e->memo[i].at, x, rank)) return e->memo[i].v;
    if (e->p->mode[id] != CGM_INLINE) return load(e, id, x);
    LLVMValueRef v = compute(e, id, x);
    if (e->nmemo == e->cap) {
        int cap = e->cap ? 2 * e->cap : 64;
        memo *m = realloc(e->memo, (size_t)cap * sizeof *m);
        if (!m) return v;
        e->memo = m;
        e->cap = cap;
    }
    e->memo[e->nmemo++] = (memo){id, *x, v};
    return v;
}

static void store(em *e, LLVMValueRef v, LLVMValueRef off) {
    LLVMBuildStore(e->b, v, cg_gep_f32(e->jit, e->b, slot_ptr(e, e->kn->dst), off));
}

/* The kernel's root value at x: its computation, or (output copies) a load of its storage. */
static LLVMValueRef root_value(em *e, const ix *x) {
    e->nmemo = 0;
    return e->kn->copy ? value(e, e->kn->root, x) : compute(e, e->kn->root, x);
}

static void loop_begin(em *e, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi, const char *name) {
    cg_loop_begin(e->jit, e->b, l, lo, hi, I(e, 1), name);
}

/* Closes a loop that LLVM should neither vectorise nor unroll (short trip counts: saves compile time). */
static void loop_end_scalar(em *e, cg_loop *l) {
    cg_loop_end(e->b, l);
    LLVMContextRef c = cg_jit_context(e->jit);
    static const char vk[] = "llvm.loop.vectorize.enable", uk[] = "llvm.loop.unroll.disable";
    LLVMMetadataRef vstr[2] = {LLVMMDStringInContext2(c, vk, sizeof vk - 1),
                               LLVMValueAsMetadata(LLVMConstInt(LLVMInt1TypeInContext(c), 0, 0))};
    LLVMMetadataRef ustr = LLVMMDStringInContext2(c, uk, sizeof uk - 1);
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(c, NULL, 0);
    LLVMMetadataRef ops[3] = {tmp, LLVMMDNodeInContext2(c, vstr, 2), LLVMMDNodeInContext2(c, &ustr, 1)};
    LLVMMetadataRef id = LLVMMDNodeInContext2(c, ops, 3);
    LLVMMetadataReplaceAllUsesWith(tmp, id);
    LLVMSetMetadata(LLVMGetBasicBlockTerminator(l->latch), LLVMGetMDKindIDInContext(c, "llvm.loop", 9),
                    LLVMMetadataAsValue(c, id));
}

/* Closes an inner loop: vectorised by LLVM unless it runs fewer than two vectors' worth of iterations. */
static void loop_end_inner(em *e, cg_loop *l, int64_t trips) {
    if (trips < 2 * cg_jit_cpu(e->jit)->vec_floats) loop_end_scalar(e, l);
    else cg_loop_end(e->b, l);
}

/* Closes an outer loop (LLVM never vectorises those; no unrolling either). */
static void loop_end_outer(em *e, cg_loop *l) {
    l->no_unroll = 1;
    cg_loop_end(e->b, l);
}

/* ---- loop kernels ---- */

static void emit_loop(em *e) {
    const ir_node *n = &e->g->nodes[e->kn->root];
    ir_shape s = n->shape;
    int64_t numel = ir_numel(s);
    cg_loop l;
    if (e->kn->flat) {
        LLVMValueRef lo = mul(e, e->k.begin, I(e, e->kn->block));
        LLVMValueRef hi = smin(e, mul(e, e->k.end, I(e, e->kn->block)), I(e, numel));
        loop_begin(e, &l, lo, hi, "i");
        ix x = {.flat = l.iv};
        e->nmemo = 0;
        for (int r = 0; r < e->kn->nroots; r++) { /* a group: each root in order, later ones reuse earlier */
            ir_id id = e->kn->roots[r];
            LLVMValueRef v = e->kn->copies[r] ? value(e, id, &x) : compute(e, id, &x);
            remember(e, id, &x, v);
            LLVMBuildStore(e->b, v, cg_gep_f32(e->jit, e->b, slot_ptr(e, e->kn->dsts[r]), l.iv));
        }
        loop_end_inner(e, &l, numel < e->kn->block ? numel : e->kn->block);
        return;
    }
    int64_t C = e->kn->block;
    loop_begin(e, &l, e->k.begin, e->k.end, "row");
    ix x = {0};
    if (s.rank > 0) delinearize(e, l.iv, s, 0, s.rank - 1, &x);
    LLVMValueRef base = mul(e, l.iv, I(e, C));
    cg_loop c;
    loop_begin(e, &c, I(e, 0), I(e, C), "col");
    if (s.rank > 0) x.d[s.rank - 1] = c.iv;
    store(e, root_value(e, &x), add(e, base, c.iv));
    loop_end_inner(e, &c, C);
    loop_end_outer(e, &l);
}

/* ---- reductions ---- */

static void split_axis(ir_shape s, int64_t axis, int64_t *outer, int64_t *len, int64_t *inner) {
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= s.dim[i];
    for (int i = (int)axis + 1; i < s.rank; i++) *inner *= s.dim[i];
    *len = s.dim[axis];
}

static LLVMValueRef combine(em *e, ir_op op, LLVMValueRef acc, LLVMValueRef v) {
    if (op == OP_rmax) {
        LLVMValueRef c = LLVMBuildFCmp(e->b, LLVMRealOGT, v, acc, "");
        LLVMValueRef r = LLVMBuildSelect(e->b, c, v, acc, "");
        LLVMSetFastMathFlags(c, LLVMFastMathNoNaNs | LLVMFastMathNoSignedZeros);
        LLVMSetFastMathFlags(r, LLVMFastMathNoNaNs | LLVMFastMathNoSignedZeros);
        return r;
    }
    LLVMValueRef r = LLVMBuildFAdd(e->b, acc, v, "");
    LLVMSetFastMathFlags(r, LLVMFastMathAllowReassoc);
    return r;
}

static void emit_reduce(em *e) {
    const ir_graph *g = e->g;
    const ir_node *n = &g->nodes[e->kn->root];
    ir_id in = ir_in(g, n, 0);
    ir_shape s = g->nodes[in].shape;
    int axis = (int)n->attr.axis;
    int64_t outer, len, inner;
    split_axis(s, axis, &outer, &len, &inner);
    LLVMValueRef init = cg_f32(e->jit, n->op == OP_rmax ? -INFINITY : 0.0f);
    LLVMValueRef acc = LLVMBuildAlloca(e->b, e->f32, "acc");
    cg_loop l, t, y;
    ix x = {0};
    if (inner == 1) {
        loop_begin(e, &l, e->k.begin, e->k.end, "o");
        delinearize(e, l.iv, s, 0, axis, &x);
        for (int j = axis + 1; j < s.rank; j++) x.d[j] = I(e, 0);
        LLVMBuildStore(e->b, init, acc);
        loop_begin(e, &t, I(e, 0), I(e, len), "t");
        x.d[axis] = t.iv;
        e->nmemo = 0;
        LLVMValueRef v = value(e, in, &x);
        LLVMBuildStore(e->b, combine(e, n->op, LLVMBuildLoad2(e->b, e->f32, acc, ""), v), acc);
        loop_end_inner(e, &t, len);
        LLVMValueRef r = LLVMBuildLoad2(e->b, e->f32, acc, "");
        if (n->op == OP_mean) r = LLVMBuildFDiv(e->b, r, cg_f32(e->jit, (float)len), "");
        store(e, r, l.iv);
        loop_end_outer(e, &l);
        return;
    }
    int64_t blk = e->kn->block, nch = (inner + blk - 1) / blk;
    loop_begin(e, &l, e->k.begin, e->k.end, "item");
    LLVMValueRef o = LLVMBuildUDiv(e->b, l.iv, I(e, nch), ""), ch = LLVMBuildURem(e->b, l.iv, I(e, nch), "");
    LLVMValueRef y0 = mul(e, ch, I(e, blk)), y1 = smin(e, add(e, y0, I(e, blk)), I(e, inner));
    LLVMValueRef obase = mul(e, o, I(e, inner));
    delinearize(e, o, s, 0, axis, &x);
    loop_begin(e, &y, y0, y1, "y0");
    store(e, init, add(e, obase, y.iv));
    loop_end_inner(e, &y, blk);
    loop_begin(e, &t, I(e, 0), I(e, len), "t");
    x.d[axis] = t.iv;
    loop_begin(e, &y, y0, y1, "y");
    delinearize(e, y.iv, s, axis + 1, s.rank, &x);
    e->nmemo = 0;
    LLVMValueRef v = value(e, in, &x);
    LLVMValueRef p = cg_gep_f32(e->jit, e->b, slot_ptr(e, e->kn->dst), add(e, obase, y.iv));
    LLVMBuildStore(e->b, combine(e, n->op, LLVMBuildLoad2(e->b, e->f32, p, ""), v), p);
    loop_end_inner(e, &y, blk);
    loop_end_outer(e, &t);
    if (n->op == OP_mean) {
        loop_begin(e, &y, y0, y1, "y1");
        LLVMValueRef q = cg_gep_f32(e->jit, e->b, slot_ptr(e, e->kn->dst), add(e, obase, y.iv));
        LLVMBuildStore(e->b, LLVMBuildFDiv(e->b, LLVMBuildLoad2(e->b, e->f32, q, ""), cg_f32(e->jit, (float)len), ""), q);
        loop_end_inner(e, &y, blk);
    }
    loop_end_outer(e, &l);
}

/* ---- scans ---- */

static LLVMValueRef fma3(em *e, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[3] = {a, b, c};
    return cg_intrinsic(e->jit, e->b, e->m, "llvm.fma", &e->f32, 1, args, 3);
}

/* Time index of step s (reverse scans run t downwards). */
static LLVMValueRef time_of(em *e, LLVMValueRef s, int64_t T, bool rev) {
    return rev ? LLVMBuildSub(e->b, I(e, T - 1), s, "") : s;
}

static void emit_scan(em *e, bool complex) {
    const ir_graph *g = e->g;
    const ir_node *n = &g->nodes[e->kn->root];
    ir_id ia = ir_in(g, n, 0), ib = ir_in(g, n, 1), ih = ir_in(g, n, 2);
    ir_shape s = n->shape;
    int axis = (int)n->attr.axis;
    bool rev = n->attr.reverse;
    int64_t outer, T, inner;
    split_axis(s, axis, &outer, &T, &inner);
    int64_t lanes = complex ? 2 : 1, chans = inner / lanes, blk = e->kn->block;
    int64_t nch = blk ? (chans + blk - 1) / blk : 1;
    LLVMValueRef hreg = LLVMBuildAlloca(e->b, e->f32, "h");
    LLVMValueRef out = slot_ptr(e, e->kn->dst);
    cg_loop l, st, y;
    ix x = {0}, x0 = {0};
    loop_begin(e, &l, e->k.begin, e->k.end, "item");
    LLVMValueRef o = LLVMBuildUDiv(e->b, l.iv, I(e, nch), ""), ch = LLVMBuildURem(e->b, l.iv, I(e, nch), "");
    LLVMValueRef y0 = mul(e, ch, I(e, blk)), y1 = smin(e, add(e, y0, I(e, blk)), I(e, chans));
    delinearize(e, o, s, 0, axis, &x);
    if (!complex && inner == 1) { /* one channel per item: the state lives in a register */
        x0 = x;
        x0.d[axis] = I(e, 0);
        e->nmemo = 0;
        LLVMBuildStore(e->b, value(e, ih, &x0), hreg);
        loop_begin(e, &st, I(e, 0), I(e, T), "s");
        LLVMValueRef t = time_of(e, st.iv, T, rev);
        x.d[axis] = t;
        e->nmemo = 0;
        LLVMValueRef a = value(e, ia, &x), bv = value(e, ib, &x);
        LLVMValueRef h = fma3(e, a, LLVMBuildLoad2(e->b, e->f32, hreg, ""), bv);
        LLVMBuildStore(e->b, h, hreg);
        LLVMBuildStore(e->b, h, cg_gep_f32(e->jit, e->b, out, add(e, mul(e, o, I(e, T)), t)));
        loop_end_scalar(e, &st);
        loop_end_outer(e, &l);
        return;
    }
    /* channels of a block side by side; the previous state is the previous output row */
    loop_begin(e, &st, I(e, 0), I(e, T), "s");
    LLVMValueRef t = time_of(e, st.iv, T, rev);
    LLVMValueRef tp = rev ? add(e, t, I(e, 1)) : LLVMBuildSub(e->b, t, I(e, 1), "");
    LLVMValueRef first = LLVMBuildICmp(e->b, LLVMIntEQ, st.iv, I(e, 0), "");
    LLVMValueRef row = mul(e, add(e, mul(e, o, I(e, T)), t), I(e, inner));
    LLVMValueRef prow = mul(e, add(e, mul(e, o, I(e, T)), LLVMBuildSelect(e->b, first, t, tp, "")), I(e, inner));
    LLVMValueRef hrow = mul(e, o, I(e, inner));
    x.d[axis] = t;
    x0 = x;
    x0.d[axis] = I(e, 0);
    loop_begin(e, &y, y0, y1, "y");
    LLVMValueRef e0 = mul(e, y.iv, I(e, lanes));
    if (!complex) {
        delinearize(e, e0, s, axis + 1, s.rank, &x);
        e->nmemo = 0;
        LLVMValueRef a = value(e, ia, &x), bv = value(e, ib, &x);
        /* h0 is stored (or recomputed) at [o, 0, y]: read it on the first step, else the previous row */
        LLVMValueRef hp = LLVMBuildLoad2(e->b, e->f32, cg_gep_f32(e->jit, e->b, out, add(e, prow, e0)), "");
        for (int j = axis + 1; j < s.rank; j++) x0.d[j] = x.d[j];
        LLVMValueRef h0 = value(e, ih, &x0);
        LLVMValueRef h = fma3(e, a, LLVMBuildSelect(e->b, first, h0, hp, ""), bv);
        LLVMBuildStore(e->b, h, cg_gep_f32(e->jit, e->b, out, add(e, row, e0)));
    } else {
        LLVMValueRef re[2], im[2], hv[2], h0v[2];
        for (int c = 0; c < 2; c++) {
            LLVMValueRef ec = add(e, e0, I(e, c));
            ix xc = x, xh = x0;
            delinearize(e, ec, s, axis + 1, s.rank, &xc);
            for (int j = axis + 1; j < s.rank; j++) xh.d[j] = xc.d[j];
            e->nmemo = 0;
            re[c] = value(e, ia, &xc);
            im[c] = value(e, ib, &xc);
            h0v[c] = value(e, ih, &xh);
            LLVMValueRef hp = LLVMBuildLoad2(e->b, e->f32, cg_gep_f32(e->jit, e->b, out, add(e, prow, ec)), "");
            hv[c] = LLVMBuildSelect(e->b, first, h0v[c], hp, "");
        }
        /* re[0], re[1] = a (re, im); im[0], im[1] = b (re, im) */
        LLVMValueRef nr = fma3(e, re[0], hv[0], fma3(e, LLVMBuildFNeg(e->b, re[1], ""), hv[1], im[0]));
        LLVMValueRef ni = fma3(e, re[0], hv[1], fma3(e, re[1], hv[0], im[1]));
        LLVMBuildStore(e->b, nr, cg_gep_f32(e->jit, e->b, out, add(e, row, e0)));
        LLVMBuildStore(e->b, ni, cg_gep_f32(e->jit, e->b, out, add(e, row, add(e, e0, I(e, 1)))));
    }
    (void)hrow;
    loop_end_inner(e, &y, complex ? 0 : blk);
    loop_end_outer(e, &st);
    loop_end_outer(e, &l);
}

/* ---- the module ---- */

cg_error cg_lower_emit(cg_jit *jit, LLVMModuleRef m, const cg_plan *p, const unsigned char *select) {
    LLVMContextRef c = cg_jit_context(jit);
    em e = {.jit = jit, .m = m, .p = p, .g = p->g, .f32 = LLVMFloatTypeInContext(c), .i64 = LLVMInt64TypeInContext(c),
            .i32 = LLVMInt32TypeInContext(c), .err = cg_ok()};
    for (int i = 0; i < p->nkerns && !e.err.failed; i++) {
        const cg_kern *kn = &p->kerns[i];
        if ((select && !select[i]) || kn->impl != i) continue; /* shared functions are emitted once */
        e.kn = kn;
        if (kn->kind == CGK_MATMUL) {
            cg_matmul_info info;
            cg_matmul_sched s = kn->mm_info.sched;
            if (kn->range == 0) s = (cg_matmul_sched){.threads = p->threads};
            e.err = cg_matmul_emit(jit, m, kn->name, &kn->mm, &s, &info);
            if (!e.err.failed && kn->range && info.n_items != kn->range)
                e.err = cg_errorf("cg_lower: %s: matmul plan and kernel disagree (%lld vs %lld items)", kn->name,
                                  (long long)kn->range, (long long)info.n_items);
            continue;
        }
        e.err = cg_kernel_begin(jit, m, kn->name, kn->nbufs, &e.k);
        if (e.err.failed) break;
        e.b = e.k.b;
        e.val = (cg_val){jit, e.b, m};
        switch (kn->kind) {
        case CGK_LOOP: emit_loop(&e); break;
        case CGK_REDUCE: emit_reduce(&e); break;
        case CGK_SCAN: emit_scan(&e, false); break;
        case CGK_CSCAN: emit_scan(&e, true); break;
        default: break;
        }
        cg_kernel_end(&e.k);
    }
    free(e.memo);
    return e.err;
}
