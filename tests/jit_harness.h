/* jit_harness.h — shared by tests/test_jit*.c: run a graph through the interpreter and the JIT executor
 * and compare every output. Tests only (static functions, TAP output through tests/tap.h). */
#ifndef ICLC_TESTS_JIT_HARNESS_H
#define ICLC_TESTS_JIT_HARNESS_H

#include "codegen/cg_plan.h"
#include "ir/philox.h"
#include "runtime/rt_exec.h"
#include "runtime/rt_exec_jit.h"
#include "tests/tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum fill_kind { FILL_SIGNED, FILL_POS, FILL_INTS } fill_kind;

/* Deterministic inputs: signed in [-2, 2), positive in [0.1, 3), or integers in {-1, 0, 1}. */
static inline void fill_buffer(float *d, int64_t n, fill_kind k, uint32_t stream) {
    philox_key key = philox_make_key(1234, stream);
    for (int64_t i = 0; i < n; i++) {
        double u = philox_unit24(philox_block(key, 0, (uint64_t)i).c[0]);
        d[i] = (float)(k == FILL_POS ? 0.1 + 2.9 * u : k == FILL_INTS ? floor(3 * u) - 1 : 4 * u - 2);
    }
}

/* Fills every input and param of p (params from their initializer-free deterministic stream). */
static inline void fill_plan(rt_plan *p, fill_kind k) {
    for (int i = 0; i < p->nbuffers; i++) {
        rt_buffer *b = &p->buffers[i];
        if (b->is_output) continue;
        fill_buffer(b->data, ir_numel(b->shape), k, philox_hash_str(b->name));
    }
}

/* Largest error of got vs want: each element's |g - w| over |w| + 0.01 max|want| (+ tiny). The floor keeps
 * elements that are sums with cancellation (bias gradients) from demanding more than fp32 accumulation can
 * give; elements within two decades of the tensor's largest are compared relatively. */
static inline double compare(const float *got, const float *want, int64_t n, int64_t *worst) {
    double big = 0, max = 0;
    for (int64_t i = 0; i < n; i++) big = fmax(big, fabs((double)want[i]));
    double floor_ = 0.01 * big + 1e-30;
    *worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (isnan(got[i]) != isnan(want[i])) d = INFINITY;
        else if (isnan(got[i]) || (isinf(got[i]) && got[i] == want[i])) d = 0;
        double e = d / (fabs(want[i]) + floor_);
        if (e > max || isnan(e)) max = e, *worst = i;
    }
    return max;
}

/* Runs g through interp and jit (threads 1 and 2), fills inputs per fill, runs `steps` steps (carries
 * declared by the caller via carry pairs), compares every output within tol; checks each memory plan.
 * Returns the number of failed checks. */
typedef void setup_fn(rt_plan *p);

/* Thread counts the JIT runs at: 1 .. harness_max_threads (tests only). */
static int harness_max_threads = 2;

static inline int check_graph_carry(const char *name, const ir_graph *g, fill_kind fill, double tol, int steps,
                             const char *const *carry, int ncarry, setup_fn *setup) {
    char err[1024] = "";
    int failed = 0;
    rt_plan *ref = rt_plan_compile(rt_executor_find("interp"), g, NULL, err, sizeof err);
    if (!ok(ref != NULL, "%s: interp compiles %s", name, err)) return 1;
    fill_plan(ref, fill);
    if (setup) setup(ref);
    for (int c = 0; c < ncarry; c++) rt_plan_carry(ref, carry[2 * c], carry[2 * c + 1], err, sizeof err);
    for (int s = 0; s < steps; s++) rt_plan_run(ref, (uint64_t)(7 + s), err, sizeof err);
    for (int threads = 1; threads <= harness_max_threads; threads++) {
        rt_plan *p = rt_plan_compile(rt_executor_find("jit"), g, &(rt_plan_opts){.threads = threads}, err, sizeof err);
        if (!ok(p != NULL, "%s: jit compiles (%d threads) %s", name, threads, err)) {
            failed++;
            continue;
        }
        rt_jit_info info;
        bool planok = rt_jit_info_of(p, &info) && cg_plan_check(info.plan, err, sizeof err);
        if (!ok(planok, "%s: memory plan checks (%d threads) %s", name, threads, planok ? "" : err)) failed++;
        fill_plan(p, fill);
        if (setup) setup(p);
        for (int c = 0; c < ncarry; c++) rt_plan_carry(p, carry[2 * c], carry[2 * c + 1], err, sizeof err);
        bool ran = true;
        for (int s = 0; s < steps; s++) ran = ran && rt_plan_run(p, (uint64_t)(7 + s), err, sizeof err);
        if (!ok(ran, "%s: jit runs %s", name, err)) failed++;
        double worst = 0;
        const char *wname = "";
        int64_t wi = 0;
        for (int i = 0; i < p->nbuffers; i++) {
            const rt_buffer *b = &p->buffers[i];
            const rt_buffer *r = rt_plan_find(ref, b->name);
            if (!r) continue;
            if (!b->is_output && !ncarry) continue;
            int64_t at;
            double e = compare(b->data, r->data, ir_numel(b->shape), &at);
            if (e > worst || isnan(e)) worst = e, wname = b->name, wi = at;
        }
        const rt_buffer *wb = rt_plan_find(p, wname), *wr = rt_plan_find(ref, wname);
        if (!ok(worst <= tol, "%s: jit == interp within %g at %d threads (worst %.3g)", name, tol, threads, worst)) {
            failed++;
            if (wb && wr) diag("  %s[%lld]: jit %.9g interp %.9g", wname, (long long)wi, wb->data[wi], wr->data[wi]);
        }
        rt_plan_free(p);
    }
    rt_plan_free(ref);
    return failed;
}

static inline int check_graph(const char *name, const ir_graph *g, fill_kind fill, double tol) {
    return check_graph_carry(name, g, fill, tol, 1, NULL, 0, NULL);
}

static inline ir_shape S(int rank, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return ir_shape_of(rank, dims);
}

#endif
