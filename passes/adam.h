/* adam.h — the optimizer update as graph ops: global-norm gradient clipping, then Adam or AdamW.
 *
 * pass_adam appends, in place, the update of every param P that has a "grad:P" output (pass_autodiff
 * makes them). The graph's optimizer interface is all named inputs and outputs:
 *
 *   inputs   "adam:lr"       f32[]        learning rate (an input, so a schedule or a changed flag needs no
 *                                         recompilation)
 *            "adam:step"     f32[]        t, the number of this update counting from 1 (torch's state["step"]
 *                                         after its increment); drives the bias corrections 1 - beta^t
 *            "adam:m:P"      P's shape    first moment (zeros before the first step)
 *            "adam:v:P"      P's shape    second moment (zeros before the first step)
 *   outputs  "new:P"         P's shape    the updated param
 *            "adam:m_new:P", "adam:v_new:P"   the updated moments
 *            "grad_norm"     f32[]        the global L2 norm of all gradients, before clipping
 *
 * The step, as torch.nn.utils.clip_grad_norm_ followed by torch.optim.Adam / AdamW (foreach=False):
 *   norm = sqrt(sum over params of sum(grad^2));  g = grad * min(1, clip / (norm + 1e-6))   (clip > 0)
 *   m' = beta1 m + (1 - beta1) g;  v' = beta2 v + (1 - beta2) g^2
 *   P  = P * (1 - lr weight_decay)                              (AdamW, for params `decay` selects)
 *   P' = P - lr / (1 - beta1^t) * m' / (sqrt(v') / sqrt(1 - beta2^t) + eps)
 * beta^t is built as exp(t ln beta). The caller swaps "new:*"/"*_new:*" into the inputs after each step.
 * A NaN or Inf in any gradient makes grad_norm NaN or Inf (and the update garbage): check grad_norm before
 * carrying the update; the "grad:P" outputs stay available to find the first bad param. */
#ifndef ICLC_PASSES_ADAM_H
#define ICLC_PASSES_ADAM_H

#include "ir/ir.h"
#include "passes/autodiff.h"

typedef struct ir_adam_opts {
    double beta1, beta2, eps;
    double weight_decay; /* decoupled (AdamW); 0 = plain Adam */
    double clip;         /* max global gradient norm; <= 0 disables clipping (grad_norm is still output) */
    /* Which params get weight decay: NULL = all of them (torch's AdamW default); see
     * ir_adam_decay_matrices for the usual "no decay on biases and norm gains". */
    bool (*decay)(const ir_node *param, void *user);
    void *user;
} ir_adam_opts;

/* The reference's settings (tasks.md 0.2): beta1 0.9, beta2 0.999, eps 1e-8, weight decay 0, clip 10. */
ir_adam_opts ir_adam_defaults(void);

/* `decay` callback: params of rank >= 2 (weight matrices) decay; vectors (biases, norm gains) do not. */
bool ir_adam_decay_matrices(const ir_node *param, void *user);

/* Appends the update (above) to g. Returns false with the error in g when there is no "grad:" output,
 * when an "adam:" name is already taken, or when the options are out of range. */
bool pass_adam(ir_graph *g, const ir_adam_opts *opts);

/* The whole training step: pass_autodiff(grad), pass_adam(adam), then pass_simplify, pass_cse, pass_dce
 * and ir_verify (passes/pass_pipeline.c). grad may be NULL (loss "loss", every param). Node ids change; find
 * inputs, params and outputs by name. false with the error in g. */
bool pass_train_graph(ir_graph *g, const ir_grad_opts *grad, const ir_adam_opts *adam);

#endif
