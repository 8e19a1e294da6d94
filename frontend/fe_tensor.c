/* fe_tensor.c — the `iclc` Lua module: tensors and the op bindings, generated from ir/ops.def.
 *
 * A tensor is a full userdata holding a node id of the state's graph. Every op of ir_ops[] is one C
 * closure (upvalue: the op) reachable as iclc.<op>(in1, ..., inN [, attrs]) and as a method
 * x:<op>(in2, ... [, attrs]). `attrs` is a table keyed by the attribute names of ir/attrs.def (plus
 * `shape` for ops whose shape is given). The sugar of LUA_API.md is the same closure: a short table
 * below lists, per op, the positional order of its attributes (x:sum(axis), x:slice(axis, start, end),
 * iclc.param(name, shape, init), ...). Numbers where a tensor input is expected become rank-0
 * constants. Each call stamps the calling Lua line on the node; a failing builder raises
 * "file:line: op: what is wrong (shapes)". */
#include "frontend/fe_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TENSOR_MT "tensor"
#define INIT_MT "iclc.init"

typedef struct fe_tensor {
    const ir_graph *g; /* the graph the node belongs to */
    ir_id id;
} fe_tensor;

/* An initializer value; data[] holds INIT_DATA's values. */
typedef struct fe_init {
    ir_init init;
    int64_t n;
    float data[];
} fe_init;

/* ---- positional sugar: the order of an op's attributes after its inputs ---- */

static const struct {
    const char *op;
    const char *args[4];
} sugar[] = {
    {"input", {"name", "shape"}},
    {"param", {"name", "shape", "init"}},
    {"const", {"value", "shape"}},
    {"iota", {"shape", "axis"}},
    {"rand_mask", {"shape", "value", "seed"}},
    {"sum", {"axis"}},
    {"rmax", {"axis"}},
    {"mean", {"axis"}},
    {"reshape", {"shape"}},
    {"permute", {"perm"}},
    {"broadcast", {"shape"}},
    {"slice", {"axis", "start", "end"}},
    {"concat", {"axis"}},
    {"pad", {"axis", "lo", "hi", "value"}},
};
enum { NSUGAR = sizeof sugar / sizeof sugar[0] };

static const char *const *sugar_of(ir_op op) {
    for (int i = 0; i < NSUGAR; i++)
        if (strcmp(sugar[i].op, ir_ops[op].name) == 0) return sugar[i].args;
    return NULL;
}

/* Ops whose result shape is given by the caller rather than inferred. */
static bool takes_shape(ir_op op) {
    const char *const *s = sugar_of(op);
    for (int i = 0; s && i < 4 && s[i]; i++)
        if (strcmp(s[i], "shape") == 0) return true;
    return false;
}

/* ---- helpers ---- */

static ir_graph *graph_of(lua_State *L, const char *what) {
    fe_ctx *c = fe_ctx_of(L);
    if (!c->g) fe_raise(L, what, "no graph is being built here (tensors exist only inside a model function)");
    return c->g;
}

ir_id fe_tensor_id(lua_State *L, int idx) {
    fe_tensor *t = luaL_testudata(L, idx, TENSOR_MT);
    if (!t) return IR_NONE;
    const fe_ctx *c = fe_ctx_of(L);
    return t->g == c->g ? t->id : FE_FOREIGN;
}

static void push_tensor(lua_State *L, ir_id id) {
    fe_tensor *t = lua_newuserdatauv(L, sizeof *t, 0);
    t->g = fe_ctx_of(L)->g;
    t->id = id;
    luaL_setmetatable(L, TENSOR_MT);
}

/* Stamps the calling Lua line on the nodes built next. */
static void set_loc(lua_State *L, ir_graph *g) {
    fe_ctx *c = fe_ctx_of(L);
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
        if (ar.source != c->loc_src || !c->loc_file) {
            const char *src = ar.source[0] == '@' || ar.source[0] == '=' ? ar.source + 1 : ar.source;
            c->loc_file = ir_intern(g, src);
            c->loc_src = ar.source;
        }
        g->loc.file = c->loc_file;
        g->loc.line = ar.currentline;
        return;
    }
    g->loc = (ir_loc){0};
}

/* Raises the graph's error as "file:line: op: message (shapes)". */
static int raise_ir_error(lua_State *L, ir_graph *g) {
    char msg[1100];
    snprintf(msg, sizeof msg, "%s", ir_error(g));
    if (g->loc.file) {
        char suffix[600];
        snprintf(suffix, sizeof suffix, " (%s:%d)", g->loc.file, g->loc.line);
        size_t n = strlen(msg), k = strlen(suffix);
        if (n >= k && strcmp(msg + n - k, suffix) == 0) msg[n - k] = '\0';
    }
    ir_clear_error(g);
    char where[512];
    fe_where(L, where, sizeof where);
    lua_pushfstring(L, "%s%s%s", where, where[0] ? ": " : "", msg);
    return lua_error(L);
}

static const char *type_name(lua_State *L, int idx) {
    return lua_type(L, idx) == LUA_TNONE ? "no value" : luaL_typename(L, idx);
}

/* An integer-valued number (floats with an exact integer value are accepted). */
static int64_t get_int(lua_State *L, int idx, const char *op, const char *what) {
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (lua_type(L, idx) == LUA_TNUMBER && !isnum)
        fe_raise(L, op, "%s must be an integer, got the number %.17g", what, (double)lua_tonumber(L, idx));
    if (!isnum || lua_type(L, idx) != LUA_TNUMBER)
        fe_raise(L, op, "%s must be an integer, got %s", what, type_name(L, idx));
    return (int64_t)v;
}

static double get_number(lua_State *L, int idx, const char *op, const char *what) {
    if (lua_type(L, idx) != LUA_TNUMBER) fe_raise(L, op, "%s must be a number, got %s", what, type_name(L, idx));
    double v = lua_tonumber(L, idx);
    if (isnan(v)) fe_raise(L, op, "%s is NaN", what);
    return v;
}

/* A Lua list of at most IR_MAX_RANK integers (a shape or a permutation). Returns its length. */
static int get_int_list(lua_State *L, int idx, const char *op, const char *what, int64_t *out) {
    if (lua_type(L, idx) != LUA_TTABLE)
        return fe_raise(L, op, "%s must be a list of integers like {2, 3}, got %s", what, type_name(L, idx));
    lua_Unsigned n = lua_rawlen(L, idx);
    if (n > IR_MAX_RANK) fe_raise(L, op, "%s has %llu entries; the rank is at most %d", what, (unsigned long long)n, IR_MAX_RANK);
    for (int i = 0; i < (int)n; i++) {
        lua_rawgeti(L, idx, i + 1);
        char item[64];
        snprintf(item, sizeof item, "%s[%d]", what, i + 1);
        out[i] = get_int(L, -1, op, item);
        lua_pop(L, 1);
    }
    return (int)n;
}

/* The list elements of a table (a table with no string keys, or an empty one). */
static bool is_list(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TTABLE) return false;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        bool str = lua_type(L, -2) == LUA_TSTRING;
        lua_pop(L, 1);
        if (str) {
            lua_pop(L, 1);
            return false;
        }
    }
    return true;
}

/* A tensor input: a tensor, or a number that becomes a rank-0 const. */
static ir_id get_input(lua_State *L, ir_graph *g, int idx, const char *op, int k) {
    ir_id id = fe_tensor_id(L, idx);
    if (id != IR_NONE) {
        if (id < 0 || id >= g->nnodes) fe_raise(L, op, "input %d is a tensor of another graph", k);
        return id;
    }
    if (lua_type(L, idx) == LUA_TNUMBER) {
        ir_id c = ir_scalar(g, lua_tonumber(L, idx));
        if (c == IR_NONE) raise_ir_error(L, g);
        return c;
    }
    return fe_raise(L, op, "input %d must be a tensor or a number, got %s", k, type_name(L, idx));
}

/* ---- attributes ---- */

typedef struct call_attrs {
    ir_attrs a;
    ir_shape shape;
    bool has_shape, has_init, has_end;
    int nperm;
    const fe_init *init;
} call_attrs;

/* Names of the attributes op accepts, for messages. */
static void attr_names(ir_op op, char *buf, size_t len) {
    size_t n = 0;
    buf[0] = '\0';
    if (takes_shape(op)) n += (size_t)snprintf(buf, len, "shape");
    for (int i = 0; i < ATTR_COUNT && n < len; i++)
        if (ir_ops[op].attrs & (1u << i))
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", ir_attr_table[i].name);
    if (!buf[0]) snprintf(buf, len, "none");
}

/* Sets attribute `key` of op from the value at idx. */
static void set_attr(lua_State *L, ir_graph *g, ir_op op, const char *key, int idx, call_attrs *ca) {
    const char *on = ir_ops[op].name;
    if (strcmp(key, "shape") == 0 && takes_shape(op)) {
        int64_t dims[IR_MAX_RANK];
        int r = get_int_list(L, idx, on, "shape", dims);
        ca->shape = ir_shape_of(r, dims);
        ca->has_shape = true;
        return;
    }
    int id = -1;
    for (int i = 0; i < ATTR_COUNT; i++)
        if ((ir_ops[op].attrs & (1u << i)) && strcmp(ir_attr_table[i].name, key) == 0) id = i;
    if (id < 0) {
        char names[256];
        attr_names(op, names, sizeof names);
        fe_raise(L, on, "unknown attribute '%s' (valid: %s)", key, names);
    }
    ir_attrs *a = &ca->a;
    switch ((ir_attr_id)id) {
    case ATTR_ID_name:
        if (lua_type(L, idx) != LUA_TSTRING) fe_raise(L, on, "name must be a string, got %s", type_name(L, idx));
        a->name = ir_intern(g, lua_tostring(L, idx));
        if (!a->name) fe_raise(L, on, "out of memory");
        break;
    case ATTR_ID_init:
        ca->init = luaL_testudata(L, idx, INIT_MT);
        if (!ca->init)
            fe_raise(L, on, "init must be an initializer like iclc.init.normal(0.02), got %s", type_name(L, idx));
        ca->has_init = true;
        break;
    case ATTR_ID_value: a->value = get_number(L, idx, on, key); break;
    case ATTR_ID_seed: a->seed = get_int(L, idx, on, key); break;
    case ATTR_ID_axis: a->axis = get_int(L, idx, on, key); break;
    case ATTR_ID_start: a->start = get_int(L, idx, on, key); break;
    case ATTR_ID_end:
        a->end = get_int(L, idx, on, key);
        ca->has_end = true;
        break;
    case ATTR_ID_lo: a->lo = get_int(L, idx, on, key); break;
    case ATTR_ID_hi: a->hi = get_int(L, idx, on, key); break;
    case ATTR_ID_perm: ca->nperm = get_int_list(L, idx, on, "perm", a->perm); break;
    case ATTR_ID_reverse:
    case ATTR_ID_ta:
    case ATTR_ID_tb:
    case ATTR_ID_softplus: {
        if (lua_type(L, idx) != LUA_TBOOLEAN) fe_raise(L, on, "%s must be true or false, got %s", key, type_name(L, idx));
        bool v = lua_toboolean(L, idx);
        if (id == ATTR_ID_reverse) a->reverse = v;
        else if (id == ATTR_ID_ta) a->ta = v;
        else if (id == ATTR_ID_tb) a->tb = v;
        else a->softplus = v;
        break;
    }
    case ATTR_COUNT: break;
    }
}

/* Reads an attrs table {axis = 1, ...}. */
static void read_attr_table(lua_State *L, ir_graph *g, ir_op op, int idx, call_attrs *ca) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            fe_raise(L, ir_ops[op].name, "attribute table keys must be names, got %s", type_name(L, -2));
        set_attr(L, g, op, lua_tostring(L, -2), lua_gettop(L), ca);
        lua_pop(L, 1);
    }
}

/* Reads the arguments after the inputs: one attrs table, or positional values in the sugar order. */
static void read_attrs(lua_State *L, ir_graph *g, ir_op op, int first, call_attrs *ca) {
    int top = lua_gettop(L);
    const char *on = ir_ops[op].name;
    const char *const *pos = sugar_of(op);
    if (first > top) return;
    bool list_first = pos && (strcmp(pos[0], "shape") == 0 || strcmp(pos[0], "perm") == 0);
    if (first == top && lua_type(L, first) == LUA_TTABLE && (!pos || !is_list(L, first) ||
                                                              (lua_rawlen(L, first) == 0 && !list_first))) {
        read_attr_table(L, g, op, first, ca);
        return;
    }
    int npos = 0;
    while (pos && npos < 4 && pos[npos]) npos++;
    if (top - first + 1 > npos) {
        if (!pos) fe_raise(L, on, "takes %d input%s and an optional attribute table; argument %d is %s",
                           ir_ops[op].arity, ir_ops[op].arity == 1 ? "" : "s", first, type_name(L, first));
        fe_raise(L, on, "too many arguments (%d given after the inputs, at most %d)", top - first + 1, npos);
    }
    for (int i = 0; i < npos && first + i <= top; i++)
        if (!lua_isnil(L, first + i)) set_attr(L, g, op, pos[i], first + i, ca);
}

/* ---- the generic op call ---- */

/* Named inputs and params by name, in a registry table (a hash: ir_find_source is linear). */
static ir_id source_find(lua_State *L, ir_op op, const char *name) {
    lua_getfield(L, LUA_REGISTRYINDEX, "iclc.sources");
    lua_pushfstring(L, "%s:%s", ir_ops[op].name, name);
    lua_rawget(L, -2);
    ir_id id = lua_isinteger(L, -1) ? (ir_id)lua_tointeger(L, -1) : IR_NONE;
    lua_pop(L, 2);
    return id;
}

static void source_add(lua_State *L, ir_op op, const char *name, ir_id id) {
    lua_getfield(L, LUA_REGISTRYINDEX, "iclc.sources");
    lua_pushfstring(L, "%s:%s", ir_ops[op].name, name);
    lua_pushinteger(L, id);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Resolves one -1 of a reshape shape from the input's element count. */
static void resolve_reshape(lua_State *L, ir_graph *g, ir_id x, ir_shape *s) {
    int unknown = -1;
    int64_t known = 1, total = ir_numel(g->nodes[x].shape);
    for (int i = 0; i < s->rank; i++) {
        if (s->dim[i] != -1) {
            if (s->dim[i] > 0 && known <= (INT64_C(1) << 40) / s->dim[i]) known *= s->dim[i];
            else if (s->dim[i] != 0) known = -1;
            continue;
        }
        if (unknown >= 0) fe_raise(L, "reshape", "at most one dimension may be -1");
        unknown = i;
    }
    if (unknown < 0) return;
    char t[96];
    if (known <= 0 || total % known != 0)
        fe_raise(L, "reshape", "cannot infer the -1 dimension: %s has %lld elements",
                 ir_type_str(IR_F32, g->nodes[x].shape, t, sizeof t), (long long)total);
    s->dim[unknown] = total / known;
}

/* Frontend-level normalisation: negative permutation entries and slice bounds count from the end. */
static void normalise(lua_State *L, ir_graph *g, ir_op op, const ir_id *in, int nin, call_attrs *ca) {
    if (nin < 1) return;
    ir_shape s = g->nodes[in[0]].shape;
    if (op == OP_reshape && ca->has_shape) resolve_reshape(L, g, in[0], &ca->shape);
    if (ir_ops[op].attrs & AT(perm)) {
        if (ca->nperm != s.rank)
            fe_raise(L, "permute", "perm has %d entries for an input of rank %d", ca->nperm, s.rank);
        for (int i = 0; i < s.rank; i++)
            if (ca->a.perm[i] < 0) ca->a.perm[i] += s.rank;
    }
    if (op == OP_slice) {
        int64_t ax = ca->a.axis < 0 ? ca->a.axis + s.rank : ca->a.axis;
        if (ax < 0 || ax >= s.rank) return; /* the shape rule reports it */
        int64_t len = s.dim[ax];
        if (!ca->has_end) ca->a.end = len;
        if (ca->a.start < 0) ca->a.start += len;
        if (ca->a.end < 0) ca->a.end += len;
    }
}

static int op_call(lua_State *L) {
    ir_op op = (ir_op)lua_tointeger(L, lua_upvalueindex(1));
    const ir_op_info *info = &ir_ops[op];
    ir_graph *g = graph_of(L, info->name);
    if (g->nnodes >= FE_MAX_NODES) fe_raise(L, info->name, "the graph has more than %d nodes", FE_MAX_NODES);
    set_loc(L, g);
    int top = lua_gettop(L), next = 1, nin = 0;
    ir_id in[64];
    if (info->arity >= 0) {
        for (; nin < info->arity; nin++, next++) in[nin] = get_input(L, g, next, info->name, nin + 1);
    } else if (lua_type(L, 1) == LUA_TTABLE && is_list(L, 1) && lua_rawlen(L, 1) > 0) {
        /* iclc.concat({x1, x2, ...}, axis) */
        lua_Unsigned n = lua_rawlen(L, 1);
        if (n > 64) fe_raise(L, info->name, "at most 64 inputs, got %llu", (unsigned long long)n);
        for (; nin < (int)n; nin++) {
            lua_rawgeti(L, 1, nin + 1);
            in[nin] = get_input(L, g, lua_gettop(L), info->name, nin + 1);
            lua_pop(L, 1);
        }
        next = 2;
    } else {
        /* iclc.concat(x1, x2, ..., {axis = 1}): tensors only, so a number is never mistaken for one */
        for (; next <= top && fe_tensor_id(L, next) != IR_NONE; next++) {
            if (nin == 64) fe_raise(L, info->name, "at most 64 inputs");
            in[nin] = get_input(L, g, next, info->name, nin + 1);
            nin++;
        }
        if (nin == 0) fe_raise(L, info->name, "needs at least one tensor input, got %s", type_name(L, 1));
    }
    call_attrs ca = {0};
    read_attrs(L, g, op, next, &ca);
    normalise(L, g, op, in, nin, &ca);
    if (takes_shape(op) && !ca.has_shape) {
        if (op != OP_const) fe_raise(L, info->name, "needs a shape, like {2, 3}");
        ca.has_shape = true; /* iclc.const(v): a scalar */
    }
    if (info->flags & OPF_SOURCE && ca.a.name) {
        fe_ctx *c = fe_ctx_of(L);
        if (++c->nsources > FE_MAX_SOURCES)
            fe_raise(L, info->name, "more than %d named inputs and params", FE_MAX_SOURCES);
    }
    if (op == OP_param) {
        if (!ca.has_init) fe_raise(L, "param", "needs an initializer, like iclc.init.normal(0.02)");
        if (ca.a.name && source_find(L, op, ca.a.name) != IR_NONE)
            fe_raise(L, "param", "'%s' is declared twice", ca.a.name);
    }
    if (op == OP_input && ca.a.name) {
        ir_id old = source_find(L, op, ca.a.name);
        if (old != IR_NONE) {
            if (!ir_shape_eq(g->nodes[old].shape, ca.shape)) {
                char t1[96], t2[96];
                fe_raise(L, "input", "'%s' is already declared as %s, now as %s", ca.a.name,
                         ir_type_str(IR_F32, g->nodes[old].shape, t1, sizeof t1), ir_type_str(IR_F32, ca.shape, t2, sizeof t2));
            }
            push_tensor(L, old);
            return 1;
        }
    }
    if (ca.init) {
        ca.a.init = ca.init->init;
        if (ca.init->init.kind == INIT_DATA) {
            ir_init d = ir_init_data(g, ca.init->data, ca.init->n);
            if (d.kind != INIT_DATA) raise_ir_error(L, g);
            memcpy(d.post, ca.init->init.post, sizeof d.post);
            ca.a.init = d;
        }
    }
    ir_id id = ir_build(g, op, in, nin, &ca.a, ca.has_shape ? &ca.shape : NULL);
    if (id == IR_NONE) return raise_ir_error(L, g);
    if ((op == OP_input || op == OP_param) && ca.a.name) source_add(L, op, ca.a.name, id);
    push_tensor(L, id);
    return 1;
}

/* Unary metamethods get their operand twice: keep one. */
static int op_unm(lua_State *L) {
    lua_settop(L, 1);
    lua_pushinteger(L, OP_neg);
    lua_pushcclosure(L, op_call, 1);
    lua_insert(L, 1);
    lua_call(L, 1, 1);
    return 1;
}

/* ---- tensor metatable ---- */

static int t_index(lua_State *L) {
    ir_id id = fe_tensor_id(L, 1);
    ir_graph *g = graph_of(L, "tensor");
    if (id < 0 || id >= g->nnodes) return fe_raise(L, "tensor", "a tensor of another graph");
    const char *k = lua_tostring(L, 2);
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(k, "shape") == 0) {
        ir_shape s = g->nodes[id].shape;
        lua_createtable(L, s.rank, 0);
        for (int i = 0; i < s.rank; i++) {
            lua_pushinteger(L, s.dim[i]);
            lua_rawseti(L, -2, i + 1);
        }
        return 1;
    }
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(k, "rank") == 0) {
        lua_pushinteger(L, g->nodes[id].shape.rank);
        return 1;
    }
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(k, "op") == 0) {
        lua_pushstring(L, ir_ops[g->nodes[id].op].name);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1)); /* methods */
    return 1;
}

static int t_newindex(lua_State *L) { return fe_raise(L, "tensor", "tensors are immutable (cannot set a field)"); }

static int t_tostring(lua_State *L) {
    ir_id id = fe_tensor_id(L, 1);
    fe_ctx *c = fe_ctx_of(L);
    if (!c->g || id < 0 || id >= c->g->nnodes) {
        lua_pushstring(L, "tensor (stale)");
        return 1;
    }
    char t[96];
    lua_pushfstring(L, "tensor %%%d %s %s", (int)id, ir_ops[c->g->nodes[id].op].name,
                    ir_type_str(c->g->nodes[id].dtype, c->g->nodes[id].shape, t, sizeof t));
    return 1;
}

/* ---- initializers ---- */

static fe_init *push_init(lua_State *L, ir_init init, int64_t n) {
    fe_init *p = lua_newuserdatauv(L, sizeof(fe_init) + (size_t)n * sizeof(float), 0);
    p->init = init;
    p->n = n;
    luaL_setmetatable(L, INIT_MT);
    return p;
}

static double finite_arg(lua_State *L, int idx, const char *what) {
    double v = get_number(L, idx, "init", what);
    if (!isfinite(v)) fe_raise(L, "init", "%s must be finite, got %g", what, v);
    return v;
}

static int init_normal(lua_State *L) {
    double std = finite_arg(L, 1, "normal std");
    double mean = lua_isnoneornil(L, 2) ? 0 : finite_arg(L, 2, "normal mean");
    if (std < 0) fe_raise(L, "init", "normal std must be >= 0, got %g", std);
    push_init(L, ir_init_normal(mean, std), 0);
    return 1;
}

static int init_uniform(lua_State *L) {
    double lo = finite_arg(L, 1, "uniform lo"), hi = finite_arg(L, 2, "uniform hi");
    if (lo > hi) fe_raise(L, "init", "uniform needs lo <= hi, got [%g, %g]", lo, hi);
    push_init(L, ir_init_uniform(lo, hi), 0);
    return 1;
}

static int init_zeros(lua_State *L) {
    push_init(L, ir_init_zeros(), 0);
    return 1;
}

static int init_ones(lua_State *L) {
    push_init(L, ir_init_ones(), 0);
    return 1;
}

static int init_constant(lua_State *L) {
    push_init(L, ir_init_constant(finite_arg(L, 1, "constant value")), 0);
    return 1;
}

static int init_data(lua_State *L) {
    if (lua_type(L, 1) != LUA_TTABLE) fe_raise(L, "init", "data wants a flat list of numbers, got %s", type_name(L, 1));
    lua_Unsigned n = lua_rawlen(L, 1);
    if (n > (lua_Unsigned)1 << 31) fe_raise(L, "init", "data has too many values");
    fe_init *p = push_init(L, (ir_init){.kind = INIT_DATA, .a = (double)n}, (int64_t)n);
    for (lua_Unsigned i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TNUMBER)
            fe_raise(L, "init", "data[%llu] must be a number, got %s", (unsigned long long)i + 1, type_name(L, -1));
        p->data[i] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    return 1;
}

/* init:exp(), init:softplus_inv(): a copy with one more transform (upvalue: the transform). */
static int init_then(lua_State *L) {
    const fe_init *p = luaL_testudata(L, 1, INIT_MT);
    ir_init_post post = (ir_init_post)lua_tointeger(L, lua_upvalueindex(1));
    if (!p) return fe_raise(L, "init", "%s() must be called on an initializer (use init:%s())", ir_init_post_name(post),
                            ir_init_post_name(post));
    if (p->init.post[IR_INIT_MAX_POST - 1] != INIT_POST_NONE)
        fe_raise(L, "init", "at most %d transforms per initializer", IR_INIT_MAX_POST);
    fe_init *q = push_init(L, ir_init_then(p->init, post), p->n);
    memcpy(q->data, p->data, (size_t)p->n * sizeof(float));
    return 1;
}

static int init_tostring(lua_State *L) {
    const fe_init *p = luaL_checkudata(L, 1, INIT_MT);
    static const char *const kinds[] = {"zeros", "ones", "constant", "normal", "uniform", "data"};
    lua_pushfstring(L, "init %s(%f, %f)", (unsigned)p->init.kind < INIT_COUNT ? kinds[p->init.kind] : "?", p->init.a,
                    p->init.b);
    return 1;
}

/* ---- module-level sugar ---- */

static int fe_scalar(lua_State *L) {
    ir_graph *g = graph_of(L, "scalar");
    set_loc(L, g);
    double v = get_number(L, 1, "scalar", "value");
    ir_id id = ir_scalar(g, v);
    if (id == IR_NONE) return raise_ir_error(L, g);
    push_tensor(L, id);
    return 1;
}

/* iclc.output(name, x): marks x as a named graph output. */
static int fe_output(lua_State *L) {
    ir_graph *g = graph_of(L, "output");
    set_loc(L, g);
    if (lua_type(L, 1) != LUA_TSTRING) fe_raise(L, "output", "name must be a string, got %s", type_name(L, 1));
    ir_id id = fe_tensor_id(L, 2);
    if (id == IR_NONE) fe_raise(L, "output", "value must be a tensor, got %s", type_name(L, 2));
    if (!ir_output_add(g, lua_tostring(L, 1), id)) return raise_ir_error(L, g);
    lua_settop(L, 2);
    return 1;
}

/* ---- the module ---- */

void fe_open_iclc(lua_State *L) {
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "iclc.sources");
    lua_newtable(L); /* the module */
    int mod = lua_gettop(L);
    lua_newtable(L); /* tensor methods */
    int methods = lua_gettop(L);
    for (int op = 0; op < OP_COUNT; op++) {
        if (ir_ops[op].flags & OPF_FUSED) continue;
        lua_pushinteger(L, op);
        lua_pushcclosure(L, op_call, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, mod, ir_ops[op].name);
        if (ir_ops[op].flags & OPF_SOURCE) lua_pop(L, 1);
        else lua_setfield(L, methods, ir_ops[op].name);
    }
    lua_pushcfunction(L, fe_scalar);
    lua_setfield(L, mod, "scalar");
    lua_pushcfunction(L, fe_output);
    lua_setfield(L, mod, "output");

    luaL_newmetatable(L, TENSOR_MT);
    int mt = lua_gettop(L);
    static const struct {
        const char *event;
        ir_op op;
    } arith[] = {{"__add", OP_add}, {"__sub", OP_sub}, {"__mul", OP_mul}, {"__div", OP_div}};
    for (size_t i = 0; i < sizeof arith / sizeof arith[0]; i++) {
        lua_pushinteger(L, arith[i].op);
        lua_pushcclosure(L, op_call, 1);
        lua_setfield(L, mt, arith[i].event);
    }
    lua_pushcfunction(L, op_unm);
    lua_setfield(L, mt, "__unm");
    lua_pushvalue(L, methods);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, mt, "__index");
    lua_pushcfunction(L, t_newindex);
    lua_setfield(L, mt, "__newindex");
    lua_pushcfunction(L, t_tostring);
    lua_setfield(L, mt, "__tostring");
    lua_pushliteral(L, "tensor");
    lua_setfield(L, mt, "__metatable");
    lua_pop(L, 2); /* mt, methods */

    luaL_newmetatable(L, INIT_MT);
    int imt = lua_gettop(L);
    lua_newtable(L); /* init methods */
    static const ir_init_post posts[] = {INIT_POST_EXP, INIT_POST_SOFTPLUS_INV};
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
        lua_pushinteger(L, posts[i]);
        lua_pushcclosure(L, init_then, 1);
        lua_setfield(L, -2, ir_init_post_name(posts[i]));
    }
    lua_setfield(L, imt, "__index");
    lua_pushcfunction(L, init_tostring);
    lua_setfield(L, imt, "__tostring");
    lua_pushliteral(L, "init");
    lua_setfield(L, imt, "__metatable");
    lua_pop(L, 1);

    static const luaL_Reg inits[] = {{"normal", init_normal}, {"uniform", init_uniform}, {"zeros", init_zeros},
                                     {"ones", init_ones},     {"constant", init_constant}, {"data", init_data},
                                     {NULL, NULL}};
    luaL_newlib(L, inits);
    lua_setfield(L, mod, "init");
    lua_pushinteger(L, IR_MAX_RANK);
    lua_setfield(L, mod, "max_rank");
}
