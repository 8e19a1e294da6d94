/* rt_train.c — the training loop, periodic evaluation, logs, checkpoints and resume. */
#include "runtime/rt_train.h"

#include "passes/adam.h"
#include "passes/autodiff.h"
#include "passes/fuse.h"
#include "passes/passes.h"
#include "runtime/rt_ckpt.h"
#include "runtime/rt_eval.h"
#include "runtime/rt_fuse.h"
#include "runtime/rt_loss.h"
#include "runtime/rt_model.h"
#include "runtime/rt_util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The one piece of process-wide state: signal handlers can reach nothing else. Counts SIGINT/SIGTERM
 * received; the trainer polls it between steps (first signal: checkpoint and stop; second: exit now). */
static volatile sig_atomic_t signals_received;

static void on_signal(int sig) {
    if (signals_received++ > 0) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

rt_train_opts rt_train_defaults(void) {
    return (rt_train_opts){
        .model = "models.lua:transformer", .config = "tiny", .task = "linear_regression", .out = "runs/default",
        .backend = "jit", .steps = 2000, .batch = 64, .seed = 1, .eval_every = 500, .eval_prompts = 1280,
        .save_every = 500, .log_every = 10, .lr = 1e-4, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
        .weight_decay = 0, .clip = 10,
    };
}

typedef struct trainer {
    rt_train_opts o;
    task *task;
    rt_model_spec spec;
    rt_model_info info;
    const rt_executor *ex;
    rt_plan *plan;
    int64_t plan_N;
    rt_plan *eval_plan;
    rt_eval_result baselines;
    bool have_baselines;
    FILE *csv, *jsonl;
    int64_t step; /* the next step to run */
    char skip[512];  /* fusion patterns left out: the user's and those the executor cannot run */
    bool skip_known;
    char path_ckpt[1024], path_prev[1024], path_eval[1024];
    char err[2048];
} trainer;

/* ---- plans ---- */

/* Appends the loss of the task's heads to a model graph and marks it as output "loss". */
static bool append_loss(trainer *tr, ir_graph *g, int64_t N) {
    task_shape sh = task_shape_at(tr->task, N);
    rt_head heads[TASK_MAX_HEADS];
    rt_task_heads(&sh, heads);
    ir_id loss = rt_loss_append(g, ir_output_find(g, "pred"), heads, sh.nheads);
    return loss != IR_NONE && ir_output_add(g, "loss", loss);
}

/* Decides once per run which fusion patterns to leave out (rt_fuse.h); model is a model graph. */
static bool choose_fusions(trainer *tr, const ir_graph *model, int64_t N) {
    if (tr->skip_known) return true;
    ir_graph *g = ir_graph_clone(model);
    bool okay = g && append_loss(tr, g, N);
    if (okay) rt_fusion_skips(tr->ex, g, tr->o.no_fuse, tr->skip, sizeof tr->skip);
    ir_graph_free(g);
    tr->skip_known = okay;
    if (!okay) snprintf(tr->err, sizeof tr->err, "building the loss: out of memory or a bad read-out");
    return okay;
}

/* Model + fusion + loss + gradients + Adam, for prompts of N points. */
static ir_graph *build_train_graph(trainer *tr, int64_t N) {
    ir_graph *g = rt_model_build(&tr->spec, tr->task, tr->o.batch, N, true, &tr->info, tr->err, sizeof tr->err);
    if (!g) return NULL;
    if (!choose_fusions(tr, g, N) || !pass_fuse(g, tr->skip)) {
        if (ir_failed(g)) snprintf(tr->err, sizeof tr->err, "fusion: %s", ir_error(g));
        ir_graph_free(g);
        return NULL;
    }
    ir_adam_opts adam = ir_adam_defaults();
    adam.beta1 = tr->o.beta1;
    adam.beta2 = tr->o.beta2;
    adam.eps = tr->o.eps;
    adam.weight_decay = tr->o.weight_decay;
    adam.clip = tr->o.clip;
    bool okay = append_loss(tr, g, N) && pass_autodiff(g, NULL) && pass_adam(g, &adam) &&
                pass_fuse_backward(g, tr->skip) && pass_cse(g, NULL) && pass_dce(g, NULL) && ir_verify(g);
    if (!okay) {
        snprintf(tr->err, sizeof tr->err, "building the training graph: %s", ir_error(g));
        ir_graph_free(g);
        return NULL;
    }
    return g;
}

/* Copies every param and optimizer state buffer of `from` into the same-named buffer of `to`. */
static void copy_state(const rt_plan *from, rt_plan *to, bool with_optimizer) {
    for (int i = 0; i < from->nbuffers; i++) {
        const rt_buffer *b = &from->buffers[i];
        bool is_param = from->graph->nodes[b->id].op == OP_param;
        if (b->is_output || !(is_param || (with_optimizer && strncmp(b->name, "adam:", 5) == 0))) continue;
        const rt_buffer *d = rt_plan_find(to, b->name);
        if (d && !d->is_output && ir_shape_eq(d->shape, b->shape))
            memcpy(d->data, b->data, (size_t)ir_numel(b->shape) * sizeof(float));
    }
}

/* Compiles the training plan for N points, carrying the state over from the previous plan. */
static bool switch_plan(trainer *tr, int64_t N) {
    ir_graph *g = build_train_graph(tr, N);
    if (!g) return false;
    rt_plan *p = rt_plan_compile(tr->ex, g, &(rt_plan_opts){.threads = (int)tr->o.threads}, tr->err, sizeof tr->err);
    ir_graph_free(g);
    if (!p) return false;
    /* new weights and moments replace the old ones after every run (names: passes/adam.h) */
    static const char *const carried[][2] = {{"new:", ""}, {"adam:m_new:", "adam:m:"}, {"adam:v_new:", "adam:v:"}};
    for (int i = 0; i < p->nbuffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        if (b->is_output || p->graph->nodes[b->id].op != OP_param) continue;
        for (size_t k = 0; k < sizeof carried / sizeof carried[0]; k++) {
            char out[600], in[600];
            snprintf(out, sizeof out, "%s%s", carried[k][0], b->name);
            snprintf(in, sizeof in, "%s%s", carried[k][1], b->name);
            if (!rt_plan_find(p, out)) continue; /* a param the optimizer does not update */
            if (!rt_plan_carry(p, out, in, tr->err, sizeof tr->err)) {
                rt_plan_free(p);
                return false;
            }
        }
    }
    if (tr->plan) {
        copy_state(tr->plan, p, true);
        rt_plan_free(tr->plan);
    }
    tr->plan = p;
    tr->plan_N = N;
    return true;
}

static void init_params(rt_plan *p, uint64_t seed) {
    for (int i = 0; i < p->nbuffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        if (!b->is_output && p->graph->nodes[b->id].op == OP_param) ir_init_fill(&p->graph->nodes[b->id], seed, b->data);
    }
}

/* ---- one step ---- */

static bool sample_batch(trainer *tr, task_state st) {
    task_shape sh = task_shape_at(tr->task, tr->plan_N);
    task_batch b = {.B = tr->o.batch, .N = tr->plan_N, .tokens = rt_plan_buffer(tr->plan, "tokens")};
    for (int h = 0; h < sh.nheads; h++) {
        char name[160];
        snprintf(name, sizeof name, "target:%s", sh.heads[h].name);
        b.targets[h] = rt_plan_buffer(tr->plan, name);
        snprintf(name, sizeof name, "mask:%s", sh.heads[h].name);
        b.mask[h] = rt_plan_buffer(tr->plan, name);
        if (!b.targets[h] || !b.mask[h]) {
            snprintf(tr->err, sizeof tr->err, "the training plan has no buffers for head '%s'", sh.heads[h].name);
            return false;
        }
    }
    task_error terr;
    if (!task_sample(tr->task, st, (uint64_t)tr->o.seed, TASK_TRAIN, (uint64_t)(tr->step * tr->o.batch), &b, &terr)) {
        snprintf(tr->err, sizeof tr->err, "sampling step %" PRId64 ": %s", tr->step, terr.msg);
        return false;
    }
    return true;
}

/* Names the first param whose gradient holds a NaN or Inf (after a bad step). */
static const char *first_bad_gradient(trainer *tr) {
    for (int i = 0; i < tr->plan->nbuffers; i++) {
        const rt_buffer *b = &tr->plan->buffers[i];
        if (!b->is_output || strncmp(b->name, "grad:", 5) != 0) continue;
        for (int64_t k = 0, n = ir_numel(b->shape); k < n; k++)
            if (!isfinite(b->data[k])) return b->name + 5;
    }
    return NULL;
}

/* ---- checkpoints ---- */

static bool save_checkpoint(trainer *tr) {
    char step[32], seed[32], lr[32], b1[32], b2[32], eps[32], wd[32], clip[32], batch[32], steps[32], params[32],
        threads[32];
    snprintf(threads, sizeof threads, "%" PRId64, tr->o.threads);
    snprintf(step, sizeof step, "%" PRId64, tr->step);
    snprintf(seed, sizeof seed, "%" PRId64, tr->o.seed);
    snprintf(batch, sizeof batch, "%" PRId64, tr->o.batch);
    snprintf(steps, sizeof steps, "%" PRId64, tr->o.steps);
    snprintf(params, sizeof params, "%" PRId64, tr->info.params);
    snprintf(lr, sizeof lr, "%.17g", tr->o.lr);
    snprintf(b1, sizeof b1, "%.17g", tr->o.beta1);
    snprintf(b2, sizeof b2, "%.17g", tr->o.beta2);
    snprintf(eps, sizeof eps, "%.17g", tr->o.eps);
    snprintf(wd, sizeof wd, "%.17g", tr->o.weight_decay);
    snprintf(clip, sizeof clip, "%.17g", tr->o.clip);
    char task_params[1024];
    task_params_string(tr->task, task_params, sizeof task_params);
    rt_kv meta[] = {
        {"format", "iclc-checkpoint-1"}, {"iclc_version", ICLC_VERSION}, {"model", tr->o.model},
        {"model_file", tr->info.file}, {"model_hash", tr->info.hash}, {"config", tr->o.config},
        {"set", tr->o.set ? tr->o.set : ""}, {"config_resolved", tr->info.config}, {"task", task_get_name(tr->task)},
        {"task_params", task_params}, {"step", step}, {"steps", steps}, {"seed", seed}, {"batch", batch},
        {"lr", lr}, {"beta1", b1}, {"beta2", b2}, {"eps", eps}, {"weight_decay", wd}, {"clip", clip},
        {"backend", tr->o.backend}, {"no_fuse", tr->o.no_fuse ? tr->o.no_fuse : ""}, {"params", params}, {"threads", threads},
    };
    return rt_ckpt_save(tr->path_ckpt, tr->path_prev, tr->plan, meta, (int)(sizeof meta / sizeof meta[0]), tr->err,
                        sizeof tr->err);
}

/* Restores options and state from the run directory's checkpoint (--resume). */
static bool load_for_resume(trainer *tr, rt_ckpt **out) {
    rt_ckpt *c = rt_ckpt_load(tr->path_ckpt, tr->err, sizeof tr->err);
    if (!c) return false;
    const char *fmt = rt_ckpt_meta(c, "format");
    if (!fmt || strcmp(fmt, "iclc-checkpoint-1") != 0) {
        snprintf(tr->err, sizeof tr->err, "%s: not an iclc training checkpoint (format '%s')", tr->path_ckpt,
                 fmt ? fmt : "missing");
        rt_ckpt_free(c);
        return false;
    }
    *out = c;
    return true;
}

/* ---- logs and progress ---- */

static FILE *open_log(trainer *tr, const char *name, const char *header, bool append) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", tr->o.out, name);
    bool fresh = !append || access(path, F_OK) != 0;
    FILE *f = fopen(path, fresh ? "w" : "a");
    if (!f) snprintf(tr->err, sizeof tr->err, "%s: %s", path, strerror(errno));
    else if (fresh && header) fputs(header, f);
    return f;
}

static void log_step(trainer *tr, double loss, double gnorm, task_state st, double elapsed, double rate) {
    fprintf(tr->csv, "%" PRId64 ",%.9g,%.9g,%" PRId64 ",%" PRId64 ",%.3f,%.4f\n", tr->step, loss, gnorm, st.d_cur,
            st.N, elapsed, rate);
    fprintf(tr->jsonl,
            "{\"step\":%" PRId64 ",\"loss\":%.9g,\"grad_norm\":%.9g,\"d_cur\":%" PRId64 ",\"N\":%" PRId64
            ",\"seconds\":%.3f,\"steps_per_s\":%.4f}\n",
            tr->step, loss, gnorm, st.d_cur, st.N, elapsed, rate);
    fflush(tr->csv);
    fflush(tr->jsonl);
}

static void progress(trainer *tr, double loss, double rate, bool tty) {
    double left = rate > 0 ? (double)(tr->o.steps - tr->step - 1) / rate : 0;
    if (tty)
        printf("\rstep %" PRId64 "/%" PRId64 "  loss %-10.5g %6.2f steps/s  ETA %dm%02ds   ", tr->step + 1, tr->o.steps,
               loss, rate, (int)(left / 60), (int)fmod(left, 60));
    else
        printf("step %" PRId64 "/%" PRId64 " loss %.6g %.2f steps/s ETA %.0fs\n", tr->step + 1, tr->o.steps, loss, rate,
               left);
    fflush(stdout);
}

/* ---- evaluation during training ---- */

/* The forward-only plan for 64 prompts at the evaluation prompt length, fused like training. */
static bool compile_eval_plan(trainer *tr) {
    int64_t N = task_eval_state(tr->task).N;
    ir_graph *g = rt_model_build(&tr->spec, tr->task, 64, N, false, &tr->info, tr->err, sizeof tr->err);
    if (!g) return false;
    if (!choose_fusions(tr, g, N) || !pass_fuse(g, tr->skip)) {
        if (ir_failed(g)) snprintf(tr->err, sizeof tr->err, "fusion: %s", ir_error(g));
        ir_graph_free(g);
        return false;
    }
    tr->eval_plan = rt_plan_compile(tr->ex, g, &(rt_plan_opts){.threads = (int)tr->o.threads}, tr->err,
                                    sizeof tr->err);
    ir_graph_free(g);
    return tr->eval_plan != NULL;
}

/* rt_write_atomic's writer for an evaluation's curves. */
static void write_eval_csv(FILE *f, const void *r) { rt_eval_write_csv(r, f); }

static bool evaluate(trainer *tr, bool print_table) {
    if (!tr->eval_plan && !compile_eval_plan(tr)) return false;
    copy_state(tr->plan, tr->eval_plan, false);
    rt_eval_result r;
    int64_t prompts = (tr->o.eval_prompts + 63) / 64 * 64;
    if (!rt_evaluate(tr->eval_plan, tr->task, (uint64_t)tr->o.seed, prompts, !tr->have_baselines, &r, tr->err,
                     sizeof tr->err))
        return false;
    if (!tr->have_baselines) {
        tr->baselines = r; /* keeps the baseline curves; the model curve is refreshed each time */
        tr->have_baselines = true;
        if (!rt_evaluate(tr->eval_plan, tr->task, (uint64_t)tr->o.seed, prompts, false, &r, tr->err, sizeof tr->err))
            return false;
    }
    rt_eval_copy_baselines(&r, &tr->baselines);
    printf("%seval at step %" PRId64 ": mean %s over positions %.6g", isatty(1) && !tr->o.quiet ? "\n" : "", tr->step,
           r.heads[0].metric == TASK_METRIC_ACCURACY ? "accuracy" : "squared error", r.mean_model);
    for (int c = 1; c < r.heads[0].ncurves; c++) {
        double s = 0;
        int64_t n = 0;
        for (int64_t i = 0; i < r.heads[0].count; i++)
            if (r.heads[0].curve[c][i].n) s += r.heads[0].curve[c][i].mean, n++;
        printf(" | %s %.6g", r.heads[0].curve_names[c], n ? s / (double)n : 0);
    }
    printf("\n");
    if (print_table) rt_eval_print(&r, stdout);
    bool okay = rt_write_atomic(tr->path_eval, write_eval_csv, &r, tr->err,
                                sizeof tr->err);
    rt_eval_result_free(&r);
    return okay;
}

/* ---- the run ---- */

static int fail(trainer *tr, int status) {
    fprintf(stderr, "%siclc train: %s\n", isatty(1) && !tr->o.quiet ? "\n" : "", tr->err);
    return status;
}

static void trainer_free(trainer *tr) {
    rt_plan_free(tr->plan);
    rt_plan_free(tr->eval_plan);
    if (tr->have_baselines) rt_eval_result_free(&tr->baselines);
    if (tr->csv) fclose(tr->csv);
    if (tr->jsonl) fclose(tr->jsonl);
    task_free(tr->task);
}

/* Applies a checkpoint's metadata to the options (a resumed run continues the same experiment). */
static bool options_from_checkpoint(trainer *tr, const rt_ckpt *c, char *store, size_t storelen) {
    const char *keys[] = {"model", "config", "set", "task", "task_params", "backend", "no_fuse"};
    const char **dst[] = {&tr->o.model,       &tr->o.config,  &tr->o.set,    &tr->o.task,
                          &tr->o.task_params, &tr->o.backend, &tr->o.no_fuse};
    size_t used = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = rt_ckpt_meta(c, keys[i]);
        if (!v) continue;
        if (i >= 5 && *dst[i]) continue; /* --backend and --no-fuse given on the command line win */
        size_t n = strlen(v) + 1;
        if (used + n > storelen) return false;
        memcpy(store + used, v, n);
        *dst[i] = store + used;
        used += n;
    }
    if (tr->o.set && !*tr->o.set) tr->o.set = NULL;
    /* a resumed run keeps its thread count (the JIT's results may depend on it) unless --threads is given */
    const char *nkeys[] = {"seed", "batch", "steps", "threads"};
    int64_t *ndst[] = {&tr->o.seed, &tr->o.batch, &tr->o.steps, &tr->o.threads};
    for (int i = 0; i < 4; i++) {
        if ((i == 2 && tr->o.steps >= 0) || (i == 3 && tr->o.threads > 0)) continue; /* the command line wins */
        if (rt_ckpt_meta(c, nkeys[i])) *ndst[i] = strtoll(rt_ckpt_meta(c, nkeys[i]), NULL, 10);
    }
    const char *fkeys[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "clip"};
    double *fdst[] = {&tr->o.lr, &tr->o.beta1, &tr->o.beta2, &tr->o.eps, &tr->o.weight_decay, &tr->o.clip};
    for (int i = 0; i < 6; i++)
        if (rt_ckpt_meta(c, fkeys[i])) *fdst[i] = strtod(rt_ckpt_meta(c, fkeys[i]), NULL);
    return true;
}

/* What train and eval both set up from the options: the executor, the task and the model spec. */
static bool setup_run(trainer *tr) {
    if (!tr->o.backend) tr->o.backend = "jit";
    tr->ex = rt_executor_find(tr->o.backend);
    if (!tr->ex) {
        snprintf(tr->err, sizeof tr->err, "unknown backend '%s' (choose from: %s)", tr->o.backend,
                 rt_executor_names());
        return false;
    }
    task_error terr;
    tr->task = task_create(tr->o.task, tr->o.task_params, &terr);
    if (!tr->task) {
        snprintf(tr->err, sizeof tr->err, "%s", terr.msg);
        return false;
    }
    tr->spec = (rt_model_spec){tr->o.model, tr->o.config, tr->o.set};
    return true;
}

int rt_train(const rt_train_opts *opts) {
    trainer tr = {.o = *opts};
    char meta_store[8192];
    snprintf(tr.path_ckpt, sizeof tr.path_ckpt, "%s/checkpoint.safetensors", opts->out);
    snprintf(tr.path_prev, sizeof tr.path_prev, "%s/checkpoint.prev.safetensors", opts->out);
    snprintf(tr.path_eval, sizeof tr.path_eval, "%s/eval.csv", opts->out);
    rt_ckpt *resume = NULL;
    if (opts->resume) {
        if (!load_for_resume(&tr, &resume)) return fail(&tr, 2);
        if (!options_from_checkpoint(&tr, resume, meta_store, sizeof meta_store)) {
            snprintf(tr.err, sizeof tr.err, "%s: metadata too large", tr.path_ckpt);
            rt_ckpt_free(resume);
            return fail(&tr, 2);
        }
        tr.step = strtoll(rt_ckpt_meta(resume, "step") ? rt_ckpt_meta(resume, "step") : "0", NULL, 10);
    }
    int status = 2;
    if (tr.o.batch < 1 || tr.o.steps < 0 || tr.o.eval_every < 0 || tr.o.save_every < 0 || tr.o.log_every < 1 ||
        !(tr.o.lr > 0) || !(tr.o.clip > 0) || tr.o.eval_prompts < 1) {
        snprintf(tr.err, sizeof tr.err, "bad schedule: need batch >= 1, steps >= 0, log-every >= 1, "
                                        "eval-prompts >= 1, lr > 0 and clip > 0");
        goto out;
    }
    if (tr.o.threads <= 0) tr.o.threads = rt_default_threads();
    if (!setup_run(&tr) || !rt_mkdirs(tr.o.out, tr.err, sizeof tr.err)) goto out;
    task_curriculum cur = task_curriculum_at(tr.task, tr.step);
    if (!switch_plan(&tr, cur.st.N)) goto out;
    if (resume) {
        if (!rt_ckpt_restore(resume, tr.plan, true, tr.err, sizeof tr.err)) goto out;
        rt_ckpt_free(resume);
        resume = NULL;
    } else {
        init_params(tr.plan, (uint64_t)tr.o.seed);
    }
    tr.csv = open_log(&tr, "log.csv", "step,loss,grad_norm,d_cur,N,seconds,steps_per_s\n", opts->resume);
    tr.jsonl = tr.csv ? open_log(&tr, "log.jsonl", NULL, opts->resume) : NULL;
    if (!tr.jsonl) goto out;

    status = 1;
    signals_received = 0;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    bool tty = isatty(1) && !tr.o.quiet;
    printf("training %s (config %s, %" PRId64 " parameters) on %s with the %s backend (%" PRId64 " thread%s), %" PRId64
           " steps from step %" PRId64 "\n",
           tr.o.model, tr.o.config, tr.info.params, task_get_name(tr.task), tr.ex->name, tr.o.threads,
           tr.o.threads == 1 ? "" : "s", tr.o.steps, tr.step);
    if (*tr.skip) printf("fusion patterns left out: %s\n", tr.skip);
    double t0 = rt_now(), t_last = t0;
    int64_t steps_done = 0;
    double rate = 0;
    bool okay = true;
    for (; okay && tr.step < tr.o.steps; tr.step++) {
        if (signals_received) break;
        cur = task_curriculum_at(tr.task, tr.step);
        if (cur.st.N != tr.plan_N && !(okay = switch_plan(&tr, cur.st.N))) break;
        if (!(okay = sample_batch(&tr, cur.st))) break;
        rt_plan_buffer(tr.plan, "adam:step")[0] = (float)(tr.step + 1);
        rt_plan_buffer(tr.plan, "adam:lr")[0] = (float)tr.o.lr;
        if (!(okay = rt_plan_run(tr.plan, (uint64_t)tr.step, tr.err, sizeof tr.err))) break;
        double loss = rt_plan_buffer(tr.plan, "loss")[0], gnorm = rt_plan_buffer(tr.plan, "grad_norm")[0];
        if (!isfinite(loss) || !isfinite(gnorm)) {
            const char *bad = first_bad_gradient(&tr);
            snprintf(tr.err, sizeof tr.err,
                     "step %" PRId64 ": the loss is %g and the gradient norm %g; first parameter with a bad gradient: "
                     "%s; last good checkpoint: %s",
                     tr.step, loss, gnorm, bad ? bad : "(none: the loss itself overflowed)",
                     access(tr.path_ckpt, F_OK) == 0 ? tr.path_ckpt : "none (no checkpoint was written yet)");
            okay = false;
            break;
        }
        steps_done++;
        double now = rt_now();
        if ((tr.step + 1) % tr.o.log_every == 0 || tr.step + 1 == tr.o.steps) {
            rate = (double)steps_done / (now - t0);
            log_step(&tr, loss, gnorm, cur.st, now - t0, rate);
            if (!tr.o.quiet && (tty || now - t_last > 5 || tr.step + 1 == tr.o.steps)) {
                progress(&tr, loss, rate, tty);
                t_last = now;
            }
        }
        bool last = tr.step + 1 == tr.o.steps;
        if ((tr.o.eval_every && (tr.step + 1) % tr.o.eval_every == 0) || last) {
            int64_t saved = tr.step++;
            okay = evaluate(&tr, last);
            tr.step = saved;
            if (!okay) break;
        }
        if ((tr.o.save_every && (tr.step + 1) % tr.o.save_every == 0) || last) {
            int64_t saved = tr.step++;
            okay = save_checkpoint(&tr);
            tr.step = saved;
        }
    }
    if (okay && signals_received) {
        okay = save_checkpoint(&tr);
        if (okay) printf("%sinterrupted at step %" PRId64 ": checkpoint written to %s\n", tty ? "\n" : "", tr.step,
                         tr.path_ckpt);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (okay) {
        if (tty) printf("\n");
        printf("done: %" PRId64 " steps in %.1f s; run directory %s\n", steps_done, rt_now() - t0, tr.o.out);
        status = 0;
    }
out:
    rt_ckpt_free(resume);
    if (status) fail(&tr, status);
    trainer_free(&tr);
    return status;
}

/* ---- iclc eval ---- */

int rt_eval_run(const char *dir, const char *backend, int64_t prompts, int64_t threads, const char *csv_path) {
    trainer tr = {.o = rt_train_defaults()};
    char meta_store[8192];
    tr.o.out = dir;
    tr.o.backend = backend;
    snprintf(tr.path_ckpt, sizeof tr.path_ckpt, "%s/checkpoint.safetensors", dir);
    rt_ckpt *c = NULL;
    int status = 2;
    if (!load_for_resume(&tr, &c) || !options_from_checkpoint(&tr, c, meta_store, sizeof meta_store) ||
        !setup_run(&tr))
        goto out;
    tr.o.threads = threads > 0 ? threads : rt_default_threads();
    if (!compile_eval_plan(&tr) || !rt_ckpt_restore(c, tr.eval_plan, false, tr.err, sizeof tr.err)) goto out;
    status = 1;
    rt_eval_result r;
    if (!rt_evaluate(tr.eval_plan, tr.task, (uint64_t)tr.o.seed, (prompts + 63) / 64 * 64, true, &r, tr.err,
                     sizeof tr.err))
        goto out;
    printf("%s at step %s on %s: mean over positions %.6g\n", tr.o.model, rt_ckpt_meta(c, "step"),
           task_get_name(tr.task), r.mean_model);
    rt_eval_print(&r, stdout);
    bool okay = !csv_path ||
                rt_write_atomic(csv_path, write_eval_csv, &r, tr.err, sizeof tr.err);
    rt_eval_result_free(&r);
    if (okay) status = 0;
out:
    if (status) fprintf(stderr, "iclc eval: %s\n", tr.err);
    rt_ckpt_free(c);
    rt_plan_free(tr.eval_plan);
    task_free(tr.task);
    return status;
}
