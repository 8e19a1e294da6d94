/* rt_exec_jit.c — the "jit" executor: codegen/cg_plan (lowering, memory plan), codegen/cg_lower (LLVM IR),
 * codegen/cg_cache (compiled objects on disk), run with OpenMP.
 *
 * A run fills one pointer per buffer slot (executor buffers may have been swapped by carries since the last
 * run; temporaries are fixed offsets of the arena), then calls the kernels in order. A kernel's range is
 * split evenly over the threads when its work is large enough to pay for a parallel region
 * (PARALLEL_WORK element operations); otherwise it runs on the calling thread. No allocation in a run. */
#include "runtime/rt_exec_jit.h"
#include "codegen/cg_op.h"
#include "codegen/cg_cache.h"
#include "codegen/cg_lower.h"
#include "codegen/cg_plan.h"
#include "codegen/cg_tune.h"
#include "runtime/rt_util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PARALLEL_WORK = 1 << 15, MAX_PARTS = 4 };

typedef struct jit_plan {
    rt_plan base;
    cg_jit *jit;                /* = jits[0]: the target the plan is made for */
    cg_jit *jits[MAX_PARTS];    /* the plan is compiled in parts, one LLVM context each, in parallel */
    int nparts;
    unsigned char *part;        /* per kernel: its part */
    cg_plan *plan;
    cg_extbuf *ext;
    cg_kernel_fn *fns;
    void *arena, *scratch;
    void **slot_ptr;  /* per slot */
    void **kbufs;     /* per kernel: CG_MAX_BUFS pointers */
    uint64_t step;
    rt_jit_info info;
    double *prof; /* ICLC_JIT_PROFILE=1: seconds per kernel, printed when the plan is freed */
    int64_t runs;
} jit_plan;

static const rt_plan_ops jit_ops;

bool rt_jit_info_of(const rt_plan *p, rt_jit_info *out) {
    if (!p || p->ops != &jit_ops) return false;
    *out = ((const jit_plan *)p)->info;
    return true;
}

static bool jit_run(rt_plan *p, uint64_t step, char *err, size_t errlen) {
    jit_plan *jp = (jit_plan *)p;
    const cg_plan *pl = jp->plan;
    (void)err, (void)errlen;
    jp->step = step;
    for (int i = 0; i < pl->next; i++) jp->slot_ptr[i] = p->buffers[i].data;
    int T = jp->info.threads;
    for (int k = 0; k < pl->nkerns; k++) {
        const cg_kern *kn = &pl->kerns[k];
        void **bufs = jp->kbufs + (size_t)k * CG_MAX_BUFS;
        for (int j = 0; j < kn->nbufs; j++) {
            int s = kn->bufs[j];
            bufs[j] = s == CG_SLOT_STEP ? (void *)&jp->step : s == CG_SLOT_SCRATCH ? jp->scratch : jp->slot_ptr[s];
        }
        int64_t n = kn->range;
        if (n <= 0) continue;
        double t0 = jp->prof ? rt_now() : 0;
        int nt = T < n ? T : (int)n;
        if (nt <= 1 || kn->work < PARALLEL_WORK || kn->serial) {
            jp->fns[k](0, n, bufs);
            if (jp->prof) jp->prof[k] += rt_now() - t0;
            continue;
        }
        bool scratch = kn->kind == CGK_MATMUL;
        int64_t sb = pl->scratch_bytes;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), tt = omp_get_num_threads();
            void *local[CG_MAX_BUFS];
            memcpy(local, bufs, (size_t)kn->nbufs * sizeof *local);
            if (scratch) local[CG_MM_BUF_SCRATCH] = (char *)jp->scratch + (size_t)t * (size_t)sb;
            int64_t lo = n * t / tt, hi = n * (t + 1) / tt;
            if (lo < hi) jp->fns[k](lo, hi, local);
        }
        if (jp->prof) jp->prof[k] += rt_now() - t0;
    }
    jp->runs++;
    return true;
}

/* The kernels that took the most time, with their share (ICLC_JIT_PROFILE=1). */
static void print_profile(const jit_plan *jp) {
    const cg_plan *pl = jp->plan;
    double total = 0;
    for (int k = 0; k < pl->nkerns; k++) total += jp->prof[k];
    fprintf(stderr, "jit profile: %lld runs, %.3f ms per run in kernels\n", (long long)jp->runs, 1e3 * total / (double)(jp->runs ? jp->runs : 1));
    for (int shown = 0; shown < 25; shown++) {
        int best = -1;
        for (int k = 0; k < pl->nkerns; k++)
            if (jp->prof[k] >= 0 && (best < 0 || jp->prof[k] > jp->prof[best])) best = k;
        if (best < 0 || jp->prof[best] <= 0) break;
        const cg_kern *kn = &pl->kerns[best];
        char ty[96];
        const ir_node *n = &pl->g->nodes[kn->root];
        fprintf(stderr, "  %5.1f%% %8.3f ms  %-18s %-22s range %lld work %lld%s\n", 100 * jp->prof[best] / total,
                1e3 * jp->prof[best] / (double)(jp->runs ? jp->runs : 1), kn->name, ir_type_str(n->dtype, n->shape, ty, sizeof ty),
                (long long)kn->range, (long long)kn->work, kn->kind == CGK_LOOP ? (kn->flat ? " flat" : " rows") : "");
        ((jit_plan *)jp)->prof[best] = -1;
    }
}

/* Time per root op of the kernels (the profile's second table): where a step goes, by op. */
static void print_profile_by_op(const jit_plan *jp) {
    const cg_plan *pl = jp->plan;
    double by[OP_COUNT] = {0}, total = 0;
    int cnt[OP_COUNT] = {0};
    for (int k = 0; k < pl->nkerns; k++) {
        ir_op op = pl->g->nodes[pl->kerns[k].root].op;
        by[op] += jp->prof[k], cnt[op]++, total += jp->prof[k];
    }
    double runs = (double)(jp->runs ? jp->runs : 1);
    fprintf(stderr, "jit profile by root op:\n");
    for (;;) {
        int best = -1;
        for (int o = 0; o < OP_COUNT; o++)
            if (cnt[o] && (best < 0 || by[o] > by[best])) best = o;
        if (best < 0 || by[best] <= 0) break;
        fprintf(stderr, "  %5.1f%% %8.3f ms  %-24s %4d kernels\n", 100 * by[best] / total, 1e3 * by[best] / runs,
                ir_ops[best].name, cnt[best]);
        cnt[best] = 0;
    }
}

static void jit_free(rt_plan *p) {
    jit_plan *jp = (jit_plan *)p;
    if (jp->prof && jp->plan) print_profile_by_op(jp), print_profile(jp);
    free(jp->prof);
    cg_plan_free(jp->plan);
    for (int i = 0; i < jp->nparts; i++) cg_jit_destroy(jp->jits[i]);
    free(jp->part);
    free(jp->ext);
    free(jp->fns);
    free(jp->arena);
    free(jp->scratch);
    free(jp->slot_ptr);
    free(jp->kbufs);
    rt_plan_release(p);
    free(jp);
}

static const rt_plan_ops jit_ops = {jit_run, jit_free};

static void *alloc64(int64_t bytes) {
    size_t n = (size_t)((bytes + 63) / 64 * 64);
    return aligned_alloc(64, n ? n : 64); /* not cleared: every temporary is written before it is read */
}

/* Splits the kernels into nparts parts of about equal compile cost (a matmul costs several loops). */
static void partition(jit_plan *jp) {
    const cg_plan *pl = jp->plan;
    double load[MAX_PARTS] = {0};
    for (int k = 0; k < pl->nkerns; k++) {
        if (pl->kerns[k].impl != k) { /* runs the function of an earlier kernel */
            jp->part[k] = jp->part[pl->kerns[k].impl];
            continue;
        }
        int best = 0;
        for (int i = 1; i < jp->nparts; i++)
            if (load[i] < load[best]) best = i;
        jp->part[k] = (unsigned char)best;
        load[best] += pl->kerns[k].kind == CGK_MATMUL ? 4 : 1;
    }
}

/* LLVM: IR, optimisation and object code of every part, in parallel (one context per part), each
 * loaded into its JIT; the objects into obj[0..nparts). */
static bool compile_llvm(jit_plan *jp, cg_blob *obj, char *err, size_t errlen) {
    cg_error errs[MAX_PARTS];
#pragma omp parallel for num_threads(jp->nparts) schedule(static, 1)
    for (int i = 0; i < jp->nparts; i++) {
        unsigned char *sel = malloc((size_t)jp->plan->nkerns + 1);
        LLVMModuleRef m = sel ? cg_module_create(jp->jits[i], "plan") : NULL;
        if (!m) errs[i] = cg_errorf("out of memory");
        else {
            for (int k = 0; k < jp->plan->nkerns; k++) sel[k] = jp->part[k] == i;
            errs[i] = cg_lower_emit(jp->jits[i], m, jp->plan, sel);
            if (!errs[i].failed) errs[i] = cg_jit_compile(jp->jits[i], m, &obj[i]);
            LLVMDisposeModule(m);
        }
        free(sel);
    }
    for (int i = 0; i < jp->nparts; i++)
        if (errs[i].failed) {
            snprintf(err, errlen, "jit: %s", errs[i].msg);
            return false;
        }
    return true;
}

/* Creates the JITs of every part that has none (fresh: replaces all, after a failed load). */
static bool create_jits(jit_plan *jp, const cg_jit_options *jo, bool fresh, char *err, size_t errlen) {
    for (int i = 0; i < jp->nparts; i++) {
        if (jp->jits[i] && !fresh) continue;
        cg_jit_destroy(jp->jits[i]);
        jp->jits[i] = NULL;
        cg_error e = cg_jit_create(&jp->jits[i], jo);
        if (e.failed) {
            snprintf(err, errlen, "jit: %s", e.msg);
            return false;
        }
    }
    jp->jit = jp->jits[0];
    return true;
}

static rt_plan *jit_compile(const rt_executor *ex, const ir_graph *g, const rt_plan_opts *opts, char *err,
                            size_t errlen) {
    double t0 = rt_now();
    jit_plan *jp = calloc(1, sizeof *jp);
    if (!jp) {
        snprintf(err, errlen, "jit: out of memory");
        return NULL;
    }
    if (!rt_plan_init(&jp->base, ex, &jit_ops, g, err, errlen)) {
        free(jp);
        return NULL;
    }
    rt_plan *p = &jp->base;
    int threads = opts->threads > 0 ? opts->threads : omp_get_max_threads();
    jp->info.threads = threads;
    const char *lvl = getenv("ICLC_JIT_OPT"); /* optimisation level 1..3 (default 3), for experiments */
    /* ICLC_JIT_CPU: an LLVM CPU name such as x86-64-v3 instead of the host (tests of the AVX2 kernels) */
    cg_jit_options jo = {.opt_level = lvl ? atoi(lvl) : 0, .cpu = getenv("ICLC_JIT_CPU")};
    cg_error e = cg_ok();
    jp->nparts = 1;
    if (!create_jits(jp, &jo, false, err, errlen)) goto fail;
    jp->ext = malloc((size_t)(p->nbuffers + 1) * sizeof *jp->ext);
    if (!jp->ext) goto oom;
    for (int i = 0; i < p->nbuffers; i++) jp->ext[i] = (cg_extbuf){p->buffers[i].id, p->buffers[i].is_output};
    cg_tune_db *tune = cg_tune_load(cg_jit_cpu(jp->jit), true); /* `iclc tune`'s schedules (NULL: defaults) */
    cg_plan_opts po = {.cpu = cg_jit_cpu(jp->jit), .threads = threads, .tune = tune};
    jp->plan = cg_plan_build(p->graph, jp->ext, p->nbuffers, &po, err, errlen);
    bool tuned = cg_tune_count(tune) > 0;
    cg_tune_free(tune);
    if (!jp->plan) goto fail;
    const cg_plan *pl = jp->plan;
    const char *dbg = getenv("ICLC_DEBUG");
    if (dbg && atoi(dbg) >= 2) cg_plan_print(pl, stderr);
    double t1 = rt_now();
    jp->info.ms_plan = 1e3 * (t1 - t0);

    /* parts: as many as threads (at most MAX_PARTS), about 16 kernels each at least */
    int want = threads < MAX_PARTS ? threads : MAX_PARTS;
    while (want > 1 && pl->nimpl < 16 * want) want--;
    jp->nparts = want;
    jp->part = calloc((size_t)pl->nkerns + 1, 1);
    if (!jp->part) goto oom;
    if (!create_jits(jp, &jo, false, err, errlen)) goto fail;
    partition(jp);

    char key[2048];
    /* with a tune cache the plan (schedules) is part of the key: tuned and default code never collide */
    cg_cache_key(jp->jit, ir_graph_hash(p->graph) ^ (tuned ? cg_tune_fingerprint(pl) : 0), threads, key, sizeof key);
    cg_blob obj[MAX_PARTS] = {{0}};
    bool loaded = false;
    if (cg_cache_load(key, pl->digest, jp->nparts, obj)) {
        loaded = true;
        for (int i = 0; i < jp->nparts; i++) {
            if (loaded) e = cg_jit_add_object(jp->jits[i], obj[i].data, obj[i].size);
            loaded = loaded && !e.failed;
            cg_blob_free(&obj[i]);
        }
        if (!loaded) {
            /* an object LLVM refuses: fresh JITs (a failed load may have left symbols) and a rebuild */
            fprintf(stderr, "iclc: warning: compile cache entry not loadable (%s); rebuilding\n", e.msg);
            if (!create_jits(jp, &jo, true, err, errlen)) goto fail;
        }
    }
    double t2 = rt_now();
    if (!loaded) {
        bool built = compile_llvm(jp, obj, err, errlen);
        char cerr[512], dir[4000];
        if (built && cg_cache_dir(dir, sizeof dir) && !cg_cache_store(key, pl->digest, jp->nparts, obj, cerr, sizeof cerr))
            fprintf(stderr, "iclc: warning: %s\n", cerr);
        for (int i = 0; i < jp->nparts; i++) cg_blob_free(&obj[i]);
        if (!built) goto fail;
    }
    double t3 = rt_now();
    jp->info.cache_hit = loaded;
    if (loaded) jp->info.ms_load = 1e3 * (t3 - t1);
    else jp->info.ms_llvm = 1e3 * (t3 - t2);

    jp->fns = calloc((size_t)pl->nkerns + 1, sizeof *jp->fns);
    jp->slot_ptr = calloc((size_t)pl->nslots + 1, sizeof *jp->slot_ptr);
    jp->kbufs = calloc((size_t)pl->nkerns * CG_MAX_BUFS + 1, sizeof *jp->kbufs);
    jp->arena = alloc64(pl->arena_bytes);
    jp->scratch = alloc64(pl->scratch_bytes * threads);
    if (!jp->fns || !jp->slot_ptr || !jp->kbufs || !jp->arena || !jp->scratch) goto oom;
    for (int k = 0; k < pl->nkerns; k++) {
        void *fn;
        const cg_kern *impl = &pl->kerns[pl->kerns[k].impl];
        e = cg_jit_lookup(jp->jits[jp->part[k]], impl->name, &fn);
        if (e.failed) {
            snprintf(err, errlen, "jit: %s", e.msg);
            goto fail;
        }
        jp->fns[k] = (cg_kernel_fn)fn;
    }
    for (int i = pl->next; i < pl->nslots; i++) jp->slot_ptr[i] = (char *)jp->arena + pl->slots[i].offset;
    const char *prof = getenv("ICLC_JIT_PROFILE");
    if (prof && atoi(prof) > 0 && !(jp->prof = calloc((size_t)pl->nkerns + 1, sizeof *jp->prof))) goto oom;
    jp->info.plan = pl;
    jp->info.arena_bytes = pl->arena_bytes;
    jp->info.scratch_bytes = pl->scratch_bytes * threads;
    p->seconds_compile = rt_now() - t0;
    return p;
oom:
    snprintf(err, errlen, "jit: out of memory");
fail:
    jit_free(p);
    return NULL;
}

const rt_executor rt_executor_jit = {"jit", "LLVM-compiled fused kernels, OpenMP-parallel", jit_compile,
                                     cg_op_supported};
