#!/bin/sh
# iclc train / eval end to end on the interpreter at a very small size: logs, checkpoints, bit-exact
# resume, SIGINT, NaN detection, refused checkpoints. (Learning itself is tested in train_learn.t.)
ICLC=${ICLC:-build/iclc}
PY=/usr/bin/python3
CHECK="$(dirname "$0")/reference/safetensors_check.py"
T=$(mktemp -d /dev/shm/iclc-train-XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
A="--model transformer --config tiny --set D=8,layers=1,heads=2 --task linear_regression --task-params d=3,N=5 --batch 8 --eval-prompts 64 --quiet"

$ICLC train $A --steps 12 --eval-every 6 --save-every 6 --out "$T/a" > "$T/a.out" 2>&1; check $? "train 12 steps"
grep -q "eval at step 12" "$T/a.out"; check $? "evaluates at the end"
grep -q "least_squares" "$T/a.out"; check $? "evaluation shows the least-squares baseline"
[ "$(wc -l < "$T/a/log.csv")" -eq 3 ] && head -1 "$T/a/log.csv" | grep -q "^step,loss,grad_norm"; check $? "log.csv: a header, a line every 10 steps and the last step"
grep -q '"loss":' "$T/a/log.jsonl"; check $? "log.jsonl has JSON lines"
head -1 "$T/a/eval.csv" | grep -q "^head,position,curve,mean,std,lo,hi,n"; check $? "eval.csv written"
[ -f "$T/a/checkpoint.safetensors" ] && [ -f "$T/a/checkpoint.prev.safetensors" ]; check $? "checkpoint and previous checkpoint kept"
$PY "$CHECK" "$T/a/checkpoint.safetensors" 2>/dev/null | grep -q "^tensor 6164616d3a6d3a"; check $? "checkpoint holds the Adam state (numpy reads it)"

# N steps + resume N steps = 2N steps, identical bytes
$ICLC train $A --steps 6 --eval-every 0 --out "$T/b" > /dev/null 2>&1 && \
  $ICLC train --resume "$T/b" --steps 12 --quiet > /dev/null 2>&1; check $? "train 6, resume to 12"
$PY "$CHECK" "$T/a/checkpoint.safetensors" | grep -v "^meta" > "$T/a.sum"
$PY "$CHECK" "$T/b/checkpoint.safetensors" | grep -v "^meta" > "$T/b.sum"
cmp -s "$T/a.sum" "$T/b.sum"; check $? "resumed run has bit-identical weights and optimizer state"
$ICLC eval "$T/a" --prompts 64 --csv "$T/a.csv" > "$T/eval.out" 2>&1; check $? "iclc eval"
grep -q "at step 12" "$T/eval.out" && grep -q "least_squares" "$T/a.csv"; check $? "iclc eval prints and writes the curves"

# SIGINT: checkpoint and a clean exit
$ICLC train $A --steps 100000 --eval-every 0 --save-every 0 --out "$T/c" > "$T/c.out" 2>&1 &
pid=$!
i=0; while [ $i -lt 100 ] && ! grep -q "^1[0-9]," "$T/c/log.csv" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -INT $pid; wait $pid; st=$?
[ $st = 0 ] && grep -q "interrupted at step" "$T/c.out" && [ -f "$T/c/checkpoint.safetensors" ]; check $? "SIGINT writes a checkpoint and exits cleanly"
$ICLC train --resume "$T/c" --steps 30 --quiet > /dev/null 2>&1; check $? "the interrupted run resumes"

# NaN: a learning rate that blows up the weights
$ICLC train $A --steps 50 --lr 1e30 --clip 1e30 --eval-every 0 --out "$T/d" > "$T/d.out" 2>&1; st=$?
[ $st = 1 ] && grep -q "step [0-9]*: the loss is" "$T/d.out" && grep -q "last good checkpoint" "$T/d.out"; check $? "NaN stops training with the step and the last good checkpoint"

# refused checkpoints
mkdir -p "$T/e" && cp "$T/a/checkpoint.safetensors" "$T/e/"
$PY - "$T/e/checkpoint.safetensors" <<'PYEOF'
import json, struct, sys
p = sys.argv[1]; b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n]); h['__metadata__']['set'] = 'D=12,layers=1,heads=2'
s = json.dumps(h).encode(); s += b' ' * (-len(s) % 8)
open(p, 'wb').write(struct.pack('<Q', len(s)) + s + b[8 + n:])
PYEOF
$ICLC train --resume "$T/e" --quiet > "$T/e.out" 2>&1; st=$?
[ $st = 2 ] && grep -q "does not match the model" "$T/e.out" && grep -q "in the checkpoint, f32\[" "$T/e.out"; check $? "another config's checkpoint is refused with the mismatched tensors"
head -c 300 "$T/a/checkpoint.safetensors" > "$T/e/checkpoint.safetensors"
$ICLC eval "$T/e" > "$T/e.out" 2>&1; st=$?
[ $st = 2 ] && grep -q "checkpoint.safetensors" "$T/e.out"; check $? "a truncated checkpoint is a clear error"
$ICLC eval "$T/nonexistent" > "$T/e.out" 2>&1; [ $? = 2 ]; check $? "a missing checkpoint is a clear error"
$ICLC train --steps x 2> "$T/e.out"; [ $? = 2 ] && grep -q "wants an integer" "$T/e.out"; check $? "bad flag value: status 2"
$ICLC train $A --task nosuch --out "$T/f" > "$T/e.out" 2>&1; [ $? = 2 ] && grep -q "nosuch" "$T/e.out"; check $? "unknown task: status 2"
$ICLC train $A --model nosuch --out "$T/f" > "$T/e.out" 2>&1; [ $? = 2 ]; check $? "unknown model: status 2"
echo "1..$n"
exit $fail
