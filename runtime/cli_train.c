/* `iclc train` and `iclc eval` — the command-line face of runtime/rt_train.c. */
#include "runtime/cli.h"
#include "runtime/rt_exec.h"
#include "runtime/rt_exec_compiled.h"
#include "runtime/rt_train.h"

#include <stdio.h>

int cli_train(int argc, char **argv) {
    rt_train_opts o = rt_train_defaults();
    bool resume = false;
    const char *resume_dir = NULL;
    o.steps = -1; /* unset: 2000, or the checkpoint's when resuming */
    o.backend = NULL;
    cli_flag flags[] = {
        {"model", FLAG_STR, &o.model},        {"config", FLAG_STR, &o.config},
        {"set", FLAG_STR, &o.set},            {"task", FLAG_STR, &o.task},
        {"task-params", FLAG_STR, &o.task_params}, {"out", FLAG_STR, &o.out},
        {"backend", FLAG_STR, &o.backend},    {"steps", FLAG_INT, &o.steps},
        {"batch", FLAG_INT, &o.batch},        {"seed", FLAG_INT, &o.seed},
        {"threads", FLAG_INT, &o.threads},    {"eval-every", FLAG_INT, &o.eval_every},
        {"eval-prompts", FLAG_INT, &o.eval_prompts}, {"save-every", FLAG_INT, &o.save_every},
        {"log-every", FLAG_INT, &o.log_every}, {"lr", FLAG_F64, &o.lr},
        {"beta1", FLAG_F64, &o.beta1},        {"beta2", FLAG_F64, &o.beta2},
        {"eps", FLAG_F64, &o.eps},            {"weight-decay", FLAG_F64, &o.weight_decay},
        {"clip", FLAG_F64, &o.clip},          {"resume", FLAG_STR, &resume_dir},
        {"quiet", FLAG_BOOL, &o.quiet},       {"no-fuse", FLAG_STR, &o.no_fuse},
    };
    int npos;
    if (!cli_parse("train", argc, argv, flags, (int)(sizeof flags / sizeof flags[0]), &npos)) return CLI_USAGE;
    if (npos) return cli_usage_error("train", "unexpected argument '%s'", argv[1]);
    if (resume_dir) {
        resume = true;
        o.out = resume_dir;
    } else if (o.steps < 0) {
        o.steps = 2000;
    }
    o.resume = resume;
    return rt_train(&o);
}

int cli_eval(int argc, char **argv) {
    int64_t prompts = 1280, threads = 0;
    const char *csv = NULL, *backend = NULL, *compiled = NULL;
    cli_flag flags[] = {{"prompts", FLAG_INT, &prompts}, {"csv", FLAG_STR, &csv}, {"backend", FLAG_STR, &backend},
                        {"threads", FLAG_INT, &threads}, {"compiled", FLAG_STR, &compiled}};
    int npos;
    if (!cli_parse("eval", argc, argv, flags, 5, &npos)) return CLI_USAGE;
    if (npos != 1) return cli_usage_error("eval", "needs one run directory (e.g. iclc eval runs/lr-tf)");
    if (prompts < 1) return cli_usage_error("eval", "--prompts must be >= 1");
    if (compiled) return rt_eval_compiled(argv[1], compiled, prompts, threads, csv); /* iclc export's library */
    return rt_eval_run(argv[1], backend, prompts, threads, csv);
}
