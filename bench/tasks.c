/* bench/tasks — sampling throughput of every task at its evaluation (end-of-curriculum) shape:
 * prompts/s and the time of one batch of 64 prompts, with 1 thread and with all threads; plus the
 * cost of each task's baselines on 64 prompts.
 *   build/bench/tasks [seconds per measurement, default 0.3]
 */
#include "tasks/task.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds per 64-prompt batch (best of repeated runs over `budget` seconds). */
static double time_batch(const task *t, task_batch *b, double budget) {
    task_error err;
    double best = 1e30, t0 = now();
    uint64_t first = 0;
    do {
        double s = now();
        if (!task_sample(t, task_eval_state(t), 1, TASK_TRAIN, first, b, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        double e = now() - s;
        best = e < best ? e : best;
        first += (uint64_t)b->B;
    } while (now() - t0 < budget);
    return best;
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 0.3;
    int maxthreads = omp_get_max_threads();
    printf("task sampling, batch of %d prompts at the evaluation shape (best of %.1f s)\n", TASK_BATCH, budget);
    printf("%-26s %6s %7s %12s %12s %12s %12s %14s\n", "task", "T", "d_tok", "MB/batch", "us/batch(1t)",
           "prompts/s(1t)", "us/batch", "prompts/s");
    double worst = 0, big_t1 = 0, big_tn = 0;
    int64_t big = 0;
    const char *worst_name = "", *big_name = "";
    for (int i = 0; i < task_count(); i++) {
        task_error err;
        task *t = task_create(task_name(i), NULL, &err);
        int64_t N = task_n_max(t);
        task_shape sh = task_shape_at(t, N);
        task_batch b;
        if (!task_batch_alloc(t, TASK_BATCH, N, false, &b, &err)) return 1;
        omp_set_num_threads(1);
        double t1 = time_batch(t, &b, budget);
        omp_set_num_threads(maxthreads);
        double tn = time_batch(t, &b, budget);
        double mb = (double)(TASK_BATCH * sh.T * sh.d_tok) * 4 / 1e6;
        printf("%-26s %6lld %7lld %12.2f %12.1f %12.0f %12.1f %14.0f\n", task_name(i), (long long)sh.T,
               (long long)sh.d_tok, mb, t1 * 1e6, TASK_BATCH / t1, tn * 1e6, TASK_BATCH / tn);
        if (sh.T * sh.d_tok > big) {
            big = sh.T * sh.d_tok;
            big_name = task_name(i);
            big_t1 = t1;
            big_tn = tn;
        }
        if (tn > worst) {
            worst = tn;
            worst_name = task_name(i);
        }
        task_batch_free(&b);
        task_free(t);
    }
    printf("largest task (most floats per prompt): %s, batch of %d: %.3f ms with 1 thread, %.3f ms with %d "
           "threads = %.2f%% of a 10 ms training step, %.3f%% of 100 ms\n",
           big_name, TASK_BATCH, big_t1 * 1e3, big_tn * 1e3, maxthreads, big_tn / 0.010 * 100, big_tn / 0.100 * 100);
    printf("slowest batch of %d with %d threads: %s, %.3f ms = %.2f%% of a 10 ms training step, %.3f%% of 100 ms\n",
           TASK_BATCH, maxthreads, worst_name, worst * 1e3, worst / 0.010 * 100, worst / 0.100 * 100);

    printf("\nbaselines on 64 evaluation prompts (%d threads), ms per baseline\n", maxthreads);
    for (int i = 0; i < task_count(); i++) {
        task_error err;
        task *t = task_create(task_name(i), NULL, &err);
        int64_t N = task_n_max(t);
        task_shape sh = task_shape_at(t, N);
        task_batch b;
        task_batch_alloc(t, TASK_BATCH, N, false, &b, &err);
        task_sample(t, task_eval_state(t), 1, TASK_EVAL, 0, &b, &err);
        int64_t maxcw = 0;
        for (int h = 0; h < sh.nheads; h++)
            if (sh.heads[h].count * sh.heads[h].width > maxcw) maxcw = sh.heads[h].count * sh.heads[h].width;
        float *pred = malloc((size_t)(TASK_BATCH * maxcw) * sizeof(float));
        printf("  %-26s", task_name(i));
        for (int k = 0; k < task_baseline_count(t); k++) {
            double s = now();
            if (!task_baseline_predict(t, k, &b, pred, &err)) return 1;
            printf(" %s %.1f", task_baseline_name(t, k), (now() - s) * 1e3);
        }
        printf("\n");
        free(pred);
        task_batch_free(&b);
        task_free(t);
    }
    return 0;
}
