#!/bin/sh
# models_ref.t — every architecture's forward pass through iclc's interpreter against the independent
# numpy implementation tests/reference/models_ref.py (written from models.md), at a tiny size:
# the same safetensors weights (iclc's initial weights, whose names, shapes and initialisers the oracle
# checks first) and the same random tokens; outputs must agree to 1e-5 relative (max |diff| / max |ref|).
ICLC=${ICLC:-build/iclc}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF="/usr/bin/python3 $ROOT/tests/reference/models_ref.py"
TMP=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo /tmp)/iclc-models-ref-XXXXXX")  # tmpfs: fsync is free
trap 'rm -rf "$TMP"' EXIT
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

if ! $ICLC help graph 2>&1 | grep -q -- --model; then
    echo "1..0 # SKIP iclc graph has no --model yet (tests/test_models.c covers the oracle through the library)"
    exit 0
fi

B=2
SET="D=16,layers=1,heads=2,dropout=0"
# task | tokens shape (B,T,d_in) | models with the code's n_layer for the oracle
while IFS='|' read -r task shape models; do
    for spec in $models; do
        m=${spec%:*}; nl=${spec#*:}
        set=$SET; [ "$m" = mamba_hybrid ] && set="D=16,layers=2,heads=2"
        args="--model $m --config tiny --task $task --batch $B --set $set --format=none"
        w=$TMP/w.safetensors; in=$TMP/in.safetensors; out=$TMP/out.safetensors; ref=$TMP/ref.safetensors
        rm -f "$w" "$in" "$out" "$ref"
        if ! $ICLC graph $args --init-out "$w" >/dev/null 2>"$TMP/err"; then
            head -3 "$TMP/err" | sed 's/^/# /'; check 1 "$task $m: iclc writes its initial weights"; continue
        fi
        $REF initcheck --model "$m" --n-layer "$nl" --task "$task" --weights "$w" >"$TMP/log"
        st=$?; sed 's/^/# /' "$TMP/log"
        check $st "$task $m: parameter names, shapes and initial values follow the reference"
        $REF tokens --shape "$shape" --seed $n --out "$in"
        if ! $ICLC graph $args --weights "$w" --inputs "$in" --out "$out" >/dev/null 2>"$TMP/err"; then
            head -3 "$TMP/err" | sed 's/^/# /'; check 1 "$task $m: iclc runs the graph"; continue
        fi
        $REF forward --model "$m" --n-layer "$nl" --heads 2 --task "$task" --weights "$w" --inputs "$in" --out "$ref" &&
            msg=$($REF compare "$out" "$ref" --rtol 1e-5)
        check $? "$task $m: iclc = numpy to 1e-5 ($msg)"
    done
done <<'ROWS'
linear_regression|2,82,20|transformer:1 mamba:2 s4:2 s4_mamba:2 standard_hybrid:2 mambaformer:2 transformer_nope:1 transformer_mamba:1 mamba_hybrid:4
cot_io|2,303,19|transformer:1 mambaformer:2
mqar|2,68,20|mamba:2 transformer_nope:1
ROWS

echo "1..$n"
exit $fail
