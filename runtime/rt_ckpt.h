/* rt_ckpt.h — checkpoints: a plan's weights and optimizer state plus run metadata, in safetensors.
 *
 * Tensors: every param under its own name, and the Adam moments under their plan names
 * ("adam:m:<param>", "adam:v:<param>"). Metadata: string key/values in the safetensors header
 * (model, model_hash, config, task, task_params, step, seed, hyperparameters, iclc_version, ...).
 * Saving writes a temporary file, fsyncs and renames it over `path` after moving the previous
 * checkpoint to `prev_path`, so a good checkpoint always exists on disk. */
#ifndef ICLC_RUNTIME_RT_CKPT_H
#define ICLC_RUNTIME_RT_CKPT_H

#include "runtime/rt_exec.h"

typedef struct rt_kv {
    const char *key, *value;
} rt_kv;

/* Saves the params and "adam:" state buffers of p with the metadata. prev_path may be NULL (then the
 * old file is simply replaced). Refuses (false + message) to save when a value is not finite. */
bool rt_ckpt_save(const char *path, const char *prev_path, const rt_plan *p, const rt_kv *meta, int nmeta, char *err,
                  size_t errlen);

typedef struct rt_ckpt rt_ckpt;

/* Loads and validates a checkpoint (a strict safetensors read). NULL + message on any problem. */
rt_ckpt *rt_ckpt_load(const char *path, char *err, size_t errlen);
void rt_ckpt_free(rt_ckpt *c);
/* Metadata value of key, or NULL. */
const char *rt_ckpt_meta(const rt_ckpt *c, const char *key);
/* Copies the checkpoint's tensors into the plan's params (and "adam:" state when with_state). Every
 * param of the plan must be present with its shape; otherwise false with the list of mismatched
 * tensors in err. */
bool rt_ckpt_restore(const rt_ckpt *c, rt_plan *p, bool with_state, char *err, size_t errlen);

#endif
