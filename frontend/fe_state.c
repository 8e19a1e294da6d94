/* fe_state.c — the sandboxed Lua state model scripts run in.
 *
 * Safety: only the base (without dofile, loadfile, load), string (without dump), table, math and utf8
 * libraries are open; `print` writes to stderr; `require` knows "iclc", "nn", "models" and plain names
 * of Lua files next to the user's model file. Chunks are compiled as text only (never bytecode). The
 * allocator refuses to grow the Lua heap past a limit (default 1 GiB, $ICLC_LUA_MEMORY_MB) and a count
 * hook stops a script after an instruction budget (default 2e9, $ICLC_LUA_INSTRUCTIONS); once the
 * budget is spent every further instruction raises, so pcall cannot keep a runaway loop alive.
 * Errors come back as one line: "file:line: message". */
#include "frontend/embedded.h"
#include "frontend/fe_internal.h"

#include <errno.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

fe_ctx *fe_ctx_of(lua_State *L) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* The Lua allocator with a heap limit. */
static void *fe_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    fe_ctx *c = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        c->mem -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > c->mem_limit - c->mem) return NULL;
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    c->mem = c->mem - old + nsize;
    return p;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The budgets: instructions, wall-clock time and call depth, checked every FE_HOOK_PERIOD instructions.
 * Running out of instructions or time is sticky: from then on every instruction raises. */
static void fe_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    fe_ctx *c = fe_ctx_of(L);
    c->steps += FE_HOOK_PERIOD;
    if (c->over_budget) {
        fe_raise(L, "lua", "%s", c->budget_msg);
        return;
    }
    lua_Debug deep;
    if (lua_getstack(L, FE_MAX_DEPTH, &deep))
        fe_raise(L, "lua", "stack overflow (more than %d nested calls: infinite recursion?)", FE_MAX_DEPTH);
    double t = now_seconds() - c->t0;
    if (c->steps <= c->step_limit && t <= c->time_limit) return;
    c->over_budget = true;
    if (c->steps > c->step_limit)
        snprintf(c->budget_msg, sizeof c->budget_msg,
                 "the script ran too long (more than %lld Lua instructions: a runaway loop? see ICLC_LUA_INSTRUCTIONS)",
                 (long long)c->step_limit);
    else
        snprintf(c->budget_msg, sizeof c->budget_msg,
                 "the script ran too long (more than %g seconds: a runaway loop? see ICLC_LUA_SECONDS)", c->time_limit);
    lua_sethook(L, fe_hook, LUA_MASKCOUNT, 1);
    fe_raise(L, "lua", "%s", c->budget_msg);
}

/* The file name of a Lua source ("@path" -> "path"). */
static const char *source_file(const char *src) { return src[0] == '@' || src[0] == '=' ? src + 1 : src; }

void fe_where(lua_State *L, char *buf, size_t len) {
    lua_Debug ar;
    buf[0] = '\0';
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
        snprintf(buf, len, "%s:%d", source_file(ar.source), ar.currentline);
        return;
    }
}

int fe_raise(lua_State *L, const char *what, const char *fmt, ...) {
    char where[512], msg[1024];
    fe_where(L, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lua_pushfstring(L, "%s%s%s: %s", where, where[0] ? ": " : "", what, msg);
    return lua_error(L);
}

/* print(...) -> stderr, so it never mixes with the IR on stdout. */
static int fe_print(lua_State *L) {
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) fputc('\t', stderr);
        fwrite(s, 1, len, stderr);
        lua_pop(L, 1);
    }
    fputc('\n', stderr);
    return 0;
}

/* ---- sources ---- */

void fe_source_free(fe_source *s) {
    free(s->owned);
    *s = (fe_source){0};
}

bool fe_source_file(const char *path, fe_source *s, char *err, size_t errlen) {
    *s = (fe_source){0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap || cap >= FE_MAX_SOURCE) break;
        char *p = realloc(buf, cap * 2);
        if (!p) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = p, cap *= 2;
    }
    bool bad = ferror(f) || !buf || len >= FE_MAX_SOURCE;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "cannot read %s: %s", path,
                 !buf ? "out of memory" : len >= FE_MAX_SOURCE ? "larger than 64 MiB" : "read error");
        free(buf);
        return false;
    }
    s->text = s->owned = buf;
    s->len = len;
    snprintf(s->chunkname, sizeof s->chunkname, "@%s", path);
    return true;
}

/* The embedded file `name`, or NULL. */
static const iclc_embedded_file *embedded(const char *name) {
    for (const iclc_embedded_file *e = iclc_embedded; e->name; e++)
        if (strcmp(e->name, name) == 0) return e;
    return NULL;
}

bool fe_source_builtin(const fe_ctx *c, const char *module, fe_source *s, char *err, size_t errlen) {
    bool nn = strcmp(module, "nn") == 0;
    const char *base = nn ? "nn.lua" : "models.lua";
    const char *env = nn ? getenv("ICLC_NN") : NULL;
    if (env && env[0]) return fe_source_file(env, s, err, errlen);
    if (c->models_dir) {
        char path[1100];
        snprintf(path, sizeof path, "%s/%s%s", c->models_dir, nn ? "frontend/" : "", base);
        FILE *f = fopen(path, "rb");
        if (f || !nn) {
            if (f) fclose(f);
            return fe_source_file(path, s, err, errlen);
        }
    }
    const iclc_embedded_file *e = embedded(base);
    if (!e) {
        snprintf(err, errlen, "%s is not built into this iclc (set %s)", base, nn ? "ICLC_NN" : "--models-dir");
        return false;
    }
    *s = (fe_source){.text = e->text, .len = e->len};
    snprintf(s->chunkname, sizeof s->chunkname, "@%s", base);
    return true;
}

/* Makes a message one line: control characters (newlines, tabs) become spaces. */
static void one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

bool fe_source_load(lua_State *L, const fe_source *s, char *err, size_t errlen) {
    int st = luaL_loadbufferx(L, s->text, s->len, s->chunkname, "t");
    if (st == LUA_OK) return true;
    const char *m = lua_tostring(L, -1);
    snprintf(err, errlen, "%s", st == LUA_ERRMEM ? "out of memory while compiling" : m ? m : "cannot compile");
    one_line(err);
    lua_pop(L, 1);
    return false;
}

/* ---- require ---- */

/* Pushes the source of module `name` into s, or raises. */
static void module_source(lua_State *L, const char *name, fe_source *s) {
    fe_ctx *c = fe_ctx_of(L);
    char err[1200];
    if (strcmp(name, "nn") == 0 || strcmp(name, "models") == 0) {
        if (!fe_source_builtin(c, name, s, err, sizeof err)) fe_raise(L, "require", "%s", err);
        if (name[0] == 'n') fe_sha256_hex(s->text, s->len, c->nn_sha256);
        return;
    }
    bool ident = name[0] && !(name[0] >= '0' && name[0] <= '9');
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            ident = false;
    if (!ident || !c->script_dir[0] || strlen(name) > 100)
        fe_raise(L, "require", "unknown module '%s' (available: iclc, nn, models%s)", name,
                 c->script_dir[0] ? ", and NAME.lua next to the model file" : "");
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.lua", c->script_dir, name);
    if (!fe_source_file(path, s, err, sizeof err)) fe_raise(L, "require", "%s", err);
}

/* require(name): modules are loaded once per state; a cycle is an error. */
int fe_require(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "iclc.loaded"); /* 2 */
    lua_getfield(L, 2, name);
    if (lua_islightuserdata(L, -1)) return fe_raise(L, "require", "module '%s' requires itself (a cycle)", name);
    if (!lua_isnil(L, -1)) return 1;
    lua_pop(L, 1);
    if (strcmp(name, "iclc") == 0) {
        lua_getfield(L, LUA_REGISTRYINDEX, "iclc.module");
        return 1;
    }
    fe_source s;
    module_source(L, name, &s);
    char err[1200];
    bool ok = fe_source_load(L, &s, err, sizeof err);
    fe_source_free(&s);
    if (!ok) {
        lua_pushstring(L, err);
        return lua_error(L);
    }
    lua_pushlightuserdata(L, (void *)fe_require); /* loading sentinel */
    lua_setfield(L, 2, name);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, name);
    return 1;
}

/* ---- the state ---- */

static int64_t env_int(const char *name, int64_t dflt, int64_t lo, int64_t hi) {
    const char *v = getenv(name);
    if (!v || !v[0]) return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    return *end || x < lo || x > hi ? dflt : x;
}

/* setmetatable without finalizers: Lua runs __gc with hooks off, so a looping finalizer could not be
 * stopped. (Lua only finalizes objects whose metatable has __gc when it is set.) */
static int fe_setmetatable(lua_State *L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        bool gc = lua_rawget(L, 2) != LUA_TNIL;
        lua_pop(L, 1);
        if (gc) fe_raise(L, "setmetatable", "finalizers (__gc) are not allowed in model scripts");
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* Opens the safe libraries and replaces the unsafe parts of base. Runs protected. */
static int open_safe(lua_State *L) {
    static const struct {
        const char *name;
        lua_CFunction open;
    } libs[] = {{LUA_GNAME, luaopen_base},
                {LUA_STRLIBNAME, luaopen_string},
                {LUA_TABLIBNAME, luaopen_table},
                {LUA_MATHLIBNAME, luaopen_math},
                {LUA_UTF8LIBNAME, luaopen_utf8}};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        luaL_requiref(L, libs[i].name, libs[i].open, 1);
        lua_pop(L, 1);
    }
    static const char *const removed[] = {"dofile", "loadfile", "load", "collectgarbage"};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, fe_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    lua_register(L, "print", fe_print);
    lua_register(L, "require", fe_require);
    /* math.random is seeded from the clock by default: make scripts deterministic. */
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, 0);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "iclc.loaded");
    fe_open_iclc(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "iclc.module");
    lua_setglobal(L, "iclc");
    return 0;
}

lua_State *fe_state_new(fe_ctx *c, const char *models_dir, char *err, size_t errlen) {
    *c = (fe_ctx){0};
    c->mem_limit = (size_t)env_int("ICLC_LUA_MEMORY_MB", 1024, 1, 1 << 20) << 20;
    c->step_limit = env_int("ICLC_LUA_INSTRUCTIONS", 2000000000, FE_HOOK_PERIOD, INT64_MAX / 2);
    c->time_limit = (double)env_int("ICLC_LUA_SECONDS", 60, 1, 1 << 30);
    c->t0 = now_seconds();
    const char *dbg = getenv("ICLC_DEBUG");
    c->debug = dbg && dbg[0] && strcmp(dbg, "0") != 0;
    c->models_dir = models_dir ? models_dir : getenv("ICLC_MODELS_DIR");
    if (c->models_dir && !c->models_dir[0]) c->models_dir = NULL;
    lua_State *L = lua_newstate(fe_alloc, c);
    if (!L) {
        snprintf(err, errlen, "cannot create a Lua state: out of memory");
        return NULL;
    }
    lua_sethook(L, fe_hook, LUA_MASKCOUNT, FE_HOOK_PERIOD);
    lua_pushcfunction(L, open_safe);
    if (!fe_pcall(L, 0, 0, err, errlen)) {
        lua_close(L);
        return NULL;
    }
    return L;
}

/* Closes L without running any more Lua code: finalizers (__gc) raise at their first instruction. */
void fe_state_close(lua_State *L) {
    if (!L) return;
    fe_ctx *c = fe_ctx_of(L);
    c->over_budget = true;
    snprintf(c->budget_msg, sizeof c->budget_msg, "finalizers do not run");
    lua_sethook(L, fe_hook, LUA_MASKCOUNT, 1);
    lua_close(L);
}

/* ---- errors ---- */

/* The message handler: records where the error happened (and the traceback with ICLC_DEBUG). */
static int fe_msgh(lua_State *L) {
    fe_ctx *c = fe_ctx_of(L);
    fe_where(L, c->where, sizeof c->where);
    c->traceback[0] = '\0';
    if (c->debug) {
        luaL_traceback(L, L, NULL, 1);
        snprintf(c->traceback, sizeof c->traceback, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return 1;
}

/* luaL_tolstring of the value at index 1, for a protected call. */
static int tostring_protected(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

/* True when s starts with "something:digits:" (a Lua location). */
static bool has_location(const char *s) {
    const char *colon = strchr(s, ':');
    if (!colon || colon == s) return false;
    const char *p = colon + 1;
    if (!(*p >= '0' && *p <= '9')) return false;
    while (*p >= '0' && *p <= '9') p++;
    return *p == ':';
}

/* The error object on top of the stack as one line in err. */
static void error_message(lua_State *L, int status, char *err, size_t errlen) {
    fe_ctx *c = fe_ctx_of(L);
    char msg[2048];
    if (status == LUA_ERRMEM) {
        snprintf(msg, sizeof msg, "%s%sout of memory (the Lua heap limit is %zu MiB; see ICLC_LUA_MEMORY_MB)",
                 c->main_file[0] ? c->main_file : "", c->main_file[0] ? ": " : "", c->mem_limit >> 20);
    } else if (status == LUA_ERRERR) {
        snprintf(msg, sizeof msg, "error while handling an error (%s)",
                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "no message");
    } else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        snprintf(msg, sizeof msg, "%s", lua_tostring(L, -1));
    } else {
        const char *tname = luaL_typename(L, -1);
        bool has_tostring = luaL_getmetafield(L, -1, "__tostring") != LUA_TNIL;
        if (has_tostring) lua_pop(L, 1);
        snprintf(msg, sizeof msg, "error object is a %s value", tname);
        if (has_tostring) {
            lua_pushcfunction(L, tostring_protected);
            lua_pushvalue(L, -2);
            if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
                snprintf(msg, sizeof msg, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    one_line(msg);
    if (!has_location(msg) && c->where[0] && status != LUA_ERRMEM)
        snprintf(err, errlen, "%s: %s", c->where, msg);
    else
        snprintf(err, errlen, "%s", msg);
    if (c->debug && c->traceback[0]) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, "\n%s", c->traceback);
    }
}

bool fe_pcall(lua_State *L, int nargs, int nresults, char *err, size_t errlen) {
    fe_ctx *c = fe_ctx_of(L);
    int base = lua_gettop(L) - nargs; /* the function's index */
    if (!lua_checkstack(L, 8)) {
        snprintf(err, errlen, "Lua stack exhausted");
        return false;
    }
    lua_pushcfunction(L, fe_msgh);
    lua_insert(L, base);
    c->where[0] = '\0';
    int st = lua_pcall(L, nargs, nresults, base);
    if (st == LUA_OK) {
        lua_remove(L, base);
        return true;
    }
    error_message(L, st, err, errlen);
    lua_settop(L, base - 1);
    return false;
}
