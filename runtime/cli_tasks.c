/* `iclc tasks` — list the in-context-learning tasks, print sampled prompts, and tabulate the
 * baselines' error at every context length (docs/tasks.md). */
#include "runtime/cli.h"
#include "tasks/task.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *loss_name(task_loss_kind k) { return k == TASK_LOSS_BCE ? "bce" : "squared"; }
static const char *metric_name(task_metric_kind k) { return k == TASK_METRIC_ACCURACY ? "accuracy" : "squared_error"; }

static void print_param(const task *t, int i, FILE *out) {
    const task_param_desc *pd = task_param_info(t, i);
    double v = task_param_value(t, i);
    char val[64];
    if (pd->kind == TASK_PARAM_CHOICE) {
        /* choices are "a|b|c"; print the selected one */
        const char *c = pd->choices;
        for (int k = 0; k < (int)v && c; k++) {
            c = strchr(c, '|');
            if (c) c++;
        }
        const char *bar = c ? strchr(c, '|') : NULL;
        snprintf(val, sizeof val, "%.*s", c ? (int)(bar ? (size_t)(bar - c) : strlen(c)) : 1, c ? c : "?");
    } else {
        snprintf(val, sizeof val, "%.10g", v);
    }
    fprintf(out, "    %-9s = %-8s %s", pd->name, val, pd->help);
    if (pd->kind == TASK_PARAM_CHOICE) fprintf(out, " {%s}", pd->choices);
    fprintf(out, "\n");
}

static int list_tasks(void) {
    for (int i = 0; i < task_count(); i++) {
        task_error err;
        task *t = task_create(task_name(i), NULL, &err);
        if (!t) {
            fprintf(stderr, "iclc tasks: %s\n", err.msg);
            return CLI_FAIL;
        }
        task_shape sh = task_shape_at(t, task_n_max(t));
        printf("%s%s%s%s\n  %s\n", task_name(i), task_alias(i) ? " (alias " : "", task_alias(i) ? task_alias(i) : "",
               task_alias(i) ? ")" : "", task_summary(i));
        printf("  tokens T = %lld x d_tok = %lld; heads:", (long long)sh.T, (long long)sh.d_tok);
        for (int h = 0; h < sh.nheads; h++)
            printf(" %s (width %lld, %s loss)", sh.heads[h].name, (long long)sh.heads[h].width, loss_name(sh.heads[h].loss));
        task_train_defaults tr = task_training(t);
        printf("\n  training (reference): %lld steps, batch %lld, Adam lr %g, gradient clip %g", (long long)tr.steps,
               (long long)tr.batch, tr.lr, tr.grad_clip);
        printf("\n  baselines:");
        for (int b = 0; b < task_baseline_count(t); b++) printf(" %s", task_baseline_name(t, b));
        printf("\n  parameters:\n");
        for (int p = 0; p < task_param_count(t); p++) print_param(t, p, stdout);
        printf("\n");
        task_free(t);
    }
    return CLI_OK;
}

/* Makes the task named by argv[1] with the --set overrides, or reports why not. */
static task *make_task(const char *cmd, int npos, char **argv, const char *set) {
    if (npos < 2) {
        cli_usage_error(cmd, "missing TASK (see `iclc tasks` for the list)");
        return NULL;
    }
    task_error err;
    task *t = task_create(argv[2], set, &err);
    if (!t) cli_usage_error(cmd, "%s", err.msg);
    return t;
}

static void json_floats(FILE *f, const float *v, int64_t n) {
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? "," : "", (double)v[i]);
    fputc(']', f);
}

/* Rows of `width` floats as a JSON array of arrays (width 1: a flat array). */
static void json_rows(FILE *f, const float *v, int64_t rows, int64_t width) {
    if (width == 1) {
        json_floats(f, v, rows);
        return;
    }
    fputc('[', f);
    for (int64_t r = 0; r < rows; r++) {
        if (r) fputc(',', f);
        json_floats(f, v + r * width, width);
    }
    fputc(']', f);
}

static int cmd_sample(int argc, char **argv) {
    int64_t n = 2, seed = 1, first = 0, step = -1;
    bool json = false, eval = false, latent = false;
    const char *set = NULL;
    cli_flag flags[] = {{"n", FLAG_INT, &n},         {"seed", FLAG_INT, &seed},   {"first", FLAG_INT, &first},
                        {"step", FLAG_INT, &step},   {"json", FLAG_BOOL, &json},  {"eval", FLAG_BOOL, &eval},
                        {"latent", FLAG_BOOL, &latent}, {"set", FLAG_STR, &set}};
    int npos;
    if (!cli_parse("tasks", argc, argv, flags, sizeof flags / sizeof flags[0], &npos)) return CLI_USAGE;
    if (npos > 2) return cli_usage_error("tasks", "unexpected argument '%s'", argv[3]);
    if (n < 1 || n > 100000) return cli_usage_error("tasks", "--n must be in [1, 100000], got %lld", (long long)n);
    if (first < 0 || seed < 0) return cli_usage_error("tasks", "--first and --seed must be >= 0");
    if (eval && step >= 0) return cli_usage_error("tasks", "--eval and --step exclude each other");
    task *t = make_task("tasks", npos, argv, set);
    if (!t) return CLI_USAGE;
    task_state st = step >= 0 ? task_curriculum_at(t, step).st : task_eval_state(t);
    int64_t N = task_n_max(t);
    task_shape sh = task_shape_at(t, N);
    if (sh.T * sh.d_tok > ((int64_t)1 << 28) / n) {
        task_free(t);
        return cli_usage_error("tasks", "--n %lld prompts of %lld x %lld floats is too much to print", (long long)n,
                               (long long)sh.T, (long long)sh.d_tok);
    }
    task_batch b;
    task_error err;
    if (!task_batch_alloc(t, n, N, latent, &b, &err) ||
        !task_sample(t, st, (uint64_t)seed, eval ? TASK_EVAL : TASK_TRAIN, (uint64_t)first, &b, &err)) {
        fprintf(stderr, "iclc tasks: %s\n", err.msg);
        task_batch_free(&b);
        task_free(t);
        return CLI_FAIL;
    }
    char params[1024];
    task_params_string(t, params, sizeof params);
    if (json) {
        printf("{\"task\":\"%s\",\"params\":\"%s\",\"seed\":%lld,\"stream\":\"%s\",\"first\":%lld,"
               "\"state\":{\"d_cur\":%lld,\"N\":%lld},\"T\":%lld,\"d_tok\":%lld,\"heads\":[",
               task_get_name(t), params, (long long)seed, eval ? "eval" : "train", (long long)first, (long long)st.d_cur,
               (long long)st.N, (long long)sh.T, (long long)sh.d_tok);
        for (int h = 0; h < sh.nheads; h++)
            printf("%s{\"name\":\"%s\",\"start\":%lld,\"stride\":%lld,\"count\":%lld,\"width\":%lld,\"loss\":\"%s\","
                   "\"metric\":\"%s\"}",
                   h ? "," : "", sh.heads[h].name, (long long)sh.heads[h].start, (long long)sh.heads[h].stride,
                   (long long)sh.heads[h].count, (long long)sh.heads[h].width, loss_name(sh.heads[h].loss),
                   metric_name(sh.heads[h].metric));
        printf("],\"prompts\":[");
        for (int64_t i = 0; i < n; i++) {
            printf("%s{\"index\":%lld,\"tokens\":", i ? "," : "", (long long)(first + i));
            json_rows(stdout, b.tokens + i * sh.T * sh.d_tok, sh.T, sh.d_tok);
            printf(",\"targets\":{");
            for (int h = 0; h < sh.nheads; h++) {
                const task_head *hd = &sh.heads[h];
                printf("%s\"%s\":", h ? "," : "", hd->name);
                json_rows(stdout, b.targets[h] + i * hd->count * hd->width, hd->count, hd->width);
            }
            printf("},\"mask\":{");
            for (int h = 0; h < sh.nheads; h++) {
                printf("%s\"%s\":", h ? "," : "", sh.heads[h].name);
                json_floats(stdout, b.mask[h] + i * sh.heads[h].count, sh.heads[h].count);
            }
            printf("}");
            if (latent && b.latent) {
                printf(",\"latent\":");
                json_floats(stdout, b.latent + i * sh.latent, sh.latent);
            }
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("# %s %s seed %lld stream %s state d_cur=%lld N=%lld; T=%lld tokens of %lld\n", task_get_name(t), params,
               (long long)seed, eval ? "eval" : "train", (long long)st.d_cur, (long long)st.N, (long long)sh.T,
               (long long)sh.d_tok);
        for (int64_t i = 0; i < n; i++) {
            printf("prompt %lld\n", (long long)(first + i));
            for (int64_t p = 0; p < sh.T; p++) {
                const float *tok = b.tokens + (i * sh.T + p) * sh.d_tok;
                printf("  %4lld:", (long long)p);
                for (int64_t c = 0; c < sh.d_tok; c++) printf(" %9.4f", (double)tok[c]);
                for (int h = 0; h < sh.nheads; h++) {
                    const task_head *hd = &sh.heads[h];
                    int64_t r = p - hd->start;
                    if (r < 0 || r % hd->stride || r / hd->stride >= hd->count) continue;
                    int64_t k = r / hd->stride;
                    printf("  -> %s%s", hd->name, b.mask[h][i * hd->count + k] != 0 ? "" : " (not counted)");
                    for (int64_t w = 0; w < hd->width; w++) printf(" %.4f", (double)b.targets[h][(i * hd->count + k) * hd->width + w]);
                }
                printf("\n");
            }
        }
    }
    task_batch_free(&b);
    task_free(t);
    return ferror(stdout) ? CLI_FAIL : CLI_OK;
}

typedef struct curve_set {
    int nb;
    const char **names;
    int *heads;
    task_curve_point **pts; /* [nb][count] */
} curve_set;

/* Writes the CSV to a temporary file next to `path`, fsyncs it and renames it into place. */
static bool write_csv(const char *path, const task *t, const task_shape *sh, const curve_set *cs) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) return false;
    snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "iclc tasks: cannot create %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return false;
    }
    FILE *f = fdopen(fd, "w");
    bool ok = f != NULL;
    double d = task_param(t, "d");
    if (ok) {
        fprintf(f, "task,baseline,head,metric,position,n_context,mean,std,ci_lo,ci_hi,count,mean_over_d\n");
        for (int b = 0; b < cs->nb; b++) {
            const task_head *hd = &sh->heads[cs->heads[b]];
            for (int64_t i = 0; i < hd->count; i++) {
                const task_curve_point *p = &cs->pts[b][i];
                fprintf(f, "%s,%s,%s,%s,%lld,%lld,%.9g,%.9g,%.9g,%.9g,%lld,%.9g\n", task_get_name(t), cs->names[b],
                        hd->name, metric_name(hd->metric), (long long)(hd->start + i * hd->stride), (long long)i,
                        p->mean, p->std, p->lo, p->hi, (long long)p->n, p->mean / d);
            }
        }
        ok = fflush(f) == 0 && fsync(fd) == 0;
        ok = (fclose(f) == 0) && ok;
    } else {
        close(fd);
    }
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        fprintf(stderr, "iclc tasks: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

static int cmd_baselines(int argc, char **argv) {
    int64_t prompts = TASK_EVAL_PROMPTS, seed = 1, nboot = 1000;
    bool normalize = false;
    const char *set = NULL, *csv = NULL;
    cli_flag flags[] = {{"prompts", FLAG_INT, &prompts}, {"seed", FLAG_INT, &seed},
                        {"bootstrap", FLAG_INT, &nboot},  {"normalize", FLAG_BOOL, &normalize},
                        {"set", FLAG_STR, &set},          {"csv", FLAG_STR, &csv}};
    int npos;
    if (!cli_parse("tasks", argc, argv, flags, sizeof flags / sizeof flags[0], &npos)) return CLI_USAGE;
    if (npos > 2) return cli_usage_error("tasks", "unexpected argument '%s'", argv[3]);
    if (prompts < 1 || prompts > 10000000)
        return cli_usage_error("tasks", "--prompts must be in [1, 10000000], got %lld", (long long)prompts);
    if (nboot < 0 || nboot > 100000) return cli_usage_error("tasks", "--bootstrap must be in [0, 100000]");
    if (seed < 0) return cli_usage_error("tasks", "--seed must be >= 0");
    if (csv && !*csv) return cli_usage_error("tasks", "--csv needs a file name");
    task *t = make_task("tasks", npos, argv, set);
    if (!t) return CLI_USAGE;

    const int64_t N = task_n_max(t), B = prompts < TASK_BATCH ? prompts : TASK_BATCH;
    const task_shape sh = task_shape_at(t, N);
    if (N > ((int64_t)1 << 26) / prompts) {
        task_free(t);
        return cli_usage_error("tasks", "--prompts %lld x %lld positions is too many (at most 2^26)", (long long)prompts,
                               (long long)N);
    }
    const int nb = task_baseline_count(t);
    int rc = CLI_FAIL;
    task_error err;
    task_batch b;
    memset(&b, 0, sizeof b);
    int64_t maxc = 0, maxw = 0;
    for (int h = 0; h < sh.nheads; h++) {
        maxc = sh.heads[h].count > maxc ? sh.heads[h].count : maxc;
        maxw = sh.heads[h].width > maxw ? sh.heads[h].width : maxw;
    }
    float *pred = malloc((size_t)(B * maxc * maxw) * sizeof(float));
    double **metric = calloc((size_t)nb, sizeof *metric);
    float **counted = calloc((size_t)nb, sizeof *counted);
    task_curve_point **pts = calloc((size_t)nb, sizeof *pts);
    const char **names = calloc((size_t)nb, sizeof *names);
    int *heads = calloc((size_t)nb, sizeof *heads);
    bool ok = pred && metric && counted && pts && names && heads;
    for (int k = 0; ok && k < nb; k++) {
        heads[k] = task_baseline_head(t, k);
        names[k] = task_baseline_name(t, k);
        int64_t C = sh.heads[heads[k]].count;
        metric[k] = malloc((size_t)(prompts * C) * sizeof(double));
        counted[k] = malloc((size_t)(prompts * C) * sizeof(float));
        pts[k] = malloc((size_t)C * sizeof(task_curve_point));
        ok = metric[k] && counted[k] && pts[k];
    }
    if (!ok) {
        fprintf(stderr, "iclc tasks: out of memory\n");
        goto done;
    }
    if (!task_batch_alloc(t, B, N, false, &b, &err)) goto fail;
    for (int64_t first = 0; first < prompts; first += B) {
        b.B = prompts - first < B ? prompts - first : B;
        if (!task_sample(t, task_eval_state(t), (uint64_t)seed, TASK_EVAL, (uint64_t)first, &b, &err)) goto fail;
        for (int k = 0; k < nb; k++) {
            int64_t C = sh.heads[heads[k]].count;
            if (!task_baseline_predict(t, k, &b, pred, &err)) goto fail;
            task_score(&sh, heads[k], &b, pred, metric[k] + first * C, counted[k] + first * C);
        }
    }
    for (int k = 0; k < nb; k++)
        task_curve(metric[k], counted[k], prompts, sh.heads[heads[k]].count, nboot, (uint64_t)seed, pts[k]);

    /* Table: one row per context length, one column per baseline (its head's metric). */
    const double d = task_param(t, "d");
    char params[1024];
    task_params_string(t, params, sizeof params);
    printf("# %s %s: %lld evaluation prompts (seed %lld), mean %s per context length%s\n", task_get_name(t), params,
           (long long)prompts, (long long)seed, metric_name(sh.heads[heads[0]].metric),
           normalize ? " divided by d" : "");
    printf("%-9s", "n_context");
    for (int k = 0; k < nb; k++) printf(" %14s", names[k]);
    printf("\n");
    for (int64_t i = 0; i < maxc; i++) {
        printf("%-9lld", (long long)i);
        for (int k = 0; k < nb; k++) {
            const task_head *hd = &sh.heads[heads[k]];
            if (i >= hd->count) {
                printf(" %14s", "-");
                continue;
            }
            double v = pts[k][i].mean;
            if (normalize && hd->metric == TASK_METRIC_SQERR) v /= d;
            printf(" %14.6g", v);
        }
        printf("\n");
    }
    if (csv && !write_csv(csv, t, &sh, &(curve_set){nb, names, heads, pts})) goto done;
    rc = CLI_OK;
    goto done;
fail:
    fprintf(stderr, "iclc tasks: %s\n", err.msg);
done:
    for (int k = 0; k < nb && metric && counted && pts; k++) {
        free(metric[k]);
        free(counted[k]);
        free(pts[k]);
    }
    free(metric);
    free(counted);
    free(pts);
    free(names);
    free(heads);
    free(pred);
    task_batch_free(&b);
    task_free(t);
    return rc;
}

int cli_tasks(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "list")) {
        if (argc > 2) return cli_usage_error("tasks", "'list' takes no arguments");
        return list_tasks();
    }
    if (!strcmp(argv[1], "sample")) return cmd_sample(argc, argv);
    if (!strcmp(argv[1], "baselines")) return cmd_baselines(argc, argv);
    return cli_usage_error("tasks", "unknown subcommand '%s' (list, sample, baselines)", argv[1]);
}
