/* cg_tune.c — successive-halving search over matmul schedules, and the tune cache (see cg_tune.h). */
#include "codegen/cg_tune.h"
#include "codegen/cg_lower.h"
#include "ir/philox.h"
#include "runtime/rt_json.h"
#include "runtime/rt_util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TUNE_FORMAT_MAX_ENTRIES = 100000 };

typedef struct tune_entry {
    char *sig;
    char *serial; /* plan-threads entries: '0'/'1' per kernel; NULL for matmul entries */
    cg_matmul_sched s;
    double ms, default_ms;
    int candidates;
} tune_entry;

struct cg_tune_db {
    cg_cpu cpu;           /* features not kept (the jit owns them) */
    char features[4096];  /* the target's feature string */
    char llvm[32];
    char path[4200];      /* "" when there is no cache directory */
    tune_entry *e;
    int n, cap;
};

static uint64_t fnv(const char *s, uint64_t h) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

bool cg_tune_path(const cg_cpu *cpu, char *buf, size_t len) {
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char llvm[32], dir[4000];
    if (x && *x) snprintf(dir, sizeof dir, "%s/iclc/tune", x);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/iclc/tune", home);
    else return false;
    cg_jit_llvm_version(llvm);
    uint64_t h = fnv(llvm, fnv(cpu->features ? cpu->features : "", fnv(cpu->name, 0xCBF29CE484222325ull)));
    snprintf(buf, len, "%s/%s-%016llx.json", dir, cpu->name, (unsigned long long)h);
    return true;
}

void cg_tune_free(cg_tune_db *db) {
    if (!db) return;
    for (int i = 0; i < db->n; i++) {
        free(db->e[i].sig);
        free(db->e[i].serial);
    }
    free(db->e);
    free(db);
}

int cg_tune_count(const cg_tune_db *db) { return db ? db->n : 0; }

void cg_tune_signature(const cg_matmul_desc *d, int threads, char *buf, size_t len) {
    int k = snprintf(buf, len, "mm M=%lld N=%lld K=%lld ta=%d tb=%d ld=%lld,%lld,%lld acc=%d batch=[", (long long)d->M,
                     (long long)d->N, (long long)d->K, d->trans_a, d->trans_b, (long long)d->lda, (long long)d->ldb,
                     (long long)d->ldc, d->accumulate);
    for (int i = 0; i < d->n_batch && k > 0 && (size_t)k < len; i++)
        k += snprintf(buf + k, len - (size_t)k, "%s%lld:%lld:%lld:%lld", i ? "," : "", (long long)d->batch[i],
                      (long long)d->a_bstride[i], (long long)d->b_bstride[i], (long long)d->c_bstride[i]);
    if (k > 0 && (size_t)k < len)
        snprintf(buf + k, len - (size_t)k, "] epi=%d threads=%d", d->epilogue ? d->n_extra_bufs + 1 : 0, threads);
}

static int find(const cg_tune_db *db, const char *sig) {
    for (int i = 0; i < db->n; i++)
        if (strcmp(db->e[i].sig, sig) == 0) return i;
    return -1;
}

bool cg_tune_lookup(const cg_tune_db *db, const cg_matmul_desc *d, int threads, cg_matmul_sched *s) {
    if (!db || !db->n) return false;
    char sig[1024];
    cg_tune_signature(d, threads, sig, sizeof sig);
    int i = find(db, sig);
    if (i < 0) return false;
    cg_matmul_sched r;
    if (cg_matmul_sched_resolve(&db->cpu, d, &db->e[i].s, &r).failed) return false;
    *s = db->e[i].s;
    return true;
}

static bool add_entry(cg_tune_db *db, const char *sig, const cg_matmul_sched *s, double ms, double dms, int cands) {
    int i = find(db, sig);
    if (i < 0) {
        if (db->n == db->cap) {
            int cap = db->cap ? 2 * db->cap : 16;
            tune_entry *e = realloc(db->e, (size_t)cap * sizeof *e);
            if (!e) return false;
            db->e = e;
            db->cap = cap;
        }
        char *copy = strdup(sig);
        if (!copy) return false;
        i = db->n++;
        db->e[i] = (tune_entry){.sig = copy};
    }
    db->e[i].s = *s;
    db->e[i].ms = ms;
    db->e[i].default_ms = dms;
    db->e[i].candidates = cands;
    return true;
}

/* An integer member of a JSON object, or false. */
static bool jint(const rt_json *o, const char *k, int *v) {
    const rt_json *x = rt_json_get(o, k);
    if (!x || x->kind != RT_JSON_NUMBER || !x->is_int || x->integer < -1 || x->integer > 1 << 24) return false;
    *v = (int)x->integer;
    return true;
}

static double jnum(const rt_json *o, const char *k) {
    const rt_json *x = rt_json_get(o, k);
    return x && x->kind == RT_JSON_NUMBER ? x->number : 0;
}

static const char *jstr(const rt_json *o, const char *k) {
    const rt_json *x = rt_json_get(o, k);
    return x && x->kind == RT_JSON_STRING ? x->string : NULL;
}

/* Reads the entries of a parsed file; false + reason when it is not ours or not for this target. */
static bool read_doc(cg_tune_db *db, const rt_json *root, char *why, size_t whylen) {
    const char *fmt = jstr(root, "format"), *cpu = jstr(root, "cpu"), *feat = jstr(root, "features"),
               *llvm = jstr(root, "llvm");
    const rt_json *ents = rt_json_get(root, "entries");
    if (!fmt || strcmp(fmt, "iclc-tune-1") != 0 || !cpu || !feat || !llvm || !ents || ents->kind != RT_JSON_ARRAY) {
        snprintf(why, whylen, "not an iclc-tune-1 file");
        return false;
    }
    if (strcmp(cpu, db->cpu.name) != 0 || strcmp(feat, db->features) != 0 || strcmp(llvm, db->llvm) != 0) {
        snprintf(why, whylen, "written for CPU %s (LLVM %s) with other features, not this %s (LLVM %s)", cpu, llvm,
                 db->cpu.name, db->llvm);
        return false;
    }
    for (size_t i = 0; i < ents->count; i++) {
        const rt_json *e = ents->items[i], *s = rt_json_get(e, "sched");
        const char *sig = jstr(e, "signature"), *kind = jstr(e, "kernel"), *serial = jstr(e, "serial");
        if (sig && kind && serial && strcmp(kind, "plan-threads") == 0 &&
            ((strncmp(sig, "plan ", 5) == 0 && strspn(serial, "01") == strlen(serial)) ||
             (strncmp(sig, "serial-below ", 13) == 0 && *serial && strspn(serial, "0123456789") == strlen(serial)))) {
            if (!cg_tune_put_serial_sig(db, sig, serial, jnum(e, "ms"), jnum(e, "default_ms"))) {
                snprintf(why, whylen, "out of memory");
                return false;
            }
            continue;
        }
        cg_matmul_sched m = {0};
        if (!sig || !kind || strcmp(kind, "matmul") != 0 || !s || s->kind != RT_JSON_OBJECT || !jint(s, "vec", &m.vec) ||
            !jint(s, "mr", &m.mr) || !jint(s, "nr", &m.nr) || !jint(s, "mc", &m.mc) || !jint(s, "kc", &m.kc) ||
            !jint(s, "nc", &m.nc) || !jint(s, "pack_a", &m.pack_a) || !jint(s, "pack_b", &m.pack_b) ||
            !jint(s, "k_unroll", &m.k_unroll) || !jint(s, "threads", &m.threads)) {
            snprintf(why, whylen, "entry %zu is malformed", i);
            return false;
        }
        const rt_json *c = rt_json_get(e, "candidates");
        if (!add_entry(db, sig, &m, jnum(e, "ms"), jnum(e, "default_ms"), c && c->is_int ? (int)c->integer : 0)) {
            snprintf(why, whylen, "out of memory");
            return false;
        }
    }
    return true;
}

cg_tune_db *cg_tune_load(const cg_cpu *cpu, bool warn) {
    cg_tune_db *db = calloc(1, sizeof *db);
    if (!db) return NULL;
    db->cpu = *cpu;
    db->cpu.features = NULL;
    snprintf(db->features, sizeof db->features, "%s", cpu->features ? cpu->features : "");
    cg_jit_llvm_version(db->llvm);
    if (!cg_tune_path(cpu, db->path, sizeof db->path)) db->path[0] = 0;
    const char *off = getenv("ICLC_NO_TUNE");
    if (!db->path[0] || (off && atoi(off) > 0)) return db;
    FILE *f = fopen(db->path, "rb");
    if (!f) return db; /* absent: nothing tuned yet */
    fclose(f);
    char err[512], why[600];
    rt_json_doc *doc = rt_json_parse_file(db->path, err, sizeof err);
    bool ok = doc && read_doc(db, rt_json_root(doc), why, sizeof why);
    if (!doc) snprintf(why, sizeof why, "%s", err);
    rt_json_free(doc);
    if (!ok) {
        if (warn) fprintf(stderr, "iclc: warning: tune cache %s ignored: %s (run `iclc tune` to rebuild it)\n", db->path, why);
        for (int i = 0; i < db->n; i++) {
            free(db->e[i].sig);
            free(db->e[i].serial);
        }
        db->n = 0;
    }
    return db;
}

static void write_db(FILE *f, const void *ctx) {
    const cg_tune_db *db = ctx;
    rt_jw w;
    rt_jw_init(&w, 1);
    rt_jw_begin_object(&w);
    rt_jw_key(&w, "format");
    rt_jw_string(&w, "iclc-tune-1");
    rt_jw_key(&w, "cpu");
    rt_jw_string(&w, db->cpu.name);
    rt_jw_key(&w, "features");
    rt_jw_string(&w, db->features);
    rt_jw_key(&w, "llvm");
    rt_jw_string(&w, db->llvm);
    rt_jw_key(&w, "entries");
    rt_jw_begin_array(&w);
    for (int i = 0; i < db->n; i++) {
        const tune_entry *e = &db->e[i];
        rt_jw_begin_object(&w);
        if (e->serial) {
            rt_jw_key(&w, "kernel");
            rt_jw_string(&w, "plan-threads");
            rt_jw_key(&w, "signature");
            rt_jw_string(&w, e->sig);
            rt_jw_key(&w, "serial");
            rt_jw_string(&w, e->serial);
            rt_jw_key(&w, "ms");
            rt_jw_double(&w, e->ms);
            rt_jw_key(&w, "default_ms");
            rt_jw_double(&w, e->default_ms);
            rt_jw_end_object(&w);
            continue;
        }
        rt_jw_key(&w, "kernel");
        rt_jw_string(&w, "matmul");
        rt_jw_key(&w, "signature");
        rt_jw_string(&w, e->sig);
        rt_jw_key(&w, "sched");
        rt_jw_begin_object(&w);
        const char *names[] = {"vec", "mr", "nr", "mc", "kc", "nc", "pack_a", "pack_b", "k_unroll", "threads"};
        int vals[] = {e->s.vec, e->s.mr, e->s.nr, e->s.mc, e->s.kc, e->s.nc, e->s.pack_a, e->s.pack_b, e->s.k_unroll, e->s.threads};
        for (int j = 0; j < 10; j++) {
            rt_jw_key(&w, names[j]);
            rt_jw_int(&w, vals[j]);
        }
        rt_jw_end_object(&w);
        rt_jw_key(&w, "ms");
        rt_jw_double(&w, e->ms);
        rt_jw_key(&w, "default_ms");
        rt_jw_double(&w, e->default_ms);
        rt_jw_key(&w, "candidates");
        rt_jw_int(&w, e->candidates);
        rt_jw_end_object(&w);
    }
    rt_jw_end_array(&w);
    rt_jw_end_object(&w);
    const char *t = rt_jw_result(&w, NULL);
    if (t) fprintf(f, "%s\n", t);
    else fputs("(out of memory)\n", f); /* invalid JSON: the next load ignores it with a warning */
    rt_jw_free(&w);
}

bool cg_tune_put(cg_tune_db *db, const char *sig, const cg_matmul_sched *s, double ms, double default_ms,
                 int candidates) {
    return add_entry(db, sig, s, ms, default_ms, candidates);
}

bool cg_tune_put_serial_sig(cg_tune_db *db, const char *sig, const char *serial, double ms, double default_ms) {
    char *copy = strdup(serial);
    cg_matmul_sched none = {0};
    if (!copy || !add_entry(db, sig, &none, ms, default_ms, 0)) {
        free(copy);
        return false;
    }
    int i = find(db, sig);
    free(db->e[i].serial);
    db->e[i].serial = copy;
    return true;
}

static void plan_sig(uint64_t graph, int threads, char *buf, size_t len) {
    snprintf(buf, len, "plan graph=%016llx threads=%d", (unsigned long long)graph, threads);
}

bool cg_tune_put_serial(cg_tune_db *db, uint64_t graph, int threads, const char *serial, double ms, double default_ms) {
    char sig[128];
    plan_sig(graph, threads, sig, sizeof sig);
    return cg_tune_put_serial_sig(db, sig, serial, ms, default_ms);
}

static void thr_sig(int threads, char *buf, size_t len) { snprintf(buf, len, "serial-below threads=%d", threads); }

bool cg_tune_put_threshold(cg_tune_db *db, int threads, int64_t work) {
    char sig[64], val[32];
    thr_sig(threads, sig, sizeof sig);
    snprintf(val, sizeof val, "%lld", (long long)work);
    return cg_tune_put_serial_sig(db, sig, val, 0, 0);
}

int64_t cg_tune_threshold(const cg_tune_db *db, int threads) {
    if (!db || !db->n) return 0;
    char sig[64];
    thr_sig(threads, sig, sizeof sig);
    int i = find(db, sig);
    return i >= 0 && db->e[i].serial ? strtoll(db->e[i].serial, NULL, 10) : 0;
}

const char *cg_tune_plan_serial(const cg_tune_db *db, uint64_t graph, int threads) {
    if (!db || !db->n) return NULL;
    char sig[128];
    plan_sig(graph, threads, sig, sizeof sig);
    int i = find(db, sig);
    return i >= 0 ? db->e[i].serial : NULL;
}

bool cg_tune_save(const cg_tune_db *db, char *err, size_t errlen) {
    if (!db->path[0]) {
        snprintf(err, errlen, "no cache directory (set XDG_CACHE_HOME or HOME)");
        return false;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", db->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    return rt_mkdirs(dir, err, errlen) && rt_write_atomic(db->path, write_db, db, err, errlen);
}

void cg_tune_print(const cg_tune_db *db, FILE *f) {
    fprintf(f, "tune cache %s: %d entries for %s (LLVM %s)\n", db->path[0] ? db->path : "(none)", db->n, db->cpu.name,
            db->llvm);
    for (int i = 0; i < db->n; i++) {
        const tune_entry *e = &db->e[i];
        if (e->serial && strncmp(e->sig, "serial-below", 12) == 0) {
            fprintf(f, "  %s\n    kernels of plans not tuned themselves run on one thread below %s element operations\n",
                    e->sig, e->serial);
            continue;
        }
        if (e->serial) {
            int ns = 0;
            for (const char *c = e->serial; *c; c++) ns += *c == '1';
            fprintf(f, "  %s\n    %d of %zu kernels on one thread: %.3f ms per run vs default %.3f ms (%.2fx)\n", e->sig, ns,
                    strlen(e->serial), e->ms, e->default_ms, e->ms > 0 ? e->default_ms / e->ms : 0);
            continue;
        }
        fprintf(f, "  %s\n    mr %d nr %d (x%d) mc %d kc %d nc %d pack_a %d k_unroll %d: %.4f ms vs default %.4f ms (%.2fx, %d candidates)\n",
                e->sig, e->s.mr, e->s.nr, e->s.vec, e->s.mc, e->s.kc, e->s.nc, e->s.pack_a, e->s.k_unroll, e->ms,
                e->default_ms, e->ms > 0 ? e->default_ms / e->ms : 0, e->candidates);
    }
}

/* ---- the search ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Elements an operand spans: rows x cols with leading dimension ld, over the batch strides. */
static int64_t extent(const cg_matmul_desc *d, int64_t rows, int64_t cols, int64_t ld, const int64_t *bstride) {
    int64_t n = (rows - 1) * ld + cols;
    for (int i = 0; i < d->n_batch; i++) n += (d->batch[i] - 1) * bstride[i];
    return n;
}

typedef struct cand {
    cg_matmul_sched s;   /* as given to the generator (resolved) */
    cg_matmul_info info;
    cg_kernel_fn fn;
    double best;         /* fastest run seen, seconds */
} cand;

static bool same_sched(const cg_matmul_sched *a, const cg_matmul_sched *b) {
    return a->vec == b->vec && a->mr == b->mr && a->nr == b->nr && a->mc == b->mc && a->kc == b->kc && a->nc == b->nc &&
           a->pack_a == b->pack_a && a->pack_b == b->pack_b && a->k_unroll == b->k_unroll;
}

/* Random candidates around the default: register tiles that fit, cache blocks, packing, unrolling. */
static int make_candidates(const cg_cpu *cpu, const cg_matmul_desc *d, const cg_tune_opts *o, cand *c, int max) {
    int n = 0;
    cg_matmul_sched base = {.threads = o->threads};
    if (cg_matmul_sched_resolve(cpu, d, &base, &c[0].s).failed) return 0;
    n = 1;
    int regs = cpu->vec_floats == 16 ? cpu->n_vec_regs : 16;
    static const int kcs[] = {0, 64, 128, 192, 256, 384, 512}, mcs[] = {0, 16, 32, 48, 64, 96, 128, 192, 256},
                     ncs[] = {0, 64, 128, 256, 512, 1024, 2048}, kus[] = {1, 2, 4}, pas[] = {-1, 1};
    philox_key key = philox_make_key(o->seed, 0x74756E65);
    for (uint64_t tries = 0; n < max && tries < 4000; tries++) {
        philox_ctr r = philox_block(key, 0, tries);
        uint32_t x = r.c[0], y = r.c[1];
        cg_matmul_sched s = {.vec = cpu->vec_floats, .threads = o->threads};
        s.nr = 1 + (int)(x % 4);
        int maxmr = (regs - s.nr - 1) / s.nr;
        if (maxmr < 1) continue;
        if (maxmr > 16) maxmr = 16;
        s.mr = 1 + (int)((x >> 8) % (uint32_t)maxmr);
        if (s.mr * s.nr < 4 && d->M >= 4) continue; /* tiny tiles never win */
        s.kc = kcs[(x >> 16) % 7];
        s.mc = mcs[(x >> 24) % 9];
        s.nc = ncs[y % 7];
        s.k_unroll = kus[(y >> 8) % 3];
        s.pack_a = pas[(y >> 12) % 2];
        /* half the candidates keep the default tile and vary only the blocking */
        if (r.c[2] & 1) {
            s.mr = c[0].s.mr;
            s.nr = c[0].s.nr;
        }
        cg_matmul_sched res;
        if (cg_matmul_sched_resolve(cpu, d, &s, &res).failed) continue;
        bool dup = false;
        for (int i = 0; i < n && !dup; i++) dup = same_sched(&c[i].s, &res);
        if (dup) continue;
        c[n++].s = res;
    }
    return n;
}

/* One timed run of candidate c. */
static double time_one(const cand *c, const float *A, const float *B, float *C, void *scratch, int threads) {
    double t0 = now_s();
    cg_matmul_run(c->fn, &c->info, A, B, C, scratch, NULL, 0, threads);
    return now_s() - t0;
}

static int by_best(const void *a, const void *b) {
    const cand *x = a, *y = b;
    return x->best < y->best ? -1 : x->best > y->best;
}

cg_error cg_tune_matmul(cg_jit *jit, const cg_matmul_desc *d, const cg_tune_opts *o, cg_tune_result *r) {
    const cg_cpu *cpu = cg_jit_cpu(jit);
    int threads = o->threads > 0 ? o->threads : 1, max = (o->candidates > 0 ? o->candidates : 24) + 1;
    double t_start = now_s(), deadline = t_start + (o->seconds > 0 ? o->seconds : 1);
    memset(r, 0, sizeof *r);
    cand *c = calloc((size_t)max, sizeof *c);
    float *A = NULL, *B = NULL, *C = NULL, *C0 = NULL;
    void *scratch = NULL;
    cg_code *code = NULL;
    LLVMModuleRef m = NULL;
    cg_error e = cg_ok();
    if (!c) return cg_errorf("tune: out of memory");
    int n = make_candidates(cpu, d, o, c, max);
    if (n == 0) {
        free(c);
        return cg_errorf("tune: no valid schedule for this matmul");
    }
    /* every candidate into one module, compiled once */
    m = cg_module_create(jit, "tune");
    if (!m) {
        e = cg_errorf("tune: out of memory");
        goto out;
    }
    int base = 0; /* names are free again once the previous search's code is removed */
    int64_t scratch_bytes = 64;
    for (int i = 0; i < n && !e.failed; i++) {
        char name[48];
        snprintf(name, sizeof name, "tune_mm_%d", base + i);
        e = cg_matmul_emit(jit, m, name, d, &c[i].s, &c[i].info);
        if (c[i].info.scratch_bytes > scratch_bytes) scratch_bytes = c[i].info.scratch_bytes;
    }
    cg_blob obj = {0};
    if (!e.failed) e = cg_jit_optimize(jit, m);
    if (!e.failed) e = cg_jit_emit_object(jit, m, &obj);
    if (!e.failed) e = cg_jit_add_object_removable(jit, obj.data, obj.size, &code);
    cg_blob_free(&obj);
    for (int i = 0; i < n && !e.failed; i++) {
        char name[48];
        snprintf(name, sizeof name, "tune_mm_%d", base + i);
        void *fn;
        e = cg_jit_lookup(jit, name, &fn);
        c[i].fn = (cg_kernel_fn)fn;
        c[i].best = INFINITY;
    }
    if (e.failed) goto out;
    int64_t na = extent(d, d->trans_a ? d->K : d->M, d->trans_a ? d->M : d->K, d->lda ? d->lda : d->trans_a ? d->M : d->K, d->a_bstride);
    int64_t nbb = extent(d, d->trans_b ? d->N : d->K, d->trans_b ? d->K : d->N, d->ldb ? d->ldb : d->trans_b ? d->K : d->N, d->b_bstride);
    int64_t nc = extent(d, d->M, d->N, d->ldc ? d->ldc : d->N, d->c_bstride);
    A = aligned_alloc(64, (size_t)(na + 16) * 4 / 64 * 64 + 64);
    B = aligned_alloc(64, (size_t)(nbb + 16) * 4 / 64 * 64 + 64);
    C = aligned_alloc(64, (size_t)(nc + 16) * 4 / 64 * 64 + 64);
    C0 = malloc((size_t)(nc + 1) * 4);
    scratch = aligned_alloc(64, (size_t)(scratch_bytes * threads + 63) / 64 * 64);
    if (!A || !B || !C || !C0 || !scratch) {
        e = cg_errorf("tune: out of memory");
        goto out;
    }
    philox_key key = philox_make_key(7, 0x6D6D);
    for (int64_t i = 0; i < na; i++) A[i] = (float)philox_unit24(philox_block(key, 1, (uint64_t)i).c[0]) - 0.5f;
    for (int64_t i = 0; i < nbb; i++) B[i] = (float)philox_unit24(philox_block(key, 2, (uint64_t)i).c[0]) - 0.5f;
    /* successive halving: all alive candidates run `reps` times per round (min time kept); the slower
     * half is dropped; reps double. The default (c[0]) is measured in every round for the final comparison. */
    int alive = n, reps = 1, rounds = 0;
    double t_default = INFINITY;
    while (alive > 1 && now_s() < deadline) {
        for (int i = 0; i < alive && now_s() < deadline; i++)
            for (int k = 0; k < reps; k++) {
                double t = time_one(&c[i], A, B, C, scratch, threads);
                if (t < c[i].best) c[i].best = t;
            }
        rounds++;
        for (int i = 0; i < alive; i++)
            if (same_sched(&c[i].s, &c[0].s) && c[i].best < t_default) t_default = c[i].best;
        qsort(c, (size_t)alive, sizeof *c, by_best);
        alive = (alive + 1) / 2;
        reps *= 2;
        if (o->progress)
            fprintf(o->progress, "\r\033[Ktune %s: round %d, %d of %d candidates left, best %.4f ms",
                    o->label ? o->label : "", rounds, alive, n, 1e3 * c[0].best);
    }
    /* the default schedule again (it may have been dropped) and the winner, head to head */
    cg_matmul_sched dflt;
    cg_matmul_sched_resolve(cpu, d, &(cg_matmul_sched){.threads = threads}, &dflt);
    int di = -1;
    for (int i = 0; i < n; i++)
        if (same_sched(&c[i].s, &dflt)) di = i;
    if (di < 0) { /* cannot happen: the default is candidate 0 */
        e = cg_errorf("tune: lost the default schedule");
        goto out;
    }
    double tb = INFINITY, td = INFINITY;
    int final_reps = reps < 8 ? 8 : reps > 64 ? 64 : reps;
    for (int k = 0; k < final_reps; k++) {
        double t = time_one(&c[di], A, B, C, scratch, threads);
        if (t < td) td = t;
        t = time_one(&c[0], A, B, C, scratch, threads);
        if (t < tb) tb = t;
    }
    (void)t_default;
    time_one(&c[di], A, B, C, scratch, threads);
    memcpy(C0, C, (size_t)nc * 4);
    time_one(&c[0], A, B, C, scratch, threads);
    double md = 0;
    for (int64_t i = 0; i < nc; i++) {
        double diff = fabs((double)C[i] - (double)C0[i]) / (1.0 + fabs((double)C0[i]));
        if (!(diff <= md)) md = diff;
    }
    r->tried = n;
    r->max_rel_diff = md;
    r->ms_default = 1e3 * td;
    if (di != 0 && tb < 0.97 * td && md <= 1e-4) {
        r->best = c[0].s;
        r->ms_best = 1e3 * tb;
    } else {
        r->best = dflt;
        r->ms_best = 1e3 * td;
    }
out:
    if (code) {
        cg_error e2 = cg_jit_remove(jit, code);
        if (!e.failed) e = e2;
    }
    if (m) LLVMDisposeModule(m);
    free(A);
    free(B);
    free(C);
    free(C0);
    free(scratch);
    free(c);
    return e;
}

/* ---- threads per kernel ---- */

enum { TUNE_PARALLEL_WORK = 1 << 15 }; /* runtime/rt_exec_jit.c's threshold: smaller kernels run serially anyway */

typedef struct runner {
    const cg_plan *p;
    cg_kernel_fn *fns;
    void **slot, **ext;
    void *arena, *scratch;
    uint64_t step;
    int threads;
} runner;

/* Runs kernel k as the JIT executor does: split over the threads, or on this thread when serial. */
static void run_kernel(runner *r, int k, bool serial) {
    const cg_kern *kn = &r->p->kerns[k];
    void *bufs[CG_MAX_BUFS];
    for (int j = 0; j < kn->nbufs; j++) {
        int s = kn->bufs[j];
        bufs[j] = s == CG_SLOT_STEP ? (void *)&r->step : s == CG_SLOT_SCRATCH ? r->scratch : r->slot[s];
    }
    int64_t n = kn->range;
    if (n <= 0) return;
    int nt = r->threads < n ? r->threads : (int)n;
    if (serial || nt <= 1 || kn->work < TUNE_PARALLEL_WORK) {
        r->fns[k](0, n, bufs);
        return;
    }
    int64_t sb = r->p->scratch_bytes;
    bool mm = kn->kind == CGK_MATMUL;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), tt = omp_get_num_threads();
        void *local[CG_MAX_BUFS];
        memcpy(local, bufs, (size_t)kn->nbufs * sizeof *local);
        if (mm) local[CG_MM_BUF_SCRATCH] = (char *)r->scratch + (size_t)t * (size_t)sb;
        int64_t lo = n * t / tt, hi = n * (t + 1) / tt;
        if (lo < hi) r->fns[k](lo, hi, local);
    }
}

/* Seconds of one run of the whole plan with the given choices (NULL: the default). */
static double run_plan(runner *r, const char *serial) {
    double t0 = now_s();
    for (int k = 0; k < r->p->nkerns; k++) run_kernel(r, k, serial && serial[k] == '1');
    return now_s() - t0;
}

cg_error cg_tune_threads(cg_jit *jit, const cg_plan *p, const cg_tune_opts *o, char **serial_out, double *ms_default,
                         double *ms_tuned, int64_t *threshold) {
    *serial_out = NULL;
    int K = p->nkerns, T = o->threads > 0 ? o->threads : 1;
    double deadline = now_s() + (o->seconds > 0 ? o->seconds : 1);
    runner r = {.p = p, .threads = T};
    char *serial = calloc((size_t)K + 1, 1);
    double *tp = malloc(((size_t)K + 1) * sizeof *tp), *ts = malloc(((size_t)K + 1) * sizeof *ts);
    r.fns = calloc((size_t)K + 1, sizeof *r.fns);
    r.slot = calloc((size_t)p->nslots + 1, sizeof *r.slot);
    r.ext = calloc((size_t)p->next + 1, sizeof *r.ext);
    r.arena = aligned_alloc(64, (size_t)(p->arena_bytes + 127) / 64 * 64);
    r.scratch = aligned_alloc(64, (size_t)(p->scratch_bytes * T + 127) / 64 * 64);
    cg_error e = cg_ok();
    if (!serial || !tp || !ts || !r.fns || !r.slot || !r.ext || !r.arena || !r.scratch) {
        e = cg_errorf("tune: out of memory");
        goto out;
    }
    memset(r.arena, 0, (size_t)(p->arena_bytes + 127) / 64 * 64);
    for (int i = 0; i < p->next && !e.failed; i++) { /* executor buffers: small random values */
        int64_t n = p->slots[i].bytes / 4;
        float *x = aligned_alloc(64, (size_t)(n + 16) * 4 / 64 * 64 + 64);
        if (!x) e = cg_errorf("tune: out of memory");
        else
            for (int64_t j = 0; j < n; j++) x[j] = 0.01f * ((float)(j % 97) - 48.0f) / 48.0f;
        r.ext[i] = r.slot[i] = x;
    }
    for (int i = p->next; i < p->nslots; i++) r.slot[i] = (char *)r.arena + p->slots[i].offset;
    if (e.failed) goto out;
    /* the plan's code (one module; the executor's compile cache splits plans into parts, so it is not
     * shared with the tuner) */
    LLVMModuleRef m = cg_module_create(jit, "tuneplan");
    e = m ? cg_lower_emit(jit, m, p, NULL) : cg_errorf("tune: out of memory");
    if (!e.failed) e = cg_jit_compile(jit, m, NULL);
    if (m) LLVMDisposeModule(m);
    if (e.failed) goto out;
    for (int k = 0; k < K && !e.failed; k++) {
        void *fn;
        e = cg_jit_lookup(jit, p->kerns[p->kerns[k].impl].name, &fn);
        r.fns[k] = (cg_kernel_fn)fn;
    }
    if (e.failed) goto out;
    /* rounds over the plan in order: every undecided kernel runs both ways (min time kept); a kernel whose
     * two times differ by 2x after two rounds is decided and runs only its faster way from then on */
    char *decided = calloc((size_t)K + 1, 1);
    if (!decided) {
        e = cg_errorf("tune: out of memory");
        goto out;
    }
    int cand = 0;
    for (int k = 0; k < K; k++) {
        tp[k] = ts[k] = INFINITY;
        const cg_kern *kn = &p->kerns[k];
        bool can = T > 1 && kn->range >= 2 && kn->work >= TUNE_PARALLEL_WORK;
        serial[k] = '0';
        decided[k] = !can;
        cand += can;
    }
    run_plan(&r, NULL); /* warm-up */
    double t_search = now_s();
    if (deadline < t_search + 0.2 * (o->seconds > 0 ? o->seconds : 1)) /* compiling took most of the budget */
        deadline = t_search + 0.2 * (o->seconds > 0 ? o->seconds : 1);
    int rounds = 0, open = cand;
    while (open > 0 && (rounds < 2 || now_s() < deadline) && rounds < 40) {
        for (int k = 0; k < K; k++) {
            if (decided[k]) {
                run_kernel(&r, k, serial[k] == '1');
                continue;
            }
            double t0 = now_s();
            run_kernel(&r, k, false);
            double t1 = now_s();
            run_kernel(&r, k, true);
            double t2 = now_s();
            if (t1 - t0 < tp[k]) tp[k] = t1 - t0;
            if (t2 - t1 < ts[k]) ts[k] = t2 - t1;
            serial[k] = ts[k] < tp[k] ? '1' : '0';
        }
        rounds++;
        open = 0;
        for (int k = 0; k < K; k++)
            if (!decided[k]) {
                if (rounds >= 2 && (ts[k] > 2 * tp[k] || tp[k] > 2 * ts[k])) decided[k] = 1;
                else open++;
            }
        if (o->progress)
            fprintf(o->progress, "\r\033[Ktune %s: threads per kernel, round %d, %d of %d kernels undecided",
                    o->label ? o->label : "", rounds, open, cand);
    }
    free(decided);
    /* the same choice as a rule for plans not tuned themselves (other shapes, e.g. the curriculum's
     * shorter prompts): kernels with work below the threshold that minimises the measured total run serially */
    if (threshold) {
        double best_t = INFINITY;
        *threshold = 0;
        for (int c = -1; c < K; c++) {
            int64_t x = c < 0 ? 0 : p->kerns[c].work + 1;
            if (c >= 0 && tp[c] == INFINITY) continue;
            double tot = 0;
            for (int k = 0; k < K; k++)
                if (tp[k] < INFINITY) tot += p->kerns[k].work < x ? ts[k] : tp[k];
            if (tot < best_t * 0.999 || (tot <= best_t && x < *threshold)) {
                best_t = tot;
                *threshold = x;
            }
        }
    }
    if (getenv("ICLC_TUNE_DEBUG"))
        for (int k = 0; k < K; k++)
            if (tp[k] < INFINITY)
                fprintf(stderr, "tune: %s parallel %.4f ms serial %.4f ms -> %c\n", p->kerns[k].name, 1e3 * tp[k], 1e3 * ts[k], serial[k]);
    /* whole runs, default vs tuned, alternating */
    double bd = INFINITY, bt = INFINITY;
    for (int i = 0; i < 3 || (i < 20 && now_s() < deadline); i++) {
        double a = run_plan(&r, NULL), b = run_plan(&r, serial);
        if (a < bd) bd = a;
        if (b < bt) bt = b;
    }
    *ms_default = 1e3 * bd;
    *ms_tuned = 1e3 * bt;
    if (getenv("ICLC_TUNE_DEBUG")) fprintf(stderr, "tune: whole runs: default %.3f ms, tuned %.3f ms\n", 1e3 * bd, 1e3 * bt);
    if (!(bt < 0.97 * bd)) { /* no clear gain: keep the default */
        memset(serial, '0', (size_t)K);
        *ms_tuned = *ms_default;
        if (threshold) *threshold = 0;
    }
    *serial_out = serial;
    serial = NULL;
out:
    if (r.ext)
        for (int i = 0; i < p->next; i++) free(r.ext[i]);
    free(r.ext);
    free(r.slot);
    free(r.fns);
    free(r.arena);
    free(r.scratch);
    free(tp);
    free(ts);
    free(serial);
    return e;
}

uint64_t cg_tune_fingerprint(const cg_plan *p) {
    uint64_t h = 0x7475;
    for (int k = 0; k < p->nkerns; k++) {
        const cg_matmul_sched *s = &p->kerns[k].mm_info.sched;
        if (p->kerns[k].kind != CGK_MATMUL) continue;
        int v[] = {k, s->vec, s->mr, s->nr, s->mc, s->kc, s->nc, s->pack_a, s->pack_b, s->k_unroll};
        for (int i = 0; i < 10; i++) h = (h ^ (uint64_t)(uint32_t)v[i]) * 0x100000001B3ull;
    }
    return h;
}
