#!/bin/sh
# iclc bench: bad input is refused with status 2; a tiny run prints every section; the PyTorch
# comparison reads the "best" JSON line of the script it runs (here a stand-in shell script, so the
# test needs no torch).
ICLC=${ICLC:-build/iclc}
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
tmp=$(mktemp -d /tmp/iclc-bench-t.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

$ICLC bench --steps 0 2>"$tmp/err"; st=$?
[ $st = 2 ] && grep -q "steps" "$tmp/err"; check $? "--steps 0: status 2 and a message"
$ICLC bench --executor nosuch 2>"$tmp/err"; st=$?
[ $st = 2 ] && grep -q "unknown executor 'nosuch'" "$tmp/err"; check $? "unknown executor: status 2"
$ICLC bench --task nosuch 2>"$tmp/err"; st=$?
[ $st = 2 ] && grep -qi "nosuch" "$tmp/err"; check $? "unknown task: status 2"
$ICLC bench --model no_such_model --threads 1 --no-matmul >/dev/null 2>"$tmp/err"; st=$?
[ $st = 2 ] && grep -q "no_such_model" "$tmp/err"; check $? "unknown model: status 2 and the name"

# stand-in for step.py: prints one setting line and the best line
cat > "$tmp/fake_step.sh" <<'EOS'
echo '{"kind": "setting", "step_ms": 99.0, "step_ms_min": 90.0}'
echo "{\"kind\": \"best\", \"model\": \"$2\", \"step_ms\": 12.5, \"step_ms_min\": 10.0, \"eval_prompts_per_s\": 1000.0, \"torch_threads\": 1, \"omp_threads\": 1, \"openblas_threads\": 1, \"params\": 0, \"blas\": \"libopenblas.so\"}"
EOS
$ICLC bench --model transformer --config tiny --task-set d=4,N=5 --batch 2 \
    --threads 1 --steps 2 --matmul-ms 2 --compare-pytorch --python /bin/sh --pytorch-script "$tmp/fake_step.sh" \
    --jsonl "$tmp/out.jsonl" >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 0 ]; check $? "tiny bench run: status 0"
grep -q "fp32 FMA peak" "$tmp/out"; check $? "prints the FMA peak"
grep -Eq "^ +interp +[0-9]+ms" "$tmp/out"; check $? "prints the interp row"
grep -q "all matmuls of one step: ours" "$tmp/out"; check $? "prints the matmul comparison"
grep -q "PyTorch: step 10.00 ms" "$tmp/out"; check $? "reads the best line of the PyTorch script"
grep -q "step / PyTorch step = " "$tmp/out"; check $? "prints the ratio to PyTorch"
grep -q '"model":"transformer"' "$tmp/out.jsonl" && grep -q '"pytorch_step_ms":10' "$tmp/out.jsonl" \
    && grep -Eq '"plan_mb":[1-9]' "$tmp/out.jsonl"
check $? "--jsonl writes the record (with the plan's memory)"
grep -Eq "^ +executor .* peak MB +plan MB" "$tmp/out" && grep -Eq "^ +interp +[0-9]+ms.* [0-9.]+ +[1-9][0-9]*\.[0-9]  " "$tmp/out"
check $? "prints the plan MB column"
[ ! -s "$tmp/err" ]; check $? "nothing on stderr"
$ICLC bench --model transformer --config tiny --task-set d=4,N=5 --batch 2 --threads 1 --steps 1 --no-matmul \
    --interp-max-mb 0.01 >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 0 ] && grep -q "interp     skipped: the interpreter would hold" "$tmp/out"; check $? "--interp-max-mb skips the interpreter"
$ICLC bench --model transformer --config tiny --task-set d=4,N=5 --batch 2 --threads 1 --steps 1 --no-matmul \
    --executor interp --unfused >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 0 ] && grep -Eq "^ +interp +[0-9]+ms.* [1-9][0-9]* fused ops" "$tmp/out" && grep -Eq "^ +interp-nf .* 0 fused ops" "$tmp/out"
check $? "--unfused adds the unfused row"
$ICLC bench --model transformer --config tiny --task-set d=4,N=5 --batch 2 --threads 1 --steps 1 --no-matmul \
    --executor interp --no-fuse bogus >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 2 ] && grep -q "unknown pattern 'bogus'" "$tmp/err"; check $? "--no-fuse with an unknown pattern: status 2, the message names it"
# the JIT's kernel profile names each matmul's product and rate
ICLC_JIT_PROFILE=400 $ICLC bench --model transformer --config tiny --task-set d=4,N=5 --batch 2 --threads 1 --steps 1 \
    --no-matmul --executor jit >"$tmp/out" 2>"$tmp/err"; st=$?
[ $st = 0 ] && grep -q "jit profile by root op" "$tmp/err" \
    && grep -Eq "_matmul.* mm [0-9]+x\[[0-9]+ x [0-9]+ x [0-9]+\]( tA)?( tB)?( acc)? [1-9][0-9]* GFLOP/s" "$tmp/err"
check $? "ICLC_JIT_PROFILE: matmul kernels show batch x [M x N x K], transposes and GFLOP/s"
: 
echo "1..$n"
exit $fail
