/* safetensors_io.c — time writing and reading a GPT-2-sized checkpoint (9,534,977 F32 parameters in
 * 150 tensors) with runtime/rt_safetensors. Usage: safetensors_io [DIR] (default /tmp). */
#include "runtime/rt_safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    enum { NT = 150 };
    const int64_t total = 9534977;
    float *data = malloc((size_t)total * sizeof *data);
    if (!data) return 1;
    for (int64_t i = 0; i < total; i++) data[i] = (float)(i % 1000) * 1e-3f;
    static rt_st_tensor t[NT];
    static char names[NT][48];
    int64_t at = 0, per = total / NT;
    for (int i = 0; i < NT; i++) {
        int64_t n = i == NT - 1 ? total - at : per;
        snprintf(names[i], sizeof names[i], "blocks.%d.attn.w%d", i / 12, i % 12);
        t[i] = (rt_st_tensor){.name = names[i], .dtype = RT_ST_F32, .rank = 1, .shape = {n}, .data = data + at};
        at += n;
    }
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/iclc-bench-%d.safetensors", argc > 1 ? argv[1] : "/tmp", (int)getpid());
    double mb = (double)total * 4 / 1e6;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        if (!rt_st_write(path, t, NT, NULL, 0, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        double t1 = now();
        rt_st_file *f = rt_st_open(path, err, sizeof err);
        if (!f) { fprintf(stderr, "%s\n", err); return 1; }
        double t2 = now();
        int same = memcmp(rt_st_at(f, 0)->data, data, rt_st_at(f, 0)->nbytes) == 0;
        rt_st_close(f);
        printf("%.1f MB: write+fsync %.3f s (%.0f MB/s), read+check %.3f s (%.0f MB/s)%s\n", mb, t1 - t0,
               mb / (t1 - t0), t2 - t1, mb / (t2 - t1), same ? "" : "  MISMATCH");
    }
    unlink(path);
    free(data);
    return 0;
}
