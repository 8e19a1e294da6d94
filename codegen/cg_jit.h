/* cg_jit.h — the LLVM foundation of iclc's code generator.
 *
 * One cg_jit object owns:
 *   - one LLVMContext (our own: created with LLVMContextCreate, never an ORC
 *     ThreadSafeContext's, so nothing here depends on C API calls that LLVM 21
 *     removes),
 *   - one TargetMachine for the host CPU (LLVMGetHostCPUName/Features, or an
 *     explicit CPU such as "x86-64-v3" for portable AOT code), PIC, O3 codegen,
 *   - one ORC LLJIT instance with one JITDylib holding every loaded kernel.
 *
 * Compilation pipeline (every step returns a cg_error value, never aborts):
 *
 *   LLVMModuleRef m = cg_module_create(jit, "plan");       triple + data layout set
 *   cg_kernel k;  cg_kernel_begin(jit, m, "k0", nbufs, &k);  ABI below
 *   ... build IR into k.body with k.b ...
 *   cg_kernel_end(&k);
 *   cg_jit_optimize(jit, m)             LLVMVerifyModule, then default<O3> with the TM
 *   cg_jit_emit_asm(jit, m, &text)      optional: assembly of a clone (tests)
 *   cg_jit_emit_object(jit, m, &obj)    object file bytes of a clone (cache, AOT)
 *   cg_jit_add_object(jit, obj.data, obj.size)   load into the LLJIT
 *   cg_jit_lookup(jit, "k0", &fn)       function pointer
 *   LLVMDisposeModule(m)                the caller always owns its modules
 *
 * cg_jit_compile() does optimize + emit_object + add_object in one call. Code
 * always reaches the JIT as an object file, so a compile cache stores exactly
 * the bytes the JIT loads, and a warm start (cg_jit_add_object on cached bytes)
 * skips LLVM's optimiser and code generator entirely.
 *
 * Kernel ABI (every generated kernel):
 *   void k(int64_t begin, int64_t end, void **bufs);
 * [begin, end) is a sub-range of the kernel's outermost parallel range; the C
 * runtime splits the full range across OpenMP threads and calls k once per
 * thread. Generated code never calls the OpenMP runtime. The kernel loads its
 * buffer pointers from bufs and passes them to an internal always-inline body
 * function whose pointer parameters are `noalias` (so the vectoriser needs no
 * run-time alias checks).
 *
 * Symbol names must be unique within one cg_jit (all modules share one
 * JITDylib). A cg_jit is used from one thread at a time; the kernels it
 * returns may be called from any number of threads concurrently.
 * Functions are valid until cg_jit_destroy.
 */
#ifndef ICLC_CODEGEN_CG_JIT_H
#define ICLC_CODEGEN_CG_JIT_H

#include <stddef.h>
#include <stdint.h>

#include <llvm-c/Core.h>

/* An error value: failed == 0 means success, otherwise msg says what and where. */
typedef struct cg_error {
    int failed;
    char msg[1024];
} cg_error;

/* Success value and a printf-style constructor for failures. */
cg_error cg_ok(void);
cg_error cg_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The signature of every generated kernel. */
typedef void (*cg_kernel_fn)(int64_t begin, int64_t end, void **bufs);

/* What the target CPU offers, as seen by LLVM. */
typedef struct cg_cpu {
    char name[64];       /* e.g. "znver3", "rocketlake", "x86-64-v3" */
    char *features;      /* LLVM feature string "+avx2,+fma,..." (owned by the cg_jit) */
    int vec_bits;        /* widest usable vector register: 512, 256 or 128 */
    int vec_floats;      /* vec_bits / 32: 16, 8 or 4 */
    int n_vec_regs;      /* architectural vector registers: 32 with AVX-512, else 16 */
    int has_fma;         /* fused multiply-add instructions available */
} cg_cpu;

/* Options for cg_jit_create; zero-initialised means "the host, O3". */
typedef struct cg_jit_options {
    const char *cpu;      /* NULL: LLVMGetHostCPUName(); else e.g. "x86-64-v3" */
    const char *features; /* NULL with cpu NULL: host features; NULL with a cpu: "" */
    int opt_level;        /* 0..3; 0 in this struct means 3 (default<O3>) */
    int vec_bits;         /* 0: derive from the features (and known CPU names) */
} cg_jit_options;

typedef struct cg_jit cg_jit;

/* Creates the context, target machine and LLJIT. opt may be NULL. */
cg_error cg_jit_create(cg_jit **out, const cg_jit_options *opt);
/* Disposes every LLVM object the jit owns (modules created from it must be
 * disposed by the caller first). NULL is fine. */
void cg_jit_destroy(cg_jit *jit);

const cg_cpu *cg_jit_cpu(const cg_jit *jit);
LLVMContextRef cg_jit_context(cg_jit *jit);
/* Writes the LLVM version, e.g. "19.1.7", into buf (for cache keys). */
void cg_jit_llvm_version(char buf[32]);

/* A new empty module in the jit's context with the target triple and data
 * layout set. The caller owns it (LLVMDisposeModule). NULL on allocation failure. */
LLVMModuleRef cg_module_create(cg_jit *jit, const char *name);

/* Sets "target-cpu", "target-features", "prefer-vector-width",
 * "min-legal-vector-width" and nounwind on fn (done by cg_kernel_begin for
 * kernels; call it on any helper function you add yourself). */
void cg_jit_set_fn_attrs(cg_jit *jit, LLVMValueRef fn);

/* A kernel under construction. cg_kernel_begin creates two functions:
 *   `name`       external, the ABI above: loads bufs[0..nbufs) and calls body;
 *   `name.body`  internal, alwaysinline:
 *                void body(i64 begin, i64 end, ptr noalias nocapture b0, ...)
 * and leaves `b` positioned at the entry block of body. Build the kernel there;
 * cg_kernel_end adds `ret void` at the builder's current block (which must be
 * unterminated) and disposes the builder. */
enum { CG_MAX_BUFS = 32 };
typedef struct cg_kernel {
    LLVMValueRef fn;             /* the external kernel */
    LLVMValueRef body;           /* the internal body function */
    LLVMBuilderRef b;            /* positioned inside body */
    LLVMValueRef begin, end;     /* i64 parameters of body */
    LLVMValueRef bufs[CG_MAX_BUFS]; /* noalias ptr parameters of body */
    int nbufs;
} cg_kernel;

cg_error cg_kernel_begin(cg_jit *jit, LLVMModuleRef m, const char *name, int nbufs, cg_kernel *k);
void cg_kernel_end(cg_kernel *k);

/* LLVMVerifyModule, then LLVMRunPasses("default<On>") with the target machine.
 * A module that fails verification is left unoptimised and reported.
 * ICLC_DEBUG=3 (or more) prints the IR before and after to stderr. */
cg_error cg_jit_optimize(cg_jit *jit, LLVMModuleRef m);

/* Assembly text of (a clone of) m; *text is malloc'd, free() it. */
cg_error cg_jit_emit_asm(cg_jit *jit, LLVMModuleRef m, char **text);

/* Object file bytes of (a clone of) m, compiled with the PIC target machine;
 * loadable by cg_jit_add_object and linkable into a shared library. */
typedef struct cg_blob {
    void *data; /* malloc'd; free with cg_blob_free */
    size_t size;
} cg_blob;
cg_error cg_jit_emit_object(cg_jit *jit, LLVMModuleRef m, cg_blob *out);
void cg_blob_free(cg_blob *b);

/* Loads object file bytes (copied) into the JIT. Malformed bytes give an error. */
cg_error cg_jit_add_object(cg_jit *jit, const void *data, size_t size);

/* Removable code, for callers that compile many throw-away kernels (the
 * autotuner): the object's symbols live until cg_jit_remove, after which the
 * same names may be defined again. Handles not removed are freed with the jit. */
typedef struct cg_code cg_code;
cg_error cg_jit_add_object_removable(cg_jit *jit, const void *data, size_t size, cg_code **out);
/* Unloads the code (function pointers into it become invalid) and frees code. */
cg_error cg_jit_remove(cg_jit *jit, cg_code *code);

/* Verify + optimise + emit object + load, in one call. m stays owned by the
 * caller (and is optimised in place). If obj is not NULL it receives the object
 * bytes (for a compile cache). */
cg_error cg_jit_compile(cg_jit *jit, LLVMModuleRef m, cg_blob *obj);

/* Makes a C function or object of this process callable from generated code
 * under `name` (declare it in the module as an external function). Needed for
 * runtime helpers that are not exported from the executable (no -rdynamic). */
cg_error cg_jit_define_symbol(cg_jit *jit, const char *name, void *addr);

/* Looks up an external function by its (unmangled) name; links on first use. */
cg_error cg_jit_lookup(cg_jit *jit, const char *name, void **fn);

/* Milliseconds spent in the last cg_jit_optimize and cg_jit_emit_object. */
typedef struct cg_jit_stats {
    double opt_ms, codegen_ms, load_ms;
} cg_jit_stats;
cg_jit_stats cg_jit_last_stats(const cg_jit *jit);

/* --- small IR helpers shared by the kernel generators --- */

/* Constants. */
LLVMValueRef cg_i64(cg_jit *jit, int64_t v);
LLVMValueRef cg_f32(cg_jit *jit, float v);
/* <n x float> type and a splat of a scalar float value. */
LLVMTypeRef cg_vec_type(cg_jit *jit, int n);
LLVMValueRef cg_splat(LLVMBuilderRef b, LLVMValueRef scalar, int n);
/* Transposes n n-lane vectors in place (n a power of two, <= 64): x[i] lane l <- x[l] lane i, in log2(n)
 * stages of two-source shuffles. */
void cg_transpose(LLVMBuilderRef b, int n, LLVMValueRef *x);
/* A hint to fetch the cache line of float base[idx] (rw 1: for writing; locality 3: into L1, 2: L2). The
 * address is a plain GEP, so it may lie past the buffer: a prefetch never faults. */
void cg_prefetch(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, LLVMValueRef base, LLVMValueRef idx, int rw, int locality);
/* &base[idx] for a float pointer and an i64 element index. */
LLVMValueRef cg_gep_f32(cg_jit *jit, LLVMBuilderRef b, LLVMValueRef base, LLVMValueRef idx);
/* A call of an overloaded intrinsic such as "llvm.fma" on vector type t. */
LLVMValueRef cg_intrinsic(cg_jit *jit, LLVMBuilderRef b, LLVMModuleRef m, const char *name,
                          LLVMTypeRef *overload, int n_overload, LLVMValueRef *args, int nargs);

/* A counted loop `for (iv = lo; iv < hi; iv += step)` with i64 bounds. After
 * cg_loop_begin the builder is in the body and l->iv is the induction
 * variable; cg_loop_end closes it and leaves the builder after the loop. The
 * body may contain nested loops. Zero-trip loops are handled. Setting
 * l->no_unroll = 1 before cg_loop_end attaches llvm.loop.unroll.disable (for
 * loops a generator has unrolled itself; saves optimiser time). */
typedef struct cg_loop {
    LLVMBasicBlockRef pre, head, body, latch, exit;
    LLVMValueRef iv, hi, step; /* step may be replaced before cg_loop_end */
    int no_unroll;             /* set before cg_loop_end: forbid LLVM's unrolling */
} cg_loop;
void cg_loop_begin(cg_jit *jit, LLVMBuilderRef b, cg_loop *l, LLVMValueRef lo, LLVMValueRef hi,
                   LLVMValueRef step, const char *name);
void cg_loop_end(LLVMBuilderRef b, cg_loop *l);

#endif
