#!/bin/sh
# iclc tune end to end at a tiny size: a 2 s search writes the cache, --show prints it, the JIT trains
# with it to the same losses as without it, corrupt / foreign files are ignored with a warning and
# rebuilt, bad usage is refused.
ICLC=${ICLC:-build/iclc}
T=$(mktemp -d /dev/shm/iclc-tune-XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME="$T/cache"
unset ICLC_NO_TUNE
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
M="--model transformer --config tiny --set D=8,layers=1,heads=2 --task linear_regression --task-params d=3,N=5 --batch 8"

$ICLC tune $M --budget 2s --quiet > "$T/tune.out" 2>&1; check $? "iclc tune --budget 2s"
grep -q "tuning .* matmul shapes" "$T/tune.out" && grep -q "threads per kernel" "$T/tune.out"; check $? "tunes matmul schedules and threads per kernel"
F=$(ls "$T"/cache/iclc/tune/*.json 2>/dev/null | head -1)
[ -n "$F" ] && grep -q '"format": *"iclc-tune-1"' "$F" && grep -q '"kernel": *"matmul"' "$F"; check $? "cache file written (iclc-tune-1, matmul entries)"
$ICLC tune --show > "$T/show.out" 2>&1 && grep -q "entries for" "$T/show.out" && grep -q "mm M=" "$T/show.out"; check $? "iclc tune --show lists the entries"

# tuned vs untuned training: same losses (schedules may change the summation order: compare to 1e-4)
A="$M --eval-prompts 16 --eval-every 0 --save-every 0 --quiet --backend jit --steps 3 --log-every 1"
$ICLC train $A --out "$T/tuned" > /dev/null 2> "$T/tr1.err"; check $? "train with the tuned cache"
ICLC_NO_TUNE=1 $ICLC train $A --out "$T/plain" > /dev/null 2>&1; check $? "train with ICLC_NO_TUNE=1"
/usr/bin/python3 -c "
import csv, sys
a = [float(r['loss']) for r in csv.DictReader(open(sys.argv[1]))]
b = [float(r['loss']) for r in csv.DictReader(open(sys.argv[2]))]
ok = len(a) == len(b) > 0 and all(abs(x - y) <= 1e-4 * (1 + abs(y)) for x, y in zip(a, b))
print('# losses tuned %s untuned %s' % (a, b)); sys.exit(0 if ok else 1)" "$T/tuned/log.csv" "$T/plain/log.csv"; check $? "tuned and untuned runs log the same losses"
! grep -q warning "$T/tr1.err"; check $? "a valid cache gives no warning"

# corruption: truncated, garbage, another CPU -> a warning, defaults, and a rebuild
cp "$F" "$T/good.json"
head -c 40 "$T/good.json" > "$F"
$ICLC tune --show > "$T/s1.out" 2> "$T/s1.err"; [ $? -eq 0 ] && grep -q "warning: tune cache .* ignored" "$T/s1.err" && grep -q "0 entries" "$T/s1.out"; check $? "truncated cache: warning, no entries"
printf '\001\002garbage' > "$F"
$ICLC train $A --out "$T/g" > /dev/null 2> "$T/g.err"; [ $? -eq 0 ] && grep -q "warning: tune cache" "$T/g.err"; check $? "garbage cache: training warns and runs on the defaults"
sed 's/"cpu": *"[^"]*"/"cpu": "othercpu"/' "$T/good.json" > "$F"
$ICLC tune --show > /dev/null 2> "$T/s2.err"; grep -q "written for CPU othercpu" "$T/s2.err"; check $? "foreign-CPU cache: warning"
$ICLC tune $M --budget 1s --quiet > /dev/null 2>&1 && $ICLC tune --show > "$T/s3.out" 2> "$T/s3.err" && ! grep -q warning "$T/s3.err" && grep -q "mm M=" "$T/s3.out"; check $? "the next tune rebuilds a clean cache"

$ICLC tune $M --budget soon > /dev/null 2>&1; [ $? -eq 2 ]; check $? "bad --budget: usage error (2)"
$ICLC tune --model nosuchmodel --budget 1s > /dev/null 2> "$T/bad.err"; [ $? -eq 2 ] && grep -q "iclc tune:" "$T/bad.err"; check $? "unknown model: one-line error (2)"
echo "1..$n"
exit $fail
