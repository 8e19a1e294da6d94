/* rt_util.h — small runtime helpers: clocks, directories, atomic file writes. */
#ifndef ICLC_RUNTIME_RT_UTIL_H
#define ICLC_RUNTIME_RT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Monotonic seconds. */
double rt_now(void);

/* The 1-minute load average from /proc/loadavg; -1 when unknown. */
double rt_loadavg(void);

/* 1234567 -> "1,234,567" into buf. */
void rt_thousands(int64_t v, char *buf, size_t len);

/* Threads to use when the user asks for "all cores": the cores not already kept busy by other processes
 * (from the 1-minute load average), at least 1. OpenMP regions on an oversubscribed core wait for a
 * descheduled thread at every kernel, so a busy machine is faster with fewer threads. */
int rt_default_threads(void);

/* mkdir -p; false + message on failure. */
bool rt_mkdirs(const char *path, char *err, size_t errlen);

/* Writes a file atomically: `write(f, ctx)` fills a temporary file next to `path`, which is flushed,
 * fsynced and renamed over `path` (and the directory fsynced). On any failure the temporary file is
 * removed, `path` is untouched, and false is returned with a message. */
bool rt_write_atomic(const char *path, void (*write)(FILE *f, const void *ctx), const void *ctx, char *err,
                     size_t errlen);

/* fsyncs the directory containing `path` (after a rename). */
void rt_fsync_dir_of(const char *path);

#endif
