/* predict.c — evaluates a model exported by `iclc export` (see docs/export.md).
 *
 * Build (one cc line; DIR is the export directory):
 *   cc -O2 -I DIR examples/predict.c -L DIR -lmodel -Wl,-rpath,$PWD/DIR -o predict
 *
 * Run:
 *   ./predict DIR                     in-context linear regression prompts (x ~ N(0, I), y = w.x with
 *                                     w ~ N(0, I) per prompt; token layout x_1, y_1, ..., x_N, y_N),
 *                                     squared error of the prediction at every 5th context length
 *   ./predict DIR --batches K         K batches (default 4); prints prompts/s
 *   ./predict DIR --tokens IN --out OUT
 *                                     raw little-endian f32 tokens [B][T][d_in] in, predictions
 *                                     [B][T][d_out] out (what tests compare against iclc's JIT)
 */
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* splitmix64 and Box-Muller: a tiny self-contained RNG. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double normal(uint64_t *s) {
    double u1 = ((double)(next_u64(s) >> 11) + 1.0) / 9007199254740993.0, u2 = (double)(next_u64(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int read_exact(const char *path, void *buf, size_t bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(buf, 1, bytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    return got == bytes && !extra;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [--batches K] [--seed S] [--tokens IN.f32 --out OUT.f32]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *tokens_path = NULL, *out_path = NULL;
    long batches = 4;
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--batches") == 0) batches = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) seed = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--tokens") == 0) tokens_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--out") == 0) out_path = argv[++i];
        else {
            fprintf(stderr, "predict: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (batches < 1 || (!tokens_path) != (!out_path)) {
        fprintf(stderr, "predict: need --batches >= 1, and --tokens with --out\n");
        return 2;
    }
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    model_t *m = model_init(path, err, sizeof err);
    if (!m) {
        fprintf(stderr, "predict: %s\n", err);
        return 1;
    }
    enum { B = MODEL_BATCH, T = MODEL_T, D = MODEL_D_IN, DO = MODEL_D_OUT };
    float *tok = calloc((size_t)B * T * D, sizeof *tok), *pred = calloc((size_t)B * T * DO, sizeof *pred);
    if (!tok || !pred) return 1;
    int status = 0;
    if (tokens_path) { /* file in, file out */
        FILE *f;
        if (!read_exact(tokens_path, tok, sizeof *tok * B * T * D)) {
            fprintf(stderr, "predict: %s: want exactly %d x %d x %d f32 values\n", tokens_path, B, T, D);
            status = 1;
        } else if (model_predict(m, tok, pred) != 0 || !(f = fopen(out_path, "wb")) ||
                   fwrite(pred, sizeof *pred, (size_t)B * T * DO, f) != (size_t)B * T * DO || fclose(f) != 0) {
            fprintf(stderr, "predict: %s: cannot predict or write\n", out_path);
            status = 1;
        }
    } else { /* linear regression prompts */
        int N = T / 2;
        double *se = calloc((size_t)N, sizeof *se), w[D], ys[T / 2 + 1];
        double t = 0, tmin = 1e30;
        uint64_t s = seed;
        for (long k = 0; k < batches; k++) {
            memset(tok, 0, sizeof *tok * B * T * D);
            double yb[B][T / 2 + 1];
            for (int b = 0; b < B; b++) {
                for (int j = 0; j < D; j++) w[j] = normal(&s);
                for (int i = 0; i < N; i++) {
                    float *x = tok + ((size_t)b * T + 2 * i) * D, *y = x + D;
                    double v = 0;
                    for (int j = 0; j < D; j++) v += (x[j] = (float)normal(&s)) * w[j];
                    y[0] = (float)v;
                    ys[i] = yb[b][i] = v;
                }
            }
            double t0 = seconds();
            model_predict(m, tok, pred);
            double dt = seconds() - t0;
            t += dt;
            if (dt < tmin) tmin = dt;
            for (int b = 0; b < B; b++)
                for (int i = 0; i < N; i++) {
                    double e = pred[((size_t)b * T + 2 * i) * DO] - yb[b][i];
                    se[i] += e * e;
                }
        }
        (void)ys;
        printf("%ld prompts of %d points (d = %d): squared error by number of in-context examples\n", batches * B, N, D);
        for (int i = 0; i < N; i += 5) printf("  %3d  %10.4f\n", i, se[i] / (double)(batches * B));
        printf("%.1f prompts/s (model_predict only, %d per call; fastest call %.1f prompts/s)\n", (double)(batches * B) / t, B,
               (double)B / tmin);
        free(se);
    }
    free(tok);
    free(pred);
    model_free(m);
    return status;
}
