/* cg_tune.h — the autotuner (`iclc tune`) and its cache of winning kernel schedules.
 *
 * What is tuned: every distinct matmul of a plan (codegen/cg_matmul.h's schedule: register tile mr x nr,
 * cache blocks mc / kc / nc, packing of A, k unrolling). Candidates are random valid schedules around
 * the defaults (the default is always one of them); a successive-halving search measures all of them
 * briefly on this CPU, keeps the faster half, measures those twice as long, and so on, within a time
 * budget. A winner must beat the default by 3% in a final head-to-head measurement and give the same
 * numbers (relative difference <= 1e-4), else the default is recorded.
 *
 * The cache: $XDG_CACHE_HOME/iclc/tune/ (else ~/.cache/iclc/tune/), one JSON file per target
 * "<cpu name>-<16 hex digits of hash(cpu name, features, LLVM version)>.json" (docs/tune.md):
 *   {"format": "iclc-tune-1", "cpu": "znver3", "features": "+avx2,...", "llvm": "19.1.7",
 *    "entries": [{"kernel": "matmul", "signature": "mm M=.. N=.. K=.. ... threads=2",
 *                 "sched": {"vec": 8, "mr": 6, "nr": 2, "mc": 48, "kc": 256, "nc": 512, "pack_a": 1,
 *                           "pack_b": 1, "k_unroll": 2, "threads": 2},
 *                 "ms": 0.101, "default_ms": 0.143, "candidates": 25}, ...]}
 * A file that is truncated, not JSON, of another format, or written for another CPU / feature set /
 * LLVM is ignored with a one-line warning (and replaced by the next `iclc tune`); so is an entry whose
 * schedule this CPU cannot use. Files are written atomically. ICLC_NO_TUNE=1 ignores the cache. */
#ifndef ICLC_CODEGEN_CG_TUNE_H
#define ICLC_CODEGEN_CG_TUNE_H

#include <stdbool.h>
#include <stdio.h>

#include "codegen/cg_jit.h"
#include "codegen/cg_matmul.h"
#include "codegen/cg_plan.h"

typedef struct cg_tune_db cg_tune_db;

/* The cache file of cpu (features from the jit that owns cpu) into buf; false when no cache directory. */
bool cg_tune_path(const cg_cpu *cpu, char *buf, size_t len);

/* The cached winners for cpu: an empty database when the file is absent, disabled (ICLC_NO_TUNE=1) or
 * invalid (invalid files print a warning when `warn`). NULL only when out of memory. */
cg_tune_db *cg_tune_load(const cg_cpu *cpu, bool warn);
void cg_tune_free(cg_tune_db *db);
int cg_tune_count(const cg_tune_db *db);

/* The signature of a matmul run on `threads` threads (the cache key within a CPU's file). */
void cg_tune_signature(const cg_matmul_desc *d, int threads, char *buf, size_t len);

/* The tuned schedule of d on `threads` threads into *s; false (s untouched) when there is none or this
 * CPU cannot use it. */
bool cg_tune_lookup(const cg_tune_db *db, const cg_matmul_desc *d, int threads, cg_matmul_sched *s);

/* Records a winner (replacing an entry of the same signature) and writes the file atomically. */
bool cg_tune_put(cg_tune_db *db, const char *sig, const cg_matmul_sched *s, double ms, double default_ms,
                 int candidates);
bool cg_tune_save(const cg_tune_db *db, char *err, size_t errlen);

/* Per-kernel thread choices of a plan (graph hash, threads): '1' = run on the calling thread, '0' = split
 * over the threads as usual; one character per kernel of the plan. NULL when not tuned. */
const char *cg_tune_plan_serial(const cg_tune_db *db, uint64_t graph, int threads);
bool cg_tune_put_serial(cg_tune_db *db, uint64_t graph, int threads, const char *serial, double ms, double default_ms);
/* The rule for plans without their own entry: kernels of less work (cg_kern.work) than the threshold
 * run on the calling thread; 0 when not tuned. *threshold of cg_tune_threads is the best such rule. */
int64_t cg_tune_threshold(const cg_tune_db *db, int threads);
bool cg_tune_put_threshold(cg_tune_db *db, int threads, int64_t work);
bool cg_tune_put_serial_sig(cg_tune_db *db, const char *sig, const char *serial, double ms, double default_ms);

/* Prints the entries (signature, schedule, speed-up over the default) to f. */
void cg_tune_print(const cg_tune_db *db, FILE *f);

typedef struct cg_tune_opts {
    double seconds;    /* budget for this kernel */
    int threads;       /* threads the kernel runs on (>= 1) */
    int candidates;    /* schedules tried besides the default (0: 24) */
    uint64_t seed;     /* candidate sampling */
    FILE *progress;    /* NULL: quiet; else "\r" progress lines */
    const char *label; /* shown in the progress line */
} cg_tune_opts;

typedef struct cg_tune_result {
    cg_matmul_sched best;   /* the winner (the default when nothing beat it) */
    double ms_default, ms_best;
    int tried;              /* candidates compiled and measured */
    double max_rel_diff;    /* winner vs default outputs */
} cg_tune_result;

/* Chooses, per kernel of plan p (p->g must be alive), whether to split it over o->threads threads or
 * run it on the calling thread, by timing both inside runs of the plan (kernels clearly decided after
 * two rounds stop being measured both ways). *serial gets one '0'/'1' per kernel (malloc'd; all '0'
 * unless the whole plan gets 3% faster); *ms_default and *ms_tuned the fastest whole run each way.
 * The plan's code comes from (and goes to) the JIT's compile cache. */
cg_error cg_tune_threads(cg_jit *jit, const cg_plan *p, const cg_tune_opts *o, char **serial, double *ms_default,
                         double *ms_tuned, int64_t *threshold);

/* A hash of the matmul schedules of p: mixed into the compile-cache key of a plan built with a tune
 * cache, so tuned and default code never share an entry (the plan digest does not see schedules). */
uint64_t cg_tune_fingerprint(const cg_plan *p);

/* Searches schedules of d on this CPU (jit's target). cg_ok() or an error. */
cg_error cg_tune_matmul(cg_jit *jit, const cg_matmul_desc *d, const cg_tune_opts *o, cg_tune_result *r);

#endif
