/* The JIT's compile cache (cold, warm, corrupted, disabled) and the vector width of its generated code. */
#include "codegen/cg_cache.h"
#include "codegen/cg_lower.h"
#include "tests/jit_harness.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static ir_graph *graph(void) {
    ir_graph *g = ir_graph_new();
    ir_id x = ir_input(g, "x", S(2, 64, 40, 0, 0)), w = ir_param(g, "w", S(2, 40, 24, 0, 0), ir_init_normal(0, 0.2));
    ir_id h = ir_unary(g, OP_relu, ir_matmul(g, x, w, false, false));
    ir_output_add(g, "y", ir_binary(g, OP_add, ir_binary(g, OP_mul, h, h), ir_rand_mask(g, S(2, 64, 24, 0, 0), 0.25, 3)));
    ir_output_add(g, "s", ir_reduce(g, OP_sum, h, 1));
    return g;
}

/* Compiles and runs g once; copies output y into out; reports whether the cache was hit. */
static bool run_once(const ir_graph *g, float *out, bool *hit) {
    char err[512];
    rt_plan *p = rt_plan_compile(rt_executor_find("jit"), g, &(rt_plan_opts){.threads = 2}, err, sizeof err);
    if (!p) {
        diag("compile: %s", err);
        return false;
    }
    rt_jit_info info;
    rt_jit_info_of(p, &info);
    *hit = info.cache_hit;
    fill_plan(p, FILL_SIGNED);
    bool ran = rt_plan_run(p, 5, err, sizeof err);
    memcpy(out, rt_plan_buffer(p, "y"), 64 * 24 * sizeof(float));
    rt_plan_free(p);
    return ran;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Assembly of the plan of g on a JIT for cpu (NULL: host); true when it uses `reg` registers. */
static bool asm_uses(const ir_graph *g, const char *cpu, const char *reg, int *vec_bits) {
    cg_jit *jit;
    if (cg_jit_create(&jit, &(cg_jit_options){.cpu = cpu}).failed) return false;
    *vec_bits = cg_jit_cpu(jit)->vec_bits;
    cg_extbuf *ext;
    int next = cg_plan_default_ext(g, &ext);
    char err[256];
    cg_plan *p = cg_plan_build(g, ext, next, &(cg_plan_opts){.cpu = cg_jit_cpu(jit), .threads = 1}, err, sizeof err);
    LLVMModuleRef m = cg_module_create(jit, "asm");
    char *text = NULL;
    bool found = false;
    if (p && !cg_lower_emit(jit, m, p, NULL).failed && !cg_jit_optimize(jit, m).failed && !cg_jit_emit_asm(jit, m, &text).failed) {
        /* the elementwise kernel: the flat loop that computes y = h*h + mask */
        const char *name = NULL;
        ir_id y = ir_output_find(g, "y");
        for (int k = 0; k < p->nkerns; k++)
            for (int r = 0; r < p->kerns[k].nroots; r++)
                if (p->kerns[k].kind == CGK_LOOP && p->kerns[k].flat && p->kerns[k].roots[r] == y) name = p->kerns[k].name;
        char label[64];
        snprintf(label, sizeof label, "\n%s:", name ? name : "?");
        const char *at = strstr(text, label), *end = at ? strstr(at + 1, ".Lfunc_end") : NULL;
        for (const char *q = at; q && q < end && !found; q = strstr(q + 1, reg))
            found = q != at && q < end;
    }
    free(text);
    LLVMDisposeModule(m);
    cg_plan_free(p);
    free(ext);
    cg_jit_destroy(jit);
    return found;
}

int main(void) {
    char dir[] = "/tmp/iclc-cache-test-XXXXXX";
    ok(mkdtemp(dir) != NULL, "temporary cache dir");
    setenv("XDG_CACHE_HOME", dir, 1);
    unsetenv("ICLC_NO_CACHE");
    ir_graph *g = graph();
    ok(ir_verify(g), "graph verifies");
    static float cold[64 * 24], warm[64 * 24], again[64 * 24];
    bool hit = true;
    ok(run_once(g, cold, &hit) && !hit, "cold start compiles with LLVM");
    char key[2048], path[4096];
    {
        cg_jit *jit;
        cg_jit_create(&jit, NULL);
        cg_cache_key(jit, ir_graph_hash(g), 2, key, sizeof key);
        cg_jit_destroy(jit);
    }
    ok(cg_cache_path(key, path, sizeof path) && file_size(path) > 100, "cache entry written: %s", path);
    like(path, "/iclc/jit-", "... under $XDG_CACHE_HOME/iclc/");
    ok(run_once(g, warm, &hit) && hit, "warm start loads the cached object");
    ok(memcmp(cold, warm, sizeof cold) == 0, "cold and warm results are identical");

    /* corruptions: a flipped byte in the object, a truncated file, garbage */
    long size = file_size(path);
    FILE *f = fopen(path, "r+b");
    fseek(f, size - 40, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size - 40, SEEK_SET);
    fputc(c ^ 0x5A, f);
    fclose(f);
    ok(run_once(g, again, &hit) && !hit, "a corrupted entry is detected and rebuilt");
    ok(memcmp(cold, again, sizeof cold) == 0, "... with identical results");
    ok(run_once(g, again, &hit) && hit, "... and the rebuilt entry is used next time");
    ok(truncate(path, size / 2) == 0 && run_once(g, again, &hit) && !hit, "a truncated entry is rebuilt");
    f = fopen(path, "wb");
    fputs("garbage", f);
    fclose(f);
    ok(run_once(g, again, &hit) && !hit && memcmp(cold, again, sizeof cold) == 0, "a garbage entry is rebuilt");
    ok(file_size(path) == size, "... and overwritten with a good one");

    /* a different graph does not hit */
    ir_graph *g2 = ir_graph_clone(g);
    g2->nodes[ir_output_find(g2, "y")].op = OP_sub;
    ok(ir_verify(g2) && run_once(g2, again, &hit) && !hit, "another graph misses");
    ir_graph_free(g2);

    setenv("ICLC_NO_CACHE", "1", 1);
    ok(run_once(g, again, &hit) && !hit, "ICLC_NO_CACHE=1 disables the cache");
    unsetenv("ICLC_NO_CACHE");

    /* generated code uses the widest vector registers of the CPU */
    int bits = 0;
    bool host_zmm = asm_uses(g, NULL, "%zmm", &bits), host_ymm = asm_uses(g, NULL, "%ymm", &bits);
    if (bits >= 512) ok(host_zmm, "host (%d-bit vectors): the fused elementwise kernel uses zmm", bits);
    else if (bits == 256) ok(host_ymm && !host_zmm, "host (%d-bit vectors): the fused elementwise kernel uses ymm", bits);
    else ok(1, "host has %d-bit vectors", bits);
    int bits3 = 0;
    bool v3_ymm = asm_uses(g, "x86-64-v3", "%ymm", &bits3), v3_zmm = asm_uses(g, "x86-64-v3", "%zmm", &bits3);
    ok(bits3 == 256 && v3_ymm && !v3_zmm, "x86-64-v3 (AVX2): ymm and no zmm");

    ir_graph_free(g);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ok(system(cmd) == 0, "temporary cache removed");
    return done_testing();
}
