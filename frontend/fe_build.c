/* fe_build.c — model file + config + task shape -> graph, and the catalog of a model file.
 *
 * Everything that touches Lua values runs inside one protected call (a script can hide metamethods
 * anywhere), with the results written into C structs that the caller owns and frees on failure. */
#include "frontend/fe_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "FILE.lua:NAME" or "NAME" (the built-in models.lua). */
typedef struct model_spec {
    char file[1024];
    char name[256];
    bool builtin;
} model_spec;

static bool parse_spec(const char *model, model_spec *sp, char *err, size_t errlen) {
    *sp = (model_spec){0};
    if (!model || !model[0]) {
        snprintf(err, errlen, "no model given (--model FILE.lua:NAME or --model NAME)");
        return false;
    }
    const char *colon = strrchr(model, ':');
    size_t flen = colon ? (size_t)(colon - model) : 0;
    if (colon && (flen == 0 || !colon[1])) {
        snprintf(err, errlen, "bad model '%s': expected FILE.lua:NAME or NAME", model);
        return false;
    }
    if (strlen(model) >= sizeof sp->file) {
        snprintf(err, errlen, "model spec too long");
        return false;
    }
    if (!colon) {
        size_t n = strlen(model);
        if (n > 4 && strcmp(model + n - 4, ".lua") == 0) {
            snprintf(err, errlen, "bad model '%s': name the model too, as %s:NAME", model, model);
            return false;
        }
        sp->builtin = true;
        snprintf(sp->file, sizeof sp->file, "models.lua");
        snprintf(sp->name, sizeof sp->name, "%s", model);
    } else {
        snprintf(sp->file, sizeof sp->file, "%.*s", (int)flen, model);
        snprintf(sp->name, sizeof sp->name, "%s", colon + 1);
    }
    return true;
}

/* Runs the model file (user file, or the built-in models.lua) and pushes the table it returns. Raises. */
static void push_model_table(lua_State *L, const model_spec *sp, char sha[65]) {
    fe_ctx *c = fe_ctx_of(L);
    fe_source s;
    char err[1400];
    bool ok = sp->builtin ? fe_source_builtin(c, "models", &s, err, sizeof err) : fe_source_file(sp->file, &s, err, sizeof err);
    if (!ok) {
        lua_pushstring(L, err);
        lua_error(L);
    }
    snprintf(c->main_file, sizeof c->main_file, "%s", sp->file);
    if (!sp->builtin) {
        const char *slash = strrchr(sp->file, '/');
        if (slash) snprintf(c->script_dir, sizeof c->script_dir, "%.*s", (int)(slash - sp->file), sp->file);
        else snprintf(c->script_dir, sizeof c->script_dir, ".");
        if (!c->script_dir[0]) snprintf(c->script_dir, sizeof c->script_dir, "/");
    }
    if (sha) fe_sha256_hex(s.text, s.len, sha);
    ok = fe_source_load(L, &s, err, sizeof err);
    fe_source_free(&s);
    if (!ok) {
        lua_pushstring(L, err);
        lua_error(L);
    }
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1)) {
        lua_pushfstring(L, "%s: must return a table of model functions, returned %s", sp->file, luaL_typename(L, -1));
        lua_error(L);
    }
}

/* Pushes the configs table of the model table at idx, or the built-in models.lua's when it has none. */
static void push_configs(lua_State *L, int tbl, const model_spec *sp) {
    lua_getfield(L, tbl, "configs");
    if (lua_istable(L, -1)) return;
    if (!lua_isnil(L, -1)) {
        lua_pushfstring(L, "%s: 'configs' must be a table, got %s", sp->file, luaL_typename(L, -1));
        lua_error(L);
    }
    lua_pop(L, 1);
    if (sp->builtin) {
        lua_newtable(L);
        return;
    }
    lua_pushcfunction(L, fe_require);
    lua_pushliteral(L, "models");
    lua_call(L, 1, 1);
    if (lua_istable(L, -1)) lua_getfield(L, -1, "configs");
    else lua_pushnil(L);
    lua_remove(L, -2);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted string keys of the table at idx (whose values pass `want`, a Lua type or -1). */
static int sorted_keys(lua_State *L, int idx, int want, char ***out) {
    int n = 0, cap = 0;
    char **keys = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING && (want < 0 || lua_type(L, -1) == want)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                char **k = realloc(keys, (size_t)cap * sizeof *k);
                if (!k) break;
                keys = k;
            }
            keys[n] = strdup(lua_tostring(L, -2));
            if (keys[n]) n++;
        }
        lua_pop(L, 1);
    }
    if (n > 1) qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    *out = keys;
    return n;
}

static void free_strings(char **s, int n) {
    for (int i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

/* "a, b, c" of names into buf. */
static void join(char **names, int n, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k < len; i++) k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", names[i]);
    if (n == 0) snprintf(buf, len, "none");
}

/* ---- building ---- */

typedef struct build_job {
    const fe_options *o;
    model_spec sp;
    fe_model *m;
} build_job;

/* A deep copy of the table at idx (plain values; depth-limited). */
static void copy_table(lua_State *L, int idx, int depth) {
    if (depth > 8) {
        lua_pushliteral(L, "config tables nest too deeply");
        lua_error(L);
    }
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        if (lua_istable(L, -2)) copy_table(L, -2, depth + 1);
        else lua_pushvalue(L, -2);
        lua_rawset(L, -5);
        lua_pop(L, 1);
    }
}

/* Applies "key=value,key=value" to the config table at idx. */
static void apply_set(lua_State *L, int cfg, const char *set, const char *config) {
    const char *p = set;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[512];
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        p = comma ? comma + 1 : NULL;
        if (!item[0]) continue;
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            lua_pushfstring(L, "--set: '%s' is not key=value", item);
            lua_error(L);
        }
        *eq = '\0';
        const char *key = item, *val = eq + 1;
        lua_getfield(L, cfg, key);
        bool known = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (!known) {
            char **keys;
            int n = sorted_keys(L, cfg, -1, &keys);
            char names[1024];
            join(keys, n, names, sizeof names);
            free_strings(keys, n);
            lua_pushfstring(L, "--set: config '%s' has no key '%s' (keys: %s)", config, key, names);
            lua_error(L);
        }
        if (strcmp(val, "true") == 0 || strcmp(val, "false") == 0) lua_pushboolean(L, val[0] == 't');
        else if (!val[0] || lua_stringtonumber(L, val) == 0) lua_pushstring(L, val);
        lua_setfield(L, cfg, key);
    }
}

/* Renders a config value as text. */
static char *value_text(lua_State *L, int idx) {
    char buf[512];
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
        else { /* the shortest form that reads back as the same double */
            double v = lua_tonumber(L, idx);
            for (int prec = 6; prec <= 17; prec++) {
                snprintf(buf, sizeof buf, "%.*g", prec, v);
                if (strtod(buf, NULL) == v) break;
            }
        }
        break;
    case LUA_TSTRING: snprintf(buf, sizeof buf, "%s", lua_tostring(L, idx)); break;
    case LUA_TBOOLEAN: snprintf(buf, sizeof buf, "%s", lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TTABLE: {
        size_t k = (size_t)snprintf(buf, sizeof buf, "{");
        lua_Unsigned n = lua_rawlen(L, idx);
        for (lua_Unsigned i = 1; i <= n && k < sizeof buf; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i > 1 ? ", " : "",
                                  lua_type(L, -1) == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                                                                    : luaL_typename(L, -1));
            lua_pop(L, 1);
        }
        if (k < sizeof buf) snprintf(buf + k, sizeof buf - k, "}");
        break;
    }
    default: snprintf(buf, sizeof buf, "(%s)", luaL_typename(L, idx)); break;
    }
    return strdup(buf);
}

/* Records the config table at idx into m->config, sorted by key. */
static void snapshot_config(lua_State *L, int cfg, fe_model *m) {
    char **keys;
    int n = sorted_keys(L, cfg, -1, &keys);
    m->config = calloc((size_t)(n ? n : 1), sizeof *m->config);
    if (!m->config) {
        free_strings(keys, n);
        lua_pushliteral(L, "out of memory");
        lua_error(L);
    }
    for (int i = 0; i < n; i++) {
        lua_getfield(L, cfg, keys[i]);
        m->config[m->nconfig++] = (fe_kv){keys[i], value_text(L, -1)};
        lua_pop(L, 1);
    }
    free(keys);
}

static void push_shape(lua_State *L, const fe_shape *s) {
    lua_newtable(L);
    const struct {
        const char *k;
        int64_t v;
    } f[] = {{"B", s->B}, {"T", s->T}, {"d_in", s->d_in}, {"d_out", s->d_out}, {"n_points", s->n_points},
             {"d", s->d}, {"k", s->k},  {"m", s->m}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if ((f[i].k[0] == 'k' || f[i].k[0] == 'm') && f[i].v == 0) continue;
        lua_pushinteger(L, f[i].v);
        lua_setfield(L, -2, f[i].k);
    }
    lua_pushstring(L, s->task);
    lua_setfield(L, -2, "task");
}

/* Checks a source node against the task shape. */
static void check_io(lua_State *L, ir_graph *g, ir_id id, const char *what, const char *name, int64_t B, int64_t T,
                     int64_t w, const char *where) {
    ir_shape want = ir_shape_of(3, (int64_t[]){B, T, w});
    char t1[96], t2[96];
    if (id == IR_NONE) {
        lua_pushfstring(L, "%s: the model did not create the input '%s' (iclc.input(\"%s\", {B, T, d_in}) = %s)", where,
                        name, name, ir_type_str(IR_F32, want, t1, sizeof t1));
        lua_error(L);
    }
    if (!ir_shape_eq(g->nodes[id].shape, want)) {
        lua_pushfstring(L, "%s: %s '%s' is %s; the task needs %s", where, what, name,
                        ir_type_str(IR_F32, g->nodes[id].shape, t1, sizeof t1), ir_type_str(IR_F32, want, t2, sizeof t2));
        lua_error(L);
    }
}

static int build_protected(lua_State *L) {
    build_job *j = lua_touserdata(L, 1);
    fe_model *m = j->m;
    fe_ctx *c = fe_ctx_of(L);
    lua_settop(L, 0);
    push_model_table(L, &j->sp, m->model_sha256); /* 1 */
    lua_getfield(L, 1, j->sp.name);                /* 2: the model function */
    if (!lua_isfunction(L, 2)) {
        char **names;
        int n = sorted_keys(L, 1, LUA_TFUNCTION, &names);
        char list[1024];
        join(names, n, list, sizeof list);
        free_strings(names, n);
        lua_pushfstring(L, "unknown model '%s' in %s (models: %s)", j->sp.name, j->sp.file, list);
        return lua_error(L);
    }
    push_configs(L, 1, &j->sp); /* 3 */
    const char *cname = j->o->config;
    if (!cname) {
        lua_getfield(L, 1, "default_config");
        cname = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "tiny"; /* kept alive by the stack */
    }
    m->config_name = strdup(cname);
    lua_getfield(L, 3, cname);
    if (!lua_istable(L, -1)) {
        char **names;
        int n = sorted_keys(L, 3, LUA_TTABLE, &names);
        char list[1024];
        join(names, n, list, sizeof list);
        free_strings(names, n);
        lua_pushfstring(L, "unknown config '%s' for %s (configs: %s)", cname, j->sp.file, list);
        return lua_error(L);
    }
    copy_table(L, -1, 0);
    int cfg = lua_gettop(L);
    apply_set(L, cfg, j->o->set, cname);
    snapshot_config(L, cfg, m);

    lua_Debug ar;
    char where[1200];
    lua_pushvalue(L, 2);
    lua_getinfo(L, ">S", &ar);
    snprintf(where, sizeof where, "%s:%d: model '%s'", ar.source[0] == '@' ? ar.source + 1 : ar.source,
             ar.linedefined, j->sp.name);

    c->g = m->graph;
    lua_pushvalue(L, 2);
    lua_pushvalue(L, cfg);
    push_shape(L, &j->o->shape);
    lua_call(L, 2, 1);
    ir_graph *g = m->graph;
    ir_id pred = fe_tensor_id(L, -1);
    if (pred < 0) {
        lua_pushfstring(L, "%s returned %s; it must return the prediction tensor", where, luaL_typename(L, -1));
        return lua_error(L);
    }
    const fe_shape *s = &j->o->shape;
    check_io(L, g, ir_find_source(g, OP_input, "tokens"), "input", "tokens", s->B, s->T, s->d_in, where);
    check_io(L, g, pred, "the returned", "pred", s->B, s->T, s->d_out, where);
    if (ir_output_find(g, "pred") != pred) {
        g->loc = (ir_loc){0};
        if (!ir_output_add(g, "pred", pred)) {
            lua_pushfstring(L, "%s: %s", where, ir_error(g));
            return lua_error(L);
        }
    }
    if (!ir_verify(g)) {
        lua_pushfstring(L, "%s: internal error: the graph does not verify: %s", where, ir_error(g));
        return lua_error(L);
    }
    return 0;
}

fe_model *fe_build(const fe_options *o, char *err, size_t errlen) {
    build_job j = {.o = o};
    if (!parse_spec(o->model, &j.sp, err, errlen)) return NULL;
    if (!o->shape.task || o->shape.B < 1 || o->shape.T < 1 || o->shape.d_in < 1 || o->shape.d_out < 1) {
        snprintf(err, errlen, "no task shape given");
        return NULL;
    }
    fe_model *m = calloc(1, sizeof *m);
    if (!m || !(m->graph = ir_graph_new())) {
        free(m);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    j.m = m;
    m->shape = o->shape;
    m->model_file = strdup(j.sp.file);
    m->model_name = strdup(j.sp.name);
    fe_ctx c;
    lua_State *L = fe_state_new(&c, o->models_dir, err, errlen);
    bool ok = L != NULL;
    if (ok) {
        lua_pushcfunction(L, build_protected);
        lua_pushlightuserdata(L, &j);
        ok = fe_pcall(L, 1, 0, err, errlen);
        snprintf(m->nn_sha256, sizeof m->nn_sha256, "%s", c.nn_sha256);
        c.g = NULL; /* finalizers run by lua_close build nothing */
        fe_state_close(L);
    }
    if (ok && (!m->model_file || !m->model_name || !m->config_name)) {
        snprintf(err, errlen, "out of memory");
        ok = false;
    }
    if (!ok) {
        fe_model_free(m);
        return NULL;
    }
    for (ir_id i = 0; i < m->graph->nnodes; i++)
        if (m->graph->nodes[i].op == OP_param) m->nparams += ir_numel(m->graph->nodes[i].shape);
    return m;
}

void fe_model_free(fe_model *m) {
    if (!m) return;
    ir_graph_free(m->graph);
    for (int i = 0; i < m->nconfig; i++) {
        free(m->config[i].key);
        free(m->config[i].value);
    }
    free(m->config);
    free(m->model_file);
    free(m->model_name);
    free(m->config_name);
    free(m);
}

/* ---- the catalog ---- */

typedef struct catalog_job {
    model_spec sp;
    fe_catalog *cat;
} catalog_job;

/* A list of strings from the field `field` of the table at idx into *out / *count (which always
 * describe what is allocated, so a raised error leaks nothing). false when the field is absent. */
static bool string_list(lua_State *L, int idx, const char *field, const char *file, char ***out, int *count) {
    lua_getfield(L, idx, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return false;
    }
    if (!lua_istable(L, -1)) {
        lua_pushfstring(L, "%s: '%s' must be a list of names", file, field);
        lua_error(L);
    }
    int n = (int)(lua_rawlen(L, -1) > 100000 ? 100000 : lua_rawlen(L, -1));
    char **s = calloc((size_t)(n ? n : 1), sizeof *s);
    *out = s;
    if (!s) {
        lua_pushliteral(L, "out of memory");
        lua_error(L);
    }
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, -1, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pushfstring(L, "%s: %s[%d] must be a string", file, field, i + 1);
            lua_error(L);
        }
        s[i] = strdup(lua_tostring(L, -1));
        *count = i + 1;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return true;
}

static int catalog_protected(lua_State *L) {
    catalog_job *j = lua_touserdata(L, 1);
    fe_catalog *cat = j->cat;
    lua_settop(L, 0);
    push_model_table(L, &j->sp, NULL); /* 1 */
    push_configs(L, 1, &j->sp);         /* 2 */
    if (!string_list(L, 1, "model_names", j->sp.file, &cat->models, &cat->nmodels)) {
        int n = sorted_keys(L, 1, LUA_TFUNCTION, &cat->models);
        for (int i = 0; i < n; i++) /* describe is not a model */
            if (strcmp(cat->models[i], "describe") == 0) {
                free(cat->models[i]);
                memmove(cat->models + i, cat->models + i + 1, (size_t)(n - i - 1) * sizeof *cat->models);
                n--, i--;
            }
        cat->nmodels = n;
    }
    if (!string_list(L, 1, "config_names", j->sp.file, &cat->configs, &cat->nconfigs))
        cat->nconfigs = sorted_keys(L, 2, LUA_TTABLE, &cat->configs);
    cat->describe = calloc((size_t)cat->nmodels * (size_t)cat->nconfigs + 1, sizeof *cat->describe);
    if (!cat->describe) {
        lua_pushliteral(L, "out of memory");
        return lua_error(L);
    }
    lua_getfield(L, 1, "describe"); /* 3 */
    if (!lua_isfunction(L, 3)) return 0;
    for (int i = 0; i < cat->nmodels; i++)
        for (int k = 0; k < cat->nconfigs; k++) {
            lua_pushvalue(L, 3);
            lua_pushstring(L, cat->models[i]);
            lua_pushstring(L, cat->configs[k]);
            lua_call(L, 2, 1);
            if (lua_type(L, -1) == LUA_TSTRING) cat->describe[i * cat->nconfigs + k] = strdup(lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    return 0;
}

fe_catalog *fe_catalog_load(const char *file, const char *models_dir, char *err, size_t errlen) {
    catalog_job j = {0};
    if (file) {
        if (strlen(file) >= sizeof j.sp.file) {
            snprintf(err, errlen, "file name too long");
            return NULL;
        }
        snprintf(j.sp.file, sizeof j.sp.file, "%s", file);
    } else {
        j.sp.builtin = true;
        snprintf(j.sp.file, sizeof j.sp.file, "models.lua");
    }
    fe_catalog *cat = calloc(1, sizeof *cat);
    if (!cat || !(cat->file = strdup(j.sp.file))) {
        free(cat);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cat->builtin = j.sp.builtin;
    j.cat = cat;
    fe_ctx c;
    lua_State *L = fe_state_new(&c, models_dir, err, errlen);
    bool ok = L != NULL;
    if (ok) {
        lua_pushcfunction(L, catalog_protected);
        lua_pushlightuserdata(L, &j);
        ok = fe_pcall(L, 1, 0, err, errlen);
        fe_state_close(L);
    }
    if (!ok) {
        fe_catalog_free(cat);
        return NULL;
    }
    return cat;
}

void fe_catalog_free(fe_catalog *c) {
    if (!c) return;
    if (c->describe)
        for (int i = 0; i < c->nmodels * c->nconfigs; i++) free(c->describe[i]);
    free(c->describe);
    free_strings(c->models, c->nmodels);
    free_strings(c->configs, c->nconfigs);
    free(c->file);
    free(c);
}
