#!/bin/sh
# Bad model scripts through `iclc graph --model`: every case must print one clear line with its
# file:line (where there is one) and exit with status 2 — never crash, hang or reach the system.
# The limits are lowered (ICLC_LUA_*) so the bombs and loops finish fast.
ICLC=${ICLC:-build/iclc}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
L=tests/lua
cd "$ROOT" || exit 1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iclc-frontend-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

# expect FILE:MODEL SET WANT: status 2, exactly one line on stderr containing WANT, nothing on stdout.
expect() {
    spec=$1; set_arg=$2; want=$3
    ICLC_LUA_MEMORY_MB=64 ICLC_LUA_INSTRUCTIONS=20000000 ICLC_LUA_SECONDS=${SECS:-20} \
        $ICLC graph --model "$spec" ${set_arg:+--set "$set_arg"} --batch 2 >"$TMP/out" 2>"$TMP/err"
    st=$?
    lines=$(wc -l < "$TMP/err")
    if [ $st = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$want" "$TMP/err" && [ ! -s "$TMP/out" ]; then r=0; else r=1; fi
    check $r "$spec ${set_arg:+[$set_arg] }-> $want"
    [ $r = 0 ] || { echo "# status $st, $lines lines:"; sed 's/^/#   /' "$TMP/err" | head -5; }
}

expect $L/bad_syntax.lua:m "" "tests/lua/bad_syntax.lua:3: <eof> expected near 'end'"
expect $L/bad_runtime.lua:m "" "tests/lua/bad_runtime.lua:5: attempt to index a nil value (field 'missing')"
expect $L/bad_shape.lua:m "" "tests/lua/bad_shape.lua:5: matmul: inner dims differ: f32[2,82,8] x f32[1,16]^T"
expect $L/bad_return.lua:m "" "tests/lua/bad_return.lua: must return a table of model functions, returned number"
expect $L/toy.lua:nosuch "" "unknown model 'nosuch' in tests/lua/toy.lua (models: describe, linear, mlp)"
ICLC_LUA_SECONDS=20 $ICLC graph --model $L/toy.lua:mlp --config huge >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -qF "unknown config 'huge' for tests/lua/toy.lua (configs: small, tiny)" "$TMP/err"
check $? "unknown config: one line, status 2"
$ICLC graph --model $L/toy.lua:mlp --set D=8,Dx=3 >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -qF "config 'tiny' has no key 'Dx' (keys: D, hidden)" "$TMP/err"; check $? "unknown --set key: status 2"
$ICLC graph --model nosuch_builtin >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -qF "unknown model 'nosuch_builtin' in models.lua" "$TMP/err"; check $? "unknown built-in model: status 2"
$ICLC graph --model $L/toy.lua >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -qF "name the model too" "$TMP/err"; check $? "FILE.lua without :NAME: status 2"
$ICLC graph --model $L/toy.lua:mlp --task nosuch >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -qF "unknown task 'nosuch'" "$TMP/err"; check $? "unknown task: status 2"
$ICLC graph --model /nonexistent/m.lua:m >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -qF "cannot read /nonexistent/m.lua" "$TMP/err"; check $? "missing model file: status 2"

A=$L/bad_args.lua:m
expect $A case=string_input "bad_args.lua:4: add: input 2 must be a tensor or a number, got string"
expect $A case=nil_input "bad_args.lua:5: exp: input 1 must be a tensor or a number, got nil"
expect $A case=table_input "bad_args.lua:6: matmul: input 2 must be a tensor or a number, got table"
expect $A case=bad_attr "bad_args.lua:7: sum: unknown attribute 'axes' (valid: axis)"
expect $A case=bad_axis_type "bad_args.lua:8: sum: axis must be an integer, got string"
expect $A case=bool_attr "bad_args.lua:9: matmul: tb must be true or false, got number"
expect $A case=float_axis "bad_args.lua:10: sum: axis must be an integer, got the number 1.5"
expect $A case=huge_rank "bad_args.lua:11: reshape: shape has 7 entries; the rank is at most 6"
expect $A case=negative_dim "bad_args.lua:12: const: dimension 1 is negative (-3)"
expect $A case=huge_dims "bad_args.lua:13: const: shape f32[2147483648,2147483648,2147483648] has more than 2^40 elements"
expect $A case=overflow_dims "bad_args.lua:14: param: shape"
expect $A case=nan_dim "bad_args.lua:15: const: shape[1] must be an integer, got the number"
expect $A case=bad_init "bad_args.lua:16: param: init must be an initializer"
expect $A case=no_init "bad_args.lua:17: param: needs an initializer"
expect $A case=dup_param "bad_args.lua:18: param: 'p' is declared twice"
expect $A case=bad_perm "bad_args.lua:19: permute: perm is not a permutation of 0..2 for f32[2,82,20]"
expect $A case=axis_range "bad_args.lua:20: sum: axis 7 is out of range for rank 3"
expect $A case=method_on_number "bad_args.lua:21: attempt to call a nil value (field 'exp')"
expect $A case=immutable "bad_args.lua:22: tensor: tensors are immutable"
expect $A case=return_nil "bad_args.lua:32: model 'm' returned nil; it must return the prediction tensor"
expect $A case=return_wrong_shape "model 'm': the returned 'pred' is f32[2,82,20]; the task needs f32[2,82,1]"
expect $A case=too_many "bad_args.lua:25: sum: too many arguments"
expect $A case=arith_pow "bad_args.lua:26: attempt to perform arithmetic on a tensor value"
expect $A case=concat_empty "bad_args.lua:27: concat: needs at least one tensor input"
expect $A case=slice_range "bad_args.lua:28: slice: range 5..2 is outside 0..82 of axis 1 of f32[2,82,20]"
expect $A case=many_nodes "bad_args.lua:29: add: the graph has more than 1000000 nodes"
expect $A case=many_params "bad_args.lua:30: param: more than 10000 named inputs and params"

E=$L/bad_errobj.lua:m
expect $E case=table "bad_errobj.lua:4: error object is a table value"
expect $E case=table_tostring "bad_errobj.lua:5: custom error object"
expect $E case=tostring_fails "bad_errobj.lua:6: error object is a table value"
expect $E case=tostring_not_string "bad_errobj.lua:7: error object is a table value"
expect $E case=tostring_loops "bad_errobj.lua:8: error object is a table value"
expect $E case=nil_error "bad_errobj.lua:9: error object is a nil value"
expect $E case=number "bad_errobj.lua:10: 42"
expect $E case=tensor "bad_errobj.lua:11: tensor %0 input f32[2,82,20]"
expect $E case=level0 "bad_errobj.lua:12: no position"
expect $E case=multiline "bad_errobj.lua:13: line one line two"
expect $E case=bool "bad_errobj.lua:14: error object is a boolean value"
expect $E case=fn "bad_errobj.lua:15: error object is a function value"

R=$L/bad_recursion.lua:m
expect $R case=lua "bad_recursion.lua:3: lua: stack overflow"
expect $R case=meta "bad_recursion.lua:4: C stack overflow"
ICLC_LUA_SECONDS=1 $ICLC graph --model $R --set case=pcall --batch 2 >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -qF "the script ran too long (more than 1 seconds" "$TMP/err"
check $? "recursion through pcall is stopped by the time budget"

M=$L/bad_memory.lua:m
expect $M case=strings "tests/lua/bad_memory.lua: out of memory (the Lua heap limit is 64 MiB"
expect $M case=tables "tests/lua/bad_memory.lua: out of memory (the Lua heap limit is 64 MiB"
SECS=2 expect $M case=pcall "bad_memory.lua:10: lua: the script ran too long"

expect $L/bad_loop.lua:m case=plain "bad_loop.lua:7: lua: the script ran too long (more than 20000000 Lua instructions"
expect $L/bad_loop.lua:m case=pcall "bad_loop.lua:5: lua: the script ran too long"

S=$L/bad_sandbox.lua:m
expect $S case=os "bad_sandbox.lua:4: attempt to index a nil value (global 'os')"
expect $S case=io "bad_sandbox.lua:5: attempt to index a nil value (global 'io')"
expect $S case=require_c "bad_sandbox.lua:6: require: cannot read tests/lua/os.lua"
expect $S case=require_path "bad_sandbox.lua:7: require: unknown module '../../etc/passwd'"
expect $S case=dofile "bad_sandbox.lua:8: attempt to call a nil value (global 'dofile')"
expect $S case=load "bad_sandbox.lua:9: attempt to call a nil value (global 'load')"
expect $S case=dump "bad_sandbox.lua:10: attempt to call a nil value (field 'dump')"
expect $S case=debug "bad_sandbox.lua:11: attempt to index a nil value (global 'debug')"
expect $S case=metatable "bad_sandbox.lua:12: attempt to index a string value"

expect $L/gc_loop.lua:m "" "gc_loop.lua:4: setmetatable: finalizers (__gc) are not allowed in model scripts"

# ICLC_DEBUG=1 adds the Lua traceback after the one line
ICLC_DEBUG=1 $ICLC graph --model $L/bad_runtime.lua:m --batch 2 >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && head -1 "$TMP/err" | grep -qF "bad_runtime.lua:5: attempt to index" && grep -q "stack traceback" "$TMP/err"
check $? "ICLC_DEBUG=1 adds a traceback"

# require: a helper next to the model file, a cycle
cat > "$TMP/helper.lua" <<'EOF'
return {double = function(x) return x * 2 end}
EOF
cat > "$TMP/cyc.lua" <<'EOF'
return require("cyc")
EOF
cat > "$TMP/user.lua" <<'EOF'
local h = require("helper")
local M = {configs = {tiny = {}}}
function M.m(cfg, shape)
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  if cfg.cycle then require("cyc") end
  return h.double(x):slice(2, 0, shape.d_out)
end
return M
EOF
$ICLC graph --model "$TMP/user.lua:m" --batch 2 >"$TMP/out" 2>"$TMP/err"
grep -q "^%[0-9]* = mul" "$TMP/out"; check $? "require of a Lua file next to the model file"
sed -i 's/tiny = {}/tiny = {cycle = false}/' "$TMP/user.lua"
$ICLC graph --model "$TMP/user.lua:m" --batch 2 --set cycle=true >"$TMP/out" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -qF "require: module 'cyc' requires itself (a cycle)" "$TMP/err"; check $? "a require cycle is an error"

echo "1..$n"
exit $fail
