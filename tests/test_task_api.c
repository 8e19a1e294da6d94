/* The task interface: registry, parameters and their errors, shapes, curriculum, losses, metrics. */
#include "tasks/task.h"
#include "tests/tap.h"

#include <math.h>

static void bad(const char *name, const char *params, const char *needle) {
    task_error err = {{0}};
    task *t = task_create(name, params, &err);
    ok(t == NULL, "%s '%s' is rejected", name, params ? params : "");
    like(err.msg, needle, "  message says '%s'", needle);
    task_free(t);
}

static void registry(void) {
    is_int(task_count(), 9, "nine tasks");
    const char *want[] = {"linear_regression", "sparse_linear_regression", "relu_2nn_regression", "decision_tree",
                          "ortho_outlier_regression", "many_outlier_regression", "sparse_parity", "cot_io", "mqar"};
    for (int i = 0; i < 9; i++) is_str(task_name(i), want[i], "task %d is %s", i, want[i]);
    task_error err;
    task *t = task_create("filter_linear_regression", NULL, &err);
    ok(t && !strcmp(task_get_name(t), "many_outlier_regression"), "the code's name is an alias");
    task_free(t);
}

/* Table 1 / tasks.md defaults. */
static void defaults(void) {
    struct {
        const char *name, *key;
        double v;
    } rows[] = {{"linear_regression", "d", 20},       {"linear_regression", "N", 41},
                {"sparse_linear_regression", "k", 3}, {"relu_2nn_regression", "N", 101},
                {"relu_2nn_regression", "h", 100},    {"decision_tree", "depth", 4},
                {"decision_tree", "N", 101},          {"ortho_outlier_regression", "p", 0.5},
                {"ortho_outlier_regression", "N", 101}, {"many_outlier_regression", "p", 0.9},
                {"many_outlier_regression", "N", 512}, {"many_outlier_regression", "d_start", 4},
                {"many_outlier_regression", "N_every", 200}, {"sparse_parity", "d", 10},
                {"sparse_parity", "k", 2},            {"sparse_parity", "N", 140},
                {"sparse_parity", "N_start", 140},    {"cot_io", "d", 10},
                {"cot_io", "k", 8},                   {"cot_io", "N_start", 26},
                {"mqar", "d", 20},                    {"mqar", "N", 32},
                {"mqar", "m", 4}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        task_error err;
        task *t = task_create(rows[i].name, NULL, &err);
        is_double(t ? task_param(t, rows[i].key) : NAN, rows[i].v, 0, "%s default %s = %g", rows[i].name, rows[i].key,
                  rows[i].v);
        task_free(t);
    }
}

static void training(void) {
    task_error err;
    task *t = task_create("decision_tree", NULL, &err);
    task_train_defaults tr = task_training(t);
    ok(tr.steps == 500001 && tr.batch == 64 && tr.lr == 4e-4 && tr.grad_clip == 10, "decision tree: 500001 steps, B 64, lr 4e-4, clip 10");
    task_free(t);
    t = task_create("many_outlier_regression", NULL, &err);
    ok(task_training(t).steps == 1000001, "many-outlier trains 1000001 steps");
    task_free(t);
    t = task_create("mqar", NULL, &err);
    ok(task_training(t).grad_clip == 100, "mqar clips at 100");
    task_free(t);
}

static void params(void) {
    task_error err;
    task *t = task_create("linear_regression", "d=10,N=21", &err);
    ok(t != NULL, "overrides accepted");
    is_double(task_param(t, "d"), 10, 0, "d overridden");
    is_double(task_param(t, "N"), 21, 0, "N overridden");
    char buf[512];
    task_params_string(t, buf, sizeof buf);
    is_str(buf, "d=10,N=21,d_start=5,d_inc=1,d_every=2000,N_start=11,N_inc=2,N_every=2000", "params string");
    task_free(t);
    t = task_create("linear_regression", "N=5", &err);
    is_double(t ? task_param(t, "N_start") : NAN, 5, 0, "a default N_start beyond a smaller N is clipped to it");
    task_free(t);
    t = task_create("ortho_outlier_regression", "dummy=code,outliers=fixed", &err);
    ok(t && task_param(t, "dummy") == 1 && task_param(t, "outliers") == 1, "choices by name");
    task_free(t);

    bad("no_such_task", NULL, "valid: linear_regression, sparse_linear_regression");
    bad(NULL, NULL, "unknown task");
    bad("linear_regression", "d=0", "d = 0 is out of range");
    bad("linear_regression", "d=-3", "out of range");
    bad("linear_regression", "N=0", "N = 0 is out of range");
    bad("linear_regression", "d=2.5", "wants an integer");
    bad("linear_regression", "d=abc", "wants a number");
    bad("linear_regression", "q=3", "unknown parameter 'q' (valid: d, N,");
    bad("linear_regression", "d", "not key=value");
    bad("linear_regression", "d=", "needs a value");
    bad("linear_regression", "N_start=30,N=21", "N_start = 30 exceeds N = 21");
    bad("sparse_linear_regression", "k=21", "k = 21 exceeds d = 20");
    bad("sparse_linear_regression", "k=8", "k = 8 exceeds d_start = 5");
    bad("sparse_parity", "k=11", "k = 11 exceeds d = 10");
    bad("sparse_parity", "k=4,d_start=3", "k = 4 exceeds d_start = 3");
    bad("ortho_outlier_regression", "p=1.5", "p = 1.5 is out of range [0, 1]");
    bad("many_outlier_regression", "p=-0.1", "out of range [0, 1]");
    bad("ortho_outlier_regression", "dummy=mine", "dummy must be one of paper|code");
    bad("mqar", "m=40", "m = 40 queries need at least as many pairs");
    bad("decision_tree", "depth=0", "depth = 0 is out of range");
    bad("relu_2nn_regression", "h=0", "h = 0 is out of range");
    bad("cot_io", "k=0", "k = 0 is out of range");
}

static void shapes(void) {
    task_error err;
    task *t = task_create("linear_regression", NULL, &err);
    task_shape sh = task_shape_at(t, 41);
    ok(sh.T == 82 && sh.d_tok == 20 && sh.nheads == 1, "linear regression: T = 2N = 82, d_tok = d = 20, one head");
    ok(sh.heads[0].start == 0 && sh.heads[0].stride == 2 && sh.heads[0].count == 41 && sh.heads[0].width == 1,
       "  read-out at the x tokens 0, 2, ..., 80");
    ok(sh.heads[0].loss == TASK_LOSS_SQUARED && sh.heads[0].metric == TASK_METRIC_SQERR, "  squared error");
    task_free(t);
    t = task_create("sparse_parity", NULL, &err);
    sh = task_shape_at(t, 140);
    ok(sh.T == 280 && sh.d_tok == 10 && sh.heads[0].loss == TASK_LOSS_BCE && sh.heads[0].metric == TASK_METRIC_ACCURACY,
       "sparse parity: T = 280, BCE loss, accuracy");
    task_free(t);
    t = task_create("cot_io", NULL, &err);
    sh = task_shape_at(t, 101);
    ok(sh.T == 303 && sh.d_tok == 19 && sh.nheads == 2, "cot_io: T = 3N = 303, d_tok = d + k + 1 = 19, two heads");
    ok(sh.heads[0].start == 0 && sh.heads[0].stride == 3 && sh.heads[0].width == 8, "  s head at the x tokens, width k");
    ok(sh.heads[1].start == 1 && sh.heads[1].stride == 3 && sh.heads[1].width == 1, "  y head at the s tokens");
    ok(sh.nsegments == 3 && sh.segments[1].offset == 10 && sh.segments[2].offset == 18, "  channel slices x|s|y");
    task_free(t);
    t = task_create("mqar", NULL, &err);
    sh = task_shape_at(t, 32);
    ok(sh.T == 68 && sh.heads[0].start == 64 && sh.heads[0].stride == 1 && sh.heads[0].count == 4 &&
           sh.heads[0].width == 20,
       "mqar: T = 2n + m = 68, queries at 64..67, width d");
    task_free(t);
}

/* tasks.md 0.5, worked check and the iterative update against the closed form. */
static void curriculum(void) {
    task_error err;
    task *t = task_create("linear_regression", NULL, &err);
    struct {
        int64_t step, d, N;
    } want[] = {{0, 5, 11}, {1999, 5, 11}, {2000, 6, 13}, {4000, 7, 15}, {28000, 19, 39}, {30000, 20, 41}, {500000, 20, 41}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        task_curriculum c = task_curriculum_at(t, want[i].step);
        ok(c.st.d_cur == want[i].d && c.st.N == want[i].N, "linear regression step %lld: (d_cur, N) = (%lld, %lld)",
           (long long)want[i].step, (long long)c.st.d_cur, (long long)c.st.N);
    }
    is_double(task_excess_baseline((task_state){20, 41}), (20.0 * 21 / 2) / 41, 1e-12,
              "excess-loss baseline (1/N) sum max(d - p, 0)");
    is_double(task_excess_baseline((task_state){5, 3}), (5.0 + 4 + 3) / 3, 1e-12, "  ... with N < d");
    task_free(t);
    t = task_create("many_outlier_regression", NULL, &err);
    task_curriculum c = task_curriculum_at(t, 32000), e = task_curriculum_at(t, 49999), f = task_curriculum_at(t, 50000);
    ok(c.st.d_cur == 20 && task_curriculum_at(t, 31999).st.d_cur == 19, "many-outlier dims reach 20 at step 32000");
    ok(e.st.N == 510 && f.st.N == 512, "many-outlier points reach 512 at step 50000");
    task_free(t);
    for (int k = 0; k < task_count(); k++) {
        t = task_create(task_name(k), NULL, &err);
        task_curriculum it = task_curriculum_at(t, 0);
        bool same = true;
        for (int64_t s = 0; s < 60000; s++) {
            task_curriculum cf = task_curriculum_at(t, s);
            same = same && cf.st.d_cur == it.st.d_cur && cf.st.N == it.st.N && it.step == s;
            task_curriculum_advance(t, &it);
        }
        ok(same, "%s: advancing step by step equals the closed form over 60000 steps", task_name(k));
        task_state ev = task_eval_state(t);
        ok(ev.d_cur == task_param(t, "d") && ev.N == task_param(t, "N"), "  evaluation state (d, N)");
        task_free(t);
    }
}

static void losses(void) {
    task_error err;
    task *t = task_create("linear_regression", "d=2,N=3", &err);
    task_shape sh = task_shape_at(t, 3);
    task_batch b;
    task_batch_alloc(t, 2, 3, false, &b, &err);
    float tg[6] = {1, 2, 3, 4, 5, 6}, m[6] = {1, 1, 0, 1, 1, 1}, pred[6] = {2, 2, 100, 4, 3, 9}, grad[6];
    memcpy(b.targets[0], tg, sizeof tg);
    memcpy(b.mask[0], m, sizeof m);
    double L = task_loss(&sh, 0, &b, pred, grad);
    is_double(L, (1.0 + 0 + 0 + 4 + 9) / 5, 1e-12, "squared loss: masked mean over counted positions");
    is_double(grad[2], 0, 0, "  no gradient at a masked position");
    /* finite differences of the loss */
    bool fd = true;
    for (int i = 0; i < 6; i++) {
        float save = pred[i];
        pred[i] = save + 0.01f;
        double up = task_loss(&sh, 0, &b, pred, NULL);
        pred[i] = save - 0.01f;
        double dn = task_loss(&sh, 0, &b, pred, NULL);
        pred[i] = save;
        fd = fd && fabs((up - dn) / 0.02 - grad[i]) < 1e-3;
    }
    ok(fd, "  gradient matches finite differences");
    double metric[6];
    float counted[6];
    task_score(&sh, 0, &b, pred, metric, counted);
    ok(metric[0] == 1 && metric[4] == 4 && metric[5] == 9 && counted[2] == 0, "squared-error metric per position");
    task_batch_free(&b);
    task_free(t);

    t = task_create("sparse_parity", "N=2", &err);
    sh = task_shape_at(t, 2);
    task_batch_alloc(t, 2, 2, false, &b, &err);
    float yt[4] = {1, -1, 1, -1}, ones[4] = {1, 1, 1, 1}, o[4] = {2.0f, 0.5f, 0.0f, -300.0f};
    memcpy(b.targets[0], yt, sizeof yt);
    memcpy(b.mask[0], ones, sizeof ones);
    L = task_loss(&sh, 0, &b, o, grad);
    double want = (log1p(exp(-2.0)) + log1p(exp(0.5)) + log(2.0) + 0) / 4; /* -log s(o) or -log(1 - s(o)) */
    is_double(L, want, 1e-9, "BCE on sigmoid with targets (y+1)/2");
    is_double(grad[0], (1 / (1 + exp(-2.0)) - 1) / 4, 1e-6, "  dBCE/do = (sigmoid(o) - t) / count");
    b.targets[0][3] = 1; /* o = -300 against t = 1: log clamped at -100 */
    is_double(task_loss(&sh, 0, &b, o, NULL), (log1p(exp(-2.0)) + log1p(exp(0.5)) + log(2.0) + 100) / 4, 1e-9,
              "  log clamped at -100 like torch's BCELoss");
    task_score(&sh, 0, &b, o, metric, NULL);
    ok(metric[0] == 1 && metric[1] == 0 && metric[2] == 0 && metric[3] == 0,
       "accuracy: sign match, and sign(0) counts as wrong");
    task_batch_free(&b);
    task_free(t);

    /* aggregation: mean, unbiased std, bootstrap interval around the mean */
    double v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float c[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    task_curve_point pt;
    task_curve(v, c, 8, 1, 1000, 7, &pt);
    is_int(pt.n, 7, "curve counts only masked-in prompts");
    is_double(pt.mean, 4, 1e-12, "  mean");
    is_double(pt.std, sqrt(28.0 / 6), 1e-12, "  unbiased std");
    ok(pt.lo < 4 && pt.hi > 4 && pt.lo > 2 && pt.hi < 6, "  bootstrap 90%% interval [%.3f, %.3f] brackets the mean", pt.lo, pt.hi);
    task_curve_point pt2;
    task_curve(v, c, 8, 1, 1000, 7, &pt2);
    ok(pt.lo == pt2.lo && pt.hi == pt2.hi, "  bootstrap is deterministic");
}

static void sample_errors(void) {
    task_error err;
    task *t = task_create("linear_regression", NULL, &err);
    task_batch b;
    task_batch_alloc(t, 4, 21, false, &b, &err);
    ok(!task_sample(t, (task_state){20, 41}, 1, TASK_TRAIN, 0, &b, &err), "state N beyond the layout is rejected");
    like(err.msg, "outside [1, layout N = 21]", "  with a message");
    ok(!task_sample(t, (task_state){21, 11}, 1, TASK_TRAIN, 0, &b, &err), "d_cur beyond d is rejected");
    ok(!task_sample(t, (task_state){0, 11}, 1, TASK_TRAIN, 0, &b, &err), "d_cur = 0 is rejected");
    ok(task_sample(t, (task_state){5, 11}, 1, TASK_TRAIN, 0, &b, &err), "a curriculum state inside the layout works");
    ok(b.st.d_cur == 5 && b.st.N == 11, "  the batch records its state");
    task_batch_free(&b);
    task_free(t);
}

int main(void) {
    registry();
    defaults();
    training();
    params();
    shapes();
    curriculum();
    losses();
    sample_errors();
    return done_testing();
}
