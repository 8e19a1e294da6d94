/* ir_interp.c — the reference interpreter. Plain loops over multi-indices, everything in double,
 * written to be obviously correct rather than fast: it is the oracle every kernel is tested against. */
#include "ir/interp.h"
#include "ir/philox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ir_interp_fn *const interp_fns[] = {
#define OP(name, arity, attrs, flags, shape, interp, vjp, cg) interp,
#include "ir/ops.def"
#undef OP
};
_Static_assert(sizeof interp_fns / sizeof interp_fns[0] == OP_COUNT, "one interpreter function per op");

/* ---- values ---- */

ir_values *ir_values_new(const ir_graph *g) {
    ir_values *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->n = g->nnodes;
    v->t = calloc((size_t)(g->nnodes ? g->nnodes : 1), sizeof(ir_tensor));
    if (!v->t) {
        free(v);
        return NULL;
    }
    for (ir_id i = 0; i < g->nnodes; i++) {
        v->t[i].shape = g->nodes[i].shape;
        v->t[i].data = calloc((size_t)(ir_numel(g->nodes[i].shape) ? ir_numel(g->nodes[i].shape) : 1), sizeof(double));
        if (!v->t[i].data) {
            ir_values_free(v);
            return NULL;
        }
    }
    return v;
}

void ir_values_free(ir_values *v) {
    if (!v) return;
    for (int32_t i = 0; i < v->n; i++) free(v->t[i].data);
    free(v->t);
    free(v);
}

void ir_values_init_params(const ir_graph *g, ir_values *v, uint64_t seed) {
    for (ir_id i = 0; i < g->nnodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->op != OP_param) continue;
        int64_t count = ir_numel(n->shape);
        float *tmp = malloc((size_t)(count ? count : 1) * sizeof(float));
        if (!tmp) continue; /* leaves zeros; callers of the oracle run small graphs */
        ir_init_fill(n, seed, tmp);
        for (int64_t k = 0; k < count; k++) v->t[i].data[k] = tmp[k];
        free(tmp);
    }
}

bool ir_interp(const ir_graph *g, ir_values *v, const ir_interp_opts *opts, char *err, size_t errlen) {
    static const ir_interp_opts defaults = {0};
    if (!opts) opts = &defaults;
    if (v->n != g->nnodes) {
        snprintf(err, errlen, "interp: values are for a graph of %d nodes, this one has %d", v->n, g->nnodes);
        return false;
    }
    ir_tensor small[8], *in = small;
    int cap = 8;
    for (ir_id id = 0; id < g->nnodes; id++) {
        const ir_node *n = &g->nodes[id];
        if ((unsigned)n->op >= OP_COUNT) {
            snprintf(err, errlen, "interp: %%%d has unknown op %d", id, (int)n->op);
            if (in != small) free(in);
            return false;
        }
        if (n->nin > cap) {
            ir_tensor *bigger = malloc((size_t)n->nin * sizeof *bigger);
            if (!bigger) {
                snprintf(err, errlen, "interp: out of memory");
                if (in != small) free(in);
                return false;
            }
            if (in != small) free(in);
            in = bigger;
            cap = n->nin;
        }
        for (int k = 0; k < n->nin; k++) {
            ir_id x = ir_in(g, n, k);
            if (x < 0 || x >= id) { /* an unverified graph: refuse rather than read out of bounds */
                snprintf(err, errlen, "interp: input %d of %%%d (%s) is %%%d, not an earlier node", k, id, ir_ops[n->op].name, x);
                if (in != small) free(in);
                return false;
            }
            in[k] = v->t[x];
        }
        if (!ir_shape_eq(v->t[id].shape, n->shape)) {
            snprintf(err, errlen, "interp: value of %%%d (%s) has the wrong shape", id, ir_ops[n->op].name);
            if (in != small) free(in);
            return false;
        }
        interp_fns[n->op](n, in, &v->t[id], opts);
        if (opts->round_f32) {
            double *d = v->t[id].data;
            for (int64_t k = 0, e = ir_numel(n->shape); k < e; k++) d[k] = (float)d[k];
        }
    }
    if (in != small) free(in);
    return true;
}

/* ---- index helpers ---- */

/* Advances the multi-index idx over shape s (last axis fastest); false after the last element. */
static bool next_index(ir_shape s, int64_t *idx) {
    for (int i = s.rank - 1; i >= 0; i--) {
        if (++idx[i] < s.dim[i]) return true;
        idx[i] = 0;
    }
    return false;
}

/* Offset into a tensor of shape s broadcast (NumPy rules) to shape o, at o's multi-index idx. */
static int64_t bcast_offset(ir_shape o, ir_shape s, const int64_t *idx) {
    int64_t off = 0, stride = 1;
    for (int i = s.rank - 1; i >= 0; i--) {
        int64_t k = s.dim[i] == 1 ? 0 : idx[o.rank - s.rank + i];
        off += k * stride;
        stride *= s.dim[i];
    }
    return off;
}

/* Splits s around axis: outer = product of dims before, len = dims[axis], inner = product after. */
static void split_axis(ir_shape s, int64_t axis, int64_t *outer, int64_t *len, int64_t *inner) {
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= s.dim[i];
    for (int i = (int)axis + 1; i < s.rank; i++) *inner *= s.dim[i];
    *len = s.dim[axis];
}

/* ---- sources ---- */

void interp_input(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)n, (void)in, (void)out, (void)o; /* filled by the caller */
}

void interp_param(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)n, (void)in, (void)out, (void)o; /* filled by the caller (ir_values_init_params or a checkpoint) */
}

void interp_const(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)in, (void)o;
    for (int64_t i = 0, e = ir_numel(out->shape); i < e; i++) out->data[i] = n->attr.value;
}

void interp_iota(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)in, (void)o;
    int64_t outer, len, inner;
    split_axis(out->shape, n->attr.axis, &outer, &len, &inner);
    for (int64_t a = 0; a < outer; a++)
        for (int64_t t = 0; t < len; t++)
            for (int64_t b = 0; b < inner; b++) out->data[(a * len + t) * inner + b] = (double)t;
}

/* Element i of step s: Philox keyed by the node's seed, counter (step, i). Keep when u >= p. */
void interp_rand_mask(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)in;
    double p = n->attr.value, keep = 1.0 / (1.0 - p);
    philox_key key = philox_make_key((uint64_t)n->attr.seed, 0x6D61736Bu /* "mask" */);
    for (int64_t i = 0, e = ir_numel(out->shape); i < e; i++) {
        philox_ctr r = philox_block(key, o->step, (uint64_t)i);
        out->data[i] = philox_unit24(r.c[0]) >= p ? keep : 0.0;
    }
}

/* ---- elementwise ---- */

static double gelu_tanh(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }
static double sign(double x) { return (double)((x > 0) - (x < 0)); }

#define UNARY(name, expr)                                                                          \
    void interp_##name(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) { \
        (void)n, (void)o;                                                                          \
        for (int64_t i = 0, e = ir_numel(out->shape); i < e; i++) {                                \
            double x = in[0].data[i];                                                              \
            out->data[i] = (expr);                                                                 \
        }                                                                                          \
    }
UNARY(neg, -x)
UNARY(exp, exp(x))
UNARY(log, log(x))
UNARY(sqrt, sqrt(x))
UNARY(rsqrt, 1.0 / sqrt(x))
UNARY(tanh, tanh(x))
UNARY(sigmoid, sigmoid(x))
UNARY(relu, x > 0 ? x : 0.0)
UNARY(gelu, gelu_tanh(x))
UNARY(erf, erf(x))
UNARY(silu, x * sigmoid(x))
UNARY(softplus, softplus(x))
UNARY(abs, fabs(x))
UNARY(sign, sign(x))
UNARY(square, x * x)
UNARY(cos, cos(x))
UNARY(sin, sin(x))
#undef UNARY

/* Elementwise over broadcast inputs: out[idx] = f(in[0][idx], in[1][idx], ...). */
#define BROADCAST_LOOP(NIN, EXPR)                                                          \
    do {                                                                                   \
        int64_t idx[IR_MAX_RANK] = {0};                                                    \
        if (ir_numel(out->shape) == 0) break;                                              \
        int64_t i = 0;                                                                     \
        do {                                                                               \
            double v[NIN];                                                                 \
            for (int k = 0; k < NIN; k++) v[k] = in[k].data[bcast_offset(out->shape, in[k].shape, idx)]; \
            out->data[i++] = (EXPR);                                                       \
        } while (next_index(out->shape, idx));                                             \
    } while (0)

#define BINARY(name, expr)                                                                         \
    void interp_##name(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) { \
        (void)n, (void)o;                                                                          \
        BROADCAST_LOOP(2, expr);                                                                   \
    }
BINARY(add, v[0] + v[1])
BINARY(sub, v[0] - v[1])
BINARY(mul, v[0] * v[1])
BINARY(div, v[0] / v[1])
BINARY(max, v[0] >= v[1] ? v[0] : v[1])
BINARY(min, v[0] <= v[1] ? v[0] : v[1])
BINARY(lt, (double)(v[0] < v[1]))
BINARY(le, (double)(v[0] <= v[1]))
BINARY(gt, (double)(v[0] > v[1]))
BINARY(ge, (double)(v[0] >= v[1]))
BINARY(eq, (double)(v[0] == v[1]))
BINARY(ne, (double)(v[0] != v[1]))
#undef BINARY

void interp_select(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)n, (void)o;
    BROADCAST_LOOP(3, v[0] != 0 ? v[1] : v[2]);
}

/* ---- reductions ---- */

typedef enum { RED_SUM, RED_MAX, RED_MEAN } reduce_kind;

static void reduce(const ir_node *n, const ir_tensor *x, ir_tensor *out, reduce_kind kind) {
    int64_t outer, len, inner;
    split_axis(x->shape, n->attr.axis, &outer, &len, &inner);
    for (int64_t a = 0; a < outer; a++)
        for (int64_t b = 0; b < inner; b++) {
            double acc = kind == RED_MAX ? -INFINITY : 0.0;
            for (int64_t t = 0; t < len; t++) {
                double v = x->data[(a * len + t) * inner + b];
                acc = kind == RED_MAX ? (v > acc || isnan(v) ? v : acc) : acc + v;
            }
            if (kind == RED_MEAN) acc /= (double)len;
            out->data[a * inner + b] = acc;
        }
}

void interp_sum(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    reduce(n, &in[0], out, RED_SUM);
}
void interp_rmax(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    reduce(n, &in[0], out, RED_MAX);
}
void interp_mean(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    reduce(n, &in[0], out, RED_MEAN);
}

/* ---- movement ---- */

void interp_copy(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)n, (void)o;
    memcpy(out->data, in[0].data, (size_t)ir_numel(out->shape) * sizeof(double));
}

void interp_permute(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    int64_t in_strides[IR_MAX_RANK], idx[IR_MAX_RANK] = {0}, i = 0;
    ir_strides(in[0].shape, in_strides);
    if (ir_numel(out->shape) == 0) return;
    do {
        int64_t off = 0;
        for (int d = 0; d < out->shape.rank; d++) off += idx[d] * in_strides[n->attr.perm[d]];
        out->data[i++] = in[0].data[off];
    } while (next_index(out->shape, idx));
}

void interp_broadcast(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)n, (void)o;
    BROADCAST_LOOP(1, v[0]);
}

void interp_slice(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    int64_t outer, len, inner, olen = n->attr.end - n->attr.start;
    split_axis(in[0].shape, n->attr.axis, &outer, &len, &inner);
    for (int64_t a = 0; a < outer; a++)
        for (int64_t t = 0; t < olen; t++)
            for (int64_t b = 0; b < inner; b++)
                out->data[(a * olen + t) * inner + b] = in[0].data[(a * len + n->attr.start + t) * inner + b];
}

void interp_concat(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    int64_t outer, olen, inner, at = 0;
    split_axis(out->shape, n->attr.axis, &outer, &olen, &inner);
    for (int k = 0; k < n->nin; k++) {
        int64_t len = in[k].shape.dim[n->attr.axis];
        for (int64_t a = 0; a < outer; a++)
            for (int64_t t = 0; t < len; t++)
                for (int64_t b = 0; b < inner; b++)
                    out->data[(a * olen + at + t) * inner + b] = in[k].data[(a * len + t) * inner + b];
        at += len;
    }
}

void interp_pad(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    int64_t outer, olen, inner, lo = n->attr.lo, len = in[0].shape.dim[n->attr.axis];
    split_axis(out->shape, n->attr.axis, &outer, &olen, &inner);
    for (int64_t a = 0; a < outer; a++)
        for (int64_t t = 0; t < olen; t++)
            for (int64_t b = 0; b < inner; b++) {
                int64_t s = t - lo;
                out->data[(a * olen + t) * inner + b] =
                    s >= 0 && s < len ? in[0].data[(a * len + s) * inner + b] : n->attr.value;
            }
}

/* ---- matmul: out[..., m, n] = sum_k A[..., m, k] * B[..., k, n], batch dims broadcast ---- */

void interp_matmul(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    const ir_tensor *A = &in[0], *B = &in[1];
    int r = out->shape.rank;
    int64_t M = out->shape.dim[r - 2], N = out->shape.dim[r - 1];
    int64_t K = A->shape.dim[A->shape.rank - (n->attr.ta ? 2 : 1)];
    ir_shape batch = {.rank = r - 2}, ba = {.rank = A->shape.rank - 2}, bb = {.rank = B->shape.rank - 2};
    for (int i = 0; i < batch.rank; i++) batch.dim[i] = out->shape.dim[i];
    for (int i = 0; i < ba.rank; i++) ba.dim[i] = A->shape.dim[i];
    for (int i = 0; i < bb.rank; i++) bb.dim[i] = B->shape.dim[i];
    int64_t idx[IR_MAX_RANK] = {0}, bi = 0;
    if (ir_numel(out->shape) == 0) return; /* also covers an empty batch dim, where M * N > 0 */
    do {
        const double *a = A->data + bcast_offset(batch, ba, idx) * M * K;
        const double *b = B->data + bcast_offset(batch, bb, idx) * K * N;
        double *c = out->data + bi++ * M * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (n->attr.ta ? a[k * M + i] : a[i * K + k]) * (n->attr.tb ? b[j * K + k] : b[k * N + j]);
                c[i * N + j] = acc;
            }
    } while (next_index(batch, idx));
}

/* ---- recurrences ---- */

static double maybe_round(double x, const ir_interp_opts *o) { return o->round_f32 ? (double)(float)x : x; }

/* h[t] = a[t]*h[t-1] + b[t] along axis; h[-1] = h0. */
void interp_scan(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    int64_t outer, T, inner;
    split_axis(out->shape, n->attr.axis, &outer, &T, &inner);
    for (int64_t x = 0; x < outer; x++)
        for (int64_t y = 0; y < inner; y++) {
            double h = in[2].data[x * inner + y];
            for (int64_t s = 0; s < T; s++) {
                int64_t t = n->attr.reverse ? T - 1 - s : s, i = (x * T + t) * inner + y;
                h = maybe_round(in[0].data[i] * h + in[1].data[i], o);
                out->data[i] = h;
            }
        }
}

/* The same over complex numbers (re, im) stored in the last axis. */
void interp_cscan(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    int64_t outer, T, inner;
    split_axis(out->shape, n->attr.axis, &outer, &T, &inner);
    for (int64_t x = 0; x < outer; x++)
        for (int64_t y = 0; y < inner; y += 2) {
            double hr = in[2].data[x * inner + y], hi = in[2].data[x * inner + y + 1];
            for (int64_t s = 0; s < T; s++) {
                int64_t t = n->attr.reverse ? T - 1 - s : s, i = (x * T + t) * inner + y;
                double ar = in[0].data[i], ai = in[0].data[i + 1];
                double nr = ar * hr - ai * hi + in[1].data[i], ni = ar * hi + ai * hr + in[1].data[i + 1];
                hr = maybe_round(nr, o);
                hi = maybe_round(ni, o);
                out->data[i] = hr;
                out->data[i + 1] = hi;
            }
        }
}
