/* fe_internal.h — what the frontend's files share: the sandboxed Lua state and its context. */
#ifndef ICLC_FRONTEND_FE_INTERNAL_H
#define ICLC_FRONTEND_FE_INTERNAL_H

#include "frontend/frontend.h"

#include <lauxlib.h>
#include <lua.h>

enum {
    FE_HOOK_PERIOD = 10000,      /* instructions between two budget checks */
    FE_MAX_NODES = 1000000,      /* graph nodes one script may build (a big model has ~3000) */
    FE_MAX_SOURCES = 10000,      /* named inputs and params (name lookups are linear) */
    FE_MAX_DEPTH = 10000,        /* nested Lua calls */
    FE_MAX_SOURCE = 64 << 20,    /* bytes of one Lua source file */
};

/* Everything one Lua state needs; the allocator's userdata, so fe_ctx_of(L) finds it. */
typedef struct fe_ctx {
    ir_graph *g;              /* graph being built (NULL while only listing) */
    size_t mem, mem_limit;    /* Lua heap bytes in use and allowed */
    int64_t steps, step_limit;/* Lua instructions run and allowed */
    double t0, time_limit;    /* start (monotonic seconds) and allowed wall-clock seconds */
    bool over_budget;         /* instructions or time are spent: every instruction raises */
    char budget_msg[200];
    bool debug;               /* ICLC_DEBUG: keep the Lua traceback of an error */
    char main_file[1024];     /* the model file being run, for messages without a Lua location */
    char script_dir[1024];    /* directory of the user's model file, for require("name"); "" = none */
    const char *models_dir;   /* NULL = embedded sources */
    char nn_sha256[65];       /* of the nn.lua that was required ("" = none) */
    int nsources;             /* named inputs and params declared */
    const char *loc_src;      /* location cache: Lua source pointer -> interned file name */
    const char *loc_file;
    char where[512];          /* innermost Lua location of the last error (set by the message handler) */
    char traceback[4096];     /* its traceback (ICLC_DEBUG only) */
} fe_ctx;

/* A Lua source text: embedded (text points into the binary) or read from a file (owned). */
typedef struct fe_source {
    const char *text;
    size_t len;
    char *owned;
    char chunkname[1100]; /* "@path" */
} fe_source;

/* ---- fe_state.c ---- */
/* A fresh sandboxed state (safe libraries, require, the iclc module) using c for limits. NULL + err. */
lua_State *fe_state_new(fe_ctx *c, const char *models_dir, char *err, size_t errlen);
void fe_state_close(lua_State *L);
fe_ctx *fe_ctx_of(lua_State *L);
/* Calls the function below nargs arguments on the stack with the message handler. On failure writes
 * the one-line message (plus traceback with ICLC_DEBUG=1) into err and returns false; the stack then
 * holds nothing of the call. */
bool fe_pcall(lua_State *L, int nargs, int nresults, char *err, size_t errlen);
/* Loads a file's text (at most FE_MAX_SOURCE bytes). */
bool fe_source_file(const char *path, fe_source *s, char *err, size_t errlen);
/* The built-in "models" (models.lua) or "nn" (nn.lua) source, honouring models_dir and $ICLC_NN. */
bool fe_source_builtin(const fe_ctx *c, const char *module, fe_source *s, char *err, size_t errlen);
void fe_source_free(fe_source *s);
/* Compiles s (text only, never bytecode) and pushes the chunk. false + err on a syntax error. */
bool fe_source_load(lua_State *L, const fe_source *s, char *err, size_t errlen);
/* "file:line" of the innermost Lua frame (from level 1 up) into buf; "" when there is none. */
void fe_where(lua_State *L, char *buf, size_t len);
/* The `require` of model scripts (a lua_CFunction). */
int fe_require(lua_State *L);
/* Raises "file:line: what: message" as a Lua error (never returns). */
int fe_raise(lua_State *L, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- fe_tensor.c ---- */
/* Pushes the iclc module table (tensor metatable, generated op bindings, init, output). */
void fe_open_iclc(lua_State *L);
/* The node id of the tensor at idx; IR_NONE when the value is not a tensor, FE_FOREIGN when it is a
 * tensor of another graph (every other check then rejects it: it is negative). */
#define FE_FOREIGN (-2)
ir_id fe_tensor_id(lua_State *L, int idx);

#endif
