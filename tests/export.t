#!/bin/sh
# iclc export end to end: a tiny trained run -> libmodel.so; the library matches the JIT (in iclc, in a
# separate process built from examples/predict.c with one cc line, and through iclc eval --compiled);
# ldd shows no LLVM or Lua; bad weights and bad usage are refused with a message.
ICLC=${ICLC:-build/iclc}
PY=/usr/bin/python3
SRC="$(cd "$(dirname "$0")/.." && pwd)"
T=$(mktemp -d /dev/shm/iclc-export-XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME="$T/cache"
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
A="--model transformer --config tiny --set D=8,layers=1,heads=2 --task linear_regression --task-params d=3,N=5 --batch 8 --eval-prompts 64 --quiet"

$ICLC train $A --steps 3 --eval-every 0 --out "$T/run" > "$T/train.out" 2>&1; check $? "train a tiny run"
$ICLC export "$T/run" --out "$T/m" --batch 8 --check > "$T/export.out" 2>&1; check $? "iclc export --check"
grep -q "max |difference|" "$T/export.out"; check $? "export compares the library with the JIT"
for f in libmodel.so model.h weights.safetensors manifest.json; do [ -s "$T/m/$f" ] || false; done; check $? "library, header, weights and manifest written"
$PY -c "import json,sys; m=json.load(open(sys.argv[1])); sys.exit(0 if m['format']=='iclc-export-1' and m['batch']==8 and m['d_in']==3 and m['task']=='linear_regression' else 1)" "$T/m/manifest.json"; check $? "manifest: format, batch, shapes, task"
grep -q "#define MODEL_BATCH 8" "$T/m/model.h" && grep -q "model_predict" "$T/m/model.h"; check $? "model.h: shape macros and the API"
ldd "$T/m/libmodel.so" > "$T/ldd.out" 2>&1 && ! grep -qi -e llvm -e lua "$T/ldd.out" && grep -q libgomp "$T/ldd.out"; check $? "ldd: no LLVM, no Lua (libgomp only besides libc)"
nm -D --defined-only "$T/m/libmodel.so" | awk '{print $3}' | sort | tr '\n' ' ' | grep -qx "model_free model_init model_predict model_shape "; check $? "exports only model_*"

# a separate process: the documented one-line build of examples/predict.c
cc -O2 -I "$T/m" "$SRC/examples/predict.c" -L "$T/m" -lmodel -Wl,-rpath,"$T/m" -o "$T/predict" -lm 2> "$T/cc.out"; check $? "examples/predict.c builds with one cc line"
"$T/predict" "$T/m" --tokens "$T/m/check.tokens.f32" --out "$T/pred.f32" 2> "$T/p.err"; check $? "predict runs on the check tokens"
$PY -c "
import numpy as np, sys
a = np.fromfile(sys.argv[1], dtype='<f4'); b = np.fromfile(sys.argv[2], dtype='<f4')
d = np.max(np.abs(a - b)) if a.size == b.size and a.size else 1e9
print('# max |library - JIT| in a separate process: %g' % d)
sys.exit(0 if d <= 1e-6 and np.all(np.isfinite(a)) else 1)" "$T/pred.f32" "$T/m/check.pred_jit.f32"; check $? "separate process: predictions equal the JIT's within 1e-6"
"$T/predict" "$T/m" --batches 2 > "$T/lr.out" 2>&1 && grep -q "prompts/s" "$T/lr.out"; check $? "predict evaluates linear-regression prompts"

# iclc eval through the library vs the JIT: the same curves
$ICLC eval "$T/run" --compiled "$T/m" --prompts 64 > "$T/ec.out" 2>&1; check $? "iclc eval --compiled"
$ICLC eval "$T/run" --backend jit --prompts 64 > "$T/ej.out" 2>&1; check $? "iclc eval --backend jit"
tail -n +2 "$T/ec.out" > "$T/ec.tab"; tail -n +2 "$T/ej.out" > "$T/ej.tab"
cmp -s "$T/ec.tab" "$T/ej.tab"; check $? "compiled and JIT evaluations print the same curves"

# refusals
cp "$T/m/weights.safetensors" "$T/w.bak"
head -c 100 "$T/w.bak" > "$T/m/weights.safetensors"
"$T/predict" "$T/m" --batches 1 > /dev/null 2> "$T/bad.err"; [ $? -ne 0 ] && grep -q "weights.safetensors" "$T/bad.err"; check $? "truncated weights: refused with a message"
$ICLC eval "$T/run" --compiled "$T/m" --prompts 8 > /dev/null 2> "$T/bad2.err"; [ $? -ne 0 ] && grep -q "iclc eval:" "$T/bad2.err"; check $? "iclc eval --compiled refuses bad weights"
printf 'garbage!' > "$T/m/weights.safetensors"
"$T/predict" "$T/m" --batches 1 > /dev/null 2>&1; [ $? -ne 0 ]; check $? "garbage weights: refused"
cp "$T/w.bak" "$T/m/weights.safetensors"
$ICLC export "$T/run" > /dev/null 2>&1; [ $? -eq 2 ]; check $? "export without --out: usage error (2)"
$ICLC export "$T/nope" --out "$T/m2" > /dev/null 2> "$T/nope.err"; [ $? -eq 2 ] && grep -q "iclc export:" "$T/nope.err"; check $? "export of a missing run: one-line error (2)"
echo "1..$n"
exit $fail
