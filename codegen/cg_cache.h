/* cg_cache.h — the on-disk compile cache: object bytes of a compiled plan.
 *
 * Location: $XDG_CACHE_HOME/iclc/ (else ~/.cache/iclc/); ICLC_NO_CACHE=1 disables it. One file per
 * key, "jit-<16 hex digits of the key's hash>.obj":
 *   "ICLCJIT\n"  u32 format version  u32 key length  key bytes  u64 plan digest  u32 object count
 *   then per object: u64 size  u64 FNV-1a-64 checksum of the object  object bytes
 * The key string names everything the code depends on (format version, the MD5 of the code
 * generator's and IR's sources (build/codegen_hash.c, scripts/source_hash.cmake: a changed kernel
 * generator never reuses old objects), graph hash, CPU name and features, LLVM version, thread count);
 * the plan digest guards against a planner that changed without a format bump. A file that is truncated, corrupted or for another key is ignored with a
 * warning on stderr (and overwritten by the rebuild). Files are written atomically. */
#ifndef ICLC_CODEGEN_CG_CACHE_H
#define ICLC_CODEGEN_CG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codegen/cg_jit.h"

enum { CG_CACHE_FORMAT = 2, CG_CACHE_MAX_OBJS = 16 };

/* The cache directory into buf; false when the cache is disabled or no directory can be named. */
bool cg_cache_dir(char *buf, size_t len);

/* The key of a plan of graph hash `graph` with `threads` threads on jit's target, into buf. */
void cg_cache_key(const cg_jit *jit, uint64_t graph, int threads, char *buf, size_t len);

/* The entry's file path for key into buf; false when the cache is disabled. */
bool cg_cache_path(const char *key, char *buf, size_t len);

/* Reads a valid entry of exactly nobj objects (same key and digest, intact checksums) into obj[0..nobj)
 * (cg_blob_free each). false when absent, disabled or invalid (invalid entries print a one-line warning). */
bool cg_cache_load(const char *key, uint64_t digest, int nobj, cg_blob *obj);

/* Writes an entry of nobj objects atomically (creating the directory). false + message on failure. */
bool cg_cache_store(const char *key, uint64_t digest, int nobj, const cg_blob *obj, char *err, size_t errlen);

#endif
