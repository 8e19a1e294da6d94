/* rt_ckpt.c — checkpoints in safetensors (see rt_ckpt.h). */
#include "runtime/rt_ckpt.h"

#include "runtime/rt_safetensors.h"
#include "runtime/rt_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rt_ckpt {
    rt_st_file *file;
    char path[1024];
};

/* Params, and with_state the Adam moments, are what a checkpoint holds. */
static bool is_saved(const rt_plan *p, const rt_buffer *b, bool with_state) {
    if (b->is_output) return false;
    if (p->graph->nodes[b->id].op == OP_param) return true;
    return with_state && (strncmp(b->name, "adam:m:", 7) == 0 || strncmp(b->name, "adam:v:", 7) == 0);
}

bool rt_ckpt_save(const char *path, const char *prev_path, const rt_plan *p, const rt_kv *meta, int nmeta, char *err,
                  size_t errlen) {
    rt_st_tensor *t = calloc((size_t)(p->nbuffers ? p->nbuffers : 1), sizeof *t);
    rt_st_kv *kv = calloc((size_t)(nmeta ? nmeta : 1), sizeof *kv);
    if (!t || !kv) {
        free(t);
        free(kv);
        snprintf(err, errlen, "%s: out of memory", path);
        return false;
    }
    size_t n = 0;
    bool okay = true;
    for (int i = 0; okay && i < p->nbuffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        if (!is_saved(p, b, true)) continue;
        for (int64_t k = 0, e = ir_numel(b->shape); okay && k < e; k++)
            if (!isfinite(b->data[k])) {
                snprintf(err, errlen, "%s: not saved: %s holds a non-finite value", path, b->name);
                okay = false;
            }
        t[n] = (rt_st_tensor){.name = b->name, .dtype = RT_ST_F32, .rank = b->shape.rank, .data = b->data};
        for (int d = 0; d < b->shape.rank; d++) t[n].shape[d] = b->shape.dim[d];
        n++;
    }
    for (int i = 0; i < nmeta; i++) kv[i] = (rt_st_kv){meta[i].key, meta[i].value};
    /* new file beside the current one, then current -> prev, then new -> current: a good checkpoint
     * exists on disk at every moment. */
    char fresh[1100];
    snprintf(fresh, sizeof fresh, "%s.new", path);
    okay = okay && rt_st_write(fresh, t, n, kv, (size_t)nmeta, err, errlen);
    free(t);
    free(kv);
    if (!okay) return false;
    if (prev_path && access(path, F_OK) == 0 && rename(path, prev_path) != 0) {
        snprintf(err, errlen, "%s: cannot keep the previous checkpoint as %s: %s", path, prev_path, strerror(errno));
        unlink(fresh);
        return false;
    }
    if (rename(fresh, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(fresh);
        return false;
    }
    rt_fsync_dir_of(path);
    return true;
}

rt_ckpt *rt_ckpt_load(const char *path, char *err, size_t errlen) {
    rt_ckpt *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    c->file = rt_st_open(path, err, errlen);
    if (!c->file) {
        free(c);
        return NULL;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    return c;
}

void rt_ckpt_free(rt_ckpt *c) {
    if (!c) return;
    rt_st_close(c->file);
    free(c);
}

const char *rt_ckpt_meta(const rt_ckpt *c, const char *key) { return rt_st_meta(c->file, key); }

/* Appends "; what" to the mismatch list in err (keeps the first ones when it is full). */
static void note(char *err, size_t errlen, size_t *used, int *count, const char *fmt, const char *name,
                 const char *extra) {
    if (*used < errlen) {
        int k = snprintf(err + *used, errlen - *used, *count ? "; " : "");
        *used += k > 0 ? (size_t)k : 0;
    }
    if (*used < errlen) {
        int k = snprintf(err + *used, errlen - *used, fmt, name, extra);
        *used += k > 0 ? (size_t)k : 0;
    }
    (*count)++;
}

static void shape_str(int rank, const int64_t *dims, char *buf, size_t len) {
    ir_type_str(IR_F32, ir_shape_of(rank, dims), buf, len);
}

bool rt_ckpt_restore(const rt_ckpt *c, rt_plan *p, bool with_state, char *err, size_t errlen) {
    size_t used = (size_t)snprintf(err, errlen, "%s does not match the model: ", c->path);
    int bad = 0;
    for (int i = 0; i < p->nbuffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        if (!is_saved(p, b, with_state)) continue;
        const rt_st_tensor *t = rt_st_find(c->file, b->name);
        char want[96], got[96];
        shape_str(b->shape.rank, b->shape.dim, want, sizeof want);
        if (!t) {
            note(err, errlen, &used, &bad, "missing %s%s", b->name, "");
            continue;
        }
        shape_str(t->rank, t->shape, got, sizeof got);
        if (t->dtype != RT_ST_F32 || t->rank != b->shape.rank || t->numel != ir_numel(b->shape) ||
            strcmp(want, got) != 0) {
            char extra[300];
            snprintf(extra, sizeof extra, " is %s %s in the checkpoint, %s in the model", rt_st_dtype_name(t->dtype),
                     got, want);
            note(err, errlen, &used, &bad, "%s%s", b->name, extra);
        }
    }
    for (size_t i = 0; i < rt_st_count(c->file); i++) {
        const rt_st_tensor *t = rt_st_at(c->file, i);
        if (strncmp(t->name, "adam:", 5) == 0) continue;
        const rt_buffer *b = rt_plan_find(p, t->name);
        if (!b || b->is_output || p->graph->nodes[b->id].op != OP_param)
            note(err, errlen, &used, &bad, "unexpected %s%s", t->name, "");
    }
    if (bad) return false;
    for (int i = 0; i < p->nbuffers; i++) {
        const rt_buffer *b = &p->buffers[i];
        if (!is_saved(p, b, with_state)) continue;
        const rt_st_tensor *t = rt_st_find(c->file, b->name);
        memcpy(b->data, t->data, t->nbytes);
    }
    err[0] = '\0';
    return true;
}
