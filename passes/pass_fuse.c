/* pass_fuse.c — the fusion driver: runs each pattern's matcher over the graph (last node first, so the
 * largest pattern around a node wins), checks that what a match hides is used nowhere else, and rebuilds
 * the graph with each match's root replaced by its fused op; dead nodes go with pass_dce. Shared helpers
 * of the matchers (passes/pass_fuse_*.c) live here too. */
#include "ir/interp.h"
#include "passes/fuse.h"
#include "passes/passes.h"
#include "passes/rebuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void fuse_match_fn(fuse_ctx *c, ir_id root);

static const struct {
    const char *name;
    fuse_match_fn *match;
    bool backward; /* run by pass_fuse_backward (on a training graph), not by pass_fuse */
} patterns[] = {
    {"slice_matmul", fuse_match_slice_matmul, false},
    {"attention", fuse_match_attention, false},
    {"selective_scan", fuse_match_selective_scan, false},
    {"s4_scan", fuse_match_s4_scan, false},
    {"causal_conv1d", fuse_match_causal_conv1d, false},
    {"layernorm", fuse_match_layernorm, false},
    {"matmul_epilogue", fuse_match_matmul_epilogue, false},
    {"attention_lse", fuse_match_attention_lse, true},
};
#define NPATTERNS ((int)(sizeof patterns / sizeof patterns[0]))

/* ---- helpers for the matchers ---- */

bool fz_const(const fuse_ctx *c, ir_id x, double *v) {
    if (!fz_is(c, x, OP_const)) return false;
    *v = c->g->nodes[x].attr.value;
    return true;
}

bool fz_shape_is(const fuse_ctx *c, ir_id x, int rank, const int64_t *dims) {
    ir_shape s = fz_shape(c, x);
    if (s.rank != rank) return false;
    for (int i = 0; i < rank; i++)
        if (s.dim[i] != dims[i]) return false;
    return true;
}

bool fz_binary(const fuse_ctx *c, ir_id x, ir_op op, bool (*pred)(const fuse_ctx *, ir_id, void *), void *user,
               ir_id *a, ir_id *b) {
    if (!fz_is(c, x, op)) return false;
    for (int k = 0; k < 2; k++) {
        ir_id p = fz_in(c, x, k), q = fz_in(c, x, 1 - k);
        if (!pred || pred(c, p, user)) {
            *a = p, *b = q;
            return true;
        }
    }
    return false;
}

/* Marks the constant cone of x in cone[]; false when it reaches a non-constant source. */
static bool const_cone(const ir_graph *g, ir_id x, bool *cone) {
    if (cone[x]) return true;
    const ir_node *n = &g->nodes[x];
    if (n->op == OP_input || n->op == OP_param || n->op == OP_rand_mask) return false;
    cone[x] = true;
    for (int k = 0; k < n->nin; k++)
        if (!const_cone(g, ir_in(g, n, k), cone)) return false;
    return true;
}

bool fz_eval_const(const fuse_ctx *c, ir_id x, double *out, int64_t numel) {
    const ir_graph *g = c->g;
    if (x < 0 || x >= g->nnodes || ir_numel(g->nodes[x].shape) != numel) return false;
    bool *cone = calloc((size_t)g->nnodes, sizeof *cone);
    ir_id *nid = malloc((size_t)g->nnodes * sizeof *nid);
    ir_graph *sub = ir_graph_new();
    bool okay = cone && nid && sub && const_cone(g, x, cone);
    ir_id in[16];
    for (ir_id i = 0; okay && i <= x; i++) {
        if (!cone[i]) continue;
        const ir_node *n = &g->nodes[i];
        okay = n->nin <= 16;
        for (int k = 0; okay && k < n->nin; k++) in[k] = nid[ir_in(g, n, k)];
        okay = okay && (nid[i] = pass_copy_node(sub, g, i, in)) != IR_NONE;
    }
    ir_values *v = okay ? ir_values_new(sub) : NULL;
    char err[256];
    okay = v && ir_interp(sub, v, NULL, err, sizeof err);
    if (okay) memcpy(out, v->t[nid[x]].data, (size_t)numel * sizeof *out);
    ir_values_free(v);
    ir_graph_free(sub);
    free(cone);
    free(nid);
    return okay;
}

bool fuse_accept(fuse_ctx *c, const fuse_match *m, const ir_id *interior, int n) {
    if (c->taken[m->root]) return false;
    for (int i = 0; i < n; i++) {
        ir_id x = interior[i];
        if (c->taken[x] || x == m->root) return false;
        int32_t inside = 0; /* reads of x by pattern nodes */
        for (int j = 0; j <= n; j++) {
            ir_id y = j < n ? interior[j] : m->root;
            if (j < n && interior[j] == x && j != i) return false; /* listed twice */
            const ir_node *ny = &c->g->nodes[y];
            for (int k = 0; k < ny->nin; k++) inside += ir_in(c->g, ny, k) == x;
        }
        if (inside != c->uses[x]) return false; /* read outside the pattern, or a graph output */
    }
    if (c->nm == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        fuse_match *p = realloc(c->m, (size_t)cap * sizeof *p);
        if (!p) return false;
        c->m = p, c->cap = cap;
    }
    c->m[c->nm] = *m;
    c->m[c->nm++].old = c->g;
    c->taken[m->root] = true;
    for (int i = 0; i < n; i++) c->taken[interior[i]] = true;
    return true;
}

int fuse_count(const ir_graph *g, ir_op op) {
    int k = 0;
    for (ir_id i = 0; i < g->nnodes; i++)
        k += op < OP_COUNT ? g->nodes[i].op == op : (ir_ops[g->nodes[i].op].flags & OPF_FUSED) != 0;
    return k;
}

/* ---- the rebuild ---- */

static ir_id emit_default(ir_graph *ng, const ir_id *newid, const fuse_match *m) {
    ir_id in[FUSE_MAX_LEAVES];
    for (int i = 0; i < m->nleaf; i++) in[i] = newid[m->leaf[i]];
    return ir_build(ng, m->op, in, m->nleaf, &m->attrs, NULL);
}

/* permute(permute(x, p), q) with p∘q the identity -> x (the fused ops' layout changes cancel this way). */
static ir_id fold_permutes(const ir_graph *ng, const ir_node *n, ir_id in) {
    const ir_node *p = &ng->nodes[in];
    if (n->op != OP_permute || p->op != OP_permute) return IR_NONE;
    for (int i = 0; i < n->shape.rank; i++)
        if (p->attr.perm[n->attr.perm[i]] != i) return IR_NONE;
    return ir_in(ng, p, 0);
}

/* Replaces g by a copy in which each match's root is its fused op; then removes dead nodes. */
static bool rebuild(ir_graph *g, const fuse_ctx *c) {
    int32_t n = g->nnodes, maxin = 1;
    for (ir_id i = 0; i < n; i++)
        if (g->nodes[i].nin > maxin) maxin = g->nodes[i].nin;
    ir_graph *ng = ir_graph_new();
    ir_id *newid = malloc((size_t)n * sizeof *newid), *in = malloc((size_t)maxin * sizeof *in);
    int *at = malloc((size_t)n * sizeof *at);
    bool okay = ng && newid && in && at;
    for (ir_id i = 0; okay && i < n; i++) at[i] = -1;
    for (int k = 0; okay && k < c->nm; k++) at[c->m[k].root] = k;
    for (ir_id i = 0; okay && i < n; i++) {
        const ir_node *nd = &g->nodes[i];
        if (at[i] >= 0) {
            const fuse_match *m = &c->m[at[i]];
            ir_set_loc(ng, nd->loc.file, nd->loc.line);
            newid[i] = (m->emit ? m->emit : emit_default)(ng, newid, m);
        } else {
            for (int k = 0; k < nd->nin; k++) in[k] = newid[ir_in(g, nd, k)];
            ir_id folded = nd->nin == 1 ? fold_permutes(ng, nd, in[0]) : IR_NONE;
            newid[i] = folded != IR_NONE ? folded : pass_copy_node(ng, g, i, in);
        }
        if (newid[i] == IR_NONE) {
            ir_errorf(g, "fuse: node %%%d (%s): %s", i, ir_ops[nd->op].name, ir_error(ng));
            okay = false;
        }
    }
    for (int k = 0; okay && k < g->noutputs; k++)
        if (!ir_output_add(ng, g->outputs[k].name, newid[g->outputs[k].id])) {
            ir_errorf(g, "fuse: %s", ir_error(ng));
            okay = false;
        }
    if (!okay && !g->failed) ir_errorf(g, "fuse: out of memory");
    free(newid);
    free(in);
    free(at);
    if (!okay) {
        ir_graph_free(ng);
        return false;
    }
    ir_set_loc(ng, g->loc.file, g->loc.line);
    pass_adopt(g, ng);
    return pass_dce(g, NULL);
}

static bool run_pattern(ir_graph *g, int p) {
    int32_t n = g->nnodes;
    fuse_ctx c = {.g = g};
    c.uses = calloc((size_t)(n ? n : 1), sizeof *c.uses);
    c.user = malloc((size_t)(n ? n : 1) * sizeof *c.user);
    c.taken = calloc((size_t)(n ? n : 1), sizeof *c.taken);
    bool okay = c.uses && c.user && c.taken;
    if (!okay) ir_errorf(g, "fuse: out of memory");
    for (ir_id i = 0; okay && i < n; i++) {
        c.user[i] = IR_NONE;
        const ir_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->nin; k++) {
            ir_id x = ir_in(g, nd, k);
            c.user[x] = c.uses[x]++ == 0 ? i : IR_NONE;
        }
    }
    for (int k = 0; okay && k < g->noutputs; k++) {
        c.uses[g->outputs[k].id]++;
        c.user[g->outputs[k].id] = IR_NONE;
    }
    for (ir_id i = n - 1; okay && i >= 0; i--)
        if (!c.taken[i]) patterns[p].match(&c, i);
    okay = okay && (c.nm == 0 || rebuild(g, &c));
    free(c.uses);
    free(c.user);
    free(c.taken);
    free(c.m);
    return okay;
}

static int pattern_index(const char *name, size_t len) {
    for (int p = 0; p < NPATTERNS; p++)
        if (strlen(patterns[p].name) == len && strncmp(patterns[p].name, name, len) == 0) return p;
    return -1;
}

bool pass_fuse_is_backward(const char *name) {
    int p = pattern_index(name, strlen(name));
    return p >= 0 && patterns[p].backward;
}

bool pass_fuse_one(ir_graph *g, const char *pattern) {
    if (ir_failed(g)) return false;
    int p = pattern_index(pattern, strlen(pattern));
    if (p < 0) {
        ir_errorf(g, "fuse: unknown pattern '%s' (known: %s)", pattern, FUSE_PATTERNS);
        return false;
    }
    return run_pattern(g, p);
}

/* off[p] for every pattern the comma-separated list names ("all": every one); false with the error in g
 * for an unknown name. */
static bool parse_disabled(ir_graph *g, const char *disabled_csv, bool *off) {
    for (const char *s = disabled_csv; s && *s;) {
        size_t len = strcspn(s, ",");
        while (len > 0 && *s == ' ') s++, len--;
        int p = pattern_index(s, len);
        if (len == 3 && strncmp(s, "all", 3) == 0)
            for (int k = 0; k < NPATTERNS; k++) off[k] = true;
        else if (p >= 0)
            off[p] = true;
        else if (len > 0) {
            ir_errorf(g, "fuse: unknown pattern '%.*s' to disable (known: all, %s)", (int)len, s, FUSE_PATTERNS);
            return false;
        }
        s += len;
        if (*s == ',') s++;
    }
    return true;
}

/* The patterns not disabled whose `backward` flag is `backward`, on a clone of g; g takes the result, or
 * stays as it was on failure. */
static bool run_patterns(ir_graph *g, const char *disabled_csv, bool backward) {
    if (ir_failed(g)) return false;
    bool off[NPATTERNS] = {false};
    if (!parse_disabled(g, disabled_csv, off)) return false;
    ir_graph *work = ir_graph_clone(g); /* all or nothing: g is untouched on failure */
    if (!work) {
        ir_errorf(g, "fuse: out of memory");
        return false;
    }
    for (int p = 0; p < NPATTERNS; p++)
        if (!off[p] && patterns[p].backward == backward && !run_pattern(work, p)) {
            ir_errorf(g, "%s", ir_error(work));
            ir_graph_free(work);
            return false;
        }
    pass_adopt(g, work);
    return true;
}

bool pass_fuse(ir_graph *g, const char *disabled_csv) { return run_patterns(g, disabled_csv, false); }

bool pass_fuse_backward(ir_graph *g, const char *disabled_csv) { return run_patterns(g, disabled_csv, true); }
