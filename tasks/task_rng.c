/* task_rng.c — bulk draws for the task samplers: Philox4x32-10 over 16 counters at a time and a
 * float Box-Muller with inline polynomial log / sin / cos, both written as straight loops over lanes
 * so the compiler vectorises them (an AVX2 clone is picked at run time; the clones compute the same
 * IEEE operations in the same order, so results are identical on every x86-64 CPU).
 *
 * Normal number j of a region comes from Philox block j / 4 of it: words (w0, w1) give the pair
 * (r cos t, r sin t), words (w2, w3) the next pair, with r = sqrt(-2 ln u), u = (w0 >> 1 + 1/2) 2^-31
 * in (0, 1) (so |z| <= 6.66), and t = quadrant (top 2 bits of w1) * pi/2 + an offset uniform in
 * [-pi/4, pi/4) (the other 30 bits): t is uniform on the circle.
 *
 * Dimensions: L lanes (Philox blocks per chunk). */
#include "tasks/task_impl.h"

#include <string.h>

enum { L = 16 };

/* Words of blocks (hi, lo0 + l), l < L: w[k][l] is word k of block l. */
TASK_CLONES static void philox_lanes(philox_key key, uint64_t hi, uint64_t lo0, uint32_t w[4][L]) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    uint32_t c0[L], c1[L], c2[L], c3[L];
    for (int l = 0; l < L; l++) {
        uint64_t lo = lo0 + (uint64_t)l;
        c0[l] = (uint32_t)lo;
        c1[l] = (uint32_t)(lo >> 32);
        c2[l] = (uint32_t)hi;
        c3[l] = (uint32_t)(hi >> 32);
    }
    uint32_t k0 = key.k[0], k1 = key.k[1];
    for (int round = 0; round < 10; round++) {
#pragma omp simd
        for (int l = 0; l < L; l++) {
            uint64_t p0 = (uint64_t)M0 * c0[l], p1 = (uint64_t)M1 * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c0[l] = n0;
            c1[l] = (uint32_t)p1;
            c2[l] = n2;
            c3[l] = (uint32_t)p0;
        }
        k0 += W0;
        k1 += W1;
    }
    memcpy(w[0], c0, sizeof c0);
    memcpy(w[1], c1, sizeof c1);
    memcpy(w[2], c2, sizeof c2);
    memcpy(w[3], c3, sizeof c3);
}

typedef union {
    float f;
    uint32_t u;
} fbits;

/* -2 ln(u) for u in (0, 1): exponent from the bits, mantissa m in [sqrt(1/2), sqrt(2)) through
 * ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, five odd terms (error < 1e-9). */
static inline float minus2log(float u) {
    fbits b = {u};
    int32_t e = (int32_t)((b.u >> 23) & 0xff) - 127;
    fbits m = {.u = (b.u & 0x7fffffu) | 0x3f800000u};
    float mf = m.f;
    int32_t big = mf > 1.41421356f; /* then use m / 2 and e + 1 */
    fbits half = {.u = m.u - ((uint32_t)big << 23)};
    mf = half.f;
    e += big;
    float s = (mf - 1.0f) / (mf + 1.0f), s2 = s * s;
    float lnm = 2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
    return -2.0f * ((float)e * 0.693147181f + lnm);
}

/* sqrt(v) for v >= 0 by three Newton steps on 1/sqrt (relative error ~1e-7; sqrtf would keep the
 * loop scalar because of errno). v = 0 gives 0. */
static inline float sqrt_pos(float v) {
    fbits b = {v};
    b.u = 0x5f3759dfu - (b.u >> 1);
    float y = b.f, h = 0.5f * v;
    y = y * (1.5f - h * y * y);
    y = y * (1.5f - h * y * y);
    y = y * (1.5f - h * y * y);
    return v * y;
}

/* Box-Muller on word pairs (a[l], b[l]) into (z0[l], z1[l]): r = sqrt(-2 ln u), the angle's quadrant
 * from the top 2 bits of b, the offset in [-pi/4, pi/4) from the other 30. Selections and sign flips
 * are bit operations so the loop has no branches. */
static inline void bm_lanes(const uint32_t *a, const uint32_t *b, float *z0, float *z1) {
#pragma omp simd
    for (int l = 0; l < L; l++) {
        float u = ((float)(int32_t)(a[l] >> 1) + 0.5f) * 4.656612873e-10f; /* (0, 1], 2^-31 steps */
        float r = sqrt_pos(minus2log(u));
        uint32_t q = b[l] >> 30;
        float x = ((float)(int32_t)(b[l] & 0x3fffffffu) * 9.313225746e-10f - 0.5f) * 1.570796327f;
        float x2 = x * x;
        fbits sn = {x * (1.0f - x2 * (1.0f / 6 - x2 * (1.0f / 120 - x2 * (1.0f / 5040 - x2 * (1.0f / 362880)))))};
        fbits cs = {1.0f - x2 * (0.5f - x2 * (1.0f / 24 - x2 * (1.0f / 720 - x2 * (1.0f / 40320 - x2 * (1.0f / 3628800)))))};
        /* rotate (cs, sn) by q quarter turns: odd q swaps, q in {1, 2} negates the first, q >= 2 the second */
        uint32_t swap = 0u - (q & 1u);
        fbits c = {.u = (sn.u & swap) | (cs.u & ~swap)}, s = {.u = (cs.u & swap) | (sn.u & ~swap)};
        c.u ^= ((q ^ (q >> 1)) & 1u) << 31;
        s.u ^= (q >> 1) << 31;
        z0[l] = r * c.f;
        z1[l] = r * s.f;
    }
}

/* Four normals per block: z[k][l] is normal k of block l. */
TASK_CLONES static void box_muller(const uint32_t w[4][L], float z[4][L]) {
    bm_lanes(w[0], w[1], z[0], z[1]);
    bm_lanes(w[2], w[3], z[2], z[3]);
}

void task_rng_normal_rows(const task_rng *r, uint64_t region, uint64_t first, int64_t rows, int64_t len,
                          int64_t keep, float *out, int64_t stride) {
    uint32_t w[4][L];
    float zz[4][L], z[4 * L];
    const int64_t n = rows * len;
    uint64_t blk = first >> 2, skip = first & 3; /* normals to drop from the first block */
    int64_t done = 0, row = 0, col = 0;
    while (done < n) {
        philox_lanes(r->key, r->prompt, (region << 40) | blk, w);
        box_muller(w, zz);
        for (int l = 0; l < L; l++)
            for (int k = 0; k < 4; k++) z[4 * l + k] = zz[k][l];
        int64_t avail = 4 * L - (int64_t)skip, take = n - done < avail ? n - done : avail;
        const float *src = z + skip;
        for (int64_t j = 0; j < take;) { /* scatter: the first `keep` of every `len` go to row `row` */
            int64_t run = len - col < take - j ? len - col : take - j;
            int64_t lo = col, hi = col + run < keep ? col + run : keep;
            if (hi > lo) memcpy(out + row * stride + lo, src + j, (size_t)(hi - lo) * sizeof(float));
            j += run;
            col += run;
            if (col == len) {
                col = 0;
                row++;
            }
        }
        done += take;
        skip = 0;
        blk += L;
    }
}

void task_rng_normals(const task_rng *r, uint64_t region, uint64_t first, float *out, int64_t n) {
    task_rng_normal_rows(r, region, first, 1, n, n, out, n);
}

void task_rng_words(const task_rng *r, uint64_t region, uint64_t first, uint32_t *out, int64_t n) {
    uint32_t w[4][L];
    uint64_t blk = first >> 2, skip = first & 3;
    int64_t done = 0;
    while (done < n) {
        philox_lanes(r->key, r->prompt, (region << 40) | blk, w);
        for (uint64_t j = skip; j < 4 * L && done < n; j++) out[done++] = w[j & 3][j >> 2];
        skip = 0;
        blk += L;
    }
}
