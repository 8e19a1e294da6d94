#!/bin/sh
# iclc graph's pass flags: --train, --passes, --dump-after, --no-fuse, --plan.
ICLC=${ICLC:-build/iclc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
M="--model mamba --config tiny --set D=16,layers=1 --batch 2"

$ICLC graph $M --passes fuse > "$T/fused.ir"; check $? "--passes fuse"
grep -q "= selective_scan_gated " "$T/fused.ir" && grep -q "= causal_conv1d_silu " "$T/fused.ir"; check $? "Mamba's scan and conv are fused"
$ICLC graph $M --passes fuse --no-fuse selective_scan > "$T/nofuse.ir"; check $? "--no-fuse selective_scan"
! grep -q "selective_scan" "$T/nofuse.ir" && grep -q "causal_conv1d" "$T/nofuse.ir"; check $? "... leaves only that pattern unfused"
$ICLC graph $M --passes fuse --no-fuse all | grep -q "= scan "; check $? "--no-fuse all keeps the primitive scan"
$ICLC graph $M --train > "$T/train.ir"; check $? "--train builds the training graph"
grep -q '^output "grad:' "$T/train.ir" && grep -q '^output "new:' "$T/train.ir" && grep -q "selective_scan_gated_grad" "$T/train.ir"; check $? "... with gradients, the Adam update and fused gradient ops"
$ICLC graph $M --train --dump-after autodiff > "$T/dump.ir"; check $? "--dump-after autodiff"
head -1 "$T/dump.ir" | grep -q "^# after autodiff" && ! grep -q '"new:' "$T/dump.ir"; check $? "... prints the graph before adam ran"
$ICLC graph "$T/train.ir" > /dev/null; check $? "the printed training graph parses back"
$ICLC graph $M --train --plan > "$T/plan.txt"; check $? "--plan"
grep -q "^memory: arena" "$T/plan.txt"; check $? "... prints kernels and peak memory"
$ICLC graph $M --dump-after nosuch 2> "$T/err"; [ $? = 2 ] && grep -q "no such pass ran" "$T/err"; check $? "--dump-after of a pass that did not run: status 2"
$ICLC graph $M --passes bogus 2> "$T/err"; [ $? = 2 ] && grep -q "bogus" "$T/err"; check $? "unknown pass: status 2"
echo "1..$n"
exit $fail
