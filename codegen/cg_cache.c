/* cg_cache.c — the on-disk compile cache (see cg_cache.h). */
#include "codegen/cg_cache.h"
#include "runtime/rt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MAGIC[8] = {'I', 'C', 'L', 'C', 'J', 'I', 'T', '\n'};

static uint64_t fnv64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

bool cg_cache_dir(char *buf, size_t len) {
    const char *off = getenv("ICLC_NO_CACHE");
    if (off && *off && strcmp(off, "0") != 0) return false;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && *xdg) n = snprintf(buf, len, "%s/iclc", xdg);
    else if (home && *home) n = snprintf(buf, len, "%s/.cache/iclc", home);
    else return false;
    return n > 0 && (size_t)n < len;
}

extern const char iclc_codegen_hash[]; /* build/codegen_hash.c: MD5 of codegen/ and ir/ sources */

void cg_cache_key(const cg_jit *jit, uint64_t graph, int threads, char *buf, size_t len) {
    char llvm[32];
    cg_jit_llvm_version(llvm);
    const cg_cpu *cpu = cg_jit_cpu(jit);
    snprintf(buf, len, "format=%d code=%s graph=%016llx cpu=%s features=%s llvm=%s threads=%d", CG_CACHE_FORMAT,
             iclc_codegen_hash, (unsigned long long)graph, cpu->name, cpu->features ? cpu->features : "", llvm, threads);
}

bool cg_cache_path(const char *key, char *buf, size_t len) {
    char dir[4000];
    if (!cg_cache_dir(dir, sizeof dir)) return false;
    int n = snprintf(buf, len, "%s/jit-%016llx.obj", dir, (unsigned long long)fnv64(key, strlen(key)));
    return n > 0 && (size_t)n < len;
}

static bool read_exact(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

bool cg_cache_load(const char *key, uint64_t digest, int nobj, cg_blob *obj) {
    char path[4096];
    for (int i = 0; i < nobj; i++) obj[i] = (cg_blob){0};
    if (nobj < 1 || nobj > CG_CACHE_MAX_OBJS || !cg_cache_path(key, path, sizeof path)) return false;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[8];
    uint32_t version, klen, count;
    uint64_t dig;
    const char *why = NULL;
    char *k = NULL;
    if (!read_exact(f, magic, 8) || memcmp(magic, MAGIC, 8) != 0) why = "not a cache file";
    else if (!read_exact(f, &version, 4) || version != CG_CACHE_FORMAT) why = "another format version";
    else if (!read_exact(f, &klen, 4) || klen != strlen(key) || !(k = malloc(klen + 1)) || !read_exact(f, k, klen) ||
             memcmp(k, key, klen) != 0)
        why = "key mismatch";
    else if (!read_exact(f, &dig, 8) || dig != digest) why = "plan digest mismatch";
    else if (!read_exact(f, &count, 4) || count != (uint32_t)nobj) why = "object count mismatch";
    for (int i = 0; i < nobj && !why; i++) {
        uint64_t size, sum;
        if (!read_exact(f, &size, 8) || !read_exact(f, &sum, 8) || size == 0 || size > ((uint64_t)1 << 32)) why = "bad header";
        else if (!(obj[i].data = malloc(size)) || !read_exact(f, obj[i].data, size)) why = "truncated";
        else if (fnv64(obj[i].data, size) != sum) why = "checksum mismatch";
        else obj[i].size = size;
    }
    if (!why && fgetc(f) != EOF) why = "trailing bytes";
    free(k);
    fclose(f);
    if (why) {
        fprintf(stderr, "iclc: warning: ignoring compile cache entry %s (%s); rebuilding\n", path, why);
        for (int i = 0; i < nobj; i++) {
            free(obj[i].data);
            obj[i] = (cg_blob){0};
        }
        return false;
    }
    return true;
}

typedef struct entry {
    const char *key;
    uint64_t digest;
    int nobj;
    const cg_blob *obj;
} entry;

static void write_entry(FILE *f, const void *ctx) {
    const entry *e = ctx;
    uint32_t version = CG_CACHE_FORMAT, klen = (uint32_t)strlen(e->key), count = (uint32_t)e->nobj;
    fwrite(MAGIC, 1, 8, f);
    fwrite(&version, 4, 1, f);
    fwrite(&klen, 4, 1, f);
    fwrite(e->key, 1, klen, f);
    fwrite(&e->digest, 8, 1, f);
    fwrite(&count, 4, 1, f);
    for (int i = 0; i < e->nobj; i++) {
        uint64_t size = e->obj[i].size, sum = fnv64(e->obj[i].data, e->obj[i].size);
        fwrite(&size, 8, 1, f);
        fwrite(&sum, 8, 1, f);
        fwrite(e->obj[i].data, 1, e->obj[i].size, f);
    }
}

bool cg_cache_store(const char *key, uint64_t digest, int nobj, const cg_blob *obj, char *err, size_t errlen) {
    char dir[4000], path[4096];
    if (!cg_cache_dir(dir, sizeof dir) || !cg_cache_path(key, path, sizeof path)) {
        snprintf(err, errlen, "compile cache disabled");
        return false;
    }
    if (!rt_mkdirs(dir, err, errlen)) return false;
    entry e = {key, digest, nobj, obj};
    return rt_write_atomic(path, write_entry, &e, err, errlen);
}
