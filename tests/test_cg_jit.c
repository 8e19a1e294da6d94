/* test_cg_jit.c — the LLVM JIT foundation: a trivial kernel compiles and runs,
 * object bytes round-trip through a second JIT (the compile-cache path), the
 * optimised assembly uses the widest vectors, errors come back as values. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen/cg_jit.h"
#include "codegen/cg_peak.h"
#include "tests/tap.h"

/* Builds `name`: y[i] = a * x[i] + y[i] for i in [begin, end), bufs = {x, y, a}. */
static cg_error build_axpy(cg_jit *jit, LLVMModuleRef m, const char *name) {
    cg_kernel k;
    cg_error e = cg_kernel_begin(jit, m, name, 3, &k);
    if (e.failed) return e;
    LLVMTypeRef f32 = LLVMFloatTypeInContext(cg_jit_context(jit));
    LLVMValueRef a = LLVMBuildLoad2(k.b, f32, k.bufs[2], "a");
    cg_loop l;
    cg_loop_begin(jit, k.b, &l, k.begin, k.end, cg_i64(jit, 1), "i");
    LLVMValueRef px = cg_gep_f32(jit, k.b, k.bufs[0], l.iv), py = cg_gep_f32(jit, k.b, k.bufs[1], l.iv);
    LLVMValueRef x = LLVMBuildLoad2(k.b, f32, px, ""), y = LLVMBuildLoad2(k.b, f32, py, "");
    LLVMBuildStore(k.b, LLVMBuildFAdd(k.b, LLVMBuildFMul(k.b, a, x, ""), y, ""), py);
    cg_loop_end(k.b, &l);
    cg_kernel_end(&k);
    return cg_ok();
}

static int check_axpy(cg_kernel_fn fn, const char *what) {
    enum { N = 1003 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), a = 2.5f;
    for (int i = 0; i < N; i++) x[i] = (float)i, y[i] = 1.0f;
    void *bufs[3] = {x, y, &a};
    fn(3, N - 5, bufs);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float want = (i >= 3 && i < N - 5) ? 2.5f * i + 1.0f : 1.0f;
        if (y[i] != want) bad++;
    }
    free(x);
    free(y);
    return is_int(bad, 0, "%s: axpy on [3, N-5) is exact and leaves the rest alone", what);
}

/* A runtime helper that generated code calls through cg_jit_define_symbol. */
static float helper_scale(float x) { return 3.0f * x + 1.0f; }

/* Builds `name`: y[i] = iclc_test_helper(x[i]) for i in [begin, end), bufs = {x, y}. */
static cg_error build_call_helper(cg_jit *jit, LLVMModuleRef m, const char *name) {
    cg_kernel k;
    cg_error e = cg_kernel_begin(jit, m, name, 2, &k);
    if (e.failed) return e;
    LLVMTypeRef f32 = LLVMFloatTypeInContext(cg_jit_context(jit));
    LLVMTypeRef fty = LLVMFunctionType(f32, &f32, 1, 0);
    LLVMValueRef helper = LLVMAddFunction(m, "iclc_test_helper", fty);
    cg_loop l;
    cg_loop_begin(jit, k.b, &l, k.begin, k.end, cg_i64(jit, 1), "i");
    LLVMValueRef x = LLVMBuildLoad2(k.b, f32, cg_gep_f32(jit, k.b, k.bufs[0], l.iv), "");
    LLVMValueRef y = LLVMBuildCall2(k.b, fty, helper, &x, 1, "");
    LLVMBuildStore(k.b, y, cg_gep_f32(jit, k.b, k.bufs[1], l.iv));
    cg_loop_end(k.b, &l);
    cg_kernel_end(&k);
    return cg_ok();
}

int main(void) {
    cg_jit *jit = NULL;
    cg_error e = cg_jit_create(&jit, NULL);
    if (!ok(!e.failed, "cg_jit_create on the host")) {
        diag("%s", e.msg);
        return done_testing();
    }
    const cg_cpu *cpu = cg_jit_cpu(jit);
    diag("cpu %s, %d-bit vectors, %d registers", cpu->name, cpu->vec_bits, cpu->n_vec_regs);
    ok(cpu->vec_bits == 128 || cpu->vec_bits == 256 || cpu->vec_bits == 512, "vector width is 128/256/512");
    ok(strstr(cpu->features, "+avx512f") ? cpu->vec_bits == 512 : 1, "AVX-512 host -> 512-bit vectors");
    char ver[32];
    cg_jit_llvm_version(ver);
    like(ver, "19.", "LLVM version %s", ver);

    /* 1. trivial kernel: compile, look up, run */
    LLVMModuleRef m = cg_module_create(jit, "axpy");
    e = build_axpy(jit, m, "axpy");
    ok(!e.failed, "build axpy kernel");
    cg_blob obj = {0};
    e = cg_jit_compile(jit, m, &obj);
    ok(!e.failed, "compile axpy %s", e.msg);
    ok(obj.size > 64 && memcmp(obj.data, "\177ELF", 4) == 0, "object bytes are ELF (%zu bytes)", obj.size);

    /* the optimised assembly of the hot loop uses the widest vector registers */
    char *asm_text = NULL;
    e = cg_jit_emit_asm(jit, m, &asm_text);
    ok(!e.failed && asm_text, "emit assembly");
    const char *reg = cpu->vec_bits == 512 ? "%zmm" : cpu->vec_bits == 256 ? "%ymm" : "%xmm";
    ok(asm_text && strstr(asm_text, reg), "vectorised axpy uses %s registers", reg);
    free(asm_text);
    LLVMDisposeModule(m);

    void *fn = NULL;
    e = cg_jit_lookup(jit, "axpy", &fn);
    ok(!e.failed && fn, "lookup axpy");
    if (fn) check_axpy((cg_kernel_fn)fn, "jit");

    /* 2. the cache path: the same object bytes loaded into a fresh JIT */
    cg_jit *jit2 = NULL;
    e = cg_jit_create(&jit2, NULL);
    ok(!e.failed, "second jit");
    e = cg_jit_add_object(jit2, obj.data, obj.size);
    ok(!e.failed, "load object bytes into a fresh JIT %s", e.msg);
    void *fn2 = NULL;
    e = cg_jit_lookup(jit2, "axpy", &fn2);
    ok(!e.failed && fn2, "lookup axpy from loaded object");
    if (fn2) check_axpy((cg_kernel_fn)fn2, "object reload");

    /* 2a. removable code: load, run, remove, load the same name again */
    {
        cg_code *code = NULL;
        e = cg_jit_add_object_removable(jit2, obj.data, obj.size, &code);
        ok(e.failed, "a second definition of axpy in jit2 is refused: %.60s", e.msg);
        cg_jit *jit4 = NULL;
        e = cg_jit_create(&jit4, NULL);
        for (int round = 0; round < 2 && !e.failed; round++) {
            e = cg_jit_add_object_removable(jit4, obj.data, obj.size, &code);
            void *f4 = NULL;
            if (!e.failed) e = cg_jit_lookup(jit4, "axpy", &f4);
            ok(!e.failed && f4, "round %d: removable axpy loaded %s", round, e.msg);
            if (f4) check_axpy((cg_kernel_fn)f4, "removable");
            if (round == 0) {
                e = cg_jit_remove(jit4, code);
                ok(!e.failed, "removed %s", e.msg);
                e = cg_jit_lookup(jit4, "axpy", &f4);
                ok(e.failed, "axpy is gone after removal");
                e = cg_ok();
            }
        }
        /* the second round's code is left for cg_jit_destroy to free */
        cg_jit_destroy(jit4);
    }

    /* 2b. the AOT path: the same object bytes linked into a shared library by cc */
    {
        char dir[] = "/tmp/iclc_cg_jit_XXXXXX", obj_path[96], so_path[96], cmd[300];
        if (mkdtemp(dir)) {
            snprintf(obj_path, sizeof obj_path, "%s/k.o", dir);
            snprintf(so_path, sizeof so_path, "%s/libk.so", dir);
            FILE *f = fopen(obj_path, "wb");
            int wrote = f && obj.size > 0 && fwrite(obj.data, 1, obj.size, f) == obj.size;
            if (f) fclose(f);
            snprintf(cmd, sizeof cmd, "cc -shared -o %s %s", so_path, obj_path);
            int rc = wrote ? system(cmd) : -1;
            ok(rc == 0, "cc -shared links the PIC object");
            void *lib = rc == 0 ? dlopen(so_path, RTLD_NOW | RTLD_LOCAL) : NULL;
            if (!lib && rc == 0) diag("dlopen: %s", dlerror());
            void *sym = lib ? dlsym(lib, "axpy") : NULL;
            ok(sym != NULL, "dlopen + dlsym axpy from the shared library");
            if (sym) check_axpy((cg_kernel_fn)sym, "shared library");
            if (lib) dlclose(lib);
            unlink(obj_path);
            unlink(so_path);
            rmdir(dir);
        } else {
            skip(3, "no temp dir");
        }
    }
    cg_blob_free(&obj);

    /* 3. error paths */
    e = cg_jit_lookup(jit2, "no_such_kernel", &fn2);
    ok(e.failed && fn2 == NULL, "lookup of a missing symbol fails");
    like(e.msg, "no_such_kernel", "message names the symbol");

    e = cg_jit_add_object(jit2, "garbage bytes that are no object", 33);
    ok(e.failed, "garbage object bytes are rejected");
    like(e.msg, "not ELF", "message: %s", e.msg);
    {
        /* a truncated ELF header gets past the magic check and into LLVM */
        char fake[128] = "\177ELF";
        e = cg_jit_add_object(jit2, fake, sizeof fake);
        ok(e.failed, "malformed ELF object is an error value: %s", e.msg);
    }

    m = cg_module_create(jit, "bad");
    {
        /* a function whose block has no terminator and uses a float as an int */
        cg_kernel k;
        cg_kernel_begin(jit, m, "bad", 1, &k);
        LLVMValueRef f = LLVMBuildLoad2(k.b, LLVMFloatTypeInContext(cg_jit_context(jit)), k.bufs[0], "");
        LLVMBuildStore(k.b, f, k.bufs[0]);
        LLVMDisposeBuilder(k.b); /* no ret: invalid */
    }
    e = cg_jit_compile(jit, m, NULL);
    ok(e.failed, "module without terminator fails verification");
    like(e.msg, "invalid IR", "message: %.80s", e.msg);
    like(e.msg, "erminator", "message mentions the missing terminator");
    LLVMDisposeModule(m);

    m = cg_module_create(jit, "dup");
    cg_kernel k;
    e = cg_kernel_begin(jit, m, "twice", 1, &k);
    cg_kernel_end(&k);
    e = cg_kernel_begin(jit, m, "twice", 1, &k);
    ok(e.failed, "duplicate kernel name is an error: %s", e.msg);
    e = cg_kernel_begin(jit, m, "many", CG_MAX_BUFS + 1, &k);
    ok(e.failed, "too many buffers is an error");
    LLVMDisposeModule(m);

    /* the same kernel name loaded twice into one JIT is reported, not a crash */
    m = cg_module_create(jit, "axpy_again");
    build_axpy(jit, m, "axpy");
    e = cg_jit_compile(jit, m, NULL);
    if (!e.failed) {
        void *f3;
        e = cg_jit_lookup(jit, "axpy", &f3);
    }
    ok(e.failed, "duplicate definition of axpy in one JIT is an error: %.100s", e.msg);
    LLVMDisposeModule(m);

    /* 3b. a runtime helper defined explicitly and called from generated code */
    {
        cg_jit *jit5 = NULL;
        e = cg_jit_create(&jit5, NULL);
        if (!e.failed) e = cg_jit_define_symbol(jit5, "iclc_test_helper", (void *)helper_scale);
        ok(!e.failed, "define a runtime helper symbol %s", e.msg);
        e = cg_jit_define_symbol(jit5, "iclc_test_helper", (void *)helper_scale);
        ok(e.failed, "defining it twice is an error: %.70s", e.msg);
        LLVMModuleRef mh = cg_module_create(jit5, "helper");
        e = build_call_helper(jit5, mh, "call_helper");
        if (!e.failed) e = cg_jit_compile(jit5, mh, NULL);
        LLVMDisposeModule(mh);
        void *fh = NULL;
        if (!e.failed) e = cg_jit_lookup(jit5, "call_helper", &fh);
        ok(!e.failed && fh, "kernel calling the helper links %s", e.msg);
        if (fh) {
            float x[5] = {0, 1, 2, 3, 4}, y[5] = {0};
            void *bufs[2] = {x, y};
            ((cg_kernel_fn)fh)(0, 5, bufs);
            int bad = 0;
            for (int i = 0; i < 5; i++) bad += y[i] != 3.0f * x[i] + 1.0f;
            is_int(bad, 0, "helper results");
        }
        cg_jit_destroy(jit5);
    }

    /* 4. an explicit baseline CPU (AOT-style) still builds and runs */
    cg_jit *jit3 = NULL;
    cg_jit_options o = {.cpu = "x86-64-v2"};
    e = cg_jit_create(&jit3, &o);
    ok(!e.failed && cg_jit_cpu(jit3)->vec_bits == 128, "x86-64-v2 jit has 128-bit vectors");
    m = cg_module_create(jit3, "axpy3");
    build_axpy(jit3, m, "axpy");
    e = cg_jit_compile(jit3, m, NULL);
    LLVMDisposeModule(m);
    void *fn3 = NULL;
    if (!e.failed) e = cg_jit_lookup(jit3, "axpy", &fn3);
    ok(!e.failed && fn3, "baseline jit compiles");
    if (fn3) check_axpy((cg_kernel_fn)fn3, "x86-64-v2");
    cg_jit_destroy(jit3);

    /* 5. the FMA peak kernel builds and runs briefly (no timing asserted) */
    cg_peak_result pr;
    e = cg_peak_measure(jit, 1, 2000, &pr);
    ok(!e.failed, "peak kernel runs: %s", e.msg);
    ok(pr.vec_floats == cpu->vec_floats, "peak kernel uses %d-float vectors", pr.vec_floats);
    ok(pr.check_ok, "peak kernel computes the expected value");

    cg_jit_destroy(jit2);
    cg_jit_destroy(jit);
    cg_jit_destroy(NULL);
    return done_testing();
}
