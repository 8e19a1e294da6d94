/* rt_fuse.h — which fusion patterns an executor can take. */
#ifndef ICLC_RUNTIME_RT_FUSE_H
#define ICLC_RUNTIME_RT_FUSE_H

#include "runtime/rt_exec.h"

/* Writes into out the fusion patterns (passes/fuse.h) to leave out of pass_fuse for executor ex: the
 * user's comma-separated list (NULL = none; "all" = every pattern), plus every pattern whose fused ops the
 * executor cannot run — and, when g has an output "loss", whose gradient ops it cannot run either. g is
 * left unchanged (each pattern is tried on a copy). */
void rt_fusion_skips(const rt_executor *ex, const ir_graph *g, const char *user, char *out, size_t len);

#endif
