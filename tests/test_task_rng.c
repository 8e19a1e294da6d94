/* The task samplers' bulk draws: the vectorised Philox equals ir/philox.h block by block, and the
 * Box-Muller normals have the normal's moments and CDF (bounds: 5 standard errors, analytic). */
#include "tasks/task_impl.h"
#include "tests/tap.h"

#include <math.h>

int main(void) {
    task_rng r = {philox_make_key(77, 3), 12345};
    enum { NW = 1000 };
    uint32_t w[NW];
    task_rng_words(&r, R_MASK, 7, w, NW); /* unaligned start */
    bool same = true;
    for (int i = 0; i < NW; i++) same = same && w[i] == task_rng_word(&r, R_MASK, 7 + (uint64_t)i);
    ok(same, "bulk words equal philox_block words (1000 words from an unaligned start)");

    enum { N = 1 << 20 };
    float *z = malloc(N * sizeof(float));
    task_rng_normals(&r, R_X, 0, z, N);
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0, pair = 0, below1 = 0, below_m2 = 0, maxabs = 0;
    for (int i = 0; i < N; i++) {
        double v = z[i];
        m1 += v;
        m2 += v * v;
        m3 += v * v * v;
        m4 += v * v * v * v;
        if (i % 2 == 0) pair += v * z[i + 1];
        below1 += v < 1;
        below_m2 += v < -2;
        maxabs = fmax(maxabs, fabs(v));
    }
    const double n = N, Z = 5;
    ok(fabs(m1 / n) <= Z * sqrt(1 / n), "mean 0 (%.5f)", m1 / n);
    ok(fabs(m2 / n - 1) <= Z * sqrt(2 / n), "variance 1 (%.5f)", m2 / n);
    ok(fabs(m3 / n) <= Z * sqrt(15 / n), "third moment 0 (%.5f)", m3 / n);
    ok(fabs(m4 / n - 3) <= Z * sqrt(96 / n), "fourth moment 3 (%.5f)", m4 / n);
    ok(fabs(pair / (n / 2)) <= Z * sqrt(1 / (n / 2)), "the two normals of a pair are uncorrelated (%.5f)", pair / (n / 2));
    double p1 = 0.841344746, p2 = 0.022750132;
    ok(fabs(below1 / n - p1) <= Z * sqrt(p1 * (1 - p1) / n), "P(z < 1) = %.5f", below1 / n);
    ok(fabs(below_m2 / n - p2) <= Z * sqrt(p2 * (1 - p2) / n), "P(z < -2) = %.5f", below_m2 / n);
    ok(maxabs > 4 && maxabs <= 6.67, "tails reach beyond 4 and stop at 6.66 (max |z| %.3f)", maxabs);

    float a[37], b[100];
    task_rng_normals(&r, R_X, 63, a, 37);
    task_rng_normals(&r, R_X, 0, b, 100);
    ok(!memcmp(a, b + 63, sizeof a), "normal j does not depend on where a request starts");
    float rows[3 * 8];
    memset(rows, 0, sizeof rows);
    task_rng_normal_rows(&r, R_X, 10, 3, 5, 2, rows, 8);
    ok(rows[0] == b[10] && rows[1] == b[11] && rows[2] == 0 && rows[8] == b[15] && rows[17] == b[21] && rows[18] == 0,
       "rows: the first `keep` of every `len` normals land at the row stride");
    free(z);
    return done_testing();
}
