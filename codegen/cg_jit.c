/* cg_jit.c — LLVM context, host target machine, O3 pipeline, object emission
 * and ORC LLJIT loading. See cg_jit.h for the pipeline and the kernel ABI. */
#include "codegen/cg_jit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

struct cg_code {
    LLVMOrcResourceTrackerRef rt;
    struct cg_code *prev, *next; /* the jit's list of live removable code */
};

struct cg_jit {
    LLVMContextRef ctx;
    LLVMTargetMachineRef tm;   /* PIC, used for passes, asm and objects */
    char *triple;              /* LLVM-owned message */
    char *layout;              /* LLVM-owned message */
    LLVMOrcLLJITRef lljit;
    cg_cpu cpu;
    int opt_level;
    char diag[1024];           /* first error reported by the diagnostic handler */
    cg_code *codes;            /* removable code still loaded */
    cg_jit_stats stats;
};

cg_error cg_ok(void) {
    cg_error e;
    e.failed = 0;
    e.msg[0] = 0;
    return e;
}

cg_error cg_errorf(const char *fmt, ...) {
    cg_error e;
    e.failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    return e;
}

/* Turns an LLVMErrorRef into a cg_error (consuming it). */
static cg_error from_llvm_error(LLVMErrorRef err, const char *what) {
    char *m = LLVMGetErrorMessage(err);
    cg_error e = cg_errorf("%s: %s", what, m);
    LLVMDisposeErrorMessage(m);
    return e;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* Collects LLVM diagnostics of error severity into jit->diag (first one wins). */
static void diag_handler(LLVMDiagnosticInfoRef di, void *user) {
    cg_jit *jit = user;
    if (LLVMGetDiagInfoSeverity(di) != LLVMDSError) return;
    char *d = LLVMGetDiagInfoDescription(di);
    if (!jit->diag[0]) snprintf(jit->diag, sizeof jit->diag, "%s", d);
    LLVMDisposeMessage(d);
}

/* Returns the pending diagnostic as an error (and clears it), or success. */
static cg_error take_diag(cg_jit *jit, const char *what) {
    if (!jit->diag[0]) return cg_ok();
    cg_error e = cg_errorf("%s: %s", what, jit->diag);
    jit->diag[0] = 0;
    return e;
}

/* Does the comma-separated LLVM feature string enable feature `f` (e.g. "avx2")? */
static int has_feature(const char *features, const char *f) {
    size_t n = strlen(f);
    for (const char *p = features; p && *p;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == n + 1 && p[0] == '+' && memcmp(p + 1, f, n) == 0) return 1;
        p = q ? q + 1 : NULL;
    }
    return 0;
}

/* Vector width of a named CPU whose feature string was not given. */
static int vec_bits_of_cpu_name(const char *name) {
    static const struct { const char *name; int bits; } known[] = {
        {"x86-64-v4", 512}, {"skylake-avx512", 512}, {"cascadelake", 512}, {"icelake-server", 512},
        {"sapphirerapids", 512}, {"znver4", 512}, {"znver5", 512}, {"rocketlake", 512},
        {"x86-64-v3", 256}, {"haswell", 256}, {"broadwell", 256}, {"skylake", 256},
        {"znver1", 256}, {"znver2", 256}, {"znver3", 256}, {"alderlake", 256},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, name) == 0) return known[i].bits;
    return 128;
}

/* Fills jit->cpu from the chosen CPU name and feature string. */
static void detect_cpu(cg_jit *jit, const char *name, const char *features, int vec_bits) {
    cg_cpu *c = &jit->cpu;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->features = strdup(features ? features : "");
    int f512 = has_feature(c->features, "avx512f"), f256 = has_feature(c->features, "avx2");
    if (vec_bits) c->vec_bits = vec_bits;
    else if (c->features[0]) c->vec_bits = f512 ? 512 : f256 ? 256 : 128;
    else c->vec_bits = vec_bits_of_cpu_name(name);
    c->vec_floats = c->vec_bits / 32;
    c->n_vec_regs = c->vec_bits == 512 ? 32 : 16;
    c->has_fma = has_feature(c->features, "fma") || c->vec_bits >= 256;
}

cg_error cg_jit_create(cg_jit **out, const cg_jit_options *opt) {
    *out = NULL;
    cg_jit_options o = {0};
    if (opt) o = *opt;
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter() || LLVMInitializeNativeAsmParser())
        return cg_errorf("cg_jit: LLVM has no native target for this host");
    cg_jit *jit = calloc(1, sizeof *jit);
    if (!jit) return cg_errorf("cg_jit: out of memory");
    jit->opt_level = o.opt_level > 0 && o.opt_level <= 3 ? o.opt_level : 3;

    char *host_name = NULL, *host_feat = NULL;
    const char *cpu = o.cpu, *feat = o.features;
    if (!cpu) {
        host_name = LLVMGetHostCPUName();
        cpu = host_name;
        if (!feat) feat = host_feat = LLVMGetHostCPUFeatures();
    }
    if (!feat) feat = "";
    detect_cpu(jit, cpu, feat, o.vec_bits);

    jit->triple = LLVMGetDefaultTargetTriple();
    LLVMTargetRef target;
    char *msg = NULL;
    cg_error e = cg_ok();
    if (LLVMGetTargetFromTriple(jit->triple, &target, &msg)) {
        e = cg_errorf("cg_jit: no target for triple %s: %s", jit->triple, msg);
        LLVMDisposeMessage(msg);
    } else {
        jit->tm = LLVMCreateTargetMachine(target, jit->triple, cpu, feat,
                                          jit->opt_level >= 2 ? LLVMCodeGenLevelAggressive : LLVMCodeGenLevelDefault,
                                          LLVMRelocPIC, LLVMCodeModelDefault);
        if (!jit->tm) e = cg_errorf("cg_jit: cannot create a target machine for cpu %s", cpu);
    }
    if (host_name) LLVMDisposeMessage(host_name);
    if (host_feat) LLVMDisposeMessage(host_feat);
    if (e.failed) {
        cg_jit_destroy(jit);
        return e;
    }
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(jit->tm);
    jit->layout = LLVMCopyStringRepOfTargetData(td);
    LLVMDisposeTargetData(td);

    jit->ctx = LLVMContextCreate();
    LLVMContextSetDiagnosticHandler(jit->ctx, diag_handler, jit);

    LLVMErrorRef err = LLVMOrcCreateLLJIT(&jit->lljit, LLVMOrcCreateLLJITBuilder());
    if (err) {
        jit->lljit = NULL;
        e = from_llvm_error(err, "cg_jit: creating the LLJIT");
        cg_jit_destroy(jit);
        return e;
    }
    *out = jit;
    return cg_ok();
}

void cg_jit_destroy(cg_jit *jit) {
    if (!jit) return;
    while (jit->codes) { /* the LLJIT frees the code itself; drop our tracker references */
        cg_code *c = jit->codes;
        jit->codes = c->next;
        LLVMOrcReleaseResourceTracker(c->rt);
        free(c);
    }
    if (jit->lljit) {
        LLVMErrorRef err = LLVMOrcDisposeLLJIT(jit->lljit);
        if (err) LLVMConsumeError(err);
    }
    if (jit->ctx) LLVMContextDispose(jit->ctx);
    if (jit->tm) LLVMDisposeTargetMachine(jit->tm);
    if (jit->triple) LLVMDisposeMessage(jit->triple);
    if (jit->layout) LLVMDisposeMessage(jit->layout);
    free(jit->cpu.features);
    free(jit);
}

const cg_cpu *cg_jit_cpu(const cg_jit *jit) { return &jit->cpu; }
LLVMContextRef cg_jit_context(cg_jit *jit) { return jit->ctx; }
cg_jit_stats cg_jit_last_stats(const cg_jit *jit) { return jit->stats; }

void cg_jit_llvm_version(char buf[32]) {
    unsigned ma, mi, pa;
    LLVMGetVersion(&ma, &mi, &pa);
    snprintf(buf, 32, "%u.%u.%u", ma, mi, pa);
}

LLVMModuleRef cg_module_create(cg_jit *jit, const char *name) {
    LLVMModuleRef m = LLVMModuleCreateWithNameInContext(name, jit->ctx);
    if (!m) return NULL;
    LLVMSetTarget(m, jit->triple);
    LLVMSetDataLayout(m, jit->layout);
    return m;
}

/* Adds a string attribute to a function. */
static void fn_attr(cg_jit *jit, LLVMValueRef fn, const char *k, const char *v) {
    LLVMAttributeRef a = LLVMCreateStringAttribute(jit->ctx, k, (unsigned)strlen(k), v, (unsigned)strlen(v));
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, a);
}

/* Adds an enum attribute (by name) at index idx of fn; a name this LLVM does
 * not know (e.g. nocapture after LLVM 21 replaced it) is skipped. */
static void enum_attr(cg_jit *jit, LLVMValueRef fn, unsigned idx, const char *name) {
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    if (kind) LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(jit->ctx, kind, 0));
}

void cg_jit_set_fn_attrs(cg_jit *jit, LLVMValueRef fn) {
    char bits[16];
    snprintf(bits, sizeof bits, "%d", jit->cpu.vec_bits);
    fn_attr(jit, fn, "target-cpu", jit->cpu.name);
    fn_attr(jit, fn, "target-features", jit->cpu.features);
    fn_attr(jit, fn, "prefer-vector-width", bits);
    fn_attr(jit, fn, "min-legal-vector-width", bits);
    enum_attr(jit, fn, LLVMAttributeFunctionIndex, "nounwind");
}

cg_error cg_kernel_begin(cg_jit *jit, LLVMModuleRef m, const char *name, int nbufs, cg_kernel *k) {
    memset(k, 0, sizeof *k);
    if (nbufs < 0 || nbufs > CG_MAX_BUFS) return cg_errorf("cg_kernel_begin %s: %d buffers (max %d)", name, nbufs, CG_MAX_BUFS);
    if (LLVMGetNamedFunction(m, name)) return cg_errorf("cg_kernel_begin: function %s already exists", name);
    LLVMContextRef c = jit->ctx;
    LLVMTypeRef i64 = LLVMInt64TypeInContext(c), ptr = LLVMPointerTypeInContext(c, 0);
    LLVMTypeRef outer_params[3] = {i64, i64, ptr};
    LLVMTypeRef outer_ty = LLVMFunctionType(LLVMVoidTypeInContext(c), outer_params, 3, 0);
    LLVMTypeRef body_params[2 + CG_MAX_BUFS];
    body_params[0] = body_params[1] = i64;
    for (int i = 0; i < nbufs; i++) body_params[2 + i] = ptr;
    LLVMTypeRef body_ty = LLVMFunctionType(LLVMVoidTypeInContext(c), body_params, (unsigned)(2 + nbufs), 0);

    char body_name[256];
    snprintf(body_name, sizeof body_name, "%s.body", name);
    k->fn = LLVMAddFunction(m, name, outer_ty);
    k->body = LLVMAddFunction(m, body_name, body_ty);
    LLVMSetLinkage(k->body, LLVMInternalLinkage);
    cg_jit_set_fn_attrs(jit, k->fn);
    cg_jit_set_fn_attrs(jit, k->body);
    enum_attr(jit, k->body, LLVMAttributeFunctionIndex, "alwaysinline");
    for (int i = 0; i < nbufs; i++) {
        enum_attr(jit, k->body, (unsigned)(3 + i), "noalias");
        enum_attr(jit, k->body, (unsigned)(3 + i), "nocapture");
    }

    /* outer: load the buffer pointers and call the body */
    LLVMBuilderRef b = LLVMCreateBuilderInContext(c);
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(c, k->fn, "entry"));
    LLVMValueRef args[2 + CG_MAX_BUFS];
    args[0] = LLVMGetParam(k->fn, 0);
    args[1] = LLVMGetParam(k->fn, 1);
    LLVMValueRef bufs = LLVMGetParam(k->fn, 2);
    for (int i = 0; i < nbufs; i++) {
        LLVMValueRef idx = LLVMConstInt(i64, (unsigned long long)i, 0);
        LLVMValueRef slot = LLVMBuildGEP2(b, ptr, bufs, &idx, 1, "");
        args[2 + i] = LLVMBuildLoad2(b, ptr, slot, "");
    }
    LLVMBuildCall2(b, body_ty, k->body, args, (unsigned)(2 + nbufs), "");
    LLVMBuildRetVoid(b);

    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(c, k->body, "entry"));
    k->b = b;
    k->begin = LLVMGetParam(k->body, 0);
    k->end = LLVMGetParam(k->body, 1);
    for (int i = 0; i < nbufs; i++) k->bufs[i] = LLVMGetParam(k->body, (unsigned)(2 + i));
    k->nbufs = nbufs;
    return cg_ok();
}

void cg_kernel_end(cg_kernel *k) {
    if (!k->b) return;
    LLVMBuildRetVoid(k->b);
    LLVMDisposeBuilder(k->b);
    k->b = NULL;
}

/* ICLC_DEBUG >= 3 prints LLVM IR before and after optimisation to stderr. */
static void debug_dump(LLVMModuleRef m, const char *when) {
    const char *dbg = getenv("ICLC_DEBUG");
    if (!dbg || atoi(dbg) < 3) return;
    char *ir = LLVMPrintModuleToString(m);
    fprintf(stderr, "; ---- ICLC_DEBUG: LLVM IR %s ----\n%s", when, ir);
    LLVMDisposeMessage(ir);
}

cg_error cg_jit_optimize(cg_jit *jit, LLVMModuleRef m) {
    double t0 = now_ms();
    debug_dump(m, "before optimisation");
    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        cg_error e = cg_errorf("cg_jit: invalid IR in module %s: %s", LLVMGetModuleIdentifier(m, &(size_t){0}),
                               msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return e;
    }
    LLVMDisposeMessage(msg);
    char passes[32];
    snprintf(passes, sizeof passes, "default<O%d>", jit->opt_level);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, 1);
    LLVMPassBuilderOptionsSetLoopInterleaving(po, 1);
    LLVMErrorRef err = LLVMRunPasses(m, passes, jit->tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (err) return from_llvm_error(err, "cg_jit: optimising");
    jit->stats.opt_ms = now_ms() - t0;
    debug_dump(m, "after optimisation");
    return take_diag(jit, "cg_jit: optimising");
}

/* Compiles a clone of m to assembly or object code into a memory buffer. */
static cg_error emit(cg_jit *jit, LLVMModuleRef m, LLVMCodeGenFileType kind, LLVMMemoryBufferRef *buf) {
    *buf = NULL;
    LLVMModuleRef clone = LLVMCloneModule(m);
    if (!clone) return cg_errorf("cg_jit: cannot clone module");
    char *msg = NULL;
    LLVMBool bad = LLVMTargetMachineEmitToMemoryBuffer(jit->tm, clone, kind, &msg, buf);
    LLVMDisposeModule(clone);
    if (bad) {
        cg_error e = cg_errorf("cg_jit: code generation failed: %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        jit->diag[0] = 0;
        return e;
    }
    cg_error e = take_diag(jit, "cg_jit: code generation");
    if (e.failed) {
        LLVMDisposeMemoryBuffer(*buf);
        *buf = NULL;
    }
    return e;
}

cg_error cg_jit_emit_asm(cg_jit *jit, LLVMModuleRef m, char **text) {
    *text = NULL;
    LLVMMemoryBufferRef buf;
    cg_error e = emit(jit, m, LLVMAssemblyFile, &buf);
    if (e.failed) return e;
    size_t n = LLVMGetBufferSize(buf);
    *text = malloc(n + 1);
    if (*text) {
        memcpy(*text, LLVMGetBufferStart(buf), n);
        (*text)[n] = 0;
    }
    LLVMDisposeMemoryBuffer(buf);
    return *text ? cg_ok() : cg_errorf("cg_jit: out of memory");
}

cg_error cg_jit_emit_object(cg_jit *jit, LLVMModuleRef m, cg_blob *out) {
    out->data = NULL;
    out->size = 0;
    double t0 = now_ms();
    LLVMMemoryBufferRef buf;
    cg_error e = emit(jit, m, LLVMObjectFile, &buf);
    if (e.failed) return e;
    out->size = LLVMGetBufferSize(buf);
    out->data = malloc(out->size ? out->size : 1);
    if (out->data) memcpy(out->data, LLVMGetBufferStart(buf), out->size);
    LLVMDisposeMemoryBuffer(buf);
    jit->stats.codegen_ms = now_ms() - t0;
    return out->data ? cg_ok() : cg_errorf("cg_jit: out of memory");
}

void cg_blob_free(cg_blob *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->size = 0;
}

cg_error cg_jit_add_object(cg_jit *jit, const void *data, size_t size) {
    double t0 = now_ms();
    /* Reject what is plainly not an ELF object before handing it to the linker. */
    if (size < 64 || memcmp(data, "\177ELF", 4) != 0)
        return cg_errorf("cg_jit: object file is not ELF (%zu bytes)", size);
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(data, size, "iclc-object");
    LLVMErrorRef err = LLVMOrcLLJITAddObjectFile(jit->lljit, LLVMOrcLLJITGetMainJITDylib(jit->lljit), buf);
    if (err) return from_llvm_error(err, "cg_jit: loading object");
    jit->stats.load_ms = now_ms() - t0;
    return cg_ok();
}

cg_error cg_jit_add_object_removable(cg_jit *jit, const void *data, size_t size, cg_code **out) {
    *out = NULL;
    if (size < 64 || memcmp(data, "\177ELF", 4) != 0)
        return cg_errorf("cg_jit: object file is not ELF (%zu bytes)", size);
    cg_code *c = calloc(1, sizeof *c);
    if (!c) return cg_errorf("cg_jit: out of memory");
    c->rt = LLVMOrcJITDylibCreateResourceTracker(LLVMOrcLLJITGetMainJITDylib(jit->lljit));
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(data, size, "iclc-object");
    LLVMErrorRef err = LLVMOrcLLJITAddObjectFileWithRT(jit->lljit, c->rt, buf);
    if (err) {
        LLVMOrcReleaseResourceTracker(c->rt);
        free(c);
        return from_llvm_error(err, "cg_jit: loading object");
    }
    c->next = jit->codes;
    if (jit->codes) jit->codes->prev = c;
    jit->codes = c;
    *out = c;
    return cg_ok();
}

cg_error cg_jit_remove(cg_jit *jit, cg_code *c) {
    if (!c) return cg_ok();
    LLVMErrorRef err = LLVMOrcResourceTrackerRemove(c->rt);
    LLVMOrcReleaseResourceTracker(c->rt);
    if (c->prev) c->prev->next = c->next;
    else jit->codes = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c);
    return err ? from_llvm_error(err, "cg_jit: removing code") : cg_ok();
}

cg_error cg_jit_compile(cg_jit *jit, LLVMModuleRef m, cg_blob *obj) {
    cg_error e = cg_jit_optimize(jit, m);
    if (e.failed) return e;
    cg_blob b;
    e = cg_jit_emit_object(jit, m, &b);
    if (e.failed) return e;
    e = cg_jit_add_object(jit, b.data, b.size);
    if (obj && !e.failed) *obj = b;
    else cg_blob_free(&b);
    return e;
}

cg_error cg_jit_define_symbol(cg_jit *jit, const char *name, void *addr) {
    LLVMOrcCSymbolMapPair pair;
    pair.Name = LLVMOrcLLJITMangleAndIntern(jit->lljit, name); /* released by the MU */
    pair.Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)addr;
    pair.Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
    pair.Sym.Flags.TargetFlags = 0;
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(&pair, 1);
    LLVMErrorRef err = LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(jit->lljit), mu);
    if (err) {
        LLVMOrcDisposeMaterializationUnit(mu);
        char what[300];
        snprintf(what, sizeof what, "cg_jit: defining %s", name);
        return from_llvm_error(err, what);
    }
    return cg_ok();
}

cg_error cg_jit_lookup(cg_jit *jit, const char *name, void **fn) {
    *fn = NULL;
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef err = LLVMOrcLLJITLookup(jit->lljit, &addr, name);
    if (err) {
        char what[300];
        snprintf(what, sizeof what, "cg_jit: looking up %s", name);
        return from_llvm_error(err, what);
    }
    *fn = (void *)(uintptr_t)addr;
    return cg_ok();
}

/* --- IR helpers --- */

LLVMValueRef cg_i64(cg_jit *jit, int64_t v) {
    return LLVMConstInt(LLVMInt64TypeInContext(jit->ctx), (unsigned long long)v, 1);
}

LLVMValueRef cg_f32(cg_jit *jit, float v) { return LLVMConstReal(LLVMFloatTypeInContext(jit->ctx), v); }

LLVMTypeRef cg_vec_type(cg_jit *jit, int n) { return LLVMVectorType(LLVMFloatTypeInContext(jit->ctx), (unsigned)n); }

LLVMValueRef cg_splat(LLVMBuilderRef b, LLVMValueRef scalar, int n) {
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(scalar), (unsigned)n);
    LLVMTypeRef i32 = LLVMInt32TypeInContext(LLVMGetTypeContext(vt));
    LLVMValueRef v = LLVMBuildInsertElement(b, LLVMGetPoison(vt), scalar, LLVMConstInt(i32, 0, 0), "");
    LLVMValueRef zero_mask = LLVMConstNull(LLVMVectorType(i32, (unsigned)n));
    return LLVMBuildShuffleVector(b, v, LLVMGetPoison(vt), zero_mask, "splat");
}

void cg_transpose(LLVMBuilderRef b, int n, LLVMValueRef *x) {
    LLVMTypeRef i32 = LLVMInt32TypeInContext(LLVMGetTypeContext(LLVMTypeOf(x[0])));
    for (int h = 1; h < n; h *= 2) { /* stage h: lanes whose bit h differs from the vector's come from x[i ^ h] */
        LLVMValueRef nr[64];
        for (int i = 0; i < n; i++) {
            LLVMValueRef idx[64];
            for (int l = 0; l < n; l++) {
                int keep = ((l & h) != 0) == ((i & h) != 0);
                idx[l] = LLVMConstInt(i32, keep ? (unsigned)l : (unsigned)(n + (l ^ h)), 0);
            }
            nr[i] = LLVMBuildShuffleVector(b, x[i], x[i ^ h], LLVMConstVector(idx, (unsigned)n), "");
        }
        memcpy(x, nr, sizeof(LLVMValueRef) * (size_t)n);
    }
}

void cg_prefetch(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef base, LLVMValueRef idx, int rw, int locality) {
    LLVMTypeRef ptr = LLVMPointerTypeInContext(jit->ctx, 0), i32 = LLVMInt32TypeInContext(jit->ctx);
    LLVMValueRef args[4] = {LLVMBuildGEP2(b, LLVMFloatTypeInContext(jit->ctx), base, &idx, 1, ""),
                            LLVMConstInt(i32, (unsigned)rw, 0), LLVMConstInt(i32, (unsigned)locality, 0),
                            LLVMConstInt(i32, 1, 0)};
    cg_intrinsic(jit, b, m, "llvm.prefetch", &ptr, 1, args, 4);
}

LLVMValueRef cg_gep_f32(cg_jit *jit, LLVMBuilderRef b, LLVMValueRef base, LLVMValueRef idx) {
    return LLVMBuildInBoundsGEP2(b, LLVMFloatTypeInContext(jit->ctx), base, &idx, 1, "");
}

LLVMValueRef cg_intrinsic(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, const char *name,
                          LLVMTypeRef *overload, int n_overload, LLVMValueRef *args, int nargs) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(m, id, overload, (size_t)n_overload);
    LLVMTypeRef ty = LLVMIntrinsicGetType(jit->ctx, id, overload, (size_t)n_overload);
    return LLVMBuildCall2(b, ty, fn, args, (unsigned)nargs, "");
}

void cg_loop_begin(cg_jit *jit, LLVMBuilderRef b, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi,
                   LLVMValueRef step, const char *name) {
    LLVMContextRef c = jit->ctx;
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(b));
    memset(l, 0, sizeof *l);
    l->pre = LLVMGetInsertBlock(b);
    l->head = LLVMAppendBasicBlockInContext(c, fn, name);
    l->body = LLVMAppendBasicBlockInContext(c, fn, "body");
    l->exit = LLVMAppendBasicBlockInContext(c, fn, "exit");
    l->hi = hi;
    l->step = step;
    LLVMBuildBr(b, l->head);
    LLVMPositionBuilderAtEnd(b, l->head);
    l->iv = LLVMBuildPhi(b, LLVMInt64TypeInContext(c), name);
    LLVMAddIncoming(l->iv, &lo, &l->pre, 1);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, l->iv, hi, ""), l->body, l->exit);
    LLVMPositionBuilderAtEnd(b, l->body);
}

/* Attaches !llvm.loop !{self, !{"llvm.loop.unroll.disable"}} to a latch branch. */
static void no_unroll(LLVMContextRef c, LLVMValueRef br) {
    static const char key[] = "llvm.loop.unroll.disable";
    LLVMMetadataRef str = LLVMMDStringInContext2(c, key, sizeof key - 1);
    LLVMMetadataRef opt = LLVMMDNodeInContext2(c, &str, 1);
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(c, NULL, 0);
    LLVMMetadataRef ops[2] = {tmp, opt};
    LLVMMetadataRef id = LLVMMDNodeInContext2(c, ops, 2);
    LLVMMetadataReplaceAllUsesWith(tmp, id); /* makes id self-referential; frees tmp */
    unsigned kind = LLVMGetMDKindIDInContext(c, "llvm.loop", 9);
    LLVMSetMetadata(br, kind, LLVMMetadataAsValue(c, id));
}

void cg_loop_end(LLVMBuilderRef b, cg_loop *l) {
    LLVMValueRef next = LLVMBuildNSWAdd(b, l->iv, l->step, "");
    l->latch = LLVMGetInsertBlock(b);
    LLVMAddIncoming(l->iv, &next, &l->latch, 1);
    LLVMValueRef br = LLVMBuildBr(b, l->head);
    if (l->no_unroll) no_unroll(LLVMGetTypeContext(LLVMTypeOf(l->iv)), br);
    LLVMMoveBasicBlockAfter(l->exit, l->latch);
    LLVMPositionBuilderAtEnd(b, l->exit);
}
