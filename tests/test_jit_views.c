/* Views in the JIT plan (codegen/cg_plan.c): contiguous slices of an arena temporary (a fused grad op's
 * packed gradient, a leading-axis slice of a stored tensor) are read in place, with no copy kernel, and
 * give the interpreter's results at 1 and 2 threads (the step schedule of runtime/rt_exec_jit.c); slices
 * that are not contiguous, or are outputs, keep their kernels; cg_plan_check rejects broken view plans. */
#include "tests/jit_harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { R1 = 16, R2 = 32, D = 64 }; /* layernorm_grad on x[R1, R2, D]: packed [dx | dw | db] */

/* The packed grad of layernorm sliced into dx, dw, db; dx is read by three kernels (an elementwise loop,
 * a reduction, a matmul operand), dw and db by one loop; plus a leading-axis slice of a stored [R1*R2, D]
 * tensor (a view), a last-axis slice (not contiguous: a kernel) and a slice that is an output (copied). */
static ir_graph *packed_graph(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", S(3, R1, R2, D, 0));
    ir_id in[4] = {x, ir_input(g, "w", S(1, D, 0, 0, 0)), ir_input(g, "b", S(1, D, 0, 0, 0)), ir_input(g, "dy", S(3, R1, R2, D, 0))};
    ir_id pk = ir_build(g, OP_layernorm_grad, in, 4, &(ir_attrs){.value = 1e-5}, NULL);
    int64_t nx = R1 * R2 * D;
    ir_id dx = ir_reshape(g, ir_slice(g, pk, 0, 0, nx), S(3, R1, R2, D, 0));
    ir_id dw = ir_slice(g, pk, 0, nx, nx + D), db = ir_reshape(g, ir_slice(g, pk, 0, nx + D, nx + 2 * D), S(2, 1, D, 0, 0));
    ir_output_add(g, "gx", ir_binary(g, OP_mul, dx, x));
    ir_output_add(g, "sx", ir_reduce(g, OP_sum, dx, 1)); /* (over D it is ~0: cancellation) */
    ir_id m = ir_input(g, "m", S(2, D, 7, 0, 0));
    ir_output_add(g, "mx", ir_matmul(g, ir_reshape(g, dx, S(2, R1 * R2, D, 0, 0)), m, false, false));
    ir_output_add(g, "gwb", ir_binary(g, OP_add, ir_reshape(g, dw, S(2, 1, D, 0, 0)), ir_unary(g, OP_exp, db)));
    ir_output_add(g, "db", ir_slice(g, pk, 0, nx + D, nx + 2 * D)); /* an output: stays a copy */
    /* a stored [R1*R2, D] (matmul result): rows 2..299 are one contiguous piece, columns 3..10 are not */
    ir_id y = ir_matmul(g, ir_reshape(g, x, S(2, R1 * R2, D, 0, 0)), ir_input(g, "q", S(2, D, D, 0, 0)), false, false);
    ir_id rows = ir_reshape(g, ir_slice(g, y, 0, 2, 300), S(1, 298 * D, 0, 0, 0));
    ir_output_add(g, "rows", ir_unary(g, OP_tanh, rows));
    ir_output_add(g, "rows2", ir_reduce(g, OP_rmax, ir_slice(g, y, 0, 2, 300), 1));
    ir_id cols = ir_reshape(g, ir_slice(g, y, 1, 3, 11), S(1, R1 * R2 * 8, 0, 0, 0));
    ir_output_add(g, "cols", ir_unary(g, OP_neg, cols));
    return g;
}

static int count_views(const cg_plan *p) {
    int n = 0;
    for (int i = p->next; i < p->nslots; i++) n += p->slots[i].base >= 0;
    return n;
}

/* The plan: views for the four stored contiguous pieces, no slice kernel except the strided one and the output. */
static void plan_shape(const ir_graph *g) {
    char err[1024] = "";
    rt_plan *p = rt_plan_compile(rt_executor_find("jit"), g, &(rt_plan_opts){.threads = 2}, err, sizeof err);
    if (!ok(p != NULL, "packed graph compiles %s", err)) return;
    rt_jit_info info;
    ok(rt_jit_info_of(p, &info), "jit info");
    const cg_plan *pl = info.plan;
    int slices = 0, copies = 0, strided = 0;
    for (int k = 0; k < pl->nkerns; k++) {
        const cg_kern *kn = &pl->kerns[k];
        for (int r = 0; r < kn->nroots; r++) {
            const ir_node *n = &g->nodes[kn->roots[r]];
            if (n->op != OP_slice) continue;
            if (kn->copies[r]) copies++;
            else if (n->attr.axis == 1) strided++;
            else slices++;
        }
    }
    diag("plan: %d kernels, %d views", pl->nkerns, count_views(pl));
    is_int(count_views(pl), 4, "the four stored contiguous slices are views (dx, dw, db, rows)");
    is_int(strided, 1, "the last-axis slice keeps its kernel");
    is_int(slices, 1, "only the output slice is computed by a slice kernel (into its executor buffer)");
    (void)copies;
    ok(cg_plan_check(pl, err, sizeof err), "plan checks %s", err);
    int64_t buffers = 0;
    for (int i = 0; i < p->nbuffers; i++) buffers += 4 * ir_numel(p->buffers[i].shape);
    ok(info.arena_bytes > 0, "the plan has an arena");
    is_int(p->data_bytes, buffers + info.arena_bytes + info.scratch_bytes,
           "data_bytes = the buffers + the arena + the matmul scratch of every thread");
    /* the step schedule at 2 threads: independent kernels (the three readers of dx) share an epoch */
    diag("schedule: %d barriers, %d kernels on one thread", info.barriers, info.single);
    ok(info.one_region, "2 threads: one parallel region per step");
    ok(info.barriers > 0 && info.barriers < pl->nkerns - 1, "fewer barriers (%d) than kernel boundaries (%d)", info.barriers,
       pl->nkerns - 1);
    rt_plan_free(p);
}

/* A fresh plan of g for the checker tests (default CPU, 1 thread). */
static cg_plan *build_plan(const ir_graph *g) {
    cg_extbuf *ext;
    char err[512] = "";
    int next = cg_plan_default_ext(g, &ext);
    cg_plan *p = next >= 0 ? cg_plan_build(g, ext, next, &(cg_plan_opts){.threads = 1}, err, sizeof err) : NULL;
    free(ext);
    if (!p) diag("plan: %s", err);
    return p;
}

/* The first view slot and the kernel that writes its base. */
static bool find_view(const cg_plan *p, int *view, int *writer) {
    *view = *writer = -1;
    for (int i = p->next; i < p->nslots && *view < 0; i++)
        if (p->slots[i].base >= 0) *view = i;
    for (int k = 0; k < p->nkerns && *view >= 0 && *writer < 0; k++)
        if (p->kerns[k].dst == p->slots[*view].base) *writer = k;
    return *view >= 0 && *writer >= 0;
}

/* cg_plan_check accepts the plan and rejects each way of breaking its views. */
static void checker_rejects(const ir_graph *g) {
    char err[1024];
    static const char *const what[] = {"a view that outlives its base", "a view past the end of its base",
                                       "a kernel that writes a view", "a kernel that reads a view of what it writes",
                                       "a view whose offset is not its base's"};
    for (int c = -1; c < 5; c++) {
        cg_plan *p = build_plan(g);
        int v = -1, w = -1;
        if (!ok(p && find_view(p, &v, &w), "plan with a view (case %d)", c)) {
            cg_plan_free(p);
            continue;
        }
        cg_slot *vs = &p->slots[v], *bs = &p->slots[vs->base];
        cg_kern *kn = &p->kerns[w];
        switch (c) {
        case 0: bs->last = vs->last - 1; break;
        case 1: vs->view_off = bs->bytes - vs->bytes + 4, vs->offset = bs->offset + vs->view_off; break;
        case 2:
            for (int k = 0; k < p->nkerns; k++) /* a kernel that reads the view writes it instead */
                for (int i = 0; i < p->kerns[k].nbufs; i++)
                    if (p->kerns[k].bufs[i] == v && p->kerns[k].nroots == 1) p->kerns[k].dst = p->kerns[k].dsts[0] = v;
            break;
        case 3:
            if (kn->nbufs < CG_MAX_BUFS) kn->bufs[kn->nbufs++] = v;
            if (vs->def > w) vs->def = w;
            break;
        case 4: vs->offset += 64; break;
        default: break;
        }
        bool good = cg_plan_check(p, err, sizeof err);
        if (c < 0) ok(good, "the plan with views checks %s", good ? "" : err);
        else ok(!good, "the checker rejects %s: %s", what[c], good ? "accepted" : err);
        cg_plan_free(p);
    }
}

/* Runs a 2-thread plan of g once with inputs from the harness; copies output `name` into out. */
static bool run_once(const ir_graph *g, bool nested, const char *name, float *out, int64_t n) {
    char err[1024] = "";
    rt_plan *p = rt_plan_compile(rt_executor_find("jit"), g, &(rt_plan_opts){.threads = 2}, err, sizeof err);
    if (!p) {
        diag("compile: %s", err);
        return false;
    }
    fill_plan(p, FILL_SIGNED);
    bool okay = true;
    if (nested) { /* inside an outer region the step's region gets one thread: the in-order fallback */
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            okay = rt_plan_run(p, 7, err, sizeof err);
        }
    } else okay = rt_plan_run(p, 7, err, sizeof err);
    const float *o = rt_plan_buffer(p, name);
    if (okay && o) memcpy(out, o, (size_t)n * sizeof *out);
    rt_plan_free(p);
    return okay && o;
}

/* The one-region step gives bit-identical outputs when it must fall back to one thread (a nested call)
 * and in profile mode (a barrier after every kernel). */
static void schedule_variants(const ir_graph *g) {
    static const char *const outs[] = {"gx", "mx", "rows", "cols"};
    for (int i = 0; i < 4; i++) {
        ir_id id = ir_output_find(g, outs[i]);
        int64_t n = ir_numel(g->nodes[id].shape);
        float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b), *c = malloc((size_t)n * sizeof *c);
        bool ran = a && b && c && run_once(g, false, outs[i], a, n) && run_once(g, true, outs[i], b, n);
        setenv("ICLC_JIT_PROFILE", "1", 1);
        ran = ran && run_once(g, false, outs[i], c, n);
        unsetenv("ICLC_JIT_PROFILE");
        if (ok(ran, "%s: three 2-thread runs", outs[i])) {
            ok(memcmp(a, b, (size_t)n * sizeof *a) == 0, "%s: a nested call (one thread) gives the same bits", outs[i]);
            ok(memcmp(a, c, (size_t)n * sizeof *a) == 0, "%s: profile mode gives the same bits", outs[i]);
        }
        free(a), free(b), free(c);
    }
}

/* A weight shared by the batch folds the batch dims into the matmul's rows (one [B*M, K] x [K, N]
 * product); a batched right operand keeps its batch dims; both compute what the interpreter does. */
static void matmul_batch_fold(void) {
    ir_graph *g = ir_graph_new();
    ir_id a = ir_input(g, "a", ir_shape_of(3, (int64_t[]){3, 5, 7}));
    ir_id w = ir_input(g, "w", ir_shape_of(2, (int64_t[]){7, 9}));
    ir_id r = ir_input(g, "r", ir_shape_of(3, (int64_t[]){3, 5, 9}));
    ir_id wb = ir_input(g, "wb", ir_shape_of(3, (int64_t[]){3, 7, 9}));
    ir_output_add(g, "folded", ir_binary(g, OP_add, ir_matmul(g, a, w, false, false), r));
    ir_output_add(g, "batched", ir_matmul(g, a, wb, false, false));
    cg_plan *p = build_plan(g);
    if (ok(p != NULL, "plan of a folded and a batched matmul")) {
        int folded = 0, batched = 0;
        for (int k = 0; k < p->nkerns; k++) {
            const cg_kern *kn = &p->kerns[k];
            if (kn->kind != CGK_MATMUL) continue;
            folded += kn->mm.n_batch == 0 && kn->mm.M == 15 && kn->mm.N == 9 && kn->mm.K == 7;
            batched += kn->mm.n_batch == 1 && kn->mm.batch[0] == 3 && kn->mm.M == 5;
        }
        is_int(folded, 1, "x W with W shared by the batch: one 15-row matmul (batch folded into M)");
        is_int(batched, 1, "a batched W keeps its batch dim");
        cg_plan_free(p);
    }
    check_graph("folded and batched matmuls", g, FILL_SIGNED, 1e-5);
    ir_graph_free(g);
}

int main(void) {
    char dir[] = "/tmp/iclc-jit-views-XXXXXX";
    if (mkdtemp(dir)) setenv("XDG_CACHE_HOME", dir, 1), unsetenv("ICLC_NO_CACHE");
    unsetenv("ICLC_JIT_SYNC");
    ir_graph *g = packed_graph();
    if (ok(!ir_failed(g) && ir_verify(g), "packed graph builds %s", ir_error(g))) {
        plan_shape(g);
        checker_rejects(g);
        schedule_variants(g);
        check_graph("packed grad pieces", g, FILL_SIGNED, 2e-4); /* matmul sums in another order */
    }
    ir_graph_free(g);
    matmul_batch_fold();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) diag("could not remove %s", dir);
    return done_testing();
}
