#!/bin/sh
# `iclc tasks`: listing, sampling, baselines (checked against a numpy oracle), bad input.
ICLC=${ICLC:-build/iclc}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/iclc-tasks-t.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; fail=0
check() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
# bad CMD...: status 2 and the message (stderr) contains $1
bad() { want=$1; shift; "$ICLC" "$@" >"$T/out" 2>"$T/err"; st=$?
        [ $st = 2 ] && grep -qF -- "$want" "$T/err"; check $? "bad input: iclc $* -> status 2, '$want'"; }

$ICLC tasks >"$T/list"; check $? "iclc tasks lists the tasks"
for t in linear_regression sparse_linear_regression relu_2nn_regression decision_tree ortho_outlier_regression \
         many_outlier_regression sparse_parity cot_io mqar; do
    grep -q "^$t" "$T/list"; check $? "  lists $t"
done
grep -q "k         = 3" "$T/list"; check $? "  shows parameters with defaults"
$ICLC tasks list | cmp -s - "$T/list"; check $? "iclc tasks list is the same"
$ICLC help tasks | grep -q "usage: iclc tasks"; check $? "help tasks prints usage"

$ICLC tasks sample linear_regression --n 2 --seed 1 --json >"$T/s1.json"; check $? "sample --json"
$PY - "$T/s1.json" <<'PY'; check $? "  valid JSON: 2 prompts of 82 tokens x 20, 41 targets, state (20, 41)"
import json, sys
j = json.load(open(sys.argv[1]))
p = j["prompts"]
assert len(p) == 2 and j["T"] == 82 and j["d_tok"] == 20
assert all(len(x["tokens"]) == 82 and all(len(t) == 20 for t in x["tokens"]) for x in p)
assert all(len(x["targets"]["y"]) == 41 and x["tokens"][1][0] == x["targets"]["y"][0] for x in p)
assert j["state"] == {"d_cur": 20, "N": 41} and j["heads"][0]["stride"] == 2
PY
$ICLC tasks sample linear_regression --n 2 --seed 1 --json | cmp -s - "$T/s1.json"; check $? "  same seed: same prompts"
$ICLC tasks sample linear_regression --n 2 --seed 2 --json | cmp -s - "$T/s1.json"; [ $? = 1 ]; check $? "  other seed: other prompts"
$ICLC tasks sample linear_regression --n 1 --first 1 --seed 1 --json >"$T/s2.json"
$PY -c "import json,sys; a=json.load(open('$T/s1.json')); b=json.load(open('$T/s2.json')); sys.exit(a['prompts'][1]['tokens'] != b['prompts'][0]['tokens'])"
check $? "  --first 1 gives prompt 1 of the same stream"
$ICLC tasks sample linear_regression --step 0 --json --n 1 | grep -q '"state":{"d_cur":5,"N":11}'; check $? "  --step 0: curriculum state (5, 11)"
$ICLC tasks sample cot_io --n 1 --set N=3 >"$T/cot.txt"; check $? "text output"
grep -q -- "-> s" "$T/cot.txt" && grep -q -- "-> y" "$T/cot.txt"; check $? "  marks the read-out positions of both heads"
$ICLC tasks sample mqar --n 1 --latent --json | grep -q '"latent":\['; check $? "  --latent adds the hidden function"

# baselines: table and CSV
$ICLC tasks baselines linear_regression --prompts 128 --bootstrap 100 --csv "$T/lr.csv" >"$T/lr.txt"; check $? "baselines linear_regression"
head -2 "$T/lr.txt" | tail -1 | grep -Eq "^n_context +zero +least_squares +averaging +knn3$"; check $? "  table columns: zero, least_squares, averaging, knn3"
[ "$(grep -Ec '^[0-9]+ ' "$T/lr.txt")" = 41 ]; check $? "  one row per context length 0..40"
$PY - "$T/lr.csv" <<'PY'; check $? "  CSV: 4 x 41 rows; LS ~0 from 20 examples; CI brackets the mean"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 4 * 41, len(rows)
ls = {int(r["n_context"]): r for r in rows if r["baseline"] == "least_squares"}
assert all(float(ls[p]["mean"]) < 1e-6 for p in range(20, 41))
assert abs(float(ls[10]["mean"]) - 10) < 3
assert all(float(r["ci_lo"]) <= float(r["mean"]) <= float(r["ci_hi"]) for r in rows)
assert all(int(r["count"]) == 128 for r in rows)
assert abs(float(rows[0]["mean_over_d"]) * 20 - float(rows[0]["mean"])) < 1e-6
PY
[ -z "$(ls "$T" | grep tmp)" ]; check $? "  no temporary file left behind"
$ICLC tasks baselines sparse_parity --prompts 64 --bootstrap 0 | grep -q "accuracy"; check $? "baselines sparse_parity reports accuracy"

# numpy oracle: recompute least squares (min-norm), averaging and 3-NN on the same prompts
$ICLC tasks sample linear_regression --eval --seed 9 --n 3 --json --set d=5,N=12 >"$T/o.json"
$ICLC tasks baselines linear_regression --seed 9 --prompts 3 --bootstrap 0 --set d=5,N=12 --csv "$T/o.csv" >/dev/null
$PY - "$T/o.json" "$T/o.csv" <<'PY'; check $? "least squares, averaging, 3-NN match a numpy oracle"
import csv, json, sys
import numpy as np
j = json.load(open(sys.argv[1])); rows = list(csv.DictReader(open(sys.argv[2])))
got = {(r["baseline"], int(r["n_context"])): float(r["mean"]) for r in rows}
errs = {b: np.zeros(12) for b in ("least_squares", "averaging", "knn3", "zero")}
for pr in j["prompts"]:
    t = np.array(pr["tokens"], dtype=np.float64); X = t[0::2]; y = t[1::2, 0]
    for p in range(12):
        xq = X[p]
        if p == 0:
            pl = pa = pk = 0.0
        else:
            w = np.linalg.lstsq(X[:p], y[:p], rcond=None)[0]; pl = xq @ w
            pa = xq @ (X[:p].T @ y[:p] / p)
            dist = ((X[:p] - xq) ** 2).sum(1); pk = y[:p][np.argsort(dist, kind="stable")[:3]].mean()
        for b, v in (("least_squares", pl), ("averaging", pa), ("knn3", pk), ("zero", 0.0)):
            errs[b][p] += (v - y[p]) ** 2 / 3
for b, e in errs.items():
    for p in range(12):
        assert abs(got[(b, p)] - e[p]) <= 1e-4 * (1 + abs(e[p])), (b, p, got[(b, p)], e[p])
PY
# Lasso against proximal gradient (FISTA) to high precision: same objective, another algorithm
$ICLC tasks sample sparse_linear_regression --eval --seed 4 --n 2 --json --set d=6,N=14,k=2,d_start=6 >"$T/l.json"
$ICLC tasks baselines sparse_linear_regression --seed 4 --prompts 2 --bootstrap 0 --set d=6,N=14,k=2,d_start=6 --csv "$T/l.csv" >/dev/null
$PY - "$T/l.json" "$T/l.csv" <<'PY'; check $? "Lasso (coordinate descent) matches FISTA on (1/2p)|y - Xw|^2 + alpha |w|_1"
import csv, json, sys
import numpy as np
j = json.load(open(sys.argv[1])); rows = list(csv.DictReader(open(sys.argv[2])))
got = {(r["baseline"], int(r["n_context"])): float(r["mean"]) for r in rows}
def lasso(X, y, a):
    p, d = X.shape; L = np.linalg.norm(X, 2) ** 2 / p; w = np.zeros(d); z = w.copy(); t = 1.0
    for _ in range(200000):
        g = X.T @ (X @ z - y) / p; u = z - g / L
        wn = np.sign(u) * np.maximum(np.abs(u) - a / L, 0)
        tn = (1 + np.sqrt(1 + 4 * t * t)) / 2; z = wn + (t - 1) / tn * (wn - w)
        if np.abs(wn - w).max() < 1e-13: w = wn; break
        w, t = wn, tn
    return w
for a in (1, 0.1, 0.01):
    e = np.zeros(14)
    for pr in j["prompts"]:
        t = np.array(pr["tokens"], dtype=np.float64); X = t[0::2]; y = t[1::2, 0]
        for p in range(1, 14):
            e[p] += (X[p] @ lasso(X[:p], y[:p], a) - y[p]) ** 2 / 2
        e[0] += y[0] ** 2 / 2
    name = "lasso_" + ("1" if a == 1 else str(a))
    for p in range(14):
        assert abs(got[(name, p)] - e[p]) <= 2e-3 * (1 + abs(e[p])), (name, p, got[(name, p)], e[p])
PY

# greedy trees against a direct Python transcription of the CART rule (depth 4 and unlimited)
$ICLC tasks sample decision_tree --eval --seed 6 --n 3 --json --set d=4,N=25,d_start=4 >"$T/t.json"
$ICLC tasks baselines decision_tree --seed 6 --prompts 3 --bootstrap 0 --set d=4,N=25,d_start=4 --csv "$T/t.csv" >/dev/null
$PY - "$T/t.json" "$T/t.csv" <<'PY'; check $? "greedy regression trees match a Python CART on the same prompts"
import csv, json, sys
j = json.load(open(sys.argv[1])); rows = list(csv.DictReader(open(sys.argv[2])))
got = {(r["baseline"], int(r["n_context"])): float(r["mean"]) for r in rows}
def tree(X, y, xq, max_depth):
    node = list(range(len(y))); depth = 0
    while True:
        tot = 0.0; sq = 0.0
        for i in node: tot += y[i]; sq += y[i] * y[i]
        n = len(node); mean = tot / n
        if (max_depth and depth >= max_depth) or n < 2 or sq / n - mean * mean <= 2.220446049250313e-16:
            return mean
        best, bf, thr = -float("inf"), -1, 0.0
        for f in range(len(xq)):
            kv = sorted(node, key=lambda i: X[i][f]); left = 0.0
            for k in range(1, n):
                left += y[kv[k - 1]]
                a, b = X[kv[k - 1]][f], X[kv[k]][f]
                if b <= a + 1e-7: continue
                right = tot - left; proxy = left * left / k + right * right / (n - k)
                if proxy > best:
                    best, bf, thr = proxy, f, a / 2.0 + b / 2.0
                    if thr == b: thr = a
        if bf < 0: return mean
        side = xq[bf] <= thr
        node = [i for i in node if (X[i][bf] <= thr) == side]; depth += 1
for name, md in (("tree_depth4", 4), ("tree_full", 0)):
    e = [0.0] * 25
    for pr in j["prompts"]:
        t = pr["tokens"]; X = t[0::2]; y = [r[0] for r in t[1::2]]
        for p in range(25):
            v = tree(X[:p], y[:p], X[p], md) if p else 0.0
            e[p] += (v - y[p]) ** 2 / 3
    for p in range(25):
        assert abs(got[(name, p)] - e[p]) <= 1e-6 * (1 + abs(e[p])), (name, p, got[(name, p)], e[p])
PY

# bad input
bad "unknown task 'nosuch' (valid: linear_regression, sparse_linear_regression" tasks sample nosuch
bad "unknown task 'nosuch'" tasks baselines nosuch
bad "d = 0 is out of range" tasks sample linear_regression --set d=0
bad "k = 30 exceeds d = 20" tasks sample sparse_linear_regression --set k=30
bad "p = 1.5 is out of range [0, 1]" tasks baselines ortho_outlier_regression --set p=1.5
bad "p = -0.5 is out of range" tasks sample many_outlier_regression --set p=-0.5
bad "N = 0 is out of range" tasks sample mqar --set N=0
bad "m = 40 queries need at least as many pairs" tasks sample mqar --set m=40
bad "unknown parameter 'zz'" tasks sample linear_regression --set zz=1
bad "missing TASK" tasks sample
bad "unknown subcommand 'frobnicate'" tasks frobnicate
bad "--prompts must be in" tasks baselines linear_regression --prompts 0
bad "--n must be in" tasks sample linear_regression --n 0
bad "wants an integer" tasks sample linear_regression --n two
bad "unknown flag '--bogus'" tasks sample linear_regression --bogus
bad "--eval and --step exclude each other" tasks sample linear_regression --eval --step 3
[ "$(wc -l <"$T/err")" -le 2 ]; check $? "  errors are short"
$ICLC tasks baselines linear_regression --prompts 4 --csv "$T/no/such/dir/x.csv" >/dev/null 2>"$T/err"; st=$?
[ $st = 1 ] && grep -q "cannot create" "$T/err"; check $? "unwritable --csv: status 1 and a message"

echo "1..$n"
exit $fail
