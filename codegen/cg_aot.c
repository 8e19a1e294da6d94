/* cg_aot.c — a plan compiled ahead of time into DIR/libmodel.so (see cg_aot.h and docs/export.md). */
#include "codegen/cg_aot.h"
#include "codegen/cg_lower.h"
#include "codegen/cg_tune.h"

#include <errno.h>
#include <omp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The driver's fixed part: one string per line (generated from cg_aot_driver.tmpl). */
static const char *const DRIVER[] = {
#include "codegen/cg_aot_driver.inc"
    NULL};

enum { PARALLEL_WORK = 1 << 15 }; /* as runtime/rt_exec_jit.c: smaller kernels run on one thread */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

/* Writes len bytes to path through a temp file, fsynced and renamed. */
static cg_error write_file(const char *path, const void *data, size_t len) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return cg_errorf("%s: cannot write: %s", tmp, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        cg_error e = cg_errorf("%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return e;
    }
    return cg_ok();
}

/* A growable string. */
typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* A C string literal of s (names are plain, but escape anyway). */
static void sb_cstr(sbuf *b, const char *s) {
    sb_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) sb_printf(b, "\\%03o", c);
        else sb_printf(b, "%c", c);
    }
    sb_printf(b, "\"");
}

/* The executor buffer's name: the input/param name, or the output's name. */
static const char *ext_name(const ir_graph *g, const cg_extbuf *x) {
    if (x->is_output)
        for (int i = 0; i < g->noutputs; i++)
            if (g->outputs[i].id == x->id) return g->outputs[i].name;
    return g->nodes[x->id].attr.name;
}

/* model.h: the documented API and the shape constants. */
static void gen_header(sbuf *b, const ir_shape in, const ir_shape out, const cg_aot_info *info) {
    sb_printf(b,
              "/* model.h — a model compiled by `iclc export` (generated; see iclc's docs/export.md).\n"
              " *\n"
              " * Link: cc -O2 prog.c -I DIR -L DIR -lmodel -Wl,-rpath,DIR   (needs only libc, libm, libgomp)\n"
              " *\n"
              " *   char err[256];\n"
              " *   model_t *m = model_init(\"DIR/weights.safetensors\", err, sizeof err);   // NULL + message on error\n"
              " *   model_predict(m, tokens, pred);   // tokens f32[MODEL_BATCH][MODEL_T][MODEL_D_IN],\n"
              " *                                     // pred   f32[MODEL_BATCH][MODEL_T][MODEL_D_OUT]; 0 on success\n"
              " *   model_free(m);\n"
              " *\n"
              " * A model_t may be used by one thread at a time; model_predict splits each kernel over\n"
              " * omp_get_max_threads() threads as of model_init (set OMP_NUM_THREADS to choose). The batch and\n"
              " * prompt length are fixed: pad a partial batch. Target CPU: %s (%d kernels).\n"
              " */\n"
              "#ifndef ICLC_EXPORTED_MODEL_H\n#define ICLC_EXPORTED_MODEL_H\n\n#include <stddef.h>\n\n"
              "#define MODEL_BATCH %lld\n#define MODEL_T %lld\n#define MODEL_D_IN %lld\n#define MODEL_D_OUT %lld\n\n"
              "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
              "typedef struct model model_t;\n\n"
              "/* Loads the weights (safetensors, F32, one tensor per parameter, checked strictly). */\n"
              "model_t *model_init(const char *weights_path, char *err, size_t errlen);\n"
              "/* Predictions for one batch of prompts; 0 on success, -1 on a NULL argument. */\n"
              "int model_predict(model_t *m, const float *tokens, float *pred);\n"
              "void model_free(model_t *m);\n"
              "/* The shape constants, for callers that dlopen the library. Any pointer may be NULL. */\n"
              "void model_shape(long long *batch, long long *T, long long *d_in, long long *d_out);\n\n"
              "#ifdef __cplusplus\n}\n#endif\n#endif\n",
              info->cpu, info->nkerns, (long long)in.dim[0], (long long)in.dim[1], (long long)in.dim[2],
              (long long)out.dim[2]);
}

/* model_driver.c: the tables of this plan, then the fixed driver. */
static void gen_driver(sbuf *b, const cg_plan *p, const cg_extbuf *ext, int in_buf, int out_buf) {
    const ir_graph *g = p->g;
    sb_printf(b, "/* model_driver.c — generated by iclc export: the plan's buffers and kernels, and the driver. */\n"
                 "#include \"model.h\"\n#include <stdint.h>\n\n");
    sb_printf(b, "enum { NBUF = %d, NSLOT = %d, NKERN = %d, IN_BUF = %d, OUT_BUF = %d };\n", p->next, p->nslots,
              p->nkerns, in_buf, out_buf);
    sb_printf(b, "#define ARENA_BYTES %lldLL\n#define SCRATCH_BYTES %lldLL\n#define PARALLEL_WORK %dLL\n\n",
              (long long)p->arena_bytes, (long long)p->scratch_bytes, PARALLEL_WORK);
    sb_printf(b, "static const struct { const char *name; int param, rank; long long shape[%d]; long long numel; } "
                 "BUFS[NBUF] = {\n",
              IR_MAX_RANK);
    for (int i = 0; i < p->next; i++) {
        const ir_node *n = &g->nodes[ext[i].id];
        sb_printf(b, "    {");
        sb_cstr(b, ext_name(g, &ext[i]));
        sb_printf(b, ", %d, %d, {", !ext[i].is_output && n->op == OP_param, n->shape.rank);
        for (int d = 0; d < n->shape.rank; d++) sb_printf(b, "%s%lld", d ? ", " : "", (long long)n->shape.dim[d]);
        sb_printf(b, "}, %lldLL},\n", (long long)ir_numel(n->shape));
    }
    sb_printf(b, "};\n\nstatic const struct { int ext; long long offset; } SLOTS[NSLOT] = {\n");
    for (int i = 0; i < p->nslots; i++)
        sb_printf(b, "    {%d, %lldLL},\n", i < p->next ? i : -1, (long long)(i < p->next ? 0 : p->slots[i].offset));
    sb_printf(b, "};\n\n");
    for (int k = 0; k < p->nkerns; k++) /* kernels of the same code share the function of the first (impl) */
        if (p->kerns[k].impl == k) sb_printf(b, "extern void %s(int64_t, int64_t, void **);\n", p->kerns[k].name);
    sb_printf(b, "static void (*const FNS[NKERN])(int64_t, int64_t, void **) = {");
    for (int k = 0; k < p->nkerns; k++) sb_printf(b, "%s%s", k ? ", " : "", p->kerns[p->kerns[k].impl].name);
    sb_printf(b, "};\n\ntypedef struct { long long range, work; int matmul, nbufs; int bufs[%d]; } kern_t;\n"
                 "static const kern_t KERNS[NKERN] = {\n",
              CG_MAX_BUFS);
    for (int k = 0; k < p->nkerns; k++) {
        const cg_kern *kn = &p->kerns[k];
        sb_printf(b, "    {%lldLL, %lldLL, %d, %d, {", (long long)kn->range, kn->serial ? 0LL : (long long)kn->work, kn->kind == CGK_MATMUL,
                  kn->nbufs);
        for (int j = 0; j < kn->nbufs; j++) sb_printf(b, "%s%d", j ? ", " : "", kn->bufs[j]);
        sb_printf(b, "}},\n");
    }
    sb_printf(b, "};\n\n");
    for (int i = 0; DRIVER[i]; i++) sb_printf(b, "%s", DRIVER[i]);
}

/* Runs argv (no shell); cg_ok() when it exits with status 0. */
static cg_error run(char **argv) {
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc != 0) return cg_errorf("cannot run %s: %s", argv[0], strerror(rc));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return cg_errorf("waiting for %s: %s", argv[0], strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return cg_errorf("%s failed (status %d)", argv[0], WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return cg_ok();
}

cg_error cg_aot_build(const ir_graph *g, const char *dir, const cg_aot_opts *opts, cg_aot_info *info) {
    cg_aot_opts o = opts ? *opts : (cg_aot_opts){0};
    const char *in_name = o.input ? o.input : "tokens", *out_name = o.output ? o.output : "pred";
    cg_aot_info dummy;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    cg_jit *jit = NULL;
    cg_extbuf *ext = NULL;
    cg_plan *plan = NULL;
    LLVMModuleRef m = NULL;
    cg_blob obj = {0};
    sbuf hb = {0}, db = {0};
    char path[4200], err[512];
    cg_jit_options jo = {0};
    if (o.cpu && strcmp(o.cpu, "host") != 0) jo.cpu = o.cpu;
    cg_error e = cg_jit_create(&jit, &jo);
    if (e.failed) goto out;
    snprintf(info->cpu, sizeof info->cpu, "%s", cg_jit_cpu(jit)->name);
    int next = cg_plan_default_ext(g, &ext);
    if (next < 0) {
        e = cg_errorf("export: out of memory");
        goto out;
    }
    int in_buf = -1, out_buf = -1;
    for (int i = 0; i < next; i++) {
        const char *nm = ext_name(g, &ext[i]);
        const ir_node *n = &g->nodes[ext[i].id];
        if (ext[i].is_output && strcmp(nm, out_name) == 0) out_buf = i;
        else if (!ext[i].is_output && n->op == OP_input) {
            if (strcmp(nm, in_name) != 0) {
                e = cg_errorf("export: the graph has an input '%s' besides '%s'", nm, in_name);
                goto out;
            }
            in_buf = i;
        }
    }
    if (in_buf < 0 || out_buf < 0) {
        e = cg_errorf("export: the graph needs an input '%s' and an output '%s'", in_name, out_name);
        goto out;
    }
    const ir_shape si = g->nodes[ext[in_buf].id].shape, so = g->nodes[ext[out_buf].id].shape;
    if (si.rank != 3 || so.rank != 3 || si.dim[0] != so.dim[0] || si.dim[1] != so.dim[1]) {
        e = cg_errorf("export: want %s [B,T,d_in] and %s [B,T,d_out]", in_name, out_name);
        goto out;
    }
    cg_tune_db *tune = jo.cpu ? NULL : cg_tune_load(cg_jit_cpu(jit), true); /* tuned for this host only */
    cg_plan_opts po = {.cpu = cg_jit_cpu(jit), .threads = o.threads > 0 ? o.threads : omp_get_max_threads(), .tune = tune};
    plan = cg_plan_build(g, ext, next, &po, err, sizeof err);
    cg_tune_free(tune);
    if (!plan) {
        e = cg_errorf("export: %s", err);
        goto out;
    }
    info->nkerns = plan->nkerns;
    info->arena_bytes = plan->arena_bytes;
    info->scratch_bytes = plan->scratch_bytes;

    double t0 = now_ms();
    m = cg_module_create(jit, "model");
    if (!m) {
        e = cg_errorf("export: out of memory");
        goto out;
    }
    e = cg_lower_emit(jit, m, plan, NULL);
    if (!e.failed) e = cg_jit_optimize(jit, m);
    if (!e.failed) e = cg_jit_emit_object(jit, m, &obj); /* PIC, from a clone */
    if (e.failed) goto out;
    info->ms_llvm = now_ms() - t0;
    snprintf(path, sizeof path, "%s/kernels.o", dir);
    if ((e = write_file(path, obj.data, obj.size)).failed) goto out;

    gen_header(&hb, si, so, info);
    gen_driver(&db, plan, ext, in_buf, out_buf);
    if (hb.oom || db.oom) {
        e = cg_errorf("export: out of memory");
        goto out;
    }
    snprintf(path, sizeof path, "%s/model.h", dir);
    if ((e = write_file(path, hb.s, hb.n)).failed) goto out;
    snprintf(path, sizeof path, "%s/model_driver.c", dir);
    if ((e = write_file(path, db.s, db.n)).failed) goto out;
    static const char map[] = "{\n  global: model_init; model_predict; model_free; model_shape;\n  local: *;\n};\n";
    snprintf(path, sizeof path, "%s/model.map", dir);
    if ((e = write_file(path, map, sizeof map - 1)).failed) goto out;

    /* cc -shared: driver + kernels -> libmodel.so (through a temp name, renamed) */
    double t1 = now_ms();
    char cc[256], so_tmp[4200], so_path[4200], drv[4200], kobj[4200], vs[4300], inc[4300];
    const char *env_cc = getenv("CC");
    snprintf(cc, sizeof cc, "%s", o.cc ? o.cc : env_cc && *env_cc ? env_cc : "cc");
    snprintf(so_path, sizeof so_path, "%s/libmodel.so", dir);
    snprintf(so_tmp, sizeof so_tmp, "%s/libmodel.so.tmp%ld", dir, (long)getpid());
    snprintf(drv, sizeof drv, "%s/model_driver.c", dir);
    snprintf(kobj, sizeof kobj, "%s/kernels.o", dir);
    snprintf(vs, sizeof vs, "-Wl,--version-script=%s/model.map", dir);
    snprintf(inc, sizeof inc, "-I%s", dir);
    char *argv[] = {cc, "-std=c17", "-O2", "-fPIC", "-fopenmp", "-shared", "-Wl,-z,noexecstack", inc, "-o", so_tmp,
                    drv, kobj, vs, "-lm", NULL};
    e = run(argv);
    if (!e.failed && rename(so_tmp, so_path) != 0) e = cg_errorf("%s: %s", so_path, strerror(errno));
    if (e.failed) {
        remove(so_tmp);
        e = cg_errorf("export: linking %s: %s", so_path, e.msg);
    }
    info->ms_cc = now_ms() - t1;
out:
    free(hb.s);
    free(db.s);
    cg_blob_free(&obj);
    if (m) LLVMDisposeModule(m);
    cg_plan_free(plan);
    free(ext);
    cg_jit_destroy(jit);
    return e;
}
