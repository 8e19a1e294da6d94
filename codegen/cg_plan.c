/* cg_plan.c — graph -> plan: fusion decisions, kernel list, buffer slots, liveness-based arena. */
#include "codegen/cg_plan.h"
#include "codegen/cg_fused.h"
#include "codegen/cg_tune.h"
#include "codegen/cg_op.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/TargetMachine.h>
#include <omp.h>

enum { ROOT_NONE = -1, ROOT_MULTI = -2, FLAT_BLOCK = 4096, RED_BLOCK = 512, SCAN_BLOCK = 256 };

static bool fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

/* permute that swaps the last two dims and keeps the batch dims: a matmul reads it as a transpose. */
static bool is_tview(const ir_node *n) {
    int r = n->shape.rank;
    if (n->op != OP_permute || r < 2) return false;
    for (int i = 0; i < r - 2; i++)
        if (n->attr.perm[i] != i) return false;
    return n->attr.perm[r - 2] == r - 1 && n->attr.perm[r - 1] == r - 2;
}

/* The node whose storage matmul operand k is, and whether it is read transposed. */
static ir_id mm_operand(const ir_graph *g, const ir_node *mm, int k, bool *flip) {
    ir_id o = ir_in(g, mm, k);
    *flip = is_tview(&g->nodes[o]);
    return *flip ? ir_in(g, &g->nodes[o], 0) : o;
}

/* matmul and the matmul epilogue ops (one matmul kernel; bias / residual are epilogue buffers). */
static bool is_mm(ir_op op) {
    return op == OP_matmul || op == OP_matmul_bias || op == OP_matmul_bias_gelu || op == OP_matmul_bias_silu ||
           op == OP_matmul_res || op == OP_matmul_bias_res;
}

/* Input k of node c as the plan sees it (matmul operands through transpose views). */
static ir_id eff_input(const ir_graph *g, ir_id c, int k) {
    const ir_node *n = &g->nodes[c];
    bool flip;
    return is_mm(n->op) && k < 2 ? mm_operand(g, n, k, &flip) : ir_in(g, n, k);
}

static bool cheap(ir_op op) {
    return op == OP_const || op == OP_iota || op == OP_permute || op == OP_broadcast || op == OP_slice ||
           op == OP_pad || op == OP_concat;
}

static void split_axis(ir_shape s, int64_t axis, int64_t *outer, int64_t *len, int64_t *inner) {
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= s.dim[i];
    for (int i = (int)axis + 1; i < s.rank; i++) *inner *= s.dim[i];
    *len = s.dim[axis];
}

/* Marks n as needing storage: reshapes alias their input's storage, sources are external. */
static void require_storage(const ir_graph *g, ir_id n, bool *force) {
    while (g->nodes[n].op == OP_reshape) force[n] = true, n = ir_in(g, &g->nodes[n], 0);
    force[n] = true;
}

void cg_plan_free(cg_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->nkerns; i++) free(p->kerns[i].fused), free(p->kerns[i].sig), free(p->kerns[i].sigslots);
    free(p->kerns);
    free(p->slots);
    free(p->mode);
    free(p->slot);
    free(p->root);
    free(p);
}

int cg_plan_default_ext(const ir_graph *g, cg_extbuf **out) {
    *out = malloc((size_t)(g->nnodes + g->noutputs + 1) * sizeof **out);
    if (!*out) return -1;
    int n = 0;
    for (ir_id i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == OP_input || g->nodes[i].op == OP_param) (*out)[n++] = (cg_extbuf){i, false};
    for (int i = 0; i < g->noutputs; i++) {
        const ir_node *nd = &g->nodes[g->outputs[i].id];
        if ((nd->op == OP_input || nd->op == OP_param) && strcmp(nd->attr.name, g->outputs[i].name) == 0) continue;
        (*out)[n++] = (cg_extbuf){g->outputs[i].id, true};
    }
    return n;
}

/* ---- kernel contents ---- */

typedef struct walk {
    const cg_plan *p;
    cg_kern *k;
    bool *seen; /* per node, reset per kernel (only touched entries) */
    ir_id *touched;
    int *local; /* per node: its position in touched (valid while seen) */
    int ntouched;
    bool flat, step, overflow, oom;
} walk;

/* ---- kernel signatures ---- */

enum { T_LEAF = 1, T_NODE, T_REF, T_ROOT, T_COPY, T_MM, T_DST, T_KERN, T_FUSED };

static void tok(walk *w, int64_t v) {
    cg_kern *k = w->k;
    if (k->nsig == k->capsig) {
        int cap = k->capsig ? 2 * k->capsig : 64;
        int64_t *t = realloc(k->sig, (size_t)cap * sizeof *t);
        if (!t) {
            w->oom = true;
            return;
        }
        k->sig = t;
        k->capsig = cap;
    }
    k->sig[k->nsig++] = v;
}

/* A token holding a slot, rewritten to the slot's position in the kernel's buffers at the end. */
static void tok_slot(walk *w, int slot) {
    cg_kern *k = w->k;
    if (k->nsigslots == k->capsigslots) {
        int cap = k->capsigslots ? 2 * k->capsigslots : 16;
        int *t = realloc(k->sigslots, (size_t)cap * sizeof *t);
        if (!t) {
            w->oom = true;
            return;
        }
        k->sigslots = t;
        k->capsigslots = cap;
    }
    k->sigslots[k->nsigslots++] = k->nsig;
    tok(w, slot);
}

static void tok_shape(walk *w, ir_shape s) {
    tok(w, s.rank);
    for (int i = 0; i < s.rank; i++) tok(w, s.dim[i]);
}

static void tok_node(walk *w, const ir_node *n) {
    const ir_attrs *a = &n->attr;
    int64_t bits;
    memcpy(&bits, &a->value, sizeof bits);
    tok(w, n->op);
    tok_shape(w, n->shape);
    tok(w, bits);
    tok(w, a->seed), tok(w, a->axis), tok(w, a->start), tok(w, a->end), tok(w, a->lo), tok(w, a->hi);
    for (int i = 0; i < IR_MAX_RANK; i++) tok(w, a->perm[i]);
    tok(w, (int64_t)ir_attrs_flags(a));
    tok(w, n->nin);
}

static void add_buf(walk *w, int slot) {
    for (int i = 0; i < w->k->nbufs; i++)
        if (w->k->bufs[i] == slot) return;
    if (w->k->nbufs == CG_MAX_BUFS) {
        w->overflow = true;
        return;
    }
    w->k->bufs[w->k->nbufs++] = slot;
}

/* Can an elementwise node be evaluated at a flat element index (inputs of its shape or scalars)? */
static bool flat_ok(const ir_graph *g, const ir_node *n) {
    if (n->op == OP_const || n->op == OP_rand_mask || n->op == OP_reshape) return true;
    if (!(ir_ops[n->op].flags & (OPF_UNARY | OPF_BINARY | OPF_ELEMWISE))) return false;
    for (int k = 0; k < n->nin; k++) {
        ir_shape s = g->nodes[ir_in(g, n, k)].shape;
        if (!ir_shape_eq(s, n->shape) && ir_numel(s) != 1) return false;
    }
    return true;
}

/* Visits the expression of node id inside kernel w->k: leaves become buffers, inline nodes are fused. */
static void walk_node(walk *w, ir_id id, bool is_root) {
    const ir_graph *g = w->p->g;
    const ir_node *n = &g->nodes[id];
    cg_mode m = w->p->mode[id];
    if (!is_root && m != CGM_INLINE) {
        add_buf(w, w->p->slot[id]);
        tok(w, T_LEAF);
        tok_slot(w, w->p->slot[id]);
        tok_shape(w, n->shape);
        return;
    }
    if (w->seen[id]) {
        tok(w, T_REF);
        tok(w, w->local[id]);
        return;
    }
    w->seen[id] = true;
    w->local[id] = w->ntouched;
    w->touched[w->ntouched++] = id;
    tok(w, is_root ? T_ROOT : T_NODE);
    tok_node(w, n);
    if (!is_root) w->k->fused[w->k->nfused++] = id;
    if (n->op == OP_rand_mask) w->step = true;
    if (!flat_ok(g, n)) w->flat = false;
    for (int k = 0; k < n->nin; k++) walk_node(w, eff_input(g, id, k), false);
}

static bool fill_kernel(cg_plan *p, cg_kern *k, walk *w, const cg_plan_opts *opts, char *err, size_t errlen) {
    const ir_graph *g = p->g;
    const ir_node *n = &g->nodes[k->root];
    k->fused = malloc((size_t)g->nnodes * sizeof(ir_id));
    if (!k->fused) return fail(err, errlen, "jit: out of memory");
    w->k = k;
    w->flat = true;
    w->step = w->overflow = false;
    w->ntouched = 0;
    k->nbufs = 0;
    int64_t numel = ir_numel(n->shape);
    if (k->kind == CGK_MATMUL) {
        bool fa, fb;
        k->mm_a = mm_operand(g, n, 0, &fa);
        k->mm_b = mm_operand(g, n, 1, &fb);
        k->bufs[0] = p->slot[k->mm_a];
        k->bufs[1] = p->slot[k->mm_b];
        k->bufs[2] = k->dst;
        k->bufs[3] = CG_SLOT_SCRATCH;
        k->nbufs = 4;
        const ir_shape sa = g->nodes[k->mm_a].shape, sb = g->nodes[k->mm_b].shape, so = n->shape;
        int r = so.rank, nb = r - 2;
        cg_matmul_desc *d = &k->mm;
        *d = (cg_matmul_desc){0};
        if (n->op != OP_matmul) { /* epilogue op: bias and/or residual are extra buffers bufs[4 ..] */
            for (int i = 2; i < n->nin; i++) k->bufs[k->nbufs++] = p->slot[ir_in(g, n, i)];
            d->epilogue = cg_fused_mm_epilogue;
            d->epilogue_user = (void *)(intptr_t)n->op;
            d->n_extra_bufs = n->nin - 2;
            tok(w, n->op);
        }
        d->M = so.dim[r - 2];
        d->N = so.dim[r - 1];
        d->trans_a = n->attr.ta != fa;
        d->trans_b = n->attr.tb != fb;
        const ir_shape sa0 = g->nodes[ir_in(g, n, 0)].shape;
        d->K = sa0.dim[sa0.rank - (n->attr.ta ? 2 : 1)];
        d->n_batch = nb;
        int64_t sta = d->M * d->K, stb = d->K * d->N, stc = d->M * d->N;
        for (int i = nb - 1; i >= 0; i--) {
            d->batch[i] = so.dim[i];
            int ia = i - (nb - (sa.rank - 2)), ib = i - (nb - (sb.rank - 2));
            d->a_bstride[i] = ia < 0 || sa.dim[ia] == 1 ? 0 : sta;
            d->b_bstride[i] = ib < 0 || sb.dim[ib] == 1 ? 0 : stb;
            d->c_bstride[i] = stc;
            if (ia >= 0) sta *= sa.dim[ia];
            if (ib >= 0) stb *= sb.dim[ib];
            stc *= so.dim[i];
        }
        /* A weight shared by the batch (B's batch stride 0) applied to dense rows of A and C: the batch
         * dims fold into M, so the kernel packs the weight once per row block instead of once per batch
         * item and its row blocks span items (64 x 82 rows -> one 5248-row matrix: 67% -> 80% of peak). */
        while (d->n_batch > 0 && !d->trans_a) {
            int i = d->n_batch - 1;
            if (d->b_bstride[i] != 0 || d->a_bstride[i] != d->M * d->K || d->c_bstride[i] != d->M * d->N) break;
            d->M *= d->batch[i];
            d->n_batch--;
        }
        if (d->n_batch > CG_MM_MAX_BATCH)
            return fail(err, errlen, "jit: matmul %%%d has %d batch dims (at most %d)", k->root, d->n_batch, CG_MM_MAX_BATCH);
        cg_cpu dflt = {.name = "x86-64-v3", .vec_bits = 256, .vec_floats = 8, .n_vec_regs = 16, .has_fma = 1};
        cg_matmul_sched s = {.threads = opts->threads};
        if (opts->tune) cg_tune_lookup(opts->tune, d, opts->threads, &s); /* `iclc tune`'s winner, if any */
        if (numel > 0) {
            cg_error e = cg_matmul_plan(opts->cpu ? opts->cpu : &dflt, d, &s, &k->mm_info);
            if (e.failed) return fail(err, errlen, "jit: matmul %%%d: %s", k->root, e.msg);
        }
        k->range = numel > 0 ? k->mm_info.n_items : 0;
        k->work = (int64_t)(k->mm_info.flops / 2);
        tok(w, T_MM);
        tok(w, d->M), tok(w, d->N), tok(w, d->K), tok(w, d->trans_a), tok(w, d->trans_b), tok(w, d->lda), tok(w, d->ldb);
        tok(w, d->ldc), tok(w, d->accumulate), tok(w, d->n_batch);
        for (int i = 0; i < d->n_batch; i++) tok(w, d->batch[i]), tok(w, d->a_bstride[i]), tok(w, d->b_bstride[i]), tok(w, d->c_bstride[i]);
        const cg_matmul_sched *sc = &k->mm_info.sched;
        tok(w, sc->vec), tok(w, sc->mr), tok(w, sc->nr), tok(w, sc->mc), tok(w, sc->kc), tok(w, sc->nc), tok(w, sc->pack_a);
        tok(w, sc->pack_b), tok(w, sc->k_unroll), tok(w, sc->threads), tok(w, k->range);
        for (int i = 0; i < k->nbufs; i++)
            if (i != 3) tok_slot(w, k->bufs[i]);
        return !w->oom || fail(err, errlen, "jit: out of memory");
    }
    if (k->kind == CGK_FUSED) { /* its own kernel: bufs = output, then every input (stored) */
        add_buf(w, k->dst);
        tok(w, T_FUSED);
        tok_node(w, n);
        tok_slot(w, k->dst);
        for (int i = 0; i < n->nin; i++) {
            int s = p->slot[ir_in(g, n, i)];
            add_buf(w, s);
            tok_slot(w, s);
            tok_shape(w, g->nodes[ir_in(g, n, i)].shape);
        }
        if (w->overflow) return fail(err, errlen, "jit: kernel for %%%d reads too many buffers", k->root);
        cg_fused_range(g, n, &k->range, &k->work);
        if (numel == 0) k->range = 0;
        k->block = 1;
        return !w->oom || fail(err, errlen, "jit: out of memory");
    }
    add_buf(w, k->dst);
    if (k->copy) {
        add_buf(w, p->slot[k->root]);
        tok(w, T_COPY);
        tok_slot(w, p->slot[k->root]);
        tok_shape(w, n->shape);
    } else walk_node(w, k->root, true);
    if (w->oom) return fail(err, errlen, "jit: out of memory");
    for (int i = 0; i < w->ntouched; i++) w->seen[w->touched[i]] = false;
    if (w->step) add_buf(w, CG_SLOT_STEP);
    if (w->overflow)
        return fail(err, errlen, "jit: kernel for %%%d (%s) reads more than %d buffers", k->root, ir_ops[n->op].name, CG_MAX_BUFS);
    int64_t ops = 1 + k->nfused;
    if (k->kind == CGK_LOOP) {
        k->flat = w->flat;
        int64_t C = n->shape.rank ? n->shape.dim[n->shape.rank - 1] : 1;
        if (k->flat) {
            k->block = FLAT_BLOCK;
            k->range = (numel + FLAT_BLOCK - 1) / FLAT_BLOCK;
        } else {
            k->block = C;
            k->range = C ? numel / C : 0;
        }
        k->work = numel * ops;
    } else if (k->kind == CGK_REDUCE) {
        ir_shape s = g->nodes[ir_in(g, n, 0)].shape;
        int64_t outer, len, inner;
        split_axis(s, n->attr.axis, &outer, &len, &inner);
        /* block = inner elements per item; with two or more dims after the axis, rows of the last dim */
        int64_t C = n->attr.axis < s.rank - 2 ? s.dim[s.rank - 1] : 1, units = C ? inner / C : 0;
        k->block = inner == 1 ? 1 : C > 1 ? (RED_BLOCK / C > 1 ? RED_BLOCK / C : 1) : inner < RED_BLOCK ? inner : RED_BLOCK;
        if (C > 1 && k->block > units) k->block = units;
        k->range = k->block ? outer * (((C > 1 ? units : inner) + k->block - 1) / k->block) : 0;
        k->work = ir_numel(s) * ops;
    } else { /* scans: block counts channels (complex pairs for cscan) */
        int64_t outer, len, inner;
        split_axis(n->shape, n->attr.axis, &outer, &len, &inner);
        int64_t units = inner; /* what a block counts: channels; (re, im) pairs; rows of the last dim */
        if (k->kind == CGK_CSCAN) units = inner / 2;
        else if (inner > 1) {
            int64_t C = n->shape.dim[n->shape.rank - 1];
            units = inner / C;
            k->block = SCAN_BLOCK / C > 1 ? SCAN_BLOCK / C : 1;
        }
        if (k->kind == CGK_CSCAN || inner == 1) k->block = units < SCAN_BLOCK ? units : SCAN_BLOCK;
        if (k->block > units) k->block = units;
        k->range = k->block ? outer * ((units + k->block - 1) / k->block) : 0;
        k->work = numel * ops * 2;
    }
    return true;
}

/* ---- memory plan ---- */

typedef struct placed {
    int64_t off, end;
} placed;

static int cmp_placed(const void *a, const void *b) {
    const placed *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static bool place_arena(cg_plan *p, char *err, size_t errlen) {
    placed *tmp = malloc((size_t)(p->nslots + 1) * sizeof *tmp);
    if (!tmp) return fail(err, errlen, "jit: out of memory");
    p->arena_bytes = 0;
    for (int i = p->next; i < p->nslots; i++) {
        cg_slot *s = &p->slots[i];
        if (s->base >= 0) continue; /* views: placed with their base below */
        int n = 0;
        for (int j = p->next; j < i; j++) {
            const cg_slot *o = &p->slots[j];
            if (o->base < 0 && o->def <= s->last && s->def <= o->last) tmp[n++] = (placed){o->offset, o->offset + o->bytes};
        }
        qsort(tmp, (size_t)n, sizeof *tmp, cmp_placed);
        int64_t off = 0;
        for (int j = 0; j < n; j++) {
            if (tmp[j].off >= off + s->bytes) break; /* fits in the gap before this one */
            if (tmp[j].end > off) off = tmp[j].end;
        }
        s->offset = off;
        if (off + s->bytes > p->arena_bytes) p->arena_bytes = off + s->bytes;
    }
    for (int i = p->next; i < p->nslots; i++)
        if (p->slots[i].base >= 0) p->slots[i].offset = p->slots[p->slots[i].base].offset + p->slots[i].view_off;
    free(tmp);
    return true;
}

/* The memory of slot s: executor buffer s (space s) or bytes [lo, hi) of the arena (space -1). */
static void slot_mem(const cg_plan *p, int s, int *space, int64_t *lo, int64_t *hi) {
    const cg_slot *x = &p->slots[s];
    *space = s < p->next ? s : -1;
    *lo = s < p->next ? 0 : x->offset;
    *hi = *lo + x->bytes;
}

static bool slots_overlap(const cg_plan *p, int a, int b) {
    int sa, sb;
    int64_t la, ha, lb, hb;
    slot_mem(p, a, &sa, &la, &ha);
    slot_mem(p, b, &sb, &lb, &hb);
    return sa == sb && la < hb && lb < ha && ha > la && hb > lb;
}

bool cg_plan_check(const cg_plan *p, char *err, size_t errlen) {
    for (int i = p->next; i < p->nslots; i++) {
        const cg_slot *s = &p->slots[i];
        if (s->base >= 0) { /* a view: inside its base, which is a live arena temporary over the view's accesses */
            const cg_slot *b = s->base < p->nslots && s->base >= p->next ? &p->slots[s->base] : NULL;
            if (!b || b->base >= 0 || s->view_off < 0 || s->view_off + s->bytes > b->bytes || s->offset != b->offset + s->view_off)
                return fail(err, errlen, "plan: view %d (%%%d) is not inside an arena buffer (base %d, +%" PRId64 ")", i, s->node,
                            s->base, s->view_off);
            if (b->def > s->def || b->last < s->last)
                return fail(err, errlen, "plan: view %d (%%%d, kernels %d..%d) outlives its base %d (%%%d, kernels %d..%d)", i,
                            s->node, s->def, s->last, s->base, b->node, b->def, b->last);
            continue;
        }
        if (s->offset < 0 || s->offset % 64 || s->offset + s->bytes > p->arena_bytes)
            return fail(err, errlen, "plan: buffer %d (%%%d) [%" PRId64 ", +%" PRId64 ") is outside the arena of %" PRId64 " bytes",
                        i, s->node, s->offset, s->bytes, p->arena_bytes);
        for (int j = p->next; j < i; j++) {
            const cg_slot *o = &p->slots[j];
            bool live = o->def <= s->last && s->def <= o->last;
            bool overlap = o->offset < s->offset + s->bytes && s->offset < o->offset + o->bytes;
            if (o->base < 0 && live && overlap && s->bytes && o->bytes)
                return fail(err, errlen, "plan: buffers %d (%%%d, kernels %d..%d) and %d (%%%d, kernels %d..%d) overlap while both live",
                            j, o->node, o->def, o->last, i, s->node, s->def, s->last);
        }
    }
    for (int k = 0; k < p->nkerns; k++) {
        const cg_kern *kn = &p->kerns[k];
        for (int r = 0; r < kn->nroots; r++) {
            int d = kn->dsts[r];
            if (d < 0 || d >= p->nslots || p->slots[d].def > k || p->slots[d].last < k)
                return fail(err, errlen, "plan: kernel %s writes buffer %d outside its live range", kn->name, d);
            if (p->slots[d].base >= 0) return fail(err, errlen, "plan: kernel %s writes view %d", kn->name, d);
            /* what it reads (a matmul: its operands and epilogue buffers; a group may list its own outputs,
             * whose values it reuses per element) must not share memory with what it writes */
            for (int i = 0; i < kn->nbufs; i++) {
                int s = kn->bufs[i];
                if (s < 0 || (kn->kind == CGK_MATMUL && (i == 2 || i == 3))) continue;
                if (kn->kind != CGK_MATMUL && i == 0) continue;
                bool own = false;
                for (int q = 0; q < kn->nroots; q++) own = own || (s == kn->dsts[q] && kn->nroots > 1);
                if (!own && slots_overlap(p, s, d))
                    return fail(err, errlen, "plan: kernel %s reads buffer %d, which shares memory with the buffer %d it writes",
                                kn->name, s, d);
            }
        }
        for (int i = 0; i < kn->nbufs; i++) {
            int s = kn->bufs[i];
            if (s >= p->nslots) return fail(err, errlen, "plan: kernel %s uses buffer %d of %d", kn->name, s, p->nslots);
            if (s >= p->next && (p->slots[s].def > k || p->slots[s].last < k))
                return fail(err, errlen, "plan: kernel %s uses buffer %d outside its live range", kn->name, s);
        }
    }
    return true;
}

/* ---- digest ---- */

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0xFF51AFD7ED558CCDull;
}

static uint64_t plan_digest(const cg_plan *p) {
    uint64_t h = mix(0x9A17, (uint64_t)p->nkerns);
    for (int i = 0; i < p->nkerns; i++) {
        const cg_kern *k = &p->kerns[i];
        h = mix(mix(mix(h, (uint64_t)k->kind), (uint64_t)k->root), (uint64_t)k->range);
        h = mix(mix(mix(h, (uint64_t)k->flat), (uint64_t)k->block), (uint64_t)k->nbufs);
        for (int j = 0; j < k->nbufs; j++) h = mix(h, (uint64_t)(int64_t)k->bufs[j]);
        h = mix(mix(mix(h, (uint64_t)k->mm_info.n_items), (uint64_t)k->mm_info.scratch_bytes), (uint64_t)k->impl);
        for (int r = 0; r < k->nroots; r++) h = mix(mix(mix(h, (uint64_t)k->roots[r]), (uint64_t)k->dsts[r]), (uint64_t)k->copies[r]);
    }
    for (int i = 0; i < p->nslots; i++) h = mix(mix(mix(h, (uint64_t)p->slots[i].ext), (uint64_t)p->slots[i].bytes), (uint64_t)p->slots[i].offset);
    return h;
}

/* ---- horizontal fusion of flat loops ---- */

/* Merges each flat loop kernel into the previous one when both are flat loops over the same element
 * count and the union of their buffers fits. Kernel order is topological, so computing the roots of
 * consecutive kernels element by element keeps every dependency (they are all at the same index). */
static bool merge_flat(cg_plan *p, char *err, size_t errlen) {
    int out = 0;
    for (int k = 0; k < p->nkerns; k++) {
        cg_kern *kn = &p->kerns[k], *g = out ? &p->kerns[out - 1] : NULL;
        int64_t numel = ir_numel(p->g->nodes[kn->root].shape);
        bool can = g && g->kind == CGK_LOOP && kn->kind == CGK_LOOP && g->flat && kn->flat && g->nroots < CG_GROUP_MAX &&
                   ir_numel(p->g->nodes[g->root].shape) == numel && numel > 1;
        if (can) {
            int nb = g->nbufs;
            int bufs[CG_MAX_BUFS];
            memcpy(bufs, g->bufs, sizeof bufs);
            for (int i = 0; i < kn->nbufs && can; i++) { /* a view of a group output is read from memory */
                int v = kn->bufs[i];
                for (int r = 0; r < g->nroots && v >= 0; r++) can = can && p->slots[v].base != g->dsts[r];
            }
            for (int i = 0; i < kn->nbufs && can; i++) {
                bool have = false;
                for (int j = 0; j < nb; j++) have = have || bufs[j] == kn->bufs[i];
                if (!have && nb == CG_MAX_BUFS) can = false;
                else if (!have) bufs[nb++] = kn->bufs[i];
            }
            if (can) {
                ir_id *f = realloc(g->fused, (size_t)(g->nfused + kn->nfused + 1) * sizeof *f);
                if (!f) return fail(err, errlen, "jit: out of memory");
                memcpy(f + g->nfused, kn->fused, (size_t)kn->nfused * sizeof *f);
                g->fused = f;
                g->nfused += kn->nfused;
                memcpy(g->bufs, bufs, sizeof bufs);
                g->nbufs = nb;
                walk tw = {.k = g};
                int base = g->nsig;
                for (int i = 0; i < kn->nsig; i++) tok(&tw, kn->sig[i]);
                for (int i = 0; i < kn->nsigslots; i++) {
                    if (g->nsigslots == g->capsigslots) {
                        int cap = g->capsigslots ? 2 * g->capsigslots : 16;
                        int *t = realloc(g->sigslots, (size_t)cap * sizeof *t);
                        if (!t) return fail(err, errlen, "jit: out of memory");
                        g->sigslots = t;
                        g->capsigslots = cap;
                    }
                    g->sigslots[g->nsigslots++] = base + kn->sigslots[i];
                }
                if (tw.oom) return fail(err, errlen, "jit: out of memory");
                free(kn->sig), free(kn->sigslots);
                kn->sig = NULL, kn->sigslots = NULL;
                g->roots[g->nroots] = kn->root;
                g->dsts[g->nroots] = kn->dst;
                g->copies[g->nroots++] = kn->copy;
                g->work += kn->work;
                free(kn->fused);
                kn->fused = NULL;
                continue;
            }
        }
        if (out != k) {
            p->kerns[out] = *kn;
            kn->fused = NULL;
            kn->sig = NULL;
            kn->sigslots = NULL;
        }
        out++;
    }
    for (int k = out; k < p->nkerns; k++) {
        free(p->kerns[k].fused), free(p->kerns[k].sig), free(p->kerns[k].sigslots);
        p->kerns[k].fused = NULL, p->kerns[k].sig = NULL, p->kerns[k].sigslots = NULL;
    }
    p->nkerns = out;
    /* names carry the kernel's position */
    for (int k = 0; k < p->nkerns; k++) {
        cg_kern *kn = &p->kerns[k];
        const char *what = kn->copy ? "copy" : ir_ops[p->g->nodes[kn->root].op].name;
        snprintf(kn->name, sizeof kn->name, "k%d_%s%s", k, what, kn->nroots > 1 ? "_g" : "");
    }
    return true;
}

/* ---- kernel size limit ---- */

enum { LEAF_LIMIT = CG_MAX_BUFS - 3 }; /* buffers a kernel may read (besides its output and the step) */

static int leaf_add(ir_id *set, int n, ir_id x) {
    for (int i = 0; i < n; i++)
        if (set[i] == x) return n;
    set[n] = x;
    return n + 1;
}

/* Stored nodes and inline chains read at most LEAF_LIMIT buffers: where an expression would read more
 * (e.g. the global gradient norm over every parameter), its largest inline inputs are stored first. */
static bool limit_leaves(cg_plan *p, const bool *live, char *err, size_t errlen) {
    const ir_graph *g = p->g;
    int32_t N = g->nnodes;
    ir_id *leaves = malloc(((size_t)N + 1) * (LEAF_LIMIT + 1) * sizeof *leaves);
    int *nleaves = calloc((size_t)N + 1, sizeof *nleaves);
    ir_id set[CG_MAX_BUFS * 2];
    if (!leaves || !nleaves) {
        free(leaves), free(nleaves);
        return fail(err, errlen, "jit: out of memory");
    }
    for (ir_id id = 0; id < N; id++) {
        const ir_node *n = &g->nodes[id];
        if (!live[id] || !(p->mode[id] == CGM_INLINE || (p->mode[id] == CGM_STORED && n->op != OP_matmul))) continue;
        for (;;) {
            int cnt = n->op == OP_rand_mask ? 1 : 0;
            bool over = false;
            if (cnt) set[0] = -1;
            for (int k = 0; k < n->nin && !over; k++) {
                ir_id c = eff_input(g, id, k);
                if (p->mode[c] != CGM_INLINE) cnt = leaf_add(set, cnt, c);
                else
                    for (int i = 0; i < nleaves[c] && !over; i++) cnt = leaf_add(set, cnt, leaves[(size_t)c * (LEAF_LIMIT + 1) + i]);
                over = cnt > LEAF_LIMIT;
            }
            if (!over) {
                nleaves[id] = cnt;
                memcpy(leaves + (size_t)id * (LEAF_LIMIT + 1), set, (size_t)cnt * sizeof *set);
                break;
            }
            if (p->mode[id] == CGM_INLINE) {
                p->mode[id] = CGM_STORED;
                continue;
            }
            ir_id big = IR_NONE; /* a stored root reading too much: store its largest inline input */
            for (int k = 0; k < n->nin; k++) {
                ir_id c = eff_input(g, id, k);
                if (p->mode[c] == CGM_INLINE && (big == IR_NONE || nleaves[c] > nleaves[big])) big = c;
            }
            if (big == IR_NONE) {
                free(leaves), free(nleaves);
                return fail(err, errlen, "jit: %%%d (%s) reads more than %d buffers", id, ir_ops[n->op].name, LEAF_LIMIT);
            }
            p->mode[big] = CGM_STORED;
            nleaves[big] = 0;
        }
        if (p->mode[id] == CGM_STORED) nleaves[id] = 0;
    }
    free(leaves), free(nleaves);
    return true;
}

/* ---- shared kernel functions ---- */

/* Completes each kernel's tokens (family, loop form, range, outputs; slots as buffer positions) and
 * points every kernel at the first kernel with identical tokens: they run the same function. */
static bool share_kernels(cg_plan *p, char *err, size_t errlen) {
    uint64_t *h = malloc(((size_t)p->nkerns + 1) * sizeof *h);
    if (!h) return fail(err, errlen, "jit: out of memory");
    p->nimpl = 0;
    for (int k = 0; k < p->nkerns; k++) {
        cg_kern *kn = &p->kerns[k];
        walk w = {.k = kn};
        tok(&w, T_KERN), tok(&w, kn->kind), tok(&w, kn->flat), tok(&w, kn->block), tok(&w, kn->range), tok(&w, kn->nroots);
        for (int r = 0; r < kn->nroots; r++) tok(&w, T_DST), tok_slot(&w, kn->dsts[r]), tok(&w, kn->copies[r]);
        tok(&w, kn->nbufs);
        if (w.oom) {
            free(h);
            return fail(err, errlen, "jit: out of memory");
        }
        for (int i = 0; i < kn->nsigslots; i++) {
            int64_t *t = &kn->sig[kn->sigslots[i]];
            int pos = -1;
            for (int j = 0; j < kn->nbufs && pos < 0; j++)
                if (kn->bufs[j] == *t) pos = j;
            *t = pos < 0 ? *t - 1000 : pos; /* special slots are negative already */
        }
        uint64_t x = 0x51C7;
        for (int i = 0; i < kn->nsig; i++) x = (x ^ (uint64_t)kn->sig[i]) * 0x100000001B3ull, x ^= x >> 29;
        h[k] = x;
        kn->impl = k;
        for (int j = 0; j < k; j++) {
            const cg_kern *o = &p->kerns[j];
            if (o->impl == j && h[j] == x && o->nsig == kn->nsig && memcmp(o->sig, kn->sig, (size_t)kn->nsig * sizeof *kn->sig) == 0) {
                kn->impl = j;
                break;
            }
        }
        p->nimpl += kn->impl == k;
    }
    free(h);
    return true;
}

/* ---- the pass ---- */

static int new_slot(cg_plan *p, int ext, ir_id node) {
    cg_slot *s = &p->slots[p->nslots];
    int64_t bytes = ir_numel(p->g->nodes[node].shape) * (int64_t)sizeof(float);
    *s = (cg_slot){.ext = ext, .node = node, .bytes = ext >= 0 ? bytes : (bytes + 63) / 64 * 64, .def = -1, .last = -1,
                   .base = -1};
    return p->nslots++;
}

/* A view slot for slice node id when it is one contiguous piece of an arena temporary (dims before its
 * axis all 1): its bytes start*inner floats into the input's storage. -1 when it is not. */
static int view_slot(cg_plan *p, ir_id id) {
    const ir_node *n = &p->g->nodes[id];
    if (n->op != OP_slice) return -1;
    ir_id in = ir_in(p->g, n, 0);
    int src = p->slot[in];
    if (src < p->next) return -1; /* no storage, or an executor buffer */
    int64_t outer, len, inner;
    split_axis(p->g->nodes[in].shape, n->attr.axis, &outer, &len, &inner);
    if (outer != 1) return -1;
    const cg_slot *b = &p->slots[src];
    int base = b->base >= 0 ? b->base : src;
    int64_t off = (b->base >= 0 ? b->view_off : 0) + n->attr.start * inner * (int64_t)sizeof(float);
    cg_slot *s = &p->slots[p->nslots];
    *s = (cg_slot){.ext = -1, .node = id, .bytes = ir_numel(n->shape) * (int64_t)sizeof(float), .def = -1, .last = -1,
                   .base = base, .view_off = off};
    return p->nslots++;
}

static void touch(cg_plan *p, int slot, int k, bool write) {
    if (slot < 0) return;
    cg_slot *s = &p->slots[slot];
    if (write && (s->def < 0 || k < s->def)) s->def = k;
    if (s->def < 0) s->def = k;
    if (k > s->last) s->last = k;
}

cg_plan *cg_plan_build(const ir_graph *g, const cg_extbuf *ext, int next, const cg_plan_opts *opts, char *err,
                       size_t errlen) {
    int32_t N = g->nnodes;
    cg_plan *p = calloc(1, sizeof *p);
    bool *live = calloc((size_t)N + 1, sizeof *live), *force = calloc((size_t)N + 1, sizeof *force);
    bool *seen = calloc((size_t)N + 1, sizeof *seen);
    int32_t *nuse = calloc((size_t)N + 2, sizeof *nuse), *users = NULL;
    ir_id *touched = malloc(((size_t)N + 1) * sizeof *touched);
    int *local = NULL;
    bool okay = p && live && force && seen && nuse && touched;
    if (okay) {
        p->g = g;
        p->threads = opts && opts->threads > 0 ? opts->threads : 1;
        p->next = next;
        p->mode = calloc((size_t)N + 1, sizeof *p->mode);
        p->slot = malloc(((size_t)N + 1) * sizeof *p->slot);
        p->root = malloc(((size_t)N + 1) * sizeof *p->root);
        p->slots = malloc(((size_t)N + (size_t)next * 2 + 1) * sizeof *p->slots);
        p->kerns = calloc((size_t)N + (size_t)next + 1, sizeof *p->kerns);
        okay = p->mode && p->slot && p->root && p->slots && p->kerns;
    }
    if (!okay) {
        fail(err, errlen, "jit: out of memory planning %d nodes", N);
        goto fail;
    }
    cg_plan_opts o = opts ? *opts : (cg_plan_opts){0};
    o.threads = p->threads;

    /* liveness of nodes: whatever an output depends on */
    for (int i = 0; i < g->noutputs; i++) live[g->outputs[i].id] = true;
    for (ir_id id = N - 1; id >= 0; id--)
        if (live[id])
            for (int k = 0; k < g->nodes[id].nin; k++) live[eff_input(g, id, k)] = true;
    for (ir_id id = 0; id < N; id++) {
        p->slot[id] = -1;
        p->root[id] = ROOT_NONE;
        if (live[id] && !cg_op_supported(g->nodes[id].op)) {
            fail(err, errlen, "jit: no kernel for op %s (%%%d)", ir_ops[g->nodes[id].op].name, id);
            goto fail;
        }
    }
    /* consumers (CSR) */
    for (ir_id c = 0; c < N; c++)
        if (live[c])
            for (int k = 0; k < g->nodes[c].nin; k++) nuse[eff_input(g, c, k) + 1]++;
    for (ir_id i = 0; i < N; i++) nuse[i + 1] += nuse[i];
    users = malloc(((size_t)nuse[N] + 1) * sizeof *users);
    int32_t *fillp = calloc((size_t)N + 1, sizeof *fillp);
    if (!users || !fillp) {
        free(fillp);
        fail(err, errlen, "jit: out of memory");
        goto fail;
    }
    for (ir_id c = 0; c < N; c++)
        if (live[c])
            for (int k = 0; k < g->nodes[c].nin; k++) {
                ir_id u = eff_input(g, c, k);
                users[nuse[u] + fillp[u]++] = c;
            }
    free(fillp);

    /* storage that the kernel families need */
    for (int i = 0; i < g->noutputs; i++) require_storage(g, g->outputs[i].id, force);
    for (ir_id c = 0; c < N; c++) {
        if (!live[c]) continue;
        const ir_node *n = &g->nodes[c];
        if (is_mm(n->op)) require_storage(g, eff_input(g, c, 0), force), require_storage(g, eff_input(g, c, 1), force);
        if (n->op == OP_reshape) require_storage(g, ir_in(g, n, 0), force);
        if (ir_ops[n->op].flags & OPF_FUSED) /* a fused op's kernel reads every input from storage */
            for (int k = 0; k < n->nin; k++) require_storage(g, eff_input(g, c, k), force);
    }
    /* modes, consumers before producers */
    for (ir_id id = N - 1; id >= 0; id--) {
        const ir_node *n = &g->nodes[id];
        uint32_t fl = ir_ops[n->op].flags;
        if (!live[id]) p->mode[id] = CGM_DEAD;
        else if (n->op == OP_input || n->op == OP_param) p->mode[id] = CGM_EXTERNAL;
        else if (n->op == OP_reshape && force[id]) p->mode[id] = CGM_ALIAS;
        else if (force[id] || (fl & (OPF_REDUCE | OPF_CONTRACT | OPF_SCAN | OPF_FUSED))) p->mode[id] = CGM_STORED;
        else {
            ir_id r = ROOT_NONE;
            bool multi = false;
            for (int32_t u = nuse[id]; u < nuse[id + 1]; u++) {
                ir_id c = users[u], cr = p->mode[c] == CGM_INLINE ? p->root[c] : c;
                if (cr == ROOT_MULTI || (r != ROOT_NONE && r != cr)) multi = true;
                r = cr;
            }
            if (!multi) p->mode[id] = CGM_INLINE, p->root[id] = r;
            else if (cheap(n->op)) p->mode[id] = CGM_INLINE, p->root[id] = ROOT_MULTI;
            else if (n->op == OP_reshape) p->mode[id] = CGM_ALIAS, require_storage(g, ir_in(g, n, 0), force);
            else p->mode[id] = CGM_STORED;
        }
    }
    /* inline reshapes need a flat-evaluable input chain; otherwise they alias a stored input */
    int *stamp = calloc((size_t)N + 1, sizeof *stamp);
    ir_id *stack = malloc(((size_t)N + 1) * sizeof *stack);
    if (!stamp || !stack) {
        free(stamp), free(stack);
        fail(err, errlen, "jit: out of memory");
        goto fail;
    }
    for (ir_id id = 0; id < N; id++) {
        const ir_node *n = &g->nodes[id];
        if (n->op != OP_reshape || p->mode[id] != CGM_INLINE) continue;
        ir_id in = ir_in(g, n, 0);
        bool flat = true;
        if (p->mode[in] == CGM_INLINE) {
            int sp = 0;
            stack[sp++] = in;
            stamp[in] = id + 1;
            while (sp && flat) {
                const ir_node *m = &g->nodes[stack[--sp]];
                flat = flat_ok(g, m);
                for (int k = 0; k < m->nin; k++) {
                    ir_id c = ir_in(g, m, k);
                    if (p->mode[c] == CGM_INLINE && stamp[c] != id + 1) stamp[c] = id + 1, stack[sp++] = c;
                }
            }
        } else flat = false;
        if (!flat) {
            p->mode[id] = CGM_ALIAS;
            if (p->mode[in] == CGM_INLINE) p->mode[in] = CGM_STORED;
        }
    }
    free(stamp), free(stack);
    if (!limit_leaves(p, live, err, errlen)) goto fail;
    /* slots: executor buffers first, then one arena temporary per other stored node */
    for (int i = 0; i < next; i++) new_slot(p, i, ext[i].id);
    for (ir_id id = 0; id < N; id++) {
        cg_mode m = p->mode[id];
        if (m == CGM_EXTERNAL) {
            for (int i = 0; i < next && p->slot[id] < 0; i++)
                if (ext[i].id == id && !ext[i].is_output) p->slot[id] = i;
            if (p->slot[id] < 0) {
                fail(err, errlen, "jit: input/param %%%d has no executor buffer", id);
                goto fail;
            }
        } else if (m == CGM_ALIAS) {
            p->slot[id] = p->slot[ir_in(g, &g->nodes[id], 0)];
        } else if (m == CGM_STORED) {
            for (int i = 0; i < next && p->slot[id] < 0; i++)
                if (ext[i].id == id && ext[i].is_output) p->slot[id] = i;
            if (p->slot[id] < 0 && (p->slot[id] = view_slot(p, id)) >= 0) p->mode[id] = CGM_VIEW;
            if (p->slot[id] < 0) p->slot[id] = new_slot(p, -1, id);
        }
    }
    /* kernels: stored nodes in graph order, then copies into output buffers that alias nothing */
    local = malloc(((size_t)N + 1) * sizeof *local);
    if (!local) {
        fail(err, errlen, "jit: out of memory");
        goto fail;
    }
    walk w = {.p = p, .seen = seen, .touched = touched, .local = local};
    for (ir_id id = 0; id <= N; id++) {
        cg_kern *k = &p->kerns[p->nkerns];
        if (id < N) {
            if (p->mode[id] != CGM_STORED) continue;
            ir_op op = g->nodes[id].op;
            uint32_t fl = ir_ops[op].flags;
            *k = (cg_kern){.root = id, .dst = p->slot[id],
                           .kind = fl & OPF_REDUCE ? CGK_REDUCE : is_mm(op) ? CGK_MATMUL : op == OP_scan ? CGK_SCAN
                                   : op == OP_cscan ? CGK_CSCAN : fl & OPF_FUSED ? CGK_FUSED : CGK_LOOP};
            snprintf(k->name, sizeof k->name, "k%d_%s", p->nkerns, ir_ops[op].name);
            k->nroots = 1, k->roots[0] = id, k->dsts[0] = k->dst;
            if (!fill_kernel(p, k, &w, &o, err, errlen)) goto fail;
            p->nkerns++;
        } else {
            for (int i = 0; i < next; i++) {
                if (!ext[i].is_output || p->slot[ext[i].id] == i) continue;
                k = &p->kerns[p->nkerns];
                *k = (cg_kern){.kind = CGK_LOOP, .root = ext[i].id, .dst = i, .copy = true};
                snprintf(k->name, sizeof k->name, "k%d_copy", p->nkerns);
                k->nroots = 1, k->roots[0] = k->root, k->dsts[0] = i, k->copies[0] = true;
                if (!fill_kernel(p, k, &w, &o, err, errlen)) goto fail;
                p->nkerns++;
            }
        }
    }
    free(local);
    local = NULL;
    if (!merge_flat(p, err, errlen) || !share_kernels(p, err, errlen)) goto fail;
    /* liveness of slots over the kernel order, arena placement */
    for (int k = 0; k < p->nkerns; k++) {
        const cg_kern *kn = &p->kerns[k];
        for (int r = 0; r < kn->nroots; r++) touch(p, kn->dsts[r], k, true);
        for (int i = 0; i < kn->nbufs; i++) touch(p, kn->bufs[i], k, false);
        p->scratch_bytes = kn->kind == CGK_MATMUL && kn->mm_info.scratch_bytes > p->scratch_bytes
                               ? (kn->mm_info.scratch_bytes + 63) / 64 * 64 : p->scratch_bytes;
    }
    for (int i = 0; i < p->next; i++) p->ext_bytes += p->slots[i].bytes;
    for (int i = p->next; i < p->nslots; i++) { /* a view keeps its base live over the view's readers */
        const cg_slot *v = &p->slots[i];
        if (v->base < 0 || v->def < 0) continue;
        cg_slot *b = &p->slots[v->base];
        if (b->def < 0 || v->def < b->def) b->def = v->def;
        if (v->last > b->last) b->last = v->last;
    }
    for (int i = p->next; i < p->nslots; i++)
        if (p->slots[i].def < 0) p->slots[i].def = p->slots[i].last = 0;
    if (!place_arena(p, err, errlen)) goto fail;
    p->digest = plan_digest(p);
    if (opts && opts->tune) { /* `iclc tune`'s per-kernel thread choices (run-time only: not in the digest) */
        const char *serial = cg_tune_plan_serial(opts->tune, ir_graph_hash(g), p->threads);
        int64_t below = cg_tune_threshold(opts->tune, p->threads); /* else the tuned rule, if any */
        bool own = serial && (int)strlen(serial) == p->nkerns;
        for (int k = 0; k < p->nkerns; k++) p->kerns[k].serial = own ? serial[k] == '1' : p->kerns[k].work < below;
    }
    free(live), free(force), free(seen), free(nuse), free(users), free(touched);
    return p;
fail:
    free(live), free(force), free(seen), free(nuse), free(users), free(touched), free(local);
    cg_plan_free(p);
    return NULL;
}

/* ---- printing ---- */

static const char *kind_name(cg_kind k) {
    static const char *const names[] = {"loop", "reduce", "matmul", "scan", "cscan", "fused"};
    return names[k];
}

static void print_slot(const cg_plan *p, int s, FILE *f) {
    if (s == CG_SLOT_STEP) fprintf(f, " step");
    else if (s == CG_SLOT_SCRATCH) fprintf(f, " scratch");
    else if (s < p->next) fprintf(f, " b%d(%%%d)", s, p->slots[s].node);
    else fprintf(f, " t%d(%%%d)", s, p->slots[s].node);
}

void cg_plan_print(const cg_plan *p, FILE *f) {
    const ir_graph *g = p->g;
    char ty[96];
    fprintf(f, "plan: %d kernels (%d distinct functions), %d buffers (%d executor), %d threads\n", p->nkerns, p->nimpl,
            p->nslots, p->next, p->threads);
    for (int i = 0; i < p->nkerns; i++) {
        const cg_kern *k = &p->kerns[i];
        const ir_node *n = &g->nodes[k->root];
        fprintf(f, "  %-16s %-6s %%%-4d %-22s range %-7" PRId64, k->name, kind_name(k->kind), k->root,
                ir_type_str(n->dtype, n->shape, ty, sizeof ty), k->range);
        if (k->kind == CGK_LOOP) fprintf(f, k->flat ? " flat" : " rows");
        if (k->impl != i) fprintf(f, " =%s", p->kerns[k->impl].name);
        if (k->kind == CGK_MATMUL)
            fprintf(f, " M=%" PRId64 " N=%" PRId64 " K=%" PRId64 " ta=%d tb=%d", k->mm.M, k->mm.N, k->mm.K, k->mm.trans_a, k->mm.trans_b);
        fprintf(f, " | %s", k->copy ? "copy" : ir_ops[n->op].name);
        for (int r = 1; r < k->nroots; r++)
            fprintf(f, " +%s%%%d", k->copies[r] ? "copy" : ir_ops[g->nodes[k->roots[r]].op].name, k->roots[r]);
        for (int j = k->nfused - 1; j >= 0; j--) fprintf(f, " %s%%%d", ir_ops[g->nodes[k->fused[j]].op].name, k->fused[j]);
        fprintf(f, " | writes");
        for (int r = 0; r < k->nroots; r++) print_slot(p, k->dsts[r], f);
        fprintf(f, " reads");
        for (int j = 0; j < k->nbufs; j++) {
            bool written = false;
            for (int r = 0; r < k->nroots; r++) written = written || k->bufs[j] == k->dsts[r];
            if (!written) print_slot(p, k->bufs[j], f);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "buffers:\n");
    for (int i = 0; i < p->nslots; i++) {
        const cg_slot *s = &p->slots[i];
        const ir_node *n = &g->nodes[s->node];
        if (s->ext >= 0)
            fprintf(f, "  b%-4d %-10s %-22s %10" PRId64 " B  %s\n", i, "executor", ir_type_str(n->dtype, n->shape, ty, sizeof ty),
                    s->bytes, n->op == OP_input || n->op == OP_param ? n->attr.name : "output");
        else if (s->base >= 0)
            fprintf(f, "  t%-4d view@%-9" PRId64 " %-22s %10" PRId64 " B  kernels %d..%d, in t%d at +%" PRId64 "\n", i, s->offset,
                    ir_type_str(n->dtype, n->shape, ty, sizeof ty), s->bytes, s->def, s->last, s->base, s->view_off);
        else
            fprintf(f, "  t%-4d arena@%-8" PRId64 " %-22s %10" PRId64 " B  kernels %d..%d\n", i, s->offset,
                    ir_type_str(n->dtype, n->shape, ty, sizeof ty), s->bytes, s->def, s->last);
    }
    int64_t sum = 0;
    int nviews = 0;
    for (int i = p->next; i < p->nslots; i++) {
        if (p->slots[i].base < 0) sum += p->slots[i].bytes;
        nviews += p->slots[i].base >= 0;
    }
    if (nviews) fprintf(f, "views: %d slices read in place (no kernel)\n", nviews);
    fprintf(f, "memory: arena %" PRId64 " B peak (%" PRId64 " B without reuse), executor buffers %" PRId64
               " B, matmul scratch %" PRId64 " B x %d threads\n",
            p->arena_bytes, sum, p->ext_bytes, p->scratch_bytes, p->threads);
}

bool cg_plan_print_graph(const ir_graph *g, int threads, FILE *f, char *err, size_t errlen) {
    cg_extbuf *ext;
    int next = cg_plan_default_ext(g, &ext);
    if (next < 0) return fail(err, errlen, "jit: out of memory");
    cg_jit *jit = NULL;
    cg_error e = cg_jit_create(&jit, NULL);
    if (e.failed) {
        free(ext);
        return fail(err, errlen, "%s", e.msg);
    }
    cg_plan_opts o = {.cpu = cg_jit_cpu(jit), .threads = threads > 0 ? threads : omp_get_max_threads()};
    cg_plan *p = cg_plan_build(g, ext, next, &o, err, errlen);
    free(ext);
    if (p) cg_plan_print(p, f);
    bool okay = p && cg_plan_check(p, err, errlen);
    cg_plan_free(p);
    cg_jit_destroy(jit);
    return okay;
}
