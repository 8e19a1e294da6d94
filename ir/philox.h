/* philox.h — Philox4x32-10, a counter-based random generator (Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 *
 * A draw is a pure function of (key, counter): the same prompt, parameter or
 * mask element gets the same numbers whatever the thread count, batch split
 * or order of evaluation. Every user picks its own key (a seed and a stream
 * id) and addresses draws by counter (e.g. prompt index, element index).
 */
#ifndef ICLC_IR_PHILOX_H
#define ICLC_IR_PHILOX_H

#include <math.h>
#include <stdint.h>

typedef struct philox_key { uint32_t k[2]; } philox_key;
typedef struct philox_ctr { uint32_t c[4]; } philox_ctr;

static inline philox_key philox_make_key(uint64_t seed, uint32_t stream) {
    /* Mix the stream id into the key so streams of one seed are unrelated. */
    uint64_t s = seed ^ ((uint64_t)stream * 0x9E3779B97F4A7C15ull);
    return (philox_key){{(uint32_t)s, (uint32_t)(s >> 32)}};
}

static inline philox_ctr philox4x32(philox_ctr ctr, philox_key key) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)M0 * ctr.c[0], p1 = (uint64_t)M1 * ctr.c[2];
        ctr = (philox_ctr){{(uint32_t)(p1 >> 32) ^ ctr.c[1] ^ key.k[0], (uint32_t)p1,
                            (uint32_t)(p0 >> 32) ^ ctr.c[3] ^ key.k[1], (uint32_t)p0}};
        key.k[0] += W0;
        key.k[1] += W1;
    }
    return ctr;
}

/* The four 32-bit words of block (hi, lo) of a key's stream. */
static inline philox_ctr philox_block(philox_key key, uint64_t hi, uint64_t lo) {
    return philox4x32((philox_ctr){{(uint32_t)lo, (uint32_t)(lo >> 32), (uint32_t)hi, (uint32_t)(hi >> 32)}},
                      key);
}

/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
static inline double philox_unit24(uint32_t x) { return (double)(x >> 8) * (1.0 / 16777216.0); }

/* Uniform in (0, 1) with 53 random bits from two words: never 0, safe for log. */
static inline double philox_unit53(uint32_t a, uint32_t b) {
    uint64_t m = ((uint64_t)a << 21) ^ (uint64_t)(b >> 11);
    return ((double)(m & ((1ull << 53) - 1)) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Two independent standard normals from one block (Box-Muller, in double). */
static inline void philox_normal2(philox_ctr r, double *z0, double *z1) {
    double u1 = philox_unit53(r.c[0], r.c[1]), u2 = philox_unit53(r.c[2], r.c[3]);
    double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586476925 * u2;
    *z0 = rad * cos(th);
    *z1 = rad * sin(th);
}

/* FNV-1a hash of a string, e.g. a parameter name turned into a stream id. */
static inline uint32_t philox_hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

#endif
