/* cg_matmul.h — generator of batched SGEMM kernels for static shapes.
 *
 *   C[b] = op(A[b]) · op(B[b])        (accumulate = 0)
 *   C[b] += op(A[b]) · op(B[b])       (accumulate = 1)
 *
 * Dimensions: M rows of C, N columns of C, K the reduction, b the (flattened)
 * batch index over up to CG_MM_MAX_BATCH dims. Every matrix is row-major with
 * an explicit leading dimension (elements between consecutive rows as stored):
 *   A: trans_a = 0 -> stored M x K (lda >= K);  trans_a = 1 -> stored K x M (lda >= M)
 *   B: trans_b = 0 -> stored K x N (ldb >= N);  trans_b = 1 -> stored N x K (ldb >= K)
 *   C: M x N (ldc >= N)
 * Batch dim d advances A, B, C by a_bstride[d], b_bstride[d], c_bstride[d]
 * elements; a stride of 0 broadcasts that operand over the dim (C's stride must
 * not be 0 for a dim larger than 1: that would be a reduction, which a caller
 * expresses by folding the dim into K instead). Conversely, splitting a long K
 * across threads is a batch dim over K chunks writing partial C's that the
 * caller sums afterwards.
 *
 * Algorithm (GotoBLAS-style, everything specialised to the constant shape):
 *   for each (batch, NC-column block) of the work items in [begin, end):
 *     for pc < K step KC:
 *       pack B[pc:pc+KC, jc:jc+NC] into NR-vector panels (if pack_b)
 *       for each MC row block of this (batch, column block) in the range:
 *         pack A[i0:i0+MC, pc:pc+KC] into MR-row panels (if pack_a)
 *         for jr step NR*vec:  for ir step MR:
 *           micro-kernel: MR x NR vector accumulators in registers,
 *           k loop of broadcast(A) * load(B) FMAs, then (+C), epilogue, store
 * Transposed operands are handled by the packing (in-register vector
 * transposes), never by strided loads in the micro-kernel: B^T always packs.
 * A is read by scalar broadcasts, which are unit-stride in k for A and in the
 * row for A^T, so pack_a is optional in both cases. Edges (M % MR, N % (NR*vec),
 * K % KC) get their own micro-kernel variants with masked C loads/stores.
 *
 * Kernel ABI: void k(int64_t begin, int64_t end, void **bufs) over the work
 * items [0, info.n_items):
 *   item = (batch * ceil(N / NC) + column block) * ceil(M / MC) + row block
 * (consecutive items share their B block, which is packed once per call).
 *   bufs[0] = A, bufs[1] = B, bufs[2] = C,
 *   bufs[3] = scratch: info.scratch_bytes, 64-byte aligned, PRIVATE TO THE CALL
 *             (concurrent calls need distinct scratch; cg_matmul_run does this),
 *   bufs[4 + i] = extra buffer i of the epilogue (i < n_extra_bufs).
 * No allocation happens inside the kernel. C must not overlap A, B, the
 * scratch or the extra buffers (A and B may overlap each other: both are only
 * read).
 */
#ifndef ICLC_CODEGEN_CG_MATMUL_H
#define ICLC_CODEGEN_CG_MATMUL_H

#include <stdint.h>

#include "codegen/cg_jit.h"

enum { CG_MM_MAX_BATCH = 4, CG_MM_BUF_A = 0, CG_MM_BUF_B = 1, CG_MM_BUF_C = 2, CG_MM_BUF_SCRATCH = 3,
       CG_MM_BUF_EXTRA = 4, CG_MM_MAX_MR = 32, CG_MM_MAX_NR = 8 };

struct cg_mm_epilogue_ctx;
/* Epilogue hook: called while the micro-kernel is generated, with the builder
 * positioned after the last K block's accumulation (and after adding the old C
 * when accumulating), before the store. acc[r * ctx->nvec + v] is the vector
 * of row r, vector column v of the tile; replace entries with new values (of
 * the same <vec x float> type). Return cg_ok() or an error. */
typedef cg_error (*cg_mm_epilogue_fn)(struct cg_mm_epilogue_ctx *ctx, LLVMValueRef *acc);

typedef struct cg_matmul_desc {
    int64_t M, N, K;
    int trans_a, trans_b;
    int64_t lda, ldb, ldc;  /* 0: the dense default (K or M, N or K, N) */
    int accumulate;         /* 0: C = A·B (beta 0); 1: C += A·B (beta 1) */
    int n_batch;            /* batch dims, 0..CG_MM_MAX_BATCH */
    int64_t batch[CG_MM_MAX_BATCH];
    int64_t a_bstride[CG_MM_MAX_BATCH], b_bstride[CG_MM_MAX_BATCH], c_bstride[CG_MM_MAX_BATCH];
    cg_mm_epilogue_fn epilogue; /* NULL: none */
    void *epilogue_user;
    int n_extra_bufs;           /* buffers bufs[4 ...] passed to the epilogue */
} cg_matmul_desc;

/* Tunables: what the autotuner searches. 0 in any field means "default". */
typedef struct cg_matmul_sched {
    int vec;       /* floats per vector: 4, 8 or 16 (at most the CPU's widest) */
    int mr;        /* register tile rows, 1..CG_MM_MAX_MR */
    int nr;        /* register tile width in vectors, 1..CG_MM_MAX_NR; keep mr*nr+nr+1 <= vector
                      registers (not enforced: larger tiles spill, slow but correct) */
    int mc;        /* rows per work item / A block (rounded up to a multiple of mr) */
    int kc;        /* K block (B panel depth) */
    int nc;        /* N block = columns per work item (rounded up to a multiple of nr*vec) */
    int pack_a;    /* 1: copy A blocks into contiguous MR-row panels; 0: read A in place; -1: off */
    int pack_b;    /* 1: copy B blocks into NR-vector panels; forced on for trans_b; -1: off */
    int k_unroll;  /* k steps per micro-kernel loop iteration, 1..16 */
    int threads;   /* threads the range will be split over (sizes the default mc so
                      that every thread gets work); 0: omp_get_max_threads() */
} cg_matmul_sched;

/* What a generated kernel needs from its caller. */
typedef struct cg_matmul_info {
    int64_t n_items;        /* parallel range of the kernel ABI: [0, n_items) */
    int64_t scratch_bytes;  /* per concurrent call */
    double flops;           /* 2·M·N·K·batch */
    int n_extra_bufs;       /* epilogue buffers the kernel reads (bufs[4 ...]) */
    cg_matmul_sched sched;  /* the schedule actually used (defaults filled in) */
} cg_matmul_info;

/* Context handed to the epilogue hook. */
typedef struct cg_mm_epilogue_ctx {
    cg_jit *jit;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    const cg_matmul_desc *desc;
    int vec;                 /* floats per vector */
    int rows;                /* rows in this tile */
    int nvec;                /* vectors per row in this tile */
    int tail_lanes;          /* valid lanes of the last vector (vec when it is full) */
    LLVMValueRef batch;      /* i64 flat batch index */
    LLVMValueRef row;        /* i64 row of C of the tile's row 0 */
    LLVMValueRef col;        /* i64 column of C of the tile's column 0 */
    LLVMValueRef extra[CG_MAX_BUFS]; /* ptr values of bufs[4 + i] */
    void *user;              /* desc->epilogue_user */
} cg_mm_epilogue_ctx;

/* Epilogue helpers: load vector v of a per-column vector x[N] (bias-style), or
 * of row r of a matrix X with leading dimension ld (residual-style), at the
 * tile's columns; the last vector of an edge tile is a masked load (zeros). */
LLVMValueRef cg_mm_epi_load_cols(cg_mm_epilogue_ctx *ctx, LLVMValueRef x, int v);
LLVMValueRef cg_mm_epi_load_tile(cg_mm_epilogue_ctx *ctx, LLVMValueRef x, int64_t ld, int r, int v);

/* Fills the defaults for this CPU and shape, and checks an explicit schedule.
 * s may be NULL. Needs no LLVM (a tuner can call it for every candidate). */
cg_error cg_matmul_sched_resolve(const cg_cpu *cpu, const cg_matmul_desc *d, const cg_matmul_sched *s,
                                 cg_matmul_sched *out);

/* Checks the description and computes what cg_matmul_emit would report in
 * info, without generating anything: a warm start from a compile cache (object
 * bytes loaded with cg_jit_add_object) uses it to get n_items / scratch_bytes. */
cg_error cg_matmul_plan(const cg_cpu *cpu, const cg_matmul_desc *d, const cg_matmul_sched *sched,
                        cg_matmul_info *info);

/* Emits kernel `name` into module m. sched may be NULL (defaults). */
cg_error cg_matmul_emit(cg_jit *jit, LLVMModuleRef m, const char *name, const cg_matmul_desc *d,
                        const cg_matmul_sched *sched, cg_matmul_info *info);

/* Runs a compiled kernel over its whole range on `threads` OpenMP threads
 * (<= 0: all), splitting the items evenly (the reference for what an
 * executor does with a matmul kernel); scratch must hold
 * threads * info->scratch_bytes bytes (64-byte aligned; NULL is fine when
 * scratch_bytes is 0); extra holds info->n_extra_bufs epilogue buffers.
 * Missing buffers are reported, not dereferenced. */
cg_error cg_matmul_run(cg_kernel_fn fn, const cg_matmul_info *info, const float *A, const float *B, float *C,
                       void *scratch, void **extra, int n_extra, int threads);

#endif
