#!/bin/sh
# `iclc graph` and `iclc models`: IR files (print, round trip, run), Lua models (text, dot, --run,
# --init-out, --inputs/--weights/--out checked against numpy), bad files and flags (status 2).
ICLC=${ICLC:-build/iclc}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/iclc-graph-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
TOY=tests/lua/toy.lua

# ---- a Lua model: text, round trip through an IR file, dot ----
$ICLC graph --model $TOY:mlp --batch 2 >"$TMP/toy.ir" 2>"$TMP/err"; st=$?
[ $st = 0 ] && grep -q '^output "pred" = %' "$TMP/toy.ir"; check $? "graph --model prints the IR with output pred"
grep -q '^# params 457 ' "$TMP/toy.ir"; check $? "the header states the parameter count"
grep -q 'matmul %0, %1 {tb=true} : f32\[2,82,8\] loc("tests/lua/toy.lua":15)' "$TMP/toy.ir"
check $? "nodes carry the Lua file:line"
$ICLC graph "$TMP/toy.ir" >"$TMP/back.ir" 2>"$TMP/err"; st=$?
grep -v '^#' "$TMP/toy.ir" | cmp -s - "$TMP/back.ir"; r=$?
[ $st = 0 ] && [ $r = 0 ]; check $? "graph FILE.ir prints the same IR back"
$ICLC graph --model $TOY:mlp --batch 2 --format=dot >"$TMP/toy.dot"
head -1 "$TMP/toy.dot" | grep -q '^digraph iclc {' && [ "$(grep -c -- '->' "$TMP/toy.dot")" -eq 20 ]
check $? "--format=dot writes a Graphviz graph with one edge per input and output"
$ICLC graph --model $TOY:mlp --batch 2 --format=none >"$TMP/none"; [ $? = 0 ] && [ ! -s "$TMP/none" ]
check $? "--format=none prints nothing"

# ---- running: seeds, IR file and model agree ----
$ICLC graph --model $TOY:mlp --batch 2 --format=none --run --seed 3 >"$TMP/run1"
$ICLC graph --model $TOY:mlp --batch 2 --format=none --run --seed 3 >"$TMP/run2"
$ICLC graph --model $TOY:mlp --batch 2 --format=none --run --seed 4 >"$TMP/run3"
grep -q '^# output pred f32\[2,82,1\]: mean ' "$TMP/run1" && cmp -s "$TMP/run1" "$TMP/run2" && ! cmp -s "$TMP/run1" "$TMP/run3"
check $? "--run prints a summary; same seed same numbers, another seed others"
$ICLC graph "$TMP/toy.ir" --run --seed 3 | grep '^# output' | cmp -s - "$TMP/run1"
check $? "the IR file runs to the same numbers as the model"

# ---- weights and data through safetensors, against numpy ----
$ICLC graph --model $TOY:mlp --batch 2 --format=none --seed 5 --init-out "$TMP/w.st"; check $? "--init-out writes"
cat > "$TMP/st.py" <<'EOF'
import json, struct, sys
import numpy as np
def read(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); d = b[8 + n:]
    t = {k: np.frombuffer(d[v['data_offsets'][0]:v['data_offsets'][1]], dtype=np.float32).reshape(v['shape'])
         for k, v in h.items() if k != '__metadata__'}
    return h.get('__metadata__', {}), t
def write(path, tensors, dtype='F32'):
    hdr, off, blobs = {}, 0, []
    for k, v in tensors.items():
        raw = np.ascontiguousarray(v, dtype=np.float32 if dtype == 'F32' else np.float64).tobytes()
        hdr[k] = {'dtype': dtype, 'shape': list(v.shape), 'data_offsets': [off, off + len(raw)]}
        off += len(raw); blobs.append(raw)
    j = json.dumps(hdr).encode()
    open(path, 'wb').write(struct.pack('<Q', len(j)) + j + b''.join(blobs))
EOF
cat > "$TMP/oracle.py" <<'EOF'
import sys; sys.path.insert(0, sys.argv[1])
import numpy as np
from st import read, write
meta, w = read(sys.argv[2])
assert meta['iclc.model'] == 'mlp' and meta['iclc.config'] == 'tiny' and meta['config.D'] == '8', meta
assert meta['iclc.seed'] == '5', meta
assert sorted(w) == sorted(['read_in.weight', 'read_in.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias',
                            'read_out.weight', 'read_out.bias']), sorted(w)
b = 1 / np.sqrt(20)
assert np.all(np.abs(w['read_in.weight']) <= b) and np.std(w['read_in.weight']) > 0.5 * b / np.sqrt(3)
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 82, 20)).astype(np.float32)
write(sys.argv[3], {'tokens': x})
def lin(h, name): return h.astype(np.float64) @ w[name + '.weight'].T.astype(np.float64) + w[name + '.bias']
def gelu(a): return 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))
h = lin(x, 'read_in'); h = h + lin(gelu(lin(h, 'fc1')), 'fc2'); y = lin(h, 'read_out')
np.save(sys.argv[4], y)
EOF
cat > "$TMP/compare.py" <<'EOF'
import sys; sys.path.insert(0, sys.argv[1])
import numpy as np
from st import read
meta, o = read(sys.argv[2]); want = np.load(sys.argv[3])
got = o['pred']
assert got.shape == (2, 82, 1), got.shape
err = np.max(np.abs(got - want) / np.maximum(1, np.abs(want)))
print('# max relative error %.3g' % err)
sys.exit(0 if err < 1e-5 else 1)
EOF
$PY "$TMP/oracle.py" "$TMP" "$TMP/w.st" "$TMP/in.st" "$TMP/want.npy"; check $? "init-out: names, shapes, metadata, bounds (numpy)"
$ICLC graph --model $TOY:mlp --batch 2 --format=none --weights "$TMP/w.st" --inputs "$TMP/in.st" --out "$TMP/out.st"
check $? "--inputs --weights --out runs"
$PY "$TMP/compare.py" "$TMP" "$TMP/out.st" "$TMP/want.npy"; check $? "pred equals numpy's forward to 1e-5"

# ---- bad safetensors inputs ----
bad_st() { # NAME PYTHON-EXPR-FOR-TENSORS [DTYPE] WANT
    $PY -c "import sys; sys.path.insert(0, '$TMP'); import numpy as np; from st import read, write
m, w = read('$TMP/w.st'); t = $2; write('$TMP/bad.st', t, '$3')"
    $ICLC graph --model $TOY:mlp --batch 2 --format=none --weights "$TMP/bad.st" --inputs "$TMP/in.st" \
        --out "$TMP/o2.st" 2>"$TMP/err"; st=$?
    [ $st = 2 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -qF "$4" "$TMP/err" && [ ! -e "$TMP/o2.st" ]
    check $? "weights $1: status 2, '$4'"
    [ $st = 2 ] || sed 's/^/#   /' "$TMP/err"
}
bad_st "missing a tensor" "{k: v for k, v in w.items() if k != 'fc1.bias'}" F32 "has no tensor 'fc1.bias' (param f32[16])"
bad_st "with a wrong shape" "dict(w, **{'fc1.bias': np.zeros(15)})" F32 "tensor 'fc1.bias' is F32 f32[15]; the graph's param needs f32[16]"
bad_st "in F64" "w" F64 "is F64"
bad_st "with an extra tensor" "dict(w, extra=np.zeros(2))" F32 "tensor 'extra' is not a param of the graph"
head -c 100 "$TMP/w.st" > "$TMP/trunc.st"
$ICLC graph --model $TOY:mlp --batch 2 --format=none --weights "$TMP/trunc.st" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -q "trunc.st" "$TMP/err"; check $? "truncated weights: status 2 and the file named"
$PY -c "b = open('$TMP/w.st', 'rb').read(); open('$TMP/corrupt.st', 'wb').write(b.replace(b'\"dtype\"', b'\"dtypx\"', 1))"
$ICLC graph --model $TOY:mlp --batch 2 --format=none --weights "$TMP/corrupt.st" 2>"$TMP/err"; st=$?
[ $st = 2 ] && [ "$(wc -l < "$TMP/err")" = 1 ] && grep -q "corrupt.st" "$TMP/err"; check $? "corrupted weights header: status 2 and the file named"
$ICLC graph --model $TOY:mlp --batch 2 --format=none --inputs "$TMP/w.st" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -qF "has no tensor 'tokens' (input f32[2,82,20])" "$TMP/err"; check $? "inputs file without tokens: status 2"
$ICLC graph --model $TOY:mlp --batch 3 --format=none --inputs "$TMP/in.st" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -qF "tensor 'tokens' is F32 f32[2,82,20]; the graph's input needs f32[3,82,20]" "$TMP/err"
check $? "tokens of another batch size: status 2"

# ---- bad IR files and flags ----
printf '%%0 = input {name="x"} : f32[2,3]\n%%1 = bogus %%0 : f32[2,3]\n' > "$TMP/bad.ir"
$ICLC graph "$TMP/bad.ir" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -q "bad.ir:2:" "$TMP/err"; check $? "IR parse error: status 2 with file:line"
$ICLC graph "$TMP/nonexistent.ir" 2>"$TMP/err"; [ $? = 2 ]; check $? "missing IR file: status 2"
$ICLC graph 2>"$TMP/err"; [ $? = 2 ] && grep -q "needs one FILE.ir or --model" "$TMP/err"; check $? "no graph: usage error"
$ICLC graph "$TMP/toy.ir" --model $TOY:mlp 2>"$TMP/err"; [ $? = 2 ]; check $? "FILE.ir and --model together: usage error"
$ICLC graph --model $TOY:mlp --format=svg 2>"$TMP/err"; [ $? = 2 ] && grep -q "text, dot or none" "$TMP/err"
check $? "unknown --format: usage error"
$ICLC graph --model $TOY:mlp --batch 0 2>"$TMP/err"; [ $? = 2 ]; check $? "--batch 0: usage error"

# ---- iclc models ----
$ICLC models $TOY >"$TMP/models" 2>"$TMP/err"; st=$?
[ $st = 0 ] && grep -Eq '^mlp +small +1,425  mlp at small$' "$TMP/models" && grep -Eq '^linear +tiny +21  linear at tiny$' "$TMP/models"
check $? "models lists every model x config with counts and descriptions"
[ "$(grep -c '^mlp\|^linear' "$TMP/models")" = 4 ]; check $? "models: 2 models x 2 configs"
sed 's/small = {D = 16, hidden = 32/small = {D = 16, hidden = -32/' $TOY > "$TMP/toy_bad.lua"
$ICLC models "$TMP/toy_bad.lua" >"$TMP/models" 2>"$TMP/err"; st=$?
[ $st = 2 ] && grep -Eq '^mlp +small +error' "$TMP/models" && grep -Eq '^mlp +tiny +457 ' "$TMP/models" &&
    grep -q "mlp with config small: .*toy_bad.lua:13: param: dimension 0 is negative (-32)" "$TMP/err"
check $? "models: a failing config is listed as error, reported, status 2; the others still count"
$ICLC models tests/lua/bad_syntax.lua 2>"$TMP/err"; [ $? = 2 ] && grep -q "bad_syntax.lua:3:" "$TMP/err"
check $? "models of a broken file: status 2 with file:line"
$ICLC models | grep -Eq '^mamba +linear_regression +470,017 '; check $? "built-in mamba at the linear regression config has 470,017 params"

echo "1..$n"
exit $fail
