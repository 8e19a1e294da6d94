/* cg_plan.h — lowering a graph to a plan of kernels over buffers (the lower of iclc's two IR levels).
 *
 * A plan is what codegen compiles and the runtime runs: an ordered list of kernels, each writing one
 * buffer over a parallel range, and a table of buffers ("slots"). It is built without LLVM, so a warm
 * start from the compile cache and `iclc graph --plan` cost only this pass.
 *
 * Fusion rules (see docs/jit.md):
 *   - Every node gets a mode: STORED (a kernel computes it into a buffer), INLINE (recomputed inside the
 *     kernels that read it), EXTERNAL (an input/param buffer of the executor) or ALIAS (a reshape: the
 *     same storage as its input, no kernel).
 *   - STORED always: matmul, scan, cscan and reductions (their own kernel families), named outputs,
 *     operands of matmul (except a transpose of the last two dims of a stored tensor, which the matmul
 *     reads with a flipped ta/tb).
 *   - A reshape is INLINE when its input chain can be evaluated at a flat element index (elementwise over
 *     equal shapes or scalars): it then costs nothing but an index linearisation; else it is an ALIAS.
 *   - A stored slice that is one contiguous piece of an arena temporary (only dims of size 1 before its
 *     axis, e.g. a piece of a fused grad op's packed flat gradient) is a VIEW: no kernel, its slot is an
 *     offset inside the source's slot, whose live range is extended over the view's readers. Never for
 *     executor buffers (inputs swapped by carries, outputs); no kernel ever writes a view.
 *   - Consecutive flat loop kernels over the same element count are merged into one kernel with several
 *     outputs (e.g. Adam's clipped gradient, moments and update of one parameter).
 *   - Other nodes (elementwise, movement, const, iota, rand_mask) are INLINE into their consumers when all
 *     their consumers belong to one kernel (reductions and scans fuse their input chains; loops their
 *     whole expression tree). Consts, iotas and movement ops are cheap and are recomputed in every kernel
 *     that reads them; any other node read by two kernels is STORED.
 * Memory plan: inputs, params and outputs live in the executor's own buffers; every other STORED value
 * gets an interval of one arena, reused by liveness (first fit over the kernel order); peak bytes are
 * known before running. cg_plan_check verifies that no two simultaneously live buffers overlap, that views
 * lie inside their live base, and that no kernel writes memory it reads (views resolved to their base). */
#ifndef ICLC_CODEGEN_CG_PLAN_H
#define ICLC_CODEGEN_CG_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "codegen/cg_jit.h"
#include "codegen/cg_matmul.h"
#include "ir/ir.h"

typedef enum cg_mode { CGM_DEAD, CGM_INLINE, CGM_STORED, CGM_EXTERNAL, CGM_ALIAS, CGM_VIEW } cg_mode;
typedef enum cg_kind { CGK_LOOP, CGK_REDUCE, CGK_MATMUL, CGK_SCAN, CGK_CSCAN, CGK_FUSED } cg_kind;

/* Special slot numbers in a kernel's buffer list. */
enum { CG_SLOT_STEP = -2, CG_SLOT_SCRATCH = -3 };

/* A buffer: one of the executor's (ext >= 0: index into its buffer list) or an arena interval. */
typedef struct cg_slot {
    int ext;            /* executor buffer index, or -1 for an arena temporary */
    ir_id node;         /* the node stored here */
    int64_t bytes;
    int64_t offset;     /* arena temporaries: byte offset in the arena (views: base's offset + view_off) */
    int def, last;      /* kernel indices: first write, last access (-1: none) */
    int base;           /* a view: the arena temporary it lies in (never itself a view), else -1 */
    int64_t view_off;   /* a view: byte offset inside base */
} cg_slot;

enum { CG_GROUP_MAX = 8 };

typedef struct cg_kern {
    cg_kind kind;
    char name[24];          /* LLVM symbol */
    ir_id root;             /* the node this kernel writes (the first of a group) */
    bool copy;              /* an output copy: root is read from its storage */
    int dst;                /* slot written */
    /* flat loops of one element count that follow each other form one kernel: every root is computed
     * per element in order (later roots use earlier ones' values), each stored to its slot */
    int nroots;
    ir_id roots[CG_GROUP_MAX];
    int dsts[CG_GROUP_MAX];
    bool copies[CG_GROUP_MAX];
    int nbufs;
    int bufs[CG_MAX_BUFS];  /* slots (or CG_SLOT_*) in the kernel's bufs[] order; bufs[0] = dst except matmul */
    int64_t range;          /* parallel range [0, range) */
    int64_t work;           /* rough element operations of the whole range (for the serial threshold) */
    bool serial;            /* tuned (codegen/cg_tune.h): run on the calling thread even when work is large */
    /* loops */
    bool flat;              /* 1-D over all elements (no broadcasting/movement inside) */
    int64_t block;          /* flat: elements per range item; reduce/scan: inner elements per item */
    /* matmul */
    cg_matmul_desc mm;
    cg_matmul_info mm_info;
    ir_id mm_a, mm_b;       /* nodes whose storage the operands are */
    /* fused nodes (for printing): the inline nodes this kernel evaluates */
    int nfused;
    ir_id *fused;
    /* the kernel's code as tokens (ops, attributes, shapes, buffer positions): kernels with equal
     * tokens share one function (e.g. the same block in every layer); impl = the kernel that has it */
    int64_t *sig;
    int nsig, capsig;
    int *sigslots; /* token positions that hold slots (rewritten to buffer positions) */
    int nsigslots, capsigslots;
    int impl;
} cg_kern;

typedef struct cg_plan {
    const ir_graph *g;      /* not owned; must outlive the plan */
    cg_mode *mode;          /* per node */
    int *slot;              /* per node: its slot (STORED, EXTERNAL, ALIAS), else -1 */
    ir_id *root;            /* per node: INLINE -> the kernel root it belongs to, -2 recomputed anywhere */
    cg_slot *slots;
    int nslots, next;       /* next = executor buffers (slots [0, next)) */
    cg_kern *kerns;
    int nkerns;
    int64_t arena_bytes;    /* peak of the temporaries */
    int64_t scratch_bytes;  /* per thread (matmul packing) */
    int64_t ext_bytes;      /* inputs, params, outputs */
    int threads;
    int nimpl;              /* distinct kernel functions */
    uint64_t digest;        /* structural hash of the plan (cache consistency check) */
} cg_plan;

/* The executor's buffers, in its order: node and whether it is an output (rt_plan_init's order). */
typedef struct cg_extbuf {
    ir_id id;
    bool is_output;
} cg_extbuf;

struct cg_tune_db;
typedef struct cg_plan_opts {
    const cg_cpu *cpu;   /* sizes matmul blocking; NULL: AVX2-like defaults */
    int threads;         /* the thread count kernels are split over (>= 1) */
    const struct cg_tune_db *tune; /* tuned matmul schedules (codegen/cg_tune.h); NULL: defaults */
} cg_plan_opts;

/* Builds the plan of g (verified) for the executor buffers ext[0..next). NULL + message on failure
 * (an op without a kernel, too many buffers in one kernel, out of memory). */
cg_plan *cg_plan_build(const ir_graph *g, const cg_extbuf *ext, int next, const cg_plan_opts *opts, char *err,
                       size_t errlen);
void cg_plan_free(cg_plan *p);

/* The executor buffers rt_plan_init creates for g, in its order (inputs and params in node order, then
 * named outputs that are not a same-named source). *out is malloc'd. Returns the count, -1 on failure. */
int cg_plan_default_ext(const ir_graph *g, cg_extbuf **out);

/* Checks the memory plan: every arena interval inside the arena, no two temporaries that are live at
 * the same time overlap, every view inside its base and within its base's live range, no kernel writes a
 * view or memory it reads (a group may list its own outputs). false + message on a violation. */
bool cg_plan_check(const cg_plan *p, char *err, size_t errlen);

/* Prints kernels (name, kind, range, fused ops, buffers), buffers and peak memory. */
void cg_plan_print(const cg_plan *p, FILE *f);

/* Convenience for `iclc graph --plan`: plan g with the executor's default buffers for this host
 * (AVX width from LLVM's host CPU, `threads` <= 0: all cores) and print it. false + message on failure. */
bool cg_plan_print_graph(const ir_graph *g, int threads, FILE *f, char *err, size_t errlen);

#endif
