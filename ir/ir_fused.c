/* ir_fused.c — shape rules and reference implementations of the fused ops (the rows at the end of
 * ir/ops.def). The fusion passes (passes/pass_fuse_*.c) replace primitive patterns by these ops; each one
 * here computes exactly what its pattern computes (in double, without rounding inside the op), written the
 * way its kernel works: the selective scan keeps one state vector h[N] per (batch, channel) and never
 * builds the B x L x E x N tensor, attention streams over keys with an online softmax and keeps one row
 * statistic per query, the backward ops recompute what they need instead of reading saved intermediates.
 *
 * Dimension names: B batch, L tokens (the scan axis), E channels, N state size, H heads (S4: channels),
 * M complex modes, hd head size, K conv taps, D normalised width, R rows (every leading dim flattened).
 *
 * A `_grad` op returns the gradients of all its inputs but the last (dy) packed in one flat f32[total]
 * tensor, in input order (attention_grad: [3,B,L,H,hd]); reductions over time accumulate, parameters shared
 * by the batch get per-batch partial sums (ir_grad_per_batch, ir/ir.h). */
#include "ir/interp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TYPE_BUF 96

static const ir_shape *in_shape(const ir_graph *g, const ir_node *n, int i) { return &g->nodes[ir_in(g, n, i)].shape; }

static bool is_shape(ir_shape s, int rank, const int64_t *dims) {
    if (s.rank != rank) return false;
    for (int i = 0; i < rank; i++)
        if (s.dim[i] != dims[i]) return false;
    return true;
}

/* Records "op: input i (name) must be f32[..], got f32[..]". */
static bool want(ir_graph *g, const ir_node *n, int i, const char *what, int rank, const int64_t *dims) {
    if (is_shape(*in_shape(g, n, i), rank, dims)) return true;
    char a[TYPE_BUF], b[TYPE_BUF];
    ir_errorf(g, "%s: input %d (%s) must be %s, got %s", ir_ops[n->op].name, i, what,
              ir_type_str(IR_F32, ir_shape_of(rank, dims), a, sizeof a), ir_type_str(IR_F32, *in_shape(g, n, i), b, sizeof b));
    return false;
}

static bool want_rank(ir_graph *g, const ir_node *n, int i, const char *what, int rank) {
    if (in_shape(g, n, i)->rank == rank) return true;
    char b[TYPE_BUF];
    ir_errorf(g, "%s: input %d (%s) must have rank %d, got %s", ir_ops[n->op].name, i, what, rank,
              ir_type_str(IR_F32, *in_shape(g, n, i), b, sizeof b));
    return false;
}

bool ir_grad_per_batch(ir_op grad, int input) {
    switch (grad) {
    case OP_selective_scan_grad:
    case OP_selective_scan_gated_grad: return input == 2 || input == 5; /* A, D */
    case OP_causal_conv1d_grad:
    case OP_causal_conv1d_silu_grad:
    case OP_layernorm_grad: return input == 1 || input == 2; /* w, bias */
    default: return false;
    }
}

int64_t ir_grad_offset(const ir_graph *g, const ir_node *n, int input) {
    int64_t off = 0, B = in_shape(g, n, 0)->dim[0];
    for (int i = 0; i < input; i++) off += ir_numel(*in_shape(g, n, i)) * (ir_grad_per_batch(n->op, i) ? B : 1);
    return off;
}

/* A grad op: the forward op's rule on inputs 0..nin-2, dy (the last input) of the forward's shape, and a flat
 * output holding every checked input's gradient. */
static bool shape_packed_grad(ir_graph *g, ir_node *n, ir_op fwd) {
    ir_node f = *n;
    f.op = fwd;
    f.nin = n->nin - 1;
    if (!ir_infer_shape(g, &f)) return false;
    if (!ir_shape_eq(*in_shape(g, n, n->nin - 1), f.shape)) {
        char a[TYPE_BUF], b[TYPE_BUF];
        ir_errorf(g, "%s: dy must be %s, got %s", ir_ops[n->op].name, ir_type_str(IR_F32, f.shape, a, sizeof a),
                  ir_type_str(IR_F32, *in_shape(g, n, n->nin - 1), b, sizeof b));
        return false;
    }
    n->shape = ir_shape_of(1, (int64_t[]){ir_grad_offset(g, n, n->nin - 1)});
    return true;
}

/* ---- selective scan ---- */

bool shape_selective_scan(ir_graph *g, ir_node *n) {
    ir_shape u = *in_shape(g, n, 0);
    if (!want_rank(g, n, 0, "u", 3) || !want_rank(g, n, 2, "A", 2)) return false;
    int64_t B = u.dim[0], L = u.dim[1], E = u.dim[2], N = in_shape(g, n, 2)->dim[1];
    if (!want(g, n, 1, "delta", 3, (int64_t[]){B, L, E}) || !want(g, n, 2, "A", 2, (int64_t[]){E, N}) ||
        !want(g, n, 3, "Bm", 3, (int64_t[]){B, L, N}) || !want(g, n, 4, "Cm", 3, (int64_t[]){B, L, N}) ||
        !want(g, n, 5, "D", 1, (int64_t[]){E}))
        return false;
    n->shape = u;
    return true;
}

bool shape_selective_scan_grad(ir_graph *g, ir_node *n) { return shape_packed_grad(g, n, OP_selective_scan); }

bool shape_selective_scan_gated(ir_graph *g, ir_node *n) {
    ir_node f = *n;
    f.op = OP_selective_scan;
    f.nin = 6;
    if (!ir_infer_shape(g, &f) || !want(g, n, 6, "z", 3, f.shape.dim)) return false;
    n->shape = f.shape;
    return true;
}

bool shape_selective_scan_gated_grad(ir_graph *g, ir_node *n) { return shape_packed_grad(g, n, OP_selective_scan_gated); }

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); } /* as the softplus op */

/* delta of element i: input 1 itself, or softplus of it (attribute softplus: input 1 is the pre-activation). */
static double delta_at(const ir_node *nd, const double *dl, int64_t i) { return nd->attr.softplus ? softplus(dl[i]) : dl[i]; }

/* y[b,t,e] = sum_n h_t[n] Cm[b,t,n] + D[e] u[b,t,e], h_t = exp(delta A[e]) h_t-1 + (delta u) Bm[b,t];
 * the gated op multiplies by silu(z[b,t,e]); with attribute softplus, delta = softplus(input 1). */
void interp_selective_scan(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    const double *z = nd->op == OP_selective_scan_gated ? in[6].data : NULL;
    const double *u = in[0].data, *dl = in[1].data, *A = in[2].data, *Bm = in[3].data, *Cm = in[4].data, *Dk = in[5].data;
    int64_t B = in[0].shape.dim[0], L = in[0].shape.dim[1], E = in[0].shape.dim[2], N = in[2].shape.dim[1];
    double *h = calloc((size_t)(N ? N : 1), sizeof *h);
    if (!h) return;
    for (int64_t b = 0; b < B; b++)
        for (int64_t e = 0; e < E; e++) {
            memset(h, 0, (size_t)N * sizeof *h);
            for (int64_t t = 0; t < L; t++) {
                int64_t i = (b * L + t) * E + e;
                double d = delta_at(nd, dl, i), du = d * u[i], y = 0;
                for (int64_t k = 0; k < N; k++) {
                    h[k] = exp(d * A[e * N + k]) * h[k] + du * Bm[(b * L + t) * N + k];
                    y += h[k] * Cm[(b * L + t) * N + k];
                }
                y += u[i] * Dk[e];
                out->data[i] = z ? y * (z[i] * sigmoid(z[i])) : y;
            }
        }
    free(h);
}

/* Chunk length of the backward's checkpoints: ~sqrt(L), so per (batch, channel) the scratch holds
 * L/C checkpoints plus C recomputed states, each of N values. */
static int64_t chunk_len(int64_t L) {
    int64_t c = 1;
    while (c * c < L) c++;
    return c;
}

/* Reverse-time backward of the selective scan, per (b, e):
 *   forward once, keeping h at the start of every chunk; then chunk by chunk from the last, recompute the
 *   chunk's states from its checkpoint and walk it backwards with the adjoint g_t = dy_t Cm_t + a_t+1 g_t+1:
 *   dCm_t += dy_t h_t, du_t = dy_t D + sum_n g_t delta_t Bm_t, ddelta_t = sum_n g_t (h_t-1 a_t A + u_t Bm_t),
 *   dA += g_t h_t-1 a_t delta_t, dBm_t += g_t delta_t u_t, dD += dy_t u_t. With attribute softplus the
 *   gradient of input 1 is ddelta_t sigmoid(input 1). */
void interp_selective_scan_grad(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    const double *u = in[0].data, *dl = in[1].data, *A = in[2].data, *Bm = in[3].data, *Cm = in[4].data, *Dk = in[5].data;
    const double *z = nd->op == OP_selective_scan_gated_grad ? in[6].data : NULL, *dyo = in[nd->nin - 1].data;
    int64_t B = in[0].shape.dim[0], L = in[0].shape.dim[1], E = in[0].shape.dim[2], N = in[2].shape.dim[1];
    int64_t BLE = B * L * E, BLN = B * L * N;
    double *du = out->data, *ddl = du + BLE, *dAp = ddl + BLE, *dB = dAp + B * E * N, *dC = dB + BLN, *dDp = dC + BLN;
    double *dz = dDp + B * E; /* gated only */
    memset(out->data, 0, (size_t)ir_numel(out->shape) * sizeof(double));
    int64_t C = chunk_len(L), nchunks = L ? (L + C - 1) / C : 0;
    double *ck = calloc((size_t)((nchunks + 1) * N + (C + 1) * N + 2 * N + 1), sizeof(double));
    if (!ck) return;
    double *hs = ck + nchunks * N, *gr = hs + (C + 1) * N, *a1 = gr + N; /* hs[0] = h before the chunk */
    for (int64_t b = 0; b < B; b++)
        for (int64_t e = 0; e < E; e++) {
            const double *Ae = A + e * N;
            double *dA = dAp + b * E * N, *dD = dDp + b * E; /* this batch item's partials */
            double *h = hs; /* running state of the forward sweep */
            memset(h, 0, (size_t)N * sizeof *h);
            for (int64_t t = 0; t < L; t++) {
                if (t % C == 0) memcpy(ck + (t / C) * N, h, (size_t)N * sizeof *h);
                int64_t i = (b * L + t) * E + e;
                double d = delta_at(nd, dl, i);
                for (int64_t k = 0; k < N; k++) h[k] = exp(d * Ae[k]) * h[k] + d * u[i] * Bm[(b * L + t) * N + k];
            }
            memset(gr, 0, (size_t)N * sizeof *gr);
            for (int64_t k = 0; k < N; k++) a1[k] = 0; /* a_t+1 of the step after the current one */
            for (int64_t c = nchunks - 1; c >= 0; c--) {
                int64_t t0 = c * C, t1 = t0 + C < L ? t0 + C : L;
                memcpy(hs, ck + c * N, (size_t)N * sizeof *hs);
                for (int64_t t = t0; t < t1; t++) { /* hs[(t - t0 + 1) * N ..] = h_t */
                    int64_t i = (b * L + t) * E + e;
                    double *hp = hs + (t - t0) * N, *hn = hp + N;
                    double d = delta_at(nd, dl, i);
                    for (int64_t k = 0; k < N; k++) hn[k] = exp(d * Ae[k]) * hp[k] + d * u[i] * Bm[(b * L + t) * N + k];
                }
                for (int64_t t = t1 - 1; t >= t0; t--) {
                    int64_t i = (b * L + t) * E + e, r = (b * L + t) * N;
                    const double *hp = hs + (t - t0) * N, *hc = hp + N;
                    double dyi = dyo[i]; /* gradient of the ungated y */
                    if (z) { /* y_out = y silu(z): recompute y from the state */
                        double y = u[i] * Dk[e], s = sigmoid(z[i]);
                        for (int64_t k = 0; k < N; k++) y += hc[k] * Cm[r + k];
                        dz[i] = dyo[i] * y * s * (1 + z[i] * (1 - s));
                        dyi = dyo[i] * z[i] * s;
                    }
                    double d = delta_at(nd, dl, i), dui = dyi * Dk[e], ddi = 0;
                    dD[e] += dyi * u[i];
                    for (int64_t k = 0; k < N; k++) {
                        double a = exp(d * Ae[k]);
                        gr[k] = dyi * Cm[r + k] + a1[k] * gr[k];
                        a1[k] = a;
                        dC[r + k] += dyi * hc[k];
                        double da = gr[k] * hp[k] * a; /* d(d A_k) */
                        ddi += da * Ae[k] + gr[k] * u[i] * Bm[r + k];
                        dA[e * N + k] += da * d;
                        dB[r + k] += gr[k] * d * u[i];
                        dui += gr[k] * d * Bm[r + k];
                    }
                    du[i] = dui;
                    ddl[i] = nd->attr.softplus ? ddi * sigmoid(dl[i]) : ddi;
                }
            }
        }
    free(ck);
}

/* ---- S4D: complex diagonal scan with a real read-out ---- */

bool shape_s4_scan(ir_graph *g, ir_node *n) {
    if (!want_rank(g, n, 0, "u", 3) || !want_rank(g, n, 1, "a", 3)) return false;
    ir_shape u = *in_shape(g, n, 0);
    int64_t H = u.dim[2], M = in_shape(g, n, 1)->dim[1];
    int64_t hm2[3] = {H, M, 2};
    if (!want(g, n, 1, "a", 3, hm2) || !want(g, n, 2, "b", 3, hm2) || !want(g, n, 3, "w", 3, hm2) ||
        !want(g, n, 4, "D", 1, (int64_t[]){H}))
        return false;
    n->shape = u;
    return true;
}

bool shape_s4_scan_grad(ir_graph *g, ir_node *n) { return shape_packed_grad(g, n, OP_s4_scan); }

void interp_s4_scan(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    const double *u = in[0].data, *a = in[1].data, *bb = in[2].data, *w = in[3].data, *Dk = in[4].data;
    int64_t B = in[0].shape.dim[0], L = in[0].shape.dim[1], H = in[0].shape.dim[2], M = in[1].shape.dim[1];
    double k = nd->attr.value;
    double *s = calloc((size_t)(2 * M + 1), sizeof *s);
    if (!s) return;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            memset(s, 0, (size_t)(2 * M) * sizeof *s);
            for (int64_t t = 0; t < L; t++) {
                int64_t i = (b * L + t) * H + h;
                double y = 0;
                for (int64_t m = 0; m < M; m++) {
                    const double *am = a + (h * M + m) * 2, *bm = bb + (h * M + m) * 2, *wm = w + (h * M + m) * 2;
                    double sr = s[2 * m], si = s[2 * m + 1];
                    s[2 * m] = am[0] * sr - am[1] * si + bm[0] * u[i];
                    s[2 * m + 1] = am[0] * si + am[1] * sr + bm[1] * u[i];
                    y += s[2 * m] * wm[0] + s[2 * m + 1] * wm[1];
                }
                out->data[i] = k * y + Dk[h] * u[i];
            }
        }
    free(s);
}

/* Backward of s4_scan per (b, h) with chunked recomputation like the selective scan. With the adjoint
 * g_t = dL/ds_t (re, im): g_t = value dy_t w + conj(a) g_t+1; da += g_t conj(s_t-1), db += g_t u_t,
 * du_t = D dy_t + Re(sum_m g_t conj(b)), dw += value dy_t s_t, dD += dy_t u_t. */
void interp_s4_scan_grad(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    const double *u = in[0].data, *a = in[1].data, *bb = in[2].data, *w = in[3].data, *Dk = in[4].data, *dy = in[5].data;
    int64_t B = in[0].shape.dim[0], L = in[0].shape.dim[1], H = in[0].shape.dim[2], M = in[1].shape.dim[1];
    int64_t BLH = B * L * H, HM2 = H * M * 2, S = 2 * M;
    double k = nd->attr.value;
    double *du = out->data, *da = du + BLH, *db = da + HM2, *dw = db + HM2, *dD = dw + HM2;
    memset(out->data, 0, (size_t)ir_numel(out->shape) * sizeof(double));
    int64_t C = chunk_len(L), nchunks = L ? (L + C - 1) / C : 0;
    double *ck = calloc((size_t)((nchunks + 1) * S + (C + 1) * S + S + 1), sizeof(double));
    if (!ck) return;
    double *hs = ck + nchunks * S, *gr = hs + (C + 1) * S;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const double *ah = a + h * S, *bh = bb + h * S, *wh = w + h * S;
            double *s = hs;
            memset(s, 0, (size_t)S * sizeof *s);
            for (int64_t t = 0; t < L; t++) {
                if (t % C == 0) memcpy(ck + (t / C) * S, s, (size_t)S * sizeof *s);
                double x = u[(b * L + t) * H + h];
                for (int64_t m = 0; m < M; m++) {
                    double sr = s[2 * m], si = s[2 * m + 1];
                    s[2 * m] = ah[2 * m] * sr - ah[2 * m + 1] * si + bh[2 * m] * x;
                    s[2 * m + 1] = ah[2 * m] * si + ah[2 * m + 1] * sr + bh[2 * m + 1] * x;
                }
            }
            memset(gr, 0, (size_t)S * sizeof *gr);
            for (int64_t c = nchunks - 1; c >= 0; c--) {
                int64_t t0 = c * C, t1 = t0 + C < L ? t0 + C : L;
                memcpy(hs, ck + c * S, (size_t)S * sizeof *hs);
                for (int64_t t = t0; t < t1; t++) {
                    double x = u[(b * L + t) * H + h], *sp = hs + (t - t0) * S, *sn = sp + S;
                    for (int64_t m = 0; m < M; m++) {
                        sn[2 * m] = ah[2 * m] * sp[2 * m] - ah[2 * m + 1] * sp[2 * m + 1] + bh[2 * m] * x;
                        sn[2 * m + 1] = ah[2 * m] * sp[2 * m + 1] + ah[2 * m + 1] * sp[2 * m] + bh[2 * m + 1] * x;
                    }
                }
                for (int64_t t = t1 - 1; t >= t0; t--) {
                    int64_t i = (b * L + t) * H + h;
                    const double *sp = hs + (t - t0) * S, *sc = sp + S;
                    double x = u[i], g = dy[i], dui = Dk[h] * g;
                    dD[h] += g * x;
                    for (int64_t m = 0; m < M; m++) {
                        /* gr holds g_t+1; a is the same at every step */
                        double ar = ah[2 * m], ai = ah[2 * m + 1];
                        double gr0 = gr[2 * m], gi0 = gr[2 * m + 1];
                        double nr = ar * gr0 + ai * gi0, ni = ar * gi0 - ai * gr0; /* conj(a) g_t+1 (0 at the end) */
                        double gr1 = k * g * wh[2 * m] + nr, gi1 = k * g * wh[2 * m + 1] + ni;
                        gr[2 * m] = gr1, gr[2 * m + 1] = gi1;
                        dw[h * S + 2 * m] += k * g * sc[2 * m];
                        dw[h * S + 2 * m + 1] += k * g * sc[2 * m + 1];
                        da[h * S + 2 * m] += gr1 * sp[2 * m] + gi1 * sp[2 * m + 1];
                        da[h * S + 2 * m + 1] += gi1 * sp[2 * m] - gr1 * sp[2 * m + 1];
                        db[h * S + 2 * m] += gr1 * x;
                        db[h * S + 2 * m + 1] += gi1 * x;
                        dui += gr1 * bh[2 * m] + gi1 * bh[2 * m + 1];
                    }
                    du[i] = dui;
                }
            }
        }
    free(ck);
}

/* ---- depthwise causal conv1d ---- */

bool shape_causal_conv1d(ir_graph *g, ir_node *n) {
    if (!want_rank(g, n, 0, "x", 3) || !want_rank(g, n, 1, "w", 2)) return false;
    ir_shape x = *in_shape(g, n, 0);
    int64_t E = x.dim[2], K = in_shape(g, n, 1)->dim[1];
    if (!want(g, n, 1, "w", 2, (int64_t[]){E, K}) || !want(g, n, 2, "bias", 1, (int64_t[]){E})) return false;
    if (K < 1) {
        ir_errorf(g, "%s: needs at least one tap, w has K = 0", ir_ops[n->op].name);
        return false;
    }
    n->shape = x;
    return true;
}

bool shape_causal_conv1d_grad(ir_graph *g, ir_node *n) { return shape_packed_grad(g, n, OP_causal_conv1d); }

/* Pre-activation z[b,t,e] = bias[e] + sum_j w[e,j] x[b, t-K+1+j, e], in the pattern's order (bias, then j up). */
static double conv_at(const ir_tensor *in, int64_t b, int64_t t, int64_t e) {
    int64_t L = in[0].shape.dim[1], E = in[0].shape.dim[2], K = in[1].shape.dim[1];
    double z = in[2].data[e];
    for (int64_t j = 0; j < K; j++) {
        int64_t s = t - K + 1 + j;
        z += (s >= 0 ? in[0].data[(b * L + s) * E + e] : 0.0) * in[1].data[e * K + j];
    }
    return z;
}

static void conv_forward(const ir_tensor *in, ir_tensor *out, bool silu) {
    int64_t B = in[0].shape.dim[0], L = in[0].shape.dim[1], E = in[0].shape.dim[2];
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++)
            for (int64_t e = 0; e < E; e++) {
                double z = conv_at(in, b, t, e);
                out->data[(b * L + t) * E + e] = silu ? z * sigmoid(z) : z;
            }
}

void interp_causal_conv1d(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)n, (void)o;
    conv_forward(in, out, false);
}

void interp_causal_conv1d_silu(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)n, (void)o;
    conv_forward(in, out, true);
}

/* dz = dy (times silu'(z) for the SiLU variant, z recomputed); dx[s] += w[j] dz[t] for s = t-K+1+j,
 * dw[e,j] += dz[t] x[s], dbias[e] += dz[t]. */
void interp_causal_conv1d_grad(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    bool silu = n->op == OP_causal_conv1d_silu_grad;
    int64_t B = in[0].shape.dim[0], L = in[0].shape.dim[1], E = in[0].shape.dim[2], K = in[1].shape.dim[1];
    double *dx = out->data, *dwp = dx + B * L * E, *dbp = dwp + B * E * K;
    memset(out->data, 0, (size_t)ir_numel(out->shape) * sizeof(double));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++) {
            double *dw = dwp + b * E * K, *dbias = dbp + b * E; /* this batch item's partials */
            for (int64_t e = 0; e < E; e++) {
                double dz = in[3].data[(b * L + t) * E + e];
                if (silu) {
                    double z = conv_at(in, b, t, e), s = sigmoid(z);
                    dz *= s * (1 + z * (1 - s));
                }
                dbias[e] += dz;
                for (int64_t j = 0; j < K; j++) {
                    int64_t s = t - K + 1 + j;
                    if (s < 0) continue;
                    dx[(b * L + s) * E + e] += in[1].data[e * K + j] * dz;
                    dw[e * K + j] += dz * in[0].data[(b * L + s) * E + e];
                }
            }
        }
}

/* ---- causal attention ---- */

enum { ATT_BLOCK = 16 }; /* keys per block of the online softmax */

static bool shape_qkv(ir_graph *g, ir_node *n, int count) {
    if (!want_rank(g, n, 0, "q", 4)) return false;
    ir_shape q = *in_shape(g, n, 0);
    static const char *names[] = {"q", "k", "v", "o"};
    for (int i = 1; i < count; i++)
        if (!want(g, n, i, names[i], 4, q.dim)) return false;
    return true;
}

bool shape_attention(ir_graph *g, ir_node *n) {
    if (!shape_qkv(g, n, 3)) return false;
    n->shape = *in_shape(g, n, 0);
    return true;
}

bool shape_attention_lse(ir_graph *g, ir_node *n) {
    if (!shape_qkv(g, n, 2)) return false;
    ir_shape q = *in_shape(g, n, 0);
    n->shape = ir_shape_of(3, q.dim);
    return true;
}

bool shape_attention_fwd(ir_graph *g, ir_node *n) {
    if (!shape_qkv(g, n, 3)) return false;
    ir_shape q = *in_shape(g, n, 0);
    n->shape = ir_shape_of(1, (int64_t[]){ir_numel(q) + ir_numel(q) / q.dim[3]});
    return true;
}

bool shape_attention_grad(ir_graph *g, ir_node *n) {
    if (!shape_qkv(g, n, 4)) return false;
    ir_shape q = *in_shape(g, n, 0);
    if (!want(g, n, 4, "lse", 3, q.dim) || !want(g, n, 5, "do", 4, q.dim)) return false;
    n->shape = ir_shape_of(5, (int64_t[]){3, q.dim[0], q.dim[1], q.dim[2], q.dim[3]});
    return true;
}

/* Element (b, t, h, 0) of a [B,L,H,hd] tensor. */
static int64_t at4(ir_shape s, int64_t b, int64_t t, int64_t h) { return ((b * s.dim[1] + t) * s.dim[2] + h) * s.dim[3]; }

static double dot(const double *x, const double *y, int64_t n) {
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += x[i] * y[i];
    return acc;
}

/* One query row, keys 0..t in blocks of ATT_BLOCK with a running maximum m and sum l (online softmax);
 * acc (hd values, NULL for the statistics only) gets sum_j e^(s_j - m) v_j. Returns lse = m + log l. */
static double attention_row(const ir_node *nd, const ir_tensor *in, int64_t b, int64_t t, int64_t h, double *acc) {
    ir_shape s = in[0].shape;
    int64_t hd = s.dim[3];
    const double *q = in[0].data + at4(s, b, t, h);
    double m = -INFINITY, l = 0, sc[ATT_BLOCK];
    if (acc) memset(acc, 0, (size_t)hd * sizeof *acc);
    for (int64_t j0 = 0; j0 <= t; j0 += ATT_BLOCK) {
        int64_t j1 = j0 + ATT_BLOCK <= t + 1 ? j0 + ATT_BLOCK : t + 1;
        double bm = -INFINITY;
        for (int64_t j = j0; j < j1; j++) {
            sc[j - j0] = nd->attr.value * dot(q, in[1].data + at4(s, b, j, h), hd);
            if (sc[j - j0] > bm) bm = sc[j - j0];
        }
        double mn = bm > m ? bm : m, r = exp(m - mn);
        l *= r;
        if (acc)
            for (int64_t d = 0; d < hd; d++) acc[d] *= r;
        for (int64_t j = j0; j < j1; j++) {
            double p = exp(sc[j - j0] - mn);
            l += p;
            if (acc) {
                const double *v = in[2].data + at4(s, b, j, h);
                for (int64_t d = 0; d < hd; d++) acc[d] += p * v[d];
            }
        }
        m = mn;
    }
    if (acc)
        for (int64_t d = 0; d < hd; d++) acc[d] /= l;
    return m + log(l);
}

void interp_attention(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    ir_shape s = in[0].shape;
    for (int64_t b = 0; b < s.dim[0]; b++)
        for (int64_t t = 0; t < s.dim[1]; t++)
            for (int64_t h = 0; h < s.dim[2]; h++) attention_row(nd, in, b, t, h, out->data + at4(s, b, t, h));
}

void interp_attention_lse(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    ir_shape s = in[0].shape;
    for (int64_t b = 0; b < s.dim[0]; b++)
        for (int64_t t = 0; t < s.dim[1]; t++)
            for (int64_t h = 0; h < s.dim[2]; h++)
                out->data[(b * s.dim[1] + t) * s.dim[2] + h] = attention_row(nd, in, b, t, h, NULL);
}

void interp_attention_fwd(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    ir_shape s = in[0].shape;
    double *lse = out->data + ir_numel(s);
    for (int64_t b = 0; b < s.dim[0]; b++)
        for (int64_t t = 0; t < s.dim[1]; t++)
            for (int64_t h = 0; h < s.dim[2]; h++)
                lse[(b * s.dim[1] + t) * s.dim[2] + h] = attention_row(nd, in, b, t, h, out->data + at4(s, b, t, h));
}

/* For each query t and key j <= t: p = exp(value q_t.k_j - lse_t) (recomputed from the row statistic),
 * dv_j += p do_t, ds = p (do_t.v_j - do_t.o_t), dq_t += value ds k_j, dk_j += value ds q_t. */
void interp_attention_grad(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    ir_shape s = in[0].shape;
    int64_t n = ir_numel(s), hd = s.dim[3];
    double *dq = out->data, *dk = dq + n, *dv = dk + n, c = nd->attr.value;
    memset(out->data, 0, (size_t)(3 * n) * sizeof(double));
    for (int64_t b = 0; b < s.dim[0]; b++)
        for (int64_t h = 0; h < s.dim[2]; h++)
            for (int64_t t = 0; t < s.dim[1]; t++) {
                int64_t qi = at4(s, b, t, h);
                const double *q = in[0].data + qi, *dO = in[5].data + qi;
                double lse = in[4].data[(b * s.dim[1] + t) * s.dim[2] + h], Di = dot(dO, in[3].data + qi, hd);
                for (int64_t j = 0; j <= t; j++) {
                    int64_t kj = at4(s, b, j, h);
                    const double *k = in[1].data + kj, *v = in[2].data + kj;
                    double p = exp(c * dot(q, k, hd) - lse), ds = p * (dot(dO, v, hd) - Di);
                    for (int64_t d = 0; d < hd; d++) {
                        dv[kj + d] += p * dO[d];
                        dq[qi + d] += c * ds * k[d];
                        dk[kj + d] += c * ds * q[d];
                    }
                }
            }
}

/* ---- LayerNorm over the last axis ---- */

bool shape_layernorm(ir_graph *g, ir_node *n) {
    ir_shape x = *in_shape(g, n, 0);
    if (x.rank < 1) {
        ir_errorf(g, "layernorm: x needs rank >= 1");
        return false;
    }
    int64_t D = x.dim[x.rank - 1];
    if (!want(g, n, 1, "w", 1, (int64_t[]){D}) || !want(g, n, 2, "b", 1, (int64_t[]){D})) return false;
    n->shape = x;
    return true;
}

bool shape_layernorm_grad(ir_graph *g, ir_node *n) { return shape_packed_grad(g, n, OP_layernorm); }

/* Mean and 1/sqrt(var + eps) of row r, as the pattern computes them (mean of the centred squares). */
static void ln_stats(const double *x, int64_t D, double eps, double *mu, double *rstd) {
    double m = 0, v = 0;
    for (int64_t d = 0; d < D; d++) m += x[d];
    m /= (double)D;
    for (int64_t d = 0; d < D; d++) v += (x[d] - m) * (x[d] - m);
    *mu = m;
    *rstd = 1.0 / sqrt(v / (double)D + eps);
}

void interp_layernorm(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    int64_t D = in[0].shape.dim[in[0].shape.rank - 1], R = D ? ir_numel(in[0].shape) / D : 0;
    for (int64_t r = 0; r < R; r++) {
        const double *x = in[0].data + r * D;
        double mu, rstd;
        ln_stats(x, D, nd->attr.value, &mu, &rstd);
        for (int64_t d = 0; d < D; d++) out->data[r * D + d] = (x[d] - mu) * rstd * in[1].data[d] + in[2].data[d];
    }
}

/* xh = (x - mu) rstd, gh = dy w: dx = rstd (gh - mean(gh) - xh mean(gh xh)), dw += dy xh, db += dy. */
void interp_layernorm_grad(const ir_node *nd, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    (void)o;
    int64_t D = in[0].shape.dim[in[0].shape.rank - 1], R = D ? ir_numel(in[0].shape) / D : 0;
    int64_t P = in[0].shape.dim[0], RP = P ? R / P : 0; /* per-batch partials: RP rows each */
    double *dx = out->data, *dwp = dx + R * D, *dbp = dwp + P * D;
    memset(out->data, 0, (size_t)ir_numel(out->shape) * sizeof(double));
    for (int64_t r = 0; r < R; r++) {
        const double *x = in[0].data + r * D, *dy = in[3].data + r * D;
        double *dw = dwp + (r / RP) * D, *db = dbp + (r / RP) * D;
        double mu, rstd, mg = 0, mgx = 0;
        ln_stats(x, D, nd->attr.value, &mu, &rstd);
        for (int64_t d = 0; d < D; d++) {
            double xh = (x[d] - mu) * rstd, gh = dy[d] * in[1].data[d];
            mg += gh, mgx += gh * xh;
            dw[d] += dy[d] * xh;
            db[d] += dy[d];
        }
        mg /= (double)D, mgx /= (double)D;
        for (int64_t d = 0; d < D; d++) {
            double xh = (x[d] - mu) * rstd;
            dx[r * D + d] = rstd * (dy[d] * in[1].data[d] - mg - xh * mgx);
        }
    }
}

/* ---- matmul with an epilogue ---- */

static bool ep_has_bias(ir_op op) { return op != OP_matmul_res; }
static bool ep_has_res(ir_op op) { return op == OP_matmul_res || op == OP_matmul_bias_res; }

bool shape_matmul_ep(ir_graph *g, ir_node *n) {
    if (!want_rank(g, n, 1, "W", 2)) return false;
    ir_node m = *n;
    m.op = OP_matmul;
    m.nin = 2;
    if (!ir_infer_shape(g, &m)) return false;
    int64_t N = m.shape.dim[m.shape.rank - 1];
    if (ep_has_bias(n->op) && !want(g, n, 2, "bias", 1, (int64_t[]){N})) return false;
    if (ep_has_res(n->op) && !want(g, n, n->nin - 1, "residual", m.shape.rank, m.shape.dim)) return false;
    n->shape = m.shape;
    return true;
}

static double gelu_tanh(double x) { return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

/* matmul, then + bias, the activation, + residual, element by element at the store. */
void interp_matmul_ep(const ir_node *n, const ir_tensor *in, ir_tensor *out, const ir_interp_opts *o) {
    interp_matmul(n, in, out, o);
    int64_t N = out->shape.dim[out->shape.rank - 1], total = ir_numel(out->shape);
    for (int64_t i = 0; i < total; i++) {
        double z = out->data[i];
        if (ep_has_bias(n->op)) z += in[2].data[i % N];
        if (n->op == OP_matmul_bias_gelu) z = gelu_tanh(z);
        if (n->op == OP_matmul_bias_silu) z = z * sigmoid(z);
        if (ep_has_res(n->op)) z = in[n->nin - 1].data[i] + z;
        out->data[i] = z;
    }
}
