/* rt_exec_jit.c — the "jit" executor: codegen/cg_plan (lowering, memory plan), codegen/cg_lower (LLVM IR),
 * codegen/cg_cache (compiled objects on disk), run with OpenMP.
 *
 * A run fills one pointer per buffer slot (executor buffers may have been swapped by carries since the last
 * run; temporaries are fixed offsets of the arena), then calls the kernels in order. A kernel's range is
 * split evenly over the threads when its work is large enough (PARALLEL_WORK element operations) and the
 * tuner did not mark it serial; otherwise one thread runs it. No allocation in a run.
 *
 * With more than one thread the whole kernel list runs inside one parallel region (a "step" schedule made
 * at compile time): every thread walks the list, runs its share of each parallel kernel and the serial
 * kernels it owns, and waits at a barrier only before a kernel that touches memory written (or writes
 * memory touched) by a kernel since the last barrier. A serial kernel goes to the thread that already ran
 * what it depends on (a chain of small kernels needs no barrier) or else to the least loaded one, so
 * independent small kernels run side by side. Executor buffers are distinct memory; arena temporaries
 * are compared by byte range (a reused interval or a view conflicts with whatever shares its bytes).
 * ICLC_JIT_SYNC=kernel restores one parallel region per kernel (for comparison). */
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
    double *prof;  /* ICLC_JIT_PROFILE=1: seconds per kernel, printed when the plan is freed */
    int prof_top;  /* how many kernels the profile lists (ICLC_JIT_PROFILE=N > 1: N, else 25) */
    int64_t runs;
    /* the step schedule (threads > 1): per kernel, its thread (-1: split over all) and a barrier before it */
    bool one_region;
    int *owner;
    bool *barrier;
} jit_plan;

static const rt_plan_ops jit_ops;

bool rt_jit_info_of(const rt_plan *p, rt_jit_info *out) {
    if (!p || p->ops != &jit_ops) return false;
    *out = ((const jit_plan *)p)->info;
    return true;
}

/* Whether kernel k runs on one thread (small work, one range item, or tuned serial). */
static bool is_serial(const cg_kern *kn, int T) {
    return T <= 1 || kn->range <= 1 || kn->work < PARALLEL_WORK || kn->serial;
}

/* Runs share t of nt of kernel k's range, [n*t/nt, n*(t+1)/nt), on OpenMP thread `self` (whose matmul
 * packing scratch it uses). */
static void run_part(jit_plan *jp, int k, int t, int nt, int self) {
    const cg_kern *kn = &jp->plan->kerns[k];
    void **bufs = jp->kbufs + (size_t)k * CG_MAX_BUFS;
    int64_t n = kn->range, lo = n * t / nt, hi = n * (t + 1) / nt;
    if (lo >= hi) return;
    if (kn->kind != CGK_MATMUL) {
        jp->fns[k](lo, hi, bufs);
        return;
    }
    void *local[CG_MAX_BUFS]; /* matmul: this thread's packing scratch */
    memcpy(local, bufs, (size_t)kn->nbufs * sizeof *local);
    local[CG_MM_BUF_SCRATCH] = (char *)jp->scratch + (size_t)self * (size_t)jp->plan->scratch_bytes;
    jp->fns[k](lo, hi, local);
}

/* One parallel region per kernel (ICLC_JIT_SYNC=kernel, and one thread). */
static void run_per_kernel(jit_plan *jp, int T) {
    const cg_plan *pl = jp->plan;
    for (int k = 0; k < pl->nkerns; k++) {
        const cg_kern *kn = &pl->kerns[k];
        int64_t n = kn->range;
        if (n <= 0) continue;
        double t0 = jp->prof ? rt_now() : 0;
        if (is_serial(kn, T)) run_part(jp, k, 0, 1, 0);
        else {
            int nt = T < n ? T : (int)n;
#pragma omp parallel num_threads(nt)
            {
                int t = omp_get_thread_num(), tt = omp_get_num_threads();
                run_part(jp, k, t, tt, t);
            }
        }
        if (jp->prof) jp->prof[k] += rt_now() - t0;
    }
}

/* The whole step in one parallel region (see the file comment): thread t's part of the schedule. In
 * profile mode every kernel ends at a barrier and thread 0 charges it the time since the previous one. */
static void run_step_thread(jit_plan *jp, int t, int T) {
    const cg_plan *pl = jp->plan;
    double t0 = jp->prof && t == 0 ? rt_now() : 0;
    for (int k = 0; k < pl->nkerns; k++) {
        const cg_kern *kn = &pl->kerns[k];
        if (kn->range <= 0) continue;
        if (jp->barrier[k] && !jp->prof) {
#pragma omp barrier
        }
        int o = jp->owner[k];
        if (o < 0) {
            int nt = T < kn->range ? T : (int)kn->range;
            if (t < nt) run_part(jp, k, t, nt, t);
        } else if (o == t) run_part(jp, k, 0, 1, t);
        if (jp->prof) {
#pragma omp barrier
            if (t == 0) {
                double t1 = rt_now();
                jp->prof[k] += t1 - t0;
                t0 = t1;
            }
        }
    }
}

static bool jit_run(rt_plan *p, uint64_t step, char *err, size_t errlen) {
    jit_plan *jp = (jit_plan *)p;
    const cg_plan *pl = jp->plan;
    (void)err, (void)errlen;
    jp->step = step;
    for (int i = 0; i < pl->next; i++) jp->slot_ptr[i] = p->buffers[i].data;
    for (int k = 0; k < pl->nkerns; k++) {
        const cg_kern *kn = &pl->kerns[k];
        void **bufs = jp->kbufs + (size_t)k * CG_MAX_BUFS;
        for (int j = 0; j < kn->nbufs; j++) {
            int s = kn->bufs[j];
            bufs[j] = s == CG_SLOT_STEP ? (void *)&jp->step : s == CG_SLOT_SCRATCH ? jp->scratch : jp->slot_ptr[s];
        }
    }
    int T = jp->info.threads;
    if (!jp->one_region) run_per_kernel(jp, T);
    else {
#pragma omp parallel num_threads(T)
        {
            int t = omp_get_thread_num();
            if (omp_get_num_threads() == T) run_step_thread(jp, t, T);
            else if (t == 0) run_per_kernel(jp, 1); /* fewer threads than planned: all on this one */
        }
    }
    jp->runs++;
    return true;
}

/* The memory kernel k writes (w) or touches (a): executor buffer s, or the arena bytes [lo, hi). */
typedef struct span {
    int space; /* executor buffer index, or -1: the arena */
    int64_t lo, hi;
} span;

static span slot_span(const cg_plan *pl, int s) {
    const cg_slot *x = &pl->slots[s];
    return s < pl->next ? (span){s, 0, x->bytes} : (span){-1, x->offset, x->offset + x->bytes};
}

static bool spans_meet(span a, span b) { return a.space == b.space && a.lo < b.hi && b.lo < a.hi; }

/* Does kernel j depend on kernel i (either writes memory the other one reads or writes)? */
static bool kernels_conflict(const cg_plan *pl, const cg_kern *i, const cg_kern *j) {
    for (int pass = 0; pass < 2; pass++) {
        const cg_kern *w = pass ? j : i, *a = pass ? i : j;
        for (int r = 0; r < w->nroots; r++) {
            span ws = slot_span(pl, w->dsts[r]);
            for (int b = 0; b < a->nbufs; b++)
                if (a->bufs[b] >= 0 && spans_meet(ws, slot_span(pl, a->bufs[b]))) return true;
            for (int q = 0; q < a->nroots; q++)
                if (spans_meet(ws, slot_span(pl, a->dsts[q]))) return true;
        }
    }
    return false;
}

/* The step schedule for T threads: owner and barrier per kernel (see the file comment). Kernels since
 * the last barrier form the current epoch; load[] is the work each thread has in it. */
static void make_schedule(jit_plan *jp, int T) {
    const cg_plan *pl = jp->plan;
    int *epoch = jp->owner + pl->nkerns; /* scratch after owner[] (allocated 2x) */
    int nepoch = 0;
    double load[64];
    int TT = T < 64 ? T : 64;
    memset(load, 0, sizeof load);
    for (int k = 0; k < pl->nkerns; k++) {
        const cg_kern *kn = &pl->kerns[k];
        jp->owner[k] = -1, jp->barrier[k] = false;
        if (kn->range <= 0) continue;
        bool serial = is_serial(kn, T);
        int dep_owner = -2; /* -2: no dependency in the epoch; >= 0: all on that thread; -1: several/parallel */
        for (int e = 0; e < nepoch && dep_owner != -1; e++) {
            int i = epoch[e];
            if (!kernels_conflict(pl, &pl->kerns[i], kn)) continue;
            int o = jp->owner[i];
            dep_owner = o < 0 || (dep_owner >= 0 && dep_owner != o) ? -1 : o;
        }
        bool need = serial ? dep_owner == -1 : dep_owner != -2;
        if (need) {
            jp->barrier[k] = true;
            nepoch = 0;
            memset(load, 0, sizeof load);
        }
        if (serial) {
            int o = dep_owner >= 0 && !need ? dep_owner : 0;
            if (dep_owner == -2 || need)
                for (int t = 1; t < TT; t++)
                    if (load[t] < load[o]) o = t;
            jp->owner[k] = o;
            load[o] += (double)kn->work + 1000; /* + a kernel call's fixed cost */
        } else
            for (int t = 0; t < TT; t++) load[t] += (double)kn->work / T + 1000;
        epoch[nepoch++] = k;
    }
}

/* The kernels that took the most time, with their share (ICLC_JIT_PROFILE=1). */
static void print_profile(const jit_plan *jp) {
    const cg_plan *pl = jp->plan;
    double total = 0;
    for (int k = 0; k < pl->nkerns; k++) total += jp->prof[k];
    fprintf(stderr, "jit profile: %lld runs, %.3f ms per run in kernels\n", (long long)jp->runs, 1e3 * total / (double)(jp->runs ? jp->runs : 1));
    if (jp->one_region) {
        int nb = 0, ns = 0, run = 0;
        for (int k = 0; k < pl->nkerns; k++) nb += jp->barrier[k], ns += jp->owner[k] >= 0, run += pl->kerns[k].range > 0;
        fprintf(stderr, "jit schedule: one parallel region of %d threads, %d kernels (%d on one thread), %d barriers "
                        "(profile mode adds one after every kernel)\n", jp->info.threads, run, ns, nb);
    }
    for (int shown = 0; shown < jp->prof_top; shown++) {
        int best = -1;
        for (int k = 0; k < pl->nkerns; k++)
            if (jp->prof[k] >= 0 && (best < 0 || jp->prof[k] > jp->prof[best])) best = k;
        if (best < 0 || jp->prof[best] <= 0) break;
        const cg_kern *kn = &pl->kerns[best];
        char ty[96];
        const ir_node *n = &pl->g->nodes[kn->root];
        double sec = jp->prof[best] / (double)(jp->runs ? jp->runs : 1);
        char mm[128] = "";
        if (kn->kind == CGK_MATMUL) { /* the product's shape and rate: where matmul time goes */
            const cg_matmul_desc *d = &kn->mm;
            int64_t nb = 1;
            for (int i = 0; i < d->n_batch; i++) nb *= d->batch[i];
            snprintf(mm, sizeof mm, "  mm %lldx[%lld x %lld x %lld]%s%s%s %.0f GFLOP/s", (long long)nb, (long long)d->M,
                     (long long)d->N, (long long)d->K, d->trans_a ? " tA" : "", d->trans_b ? " tB" : "",
                     d->accumulate ? " acc" : "", sec > 0 ? 1e-9 * kn->mm_info.flops / sec : 0.0);
        }
        fprintf(stderr, "  %5.1f%% %8.3f ms  %-18s %-22s range %lld work %lld%s%s\n", 100 * jp->prof[best] / total,
                1e3 * sec, kn->name, ir_type_str(n->dtype, n->shape, ty, sizeof ty),
                (long long)kn->range, (long long)kn->work, kn->kind == CGK_LOOP ? (kn->flat ? " flat" : " rows") : "", mm);
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
    free(jp->owner);
    free(jp->barrier);
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
    jp->base.data_bytes += pl->arena_bytes + pl->scratch_bytes * threads;
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
    const char *sync = getenv("ICLC_JIT_SYNC"); /* "kernel": one parallel region per kernel */
    jp->one_region = threads > 1 && !(sync && strcmp(sync, "kernel") == 0);
    if (jp->one_region) {
        jp->owner = calloc(2 * (size_t)pl->nkerns + 1, sizeof *jp->owner);
        jp->barrier = calloc((size_t)pl->nkerns + 1, sizeof *jp->barrier);
        if (!jp->owner || !jp->barrier) goto oom;
        make_schedule(jp, threads);
        for (int k = 0; k < pl->nkerns; k++) jp->info.barriers += jp->barrier[k], jp->info.single += jp->owner[k] >= 0;
    }
    jp->info.one_region = jp->one_region;
    const char *prof = getenv("ICLC_JIT_PROFILE");
    if (prof && atoi(prof) > 0 && !(jp->prof = calloc((size_t)pl->nkerns + 1, sizeof *jp->prof))) goto oom;
    jp->prof_top = prof && atoi(prof) > 1 ? atoi(prof) : 25;
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
