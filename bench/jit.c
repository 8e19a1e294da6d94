/* bench/jit.c — training-step time of the JIT executor against the interpreter (same run), compile time
 * cold and warm, and peak memory, for a model of models.lua on a task shape, or for the built-in C graphs
 * of tests/jit_models.h.
 *
 *   build/bench/jit [--model transformer] [--config tiny] [--task linear_regression] [--N 41] [--batch 64]
 *                   [--threads 2] [--steps 20] [--interp-steps 2] [--fuse none|jit]
 *   --fuse jit: apply every fusion pattern the JIT has kernels for (as `iclc train` does), default none
 *   build/bench/jit --model c:attention | c:mamba     the C graphs (B 64, L 82)
 */
#include "codegen/cg_plan.h"
#include "passes/adam.h"
#include "passes/autodiff.h"
#include "passes/fuse.h"
#include "passes/passes.h"
#include "runtime/rt_exec_jit.h"
#include "runtime/rt_fuse.h"
#include "runtime/rt_loss.h"
#include "runtime/rt_model.h"
#include "runtime/rt_util.h"
#include "tests/jit_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ir_graph *model_graph(const char *model, const char *config, const char *task_name, int64_t N, int64_t B) {
    if (strncmp(model, "c:", 2) == 0) {
        ir_graph *g = ir_graph_new();
        if (strcmp(model + 2, "mamba") == 0) jm_mamba(g, B, 2 * N, 64, 128, 16, 2);
        else jm_transformer(g, B, 2 * N, 64, 4, 3);
        return g;
    }
    task_error te;
    task *t = task_create(task_name, NULL, &te);
    if (!t) {
        fprintf(stderr, "bench: %s\n", te.msg);
        return NULL;
    }
    char err[1024];
    rt_model_spec spec = {model, config, NULL};
    ir_graph *g = rt_model_build(&spec, t, B, N, true, NULL, err, sizeof err);
    if (!g) {
        fprintf(stderr, "bench: %s\n", err);
        task_free(t);
        return NULL;
    }
    task_shape sh = task_shape_at(t, N);
    rt_head heads[TASK_MAX_HEADS];
    rt_task_heads(&sh, heads);
    ir_output_add(g, "loss", rt_loss_append(g, ir_output_find(g, "pred"), heads, sh.nheads));
    task_free(t);
    return g;
}

static void fill(rt_plan *p) {
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < p->nbuffers; i++) {
        rt_buffer *b = &p->buffers[i];
        const ir_node *n = &p->graph->nodes[b->id];
        int64_t cnt = ir_numel(b->shape);
        if (b->is_output) continue;
        if (n->op == OP_param) ir_init_fill(n, 1, b->data);
        else if (strncmp(b->name, "adam:m:", 7) == 0 || strncmp(b->name, "adam:v:", 7) == 0) memset(b->data, 0, (size_t)cnt * 4);
        else if (strcmp(b->name, "adam:lr") == 0) b->data[0] = 1e-4f;
        else if (strcmp(b->name, "adam:step") == 0) b->data[0] = 1;
        else if (strncmp(b->name, "mask:", 5) == 0) for (int64_t k = 0; k < cnt; k++) b->data[k] = 1;
        else
            for (int64_t k = 0; k < cnt; k++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                b->data[k] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
            }
    }
}

/* Seconds per run: median of `steps` runs (after one warm-up run). */
static double time_runs(rt_plan *p, int steps) {
    char err[512];
    double *t = calloc((size_t)steps, sizeof *t);
    rt_plan_run(p, 0, err, sizeof err);
    for (int i = 0; i < steps; i++) {
        double t0 = rt_now();
        rt_plan_run(p, (uint64_t)i + 1, err, sizeof err);
        t[i] = rt_now() - t0;
    }
    for (int i = 0; i < steps; i++)
        for (int j = i + 1; j < steps; j++)
            if (t[j] < t[i]) { double x = t[i]; t[i] = t[j]; t[j] = x; }
    double m = t[steps / 2];
    free(t);
    return m;
}

int main(int argc, char **argv) {
    const char *model = "transformer", *config = "tiny", *task_name = "linear_regression", *fuse = "none";
    int64_t N = 41, B = 64;
    int threads = 2, steps = 20, isteps = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--config")) config = argv[i + 1];
        else if (!strcmp(argv[i], "--task")) task_name = argv[i + 1];
        else if (!strcmp(argv[i], "--N")) N = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) B = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--interp-steps")) isteps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--fuse")) fuse = argv[i + 1];
        else {
            fprintf(stderr, "usage: see the comment at the top of bench/jit.c\n");
            return 2;
        }
    }
    ir_graph *g = model_graph(model, config, task_name, N, B);
    if (!g) return 1;
    if (!strcmp(fuse, "jit")) {
        char skip[256];
        rt_fusion_skips(rt_executor_find("jit"), g, NULL, skip, sizeof skip);
        printf("fusion: jit (left out: %s)\n", skip[0] ? skip : "none");
        if (!pass_fuse(g, skip)) {
            fprintf(stderr, "bench: %s\n", ir_error(g));
            return 1;
        }
    }
    ir_adam_opts ao = ir_adam_defaults();
    if (!(pass_train_graph(g, NULL, &ao))) {
        fprintf(stderr, "bench: %s\n", ir_error(g));
        return 1;
    }
    char dir[] = "/tmp/iclc-bench-XXXXXX", err[1024];
    if (!mkdtemp(dir)) return 1;
    setenv("XDG_CACHE_HOME", dir, 1);
    unsetenv("ICLC_NO_CACHE");
    rt_plan_opts po = {.threads = threads};
    rt_plan *cold = rt_plan_compile(rt_executor_find("jit"), g, &po, err, sizeof err);
    if (!cold) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    rt_plan *warm = rt_plan_compile(rt_executor_find("jit"), g, &po, err, sizeof err);
    rt_jit_info ci, wi;
    rt_jit_info_of(cold, &ci);
    rt_jit_info_of(warm, &wi);
    int kinds[5] = {0};
    for (int k = 0; k < ci.plan->nkerns; k++) kinds[ci.plan->kerns[k].kind]++;
    int64_t unplanned = 0;
    for (int i = ci.plan->next; i < ci.plan->nslots; i++) unplanned += ci.plan->slots[i].base < 0 ? ci.plan->slots[i].bytes : 0;
    fill(warm);
    double tj = time_runs(warm, steps);
    rt_plan *ip = rt_plan_compile(rt_executor_find("interp"), g, &po, err, sizeof err);
    fill(ip);
    double ti = time_runs(ip, isteps);
    printf("model %s config %s task %s N %lld batch %lld threads %d: %d graph nodes\n", model, config, task_name,
           (long long)N, (long long)B, threads, g->nnodes);
    printf("  kernels %d (loop %d, reduce %d, matmul %d, scan %d, cscan %d)\n", ci.plan->nkerns, kinds[0], kinds[1],
           kinds[2], kinds[3], kinds[4]);
    printf("  compile cold %.0f ms (plan %.1f, LLVM %.0f), warm %.1f ms (cache hit %s)\n", cold->seconds_compile * 1e3,
           ci.ms_plan, ci.ms_llvm, warm->seconds_compile * 1e3, wi.cache_hit ? "yes" : "NO");
    printf("  step: jit %.3f ms, interp %.1f ms, interp/jit %.1fx\n", tj * 1e3, ti * 1e3, ti / tj);
    printf("  memory: arena %.2f MB (%.2f MB without reuse), executor buffers %.2f MB, matmul scratch %.2f MB\n",
           ci.arena_bytes / 1048576.0, unplanned / 1048576.0, ci.plan->ext_bytes / 1048576.0, ci.scratch_bytes / 1048576.0);
    rt_plan_free(ip);
    rt_plan_free(cold);
    rt_plan_free(warm);
    ir_graph_free(g);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
