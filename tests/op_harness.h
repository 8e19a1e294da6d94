/* op_harness.h — shared helpers for the IR tests: shape literals, deterministic test data, running a
 * graph through the interpreter, comparing arrays, and row-major index arithmetic for the explicit-loop
 * references (written independently of ir/ir_interp.c, with div/mod rather than stepping indices).
 *
 * Tests only; every helper is static inline so a test program may use any subset. */
#ifndef ICLC_TESTS_OP_HARNESS_H
#define ICLC_TESTS_OP_HARNESS_H

#include "ir/interp.h"
#include "tests/tap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A shape literal usable in static initializers: SH(2, 3, 4) is f32[2,3,4]; SCALAR is f32[]. */
#define SH_COUNT(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define SH(...) ((ir_shape){SH_COUNT(__VA_ARGS__), {__VA_ARGS__}})
#define SCALAR ((ir_shape){0, {0}})

/* splitmix64: deterministic test data, independent of ir/philox.h. */
static inline uint64_t th_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi), rounded to float so f32 and double runs see the same inputs. */
static inline double th_uniform(uint64_t *s, double lo, double hi) {
    return (double)(float)(lo + (hi - lo) * (double)(th_next(s) >> 11) * (1.0 / 9007199254740992.0));
}

static inline void th_fill(double *x, int64_t n, uint64_t *s, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) x[i] = th_uniform(s, lo, hi);
}

static inline const char *th_type(ir_shape s, char *buf) { return ir_type_str(IR_F32, s, buf, 96); }

/* Row-major multi-index of flat index i in s. */
static inline void th_coord(ir_shape s, int64_t i, int64_t *c) {
    for (int d = s.rank - 1; d >= 0; d--) {
        c[d] = s.dim[d] ? i % s.dim[d] : 0;
        i = s.dim[d] ? i / s.dim[d] : 0;
    }
}

/* Flat index of multi-index c in s. */
static inline int64_t th_flat(ir_shape s, const int64_t *c) {
    int64_t i = 0;
    for (int d = 0; d < s.rank; d++) i = i * s.dim[d] + c[d];
    return i;
}

/* Flat index into x (shape s, broadcast NumPy-style to the output shape o) at output coordinate oc. */
static inline int64_t th_bflat(ir_shape o, ir_shape s, const int64_t *oc) {
    int64_t c[IR_MAX_RANK];
    for (int d = 0; d < s.rank; d++) c[d] = s.dim[d] == 1 ? 0 : oc[o.rank - s.rank + d];
    return th_flat(s, c);
}

/* Compares n values; one TAP line, with the first mismatch as a diagnostic. Tolerance as is_double:
 * |got - want| <= tol * max(1, |want|); NaN equals NaN; infinities must match exactly. */
static inline int th_close(const double *got, const double *want, int64_t n, double tol, const char *fmt, ...) {
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++) {
        double g = got[i], w = want[i];
        bool same = (isnan(g) && isnan(w)) || g == w || fabs(g - w) <= tol * fmax(1.0, fabs(w));
        if (!same) bad = i;
    }
    va_list ap;
    va_start(ap, fmt);
    tap_vline(bad < 0, fmt, ap);
    va_end(ap);
    if (bad >= 0) diag("  element %lld: got %.17g, expected %.17g (tolerance %g)", (long long)bad, got[bad], want[bad], tol);
    return bad < 0;
}

/* Runs g with the given input values (one array per input node id, NULL = leave zero) and returns the
 * values, or NULL with a failed TAP line. inputs[k] fills node ids[k]. */
static inline ir_values *th_run(const ir_graph *g, int nin, const ir_id *ids, const double *const *inputs, bool round_f32,
                                uint64_t step) {
    ir_values *v = ir_values_new(g);
    if (!v) {
        ok(0, "ir_values_new");
        return NULL;
    }
    for (int k = 0; k < nin; k++)
        if (inputs[k]) memcpy(v->t[ids[k]].data, inputs[k], (size_t)ir_numel(g->nodes[ids[k]].shape) * sizeof(double));
    char err[256];
    if (!ir_interp(g, v, &(ir_interp_opts){.round_f32 = round_f32, .step = step}, err, sizeof err)) {
        ok(0, "interp: %s", err);
        ir_values_free(v);
        return NULL;
    }
    return v;
}

#endif
