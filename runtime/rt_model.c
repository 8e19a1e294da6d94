/* rt_model.c — a Lua model built for a task's prompt layout (see rt_model.h). The task (tasks/) says
 * the layout; the frontend runs the model file; this file translates between the two. */
#include "runtime/rt_model.h"

#include "frontend/frontend.h"
#include "runtime/rt_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The frontend's view of a prompt: tokens f32[B,T,d_tok] in, d_out = the heads' widths side by side. */
static fe_shape prompt_shape(const task *t, int64_t B, int64_t N) {
    task_shape sh = task_shape_at(t, N);
    fe_shape s = {.task = task_get_name(t), .B = B, .T = sh.T, .d_in = sh.d_tok, .n_points = N};
    for (int h = 0; h < sh.nheads; h++) s.d_out += sh.heads[h].width;
    double d = task_param(t, "d"), k = task_param(t, "k"), m = task_param(t, "m");
    s.d = isnan(d) ? sh.d_tok : (int64_t)d;
    if (strcmp(s.task, "cot_io") == 0 && !isnan(k)) s.k = (int64_t)k;
    if (strcmp(s.task, "mqar") == 0 && !isnan(m)) s.m = (int64_t)m;
    return s;
}

ir_graph *rt_model_build(const rt_model_spec *m, const task *t, int64_t B, int64_t N, bool training,
                         rt_model_info *info, char *err, size_t errlen) {
    /* Evaluation graphs switch training-only behaviour (S4-Mamba's dropout) off through the config. */
    char set[1024];
    const char *user = m->set && *m->set ? m->set : NULL;
    if (training) snprintf(set, sizeof set, "%s", user ? user : "");
    else snprintf(set, sizeof set, "%s%strain=0", user ? user : "", user ? "," : "");
    fe_options o = {.model = m->model, .config = m->config, .set = *set ? set : NULL, .shape = prompt_shape(t, B, N)};
    fe_model *fm = fe_build(&o, err, errlen);
    if (!fm) return NULL;
    ir_graph *g = fm->graph;
    fm->graph = NULL;
    if (info) {
        memset(info, 0, sizeof *info);
        snprintf(info->file, sizeof info->file, "%s", fm->model_file);
        snprintf(info->hash, sizeof info->hash, "sha256:%s", fm->model_sha256);
        rt_jw w;
        rt_jw_init(&w, 0);
        rt_jw_begin_object(&w);
        for (int i = 0; i < fm->nconfig; i++) {
            rt_jw_key(&w, fm->config[i].key);
            rt_jw_string(&w, fm->config[i].value);
        }
        rt_jw_end_object(&w);
        const char *json = rt_jw_result(&w, NULL);
        snprintf(info->config, sizeof info->config, "%s", json ? json : "{}");
        rt_jw_free(&w);
        info->params = fm->nparams;
    }
    fe_model_free(fm);
    return g;
}

void rt_task_heads(const task_shape *sh, rt_head *heads) {
    for (int h = 0, channel = 0; h < sh->nheads; channel += (int)sh->heads[h].width, h++)
        heads[h] = (rt_head){sh->heads[h].name, sh->heads[h].start, sh->heads[h].stride, sh->heads[h].count,
                             sh->heads[h].width, sh->heads[h].loss == TASK_LOSS_BCE ? RT_LOSS_BCE : RT_LOSS_SQUARED,
                             channel};
}
