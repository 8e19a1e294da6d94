/* fe_taskshape.c — task name -> prompt shape, at the end of each task's curriculum.
 *
 * The one place that knows the layouts of ../shared/reference/tasks.md (and tasks/task.h): regression
 * tasks and sparse parity interleave x and [y, 0, ..., 0] tokens (T = 2N, d_in = d, d_out = 1);
 * cot_io has three tokens per example in disjoint channel slices (T = 3N, d_in = d + k + 1) and two
 * read-outs, s (width k) and y (width 1), packed as channels [0, k) and k of pred (d_out = k + 1);
 * mqar lays out N key-value pairs then m queries (T = 2N + m, d_in = d_out = d).
 * When tasks/ provides task_shape_at, this table becomes a call into it. */
#include "frontend/frontend.h"

#include <stdio.h>
#include <string.h>

typedef enum { LAYOUT_PAIRS, LAYOUT_COT, LAYOUT_MQAR } layout;

static const struct {
    const char *name, *alias; /* canonical name (tasks/), the reference code's name */
    layout lay;
    int64_t d, N, extra;      /* extra: k (cot_io) or m (mqar) */
} tasks[] = {
    {"linear_regression", NULL, LAYOUT_PAIRS, 20, 41, 0},
    {"sparse_linear_regression", NULL, LAYOUT_PAIRS, 20, 41, 0},
    {"relu_2nn_regression", NULL, LAYOUT_PAIRS, 20, 101, 0},
    {"decision_tree", NULL, LAYOUT_PAIRS, 20, 101, 0},
    {"ortho_outlier_regression", "filter_ortho_linear_regression", LAYOUT_PAIRS, 20, 101, 0},
    {"many_outlier_regression", "filter_linear_regression", LAYOUT_PAIRS, 20, 512, 0},
    {"sparse_parity", NULL, LAYOUT_PAIRS, 10, 140, 0},
    {"cot_io", NULL, LAYOUT_COT, 10, 101, 8},
    {"mqar", NULL, LAYOUT_MQAR, 20, 32, 4},
};
enum { NTASKS = sizeof tasks / sizeof tasks[0] };

const char *fe_task_names(void) {
    return "linear_regression, sparse_linear_regression, relu_2nn_regression, decision_tree, "
           "ortho_outlier_regression, many_outlier_regression, sparse_parity, cot_io, mqar";
}

bool fe_task_shape(const char *task, int64_t B, fe_shape *out, char *err, size_t errlen) {
    for (int i = 0; i < NTASKS; i++) {
        if (!task || (strcmp(task, tasks[i].name) != 0 && !(tasks[i].alias && strcmp(task, tasks[i].alias) == 0)))
            continue;
        if (B < 1 || B > (1 << 20)) {
            snprintf(err, errlen, "batch size %lld is outside 1..%d", (long long)B, 1 << 20);
            return false;
        }
        int64_t d = tasks[i].d, N = tasks[i].N, x = tasks[i].extra;
        fe_shape s = {.task = tasks[i].name, .B = B, .n_points = N, .d = d};
        switch (tasks[i].lay) {
        case LAYOUT_PAIRS: s.T = 2 * N, s.d_in = d, s.d_out = 1; break;
        case LAYOUT_COT: s.T = 3 * N, s.d_in = d + x + 1, s.d_out = x + 1, s.k = x; break;
        case LAYOUT_MQAR: s.T = 2 * N + x, s.d_in = d, s.d_out = d, s.m = x; break;
        }
        *out = s;
        return true;
    }
    snprintf(err, errlen, "unknown task '%s' (known: %s)", task ? task : "(null)", fe_task_names());
    return false;
}
