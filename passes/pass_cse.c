/* pass_cse.c — common-subexpression elimination: one forward sweep with a hash table of the nodes seen
 * so far, keyed by op, dtype, shape, (representative) inputs and the attributes the op uses. */
#include "passes/passes.h"
#include "passes/rebuild.h"

#include <stdlib.h>
#include <string.h>

static bool commutative(ir_op op) {
    return op == OP_add || op == OP_mul || op == OP_max || op == OP_min || op == OP_eq || op == OP_ne;
}

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0xBF58476D1CE4E5B9ull;
}

static uint64_t bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* Hash of what makes node i what it is; inputs through repl. Attributes hash only by op and the
 * cheap scalar fields (equality decides the rest). */
static uint64_t node_hash(const ir_graph *g, ir_id i, const ir_id *repl) {
    const ir_node *n = &g->nodes[i];
    uint64_t h = mix(mix((uint64_t)n->op, (uint64_t)n->dtype), (uint64_t)n->shape.rank);
    for (int d = 0; d < n->shape.rank; d++) h = mix(h, (uint64_t)n->shape.dim[d]);
    uint64_t ins = 0;
    for (int k = 0; k < n->nin; k++) {
        uint64_t x = (uint64_t)repl[ir_in(g, n, k)];
        ins = commutative(n->op) ? ins + mix(0x51, x) : mix(ins, x);
    }
    h = mix(h, ins);
    h = mix(mix(h, bits(n->attr.value)), (uint64_t)n->attr.axis);
    return mix(mix(h, (uint64_t)n->attr.start), (uint64_t)n->attr.end);
}

static bool init_eq(const ir_init *a, const ir_init *b) {
    if (a->kind != b->kind || bits(a->a) != bits(b->a) || bits(a->b) != bits(b->b)) return false;
    if (memcmp(a->post, b->post, sizeof a->post) != 0) return false;
    return a->kind != INIT_DATA || memcmp(a->data, b->data, (size_t)a->a * sizeof(float)) == 0;
}

/* The attributes op uses (its AT mask) are equal. */
static bool attrs_eq(ir_op op, const ir_attrs *a, const ir_attrs *b, int rank) {
    uint32_t m = ir_ops[op].attrs;
    if ((m & AT(name)) && strcmp(a->name ? a->name : "", b->name ? b->name : "") != 0) return false;
    if ((m & AT(init)) && !init_eq(&a->init, &b->init)) return false;
    if ((m & AT(value)) && bits(a->value) != bits(b->value)) return false;
    if ((m & AT(seed)) && a->seed != b->seed) return false;
    if ((m & AT(axis)) && a->axis != b->axis) return false;
    if ((m & AT(start)) && a->start != b->start) return false;
    if ((m & AT(end)) && a->end != b->end) return false;
    if ((m & AT(lo)) && a->lo != b->lo) return false;
    if ((m & AT(hi)) && a->hi != b->hi) return false;
    if ((m & AT(perm)) && memcmp(a->perm, b->perm, (size_t)rank * sizeof a->perm[0]) != 0) return false;
    if ((m & AT(reverse)) && a->reverse != b->reverse) return false;
    if ((m & AT(ta)) && a->ta != b->ta) return false;
    if ((m & AT(tb)) && a->tb != b->tb) return false;
    if ((m & AT(softplus)) && a->softplus != b->softplus) return false;
    return true;
}

/* Nodes i and j compute the same value (inputs through repl). */
static bool nodes_eq(const ir_graph *g, ir_id i, ir_id j, const ir_id *repl) {
    const ir_node *a = &g->nodes[i], *b = &g->nodes[j];
    if (a->op != b->op || a->dtype != b->dtype || a->nin != b->nin || !ir_shape_eq(a->shape, b->shape)) return false;
    if (!attrs_eq(a->op, &a->attr, &b->attr, a->shape.rank)) return false;
    bool same = true;
    for (int k = 0; k < a->nin && same; k++) same = repl[ir_in(g, a, k)] == repl[ir_in(g, b, k)];
    if (!same && commutative(a->op))
        same = repl[ir_in(g, a, 0)] == repl[ir_in(g, b, 1)] && repl[ir_in(g, a, 1)] == repl[ir_in(g, b, 0)];
    return same;
}

bool pass_cse(ir_graph *g, ir_id *map) {
    if (ir_failed(g)) return false; /* an earlier error stands */
    int32_t n = g->nnodes, cap = 16;
    while (cap < 2 * n) cap *= 2;
    ir_id *repl = malloc((size_t)(n ? n : 1) * sizeof *repl), *table = malloc((size_t)cap * sizeof *table);
    bool *keep = malloc((size_t)(n ? n : 1) * sizeof *keep);
    if (!repl || !table || !keep) {
        free(repl);
        free(table);
        free(keep);
        ir_errorf(g, "cse: out of memory");
        return false;
    }
    for (int32_t s = 0; s < cap; s++) table[s] = IR_NONE;
    for (ir_id i = 0; i < n; i++) {
        ir_op op = g->nodes[i].op;
        repl[i] = i;
        keep[i] = true;
        if (op == OP_input || op == OP_param) continue; /* unique by name */
        uint32_t s = (uint32_t)node_hash(g, i, repl) & (uint32_t)(cap - 1);
        while (table[s] != IR_NONE && !nodes_eq(g, table[s], i, repl)) s = (s + 1) & (uint32_t)(cap - 1);
        if (table[s] == IR_NONE) table[s] = i;
        else repl[i] = table[s];
    }
    char err[1024];
    ir_graph *ng = pass_rebuild(g, keep, repl, NULL, map, err, sizeof err);
    free(repl);
    free(table);
    free(keep);
    if (!ng) {
        ir_errorf(g, "cse: %s", err);
        return false;
    }
    pass_adopt(g, ng);
    return true;
}
