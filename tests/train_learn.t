#!/bin/sh
# End to end on the JIT: a small Transformer and a small Mamba learn in-context linear regression
# (d = 2, 6 examples): after 800 and 500 steps their held-out error, averaged over the positions that have at
# least half the examples in context, is below half the zero predictor's (which scores d = 2 there).
ICLC=${ICLC:-build/iclc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
COMMON="--task linear_regression --task-params d=2,N=6 --batch 64 --lr 3e-3 --eval-every 0 --eval-prompts 256 --quiet"

learned() { # run dir -> "model zero" means over positions 3..5
    awk -F, '$1 == "y" && $2 >= 3 && ($3 == "model" || $3 == "zero") { s[$3] += $4; c[$3]++ }
             END { printf "%.4f %.4f\n", s["model"] / c["model"], s["zero"] / c["zero"] }' "$1/eval.csv"
}
for m in "transformer --set D=32,layers=2,heads=2 --steps 800" "mamba --set D=32,layers=1 --steps 500"; do
    name=${m%% *}
    $ICLC train --model $m $COMMON --out "$T/$name" > "$T/$name.out" 2>&1; check $? "$name trains"
    set -- $(learned "$T/$name")
    echo "# $name: error $1, zero predictor $2 (positions 3..5)"
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < 0.5 * b) }'; check $? "$name: error below half the zero predictor's"
done
echo "1..$n"
exit $fail
