/* `iclc models [FILE.lua]` — every model and config of a model file with its parameter count (the sum of
 * its params' element counts, for a task's prompt shape) and the file's `describe` text. */
#include "frontend/frontend.h"
#include "runtime/cli.h"
#include "runtime/rt_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CMD "models"

int cli_models(int argc, char **argv) {
    const char *task = "linear_regression", *models_dir = NULL;
    cli_flag flags[] = {{"task", FLAG_STR, &task}, {"models-dir", FLAG_STR, &models_dir}};
    int npos;
    if (!cli_parse(CMD, argc, argv, flags, 2, &npos)) return CLI_USAGE;
    if (npos > 1) return cli_usage_error(CMD, "takes at most one FILE.lua");
    const char *file = npos ? argv[1] : NULL;
    char err[8192];
    fe_shape shape;
    if (!fe_task_shape(task, 1, &shape, err, sizeof err)) return cli_usage_error(CMD, "%s", err);
    fe_catalog *cat = fe_catalog_load(file, models_dir, err, sizeof err);
    if (!cat) {
        fprintf(stderr, "%s\n", err);
        return CLI_USAGE;
    }
    printf("%s%s: %d model%s x %d config%s, parameter counts for task %s (d_in %" PRId64 ", T %" PRId64
           ", d_out %" PRId64 ")\n",
           cat->file, cat->builtin ? " (built in)" : "", cat->nmodels, cat->nmodels == 1 ? "" : "s", cat->nconfigs,
           cat->nconfigs == 1 ? "" : "s", shape.task, shape.d_in, shape.T, shape.d_out);
    int wm = 5, wc = 6; /* column widths */
    for (int i = 0; i < cat->nmodels; i++) wm = (int)strlen(cat->models[i]) > wm ? (int)strlen(cat->models[i]) : wm;
    for (int k = 0; k < cat->nconfigs; k++) wc = (int)strlen(cat->configs[k]) > wc ? (int)strlen(cat->configs[k]) : wc;
    printf("%-*s  %-*s  %11s  %s\n", wm, "MODEL", wc, "CONFIG", "PARAMS", "DESCRIPTION");
    int status = CLI_OK;
    for (int i = 0; i < cat->nmodels; i++)
        for (int k = 0; k < cat->nconfigs; k++) {
            char spec[2200];
            if (cat->builtin) snprintf(spec, sizeof spec, "%s", cat->models[i]);
            else snprintf(spec, sizeof spec, "%s:%s", cat->file, cat->models[i]);
            fe_options o = {.model = spec, .config = cat->configs[k], .shape = shape, .models_dir = models_dir};
            fe_model *m = fe_build(&o, err, sizeof err);
            char count[40];
            if (m) rt_thousands(m->nparams, count, sizeof count);
            else snprintf(count, sizeof count, "error");
            const char *desc = cat->describe[i * cat->nconfigs + k];
            printf("%-*s  %-*s  %11s  %s\n", wm, cat->models[i], wc, cat->configs[k], count, desc ? desc : "");
            if (!m) {
                fprintf(stderr, "iclc models: %s with config %s: %s\n", cat->models[i], cat->configs[k], err);
                status = CLI_USAGE;
            }
            fe_model_free(m);
        }
    fe_catalog_free(cat);
    return status;
}
