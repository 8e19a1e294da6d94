/* Checkpoints: save/restore round trip, previous checkpoint kept, refusals (non-finite values,
 * another model's checkpoint, truncated and corrupted files). */
#include "runtime/rt_ckpt.h"
#include "tests/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rt_plan *make_plan(int64_t width, const char *extra_param) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", ir_shape_of(1, (int64_t[]){width}));
    ir_id w = ir_param(g, "layer.w", ir_shape_of(1, (int64_t[]){width}), ir_init_normal(0, 1));
    ir_id m = ir_input(g, "adam:m:layer.w", ir_shape_of(1, (int64_t[]){width}));
    ir_id y = ir_binary(g, OP_add, ir_binary(g, OP_mul, x, w), m);
    if (extra_param) y = ir_binary(g, OP_add, y, ir_param(g, extra_param, ir_shape_scalar(), ir_init_ones()));
    ir_output_add(g, "y", y);
    char err[256];
    rt_plan *p = rt_plan_compile(&rt_executor_interp, g, NULL, err, sizeof err);
    ir_graph_free(g);
    return p;
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

int main(void) {
    char dir[] = "/tmp/iclc-ckpt-XXXXXX", path[256], prev[256], err[2048];
    ok(mkdtemp(dir) != NULL, "temporary directory");
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.safetensors", dir);
    rt_plan *p = make_plan(4, NULL);
    float *w = rt_plan_buffer(p, "layer.w"), *m = rt_plan_buffer(p, "adam:m:layer.w");
    for (int i = 0; i < 4; i++) w[i] = 0.25f * (float)i - 1, m[i] = (float)i;
    rt_kv meta[] = {{"step", "7"}, {"model", "test"}};
    ok(rt_ckpt_save(path, prev, p, meta, 2, err, sizeof err), "first save: %s", err);
    ok(access(prev, F_OK) != 0, "no previous checkpoint after the first save");
    w[0] = 42;
    ok(rt_ckpt_save(path, prev, p, meta, 2, err, sizeof err), "second save");
    ok(access(prev, F_OK) == 0, "the previous checkpoint is kept");

    rt_plan *q = make_plan(4, NULL);
    rt_ckpt *c = rt_ckpt_load(path, err, sizeof err);
    ok(c != NULL, "load: %s", err);
    is_str(rt_ckpt_meta(c, "step"), "7", "metadata read back");
    ok(rt_ckpt_meta(c, "nope") == NULL, "absent metadata: NULL");
    ok(rt_ckpt_restore(c, q, true, err, sizeof err), "restore with optimizer state: %s", err);
    ok(memcmp(rt_plan_buffer(q, "layer.w"), w, 4 * sizeof(float)) == 0, "weights restored bit-exactly");
    ok(memcmp(rt_plan_buffer(q, "adam:m:layer.w"), m, 4 * sizeof(float)) == 0, "optimizer state restored");
    rt_ckpt_free(c);
    rt_plan_free(q);

    q = make_plan(5, "other.b");
    c = rt_ckpt_load(path, err, sizeof err);
    ok(!rt_ckpt_restore(c, q, false, err, sizeof err), "another model's checkpoint is refused");
    like(err, "layer.w is F32 f32[4] in the checkpoint, f32[5] in the model", "... naming the shape mismatch");
    like(err, "missing other.b", "... and the missing tensor");
    rt_ckpt_free(c);
    rt_plan_free(q);

    long before = file_size(path);
    w[1] = 1.0f / 0.0f;
    ok(!rt_ckpt_save(path, prev, p, meta, 2, err, sizeof err), "a non-finite weight is not saved");
    like(err, "layer.w holds a non-finite value", "... with a message");
    is_int(file_size(path), before, "the good checkpoint is untouched");

    /* truncated and corrupted files */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    FILE *in = fopen(path, "rb"), *out = fopen(bad, "wb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n / 2, out);
    fclose(in);
    fclose(out);
    ok(rt_ckpt_load(bad, err, sizeof err) == NULL, "truncated checkpoint refused");
    like(err, bad, "... naming the file");
    out = fopen(bad, "wb");
    fwrite("garbage!garbage!garbage!", 1, 24, out);
    fclose(out);
    ok(rt_ckpt_load(bad, err, sizeof err) == NULL, "corrupted checkpoint refused");
    snprintf(bad, sizeof bad, "%s/missing.safetensors", dir);
    ok(rt_ckpt_load(bad, err, sizeof err) == NULL, "missing checkpoint refused");
    rt_plan_free(p);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ok(system(cmd) == 0, "cleaned up");
    return done_testing();
}
