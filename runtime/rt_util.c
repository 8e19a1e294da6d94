/* rt_util.c — small runtime helpers: clocks, directories, atomic file writes. */
#include "runtime/rt_util.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double rt_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double rt_loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

void rt_thousands(int64_t v, char *buf, size_t len) {
    char digits[32];
    snprintf(digits, sizeof digits, "%" PRId64, v);
    size_t n = strlen(digits), k = 0;
    for (size_t i = 0; i < n && k + 2 < len; i++) {
        if (i && (n - i) % 3 == 0 && digits[i - 1] != '-') buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
}

int rt_default_threads(void) {
    int cores = omp_get_num_procs();
    double load = rt_loadavg();
    int busy = load > 0 ? (int)(load + 0.5) : 0;
    int free_cores = cores - busy;
    return free_cores < 1 ? 1 : free_cores;
}

bool rt_mkdirs(const char *path, char *err, size_t errlen) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        snprintf(err, errlen, "bad directory name '%s'", path);
        return false;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
            return false;
        }
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", path);
        return false;
    }
    return true;
}

void rt_fsync_dir_of(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path ? slash - path : 1), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

bool rt_write_atomic(const char *path, void (*write)(FILE *f, const void *ctx), const void *ctx, char *err,
                     size_t errlen) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return false;
    }
    write(f, ctx);
    bool okay = !ferror(f) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    okay = (fclose(f) == 0) && okay;
    if (okay && rename(tmp, path) != 0) {
        saved = errno;
        okay = false;
    }
    if (!okay) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
        unlink(tmp);
        return false;
    }
    rt_fsync_dir_of(path);
    return true;
}
