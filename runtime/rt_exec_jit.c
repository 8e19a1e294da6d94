/* rt_exec_jit.c — the "jit" executor: codegen/cg_plan (lowering, memory plan), codegen/cg_lower (LLVM IR),
 * codegen/cg_cache (compiled objects on disk), run with OpenMP.
 *
 * A run fills one pointer per buffer slot (executor buffers may have been swapped by carries since the last
 * run; temporaries are fixed offsets of the arena), then calls the kernels in order. A kernel's range is
 * split evenly over the threads when its work is large enough to pay for a parallel region
 * (PARALLEL_WORK element operations); otherwise it runs on the calling thread. No allocation in a run. */
#include "runtime/rt_exec_jit.h"
#include "codegen/cg_cache.h"
#include "codegen/cg_lower.h"
#include "codegen/cg_plan.h"
#include "codegen/cg_tune.h"
#include "runtime/rt_util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PARALLEL_WORK = 1 << 15 };

typedef struct jit_plan {
    rt_plan base;
    cg_jit *jit;
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

static void jit_free(rt_plan *p) {
    jit_plan *jp = (jit_plan *)p;
    if (jp->prof && jp->plan) print_profile(jp);
    free(jp->prof);
    cg_plan_free(jp->plan);
    cg_jit_destroy(jp->jit);
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
    void *q = aligned_alloc(64, n ? n : 64);
    if (q) memset(q, 0, n ? n : 64);
    return q;
}

/* LLVM: IR of every kernel, optimisation, object code, loaded into the JIT; the object into *obj. */
static bool compile_llvm(jit_plan *jp, cg_blob *obj, char *err, size_t errlen) {
    LLVMModuleRef m = cg_module_create(jp->jit, "plan");
    if (!m) {
        snprintf(err, errlen, "jit: out of memory");
        return false;
    }
    cg_error e = cg_lower_emit(jp->jit, m, jp->plan);
    if (!e.failed) e = cg_jit_compile(jp->jit, m, obj);
    LLVMDisposeModule(m);
    if (e.failed) snprintf(err, errlen, "jit: %s", e.msg);
    return !e.failed;
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
    cg_jit_options jo = {.opt_level = lvl ? atoi(lvl) : 0};
    cg_error e = cg_jit_create(&jp->jit, &jo);
    if (e.failed) {
        snprintf(err, errlen, "jit: %s", e.msg);
        goto fail;
    }
    jp->ext = malloc((size_t)(p->nbuffers + 1) * sizeof *jp->ext);
    if (!jp->ext) goto oom;
    for (int i = 0; i < p->nbuffers; i++) jp->ext[i] = (cg_extbuf){p->buffers[i].id, p->buffers[i].is_output};
    cg_tune_db *tune = cg_tune_load(cg_jit_cpu(jp->jit), true); /* `iclc tune`'s schedules (NULL: defaults) */
    cg_plan_opts po = {.cpu = cg_jit_cpu(jp->jit), .threads = threads, .tune = tune};
    jp->plan = cg_plan_build(p->graph, jp->ext, p->nbuffers, &po, err, errlen);
    cg_tune_free(tune);
    if (!jp->plan) goto fail;
    const cg_plan *pl = jp->plan;
    const char *dbg = getenv("ICLC_DEBUG");
    if (dbg && atoi(dbg) >= 2) cg_plan_print(pl, stderr);
    double t1 = rt_now();
    jp->info.ms_plan = 1e3 * (t1 - t0);

    char key[2048];
    cg_cache_key(jp->jit, ir_graph_hash(p->graph), threads, key, sizeof key);
    snprintf(key + strlen(key), sizeof key - strlen(key), " plan=%016llx", (unsigned long long)pl->digest); /* tuned or not */
    cg_blob obj = {0};
    bool loaded = false;
    if (cg_cache_load(key, pl->digest, &obj)) {
        e = cg_jit_add_object(jp->jit, obj.data, obj.size);
        cg_blob_free(&obj);
        if (e.failed) {
            /* an object LLVM refuses: a fresh JIT (the failed load may have left symbols) and a rebuild */
            fprintf(stderr, "iclc: warning: compile cache entry not loadable (%s); rebuilding\n", e.msg);
            cg_jit_destroy(jp->jit);
            jp->jit = NULL;
            e = cg_jit_create(&jp->jit, &jo);
            if (e.failed) {
                snprintf(err, errlen, "jit: %s", e.msg);
                goto fail;
            }
        } else loaded = true;
    }
    double t2 = rt_now();
    if (!loaded) {
        if (!compile_llvm(jp, &obj, err, errlen)) goto fail;
        char cerr[512], dir[4000];
        if (cg_cache_dir(dir, sizeof dir) && !cg_cache_store(key, pl->digest, obj.data, obj.size, cerr, sizeof cerr))
            fprintf(stderr, "iclc: warning: %s\n", cerr);
        cg_blob_free(&obj);
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
        e = cg_jit_lookup(jp->jit, pl->kerns[k].name, &fn);
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

const rt_executor rt_executor_jit = {"jit", "LLVM-compiled fused kernels, OpenMP-parallel", jit_compile};
