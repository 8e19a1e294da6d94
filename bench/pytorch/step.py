#!/usr/bin/python3
"""step.py — PyTorch's training step and evaluation throughput for the paper's models (models.py), the
baseline of `iclc bench --compare-pytorch`.

    /usr/bin/python3 bench/pytorch/step.py --model mamba --config tiny --threads 2 [--steps 10]

Shapes: linear regression prompts, B = 64, N = 41 points of d = 20 -> T = 82 tokens (x and y interleaved).
A training step: forward, mean squared error of the read-out at the x tokens (positions 0, 2, ..., 2N-2)
against y, backward, clip_grad_norm_(10), Adam (lr 1e-4) — the step iclc's training graph computes.
Evaluation: forward only (torch.no_grad), prompts per second.

For the thread budget --threads N, every setting is tried in a fresh process (the OpenMP and OpenBLAS
thread counts are read at start-up): torch.set_num_threads(t) with OMP_NUM_THREADS = t for t = 1..N,
and OPENBLAS_NUM_THREADS in {1, t}. The setting with the best (minimum) step time is the baseline (TOOLCHAIN.md: PyTorch is
fastest at different settings on different machines).

Output: JSON lines on stdout, one per setting ("kind": "setting") and a last one ("kind": "best")
with the fastest setting's numbers; C reads the "best" line. Fields: model, config, task, B, N, T, d,
threads (the budget), torch_threads, omp_threads, openblas_threads, params, step_ms (median), step_ms_min,
eval_ms (median, one batch), eval_prompts_per_s, steps, blas (the BLAS library mapped into the process),
torch (version). Errors: one line on stderr, exit status 2 (bad arguments) or 1.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def blas_in_process():
    """The BLAS / OpenBLAS shared objects mapped into this process."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in path or "lapack" in path or "mkl" in path:
                libs.add(path)
    return sorted(libs)


def measure(args):
    """One setting (this process's environment): returns a dict of timings."""
    import torch
    sys.path.insert(0, HERE)
    import models

    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(1)
    B, N, d = args.batch, args.points, args.d
    T = 2 * N
    model = models.build(args.model, args.config, d)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    xs = torch.randn(B, N, d)
    w = torch.randn(B, d, 1)
    ys = (xs @ w).squeeze(-1)                                  # (B, N)
    tokens = torch.zeros(B, T, d)
    tokens[:, 0::2] = xs
    tokens[:, 1::2, 0] = ys

    def step():
        opt.zero_grad(set_to_none=True)
        pred = model(tokens)[:, 0::2, 0]                        # read-out at the x tokens
        loss = ((pred - ys) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    times = []
    t_end = time.perf_counter() + args.min_seconds
    while len(times) < args.steps or (time.perf_counter() < t_end and len(times) < 10 * args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ev = []
    with torch.no_grad():
        model(tokens)
        t_end = time.perf_counter() + args.min_seconds / 2
        while len(ev) < args.steps or (time.perf_counter() < t_end and len(ev) < 10 * args.steps):
            t0 = time.perf_counter()
            model(tokens)
            ev.append(time.perf_counter() - t0)
    eval_ms = 1e3 * statistics.median(ev)
    return {
        "model": args.model, "config": args.config, "task": "linear_regression", "B": B, "N": N, "T": T, "d": d,
        "threads": args.threads, "torch_threads": args.torch_threads,
        "omp_threads": int(os.environ.get("OMP_NUM_THREADS", "0")),
        "openblas_threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")),
        "params": models.count_params(model),
        "step_ms": 1e3 * statistics.median(times), "step_ms_min": 1e3 * min(times), "steps": len(times),
        "eval_ms": eval_ms, "eval_prompts_per_s": B / (eval_ms * 1e-3),
        "blas": ",".join(blas_in_process()), "torch": torch.__version__,
    }


def settings(n):
    """(torch/OMP threads, OpenBLAS threads) pairs within a budget of n threads."""
    out = []
    for t in range(1, n + 1):
        for b in sorted({1, t}):
            out.append((t, b))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="")
    ap.add_argument("--config", default="tiny")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=5, help="timed steps (at least)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--min-seconds", type=float, default=2.0, help="keep timing until this long")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--points", type=int, default=41)
    ap.add_argument("--d", type=int, default=20)
    ap.add_argument("--settings", default="",
                    help="only these torch:openblas thread settings, e.g. '1:1,2:1' (default: every one)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per setting before giving up on it")
    ap.add_argument("--check-params", action="store_true", help="print parameter counts and exit")
    ap.add_argument("--torch-threads", type=int, default=0, help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args()

    sys.path.insert(0, HERE)
    import models
    if args.check_params:
        for m in models.MODELS:
            for c in models.CONFIGS:
                print(json.dumps({"model": m, "config": c, "params": models.count_params(models.build(m, c, args.d))}))
        return 0
    if args.model not in models.MODELS or args.config not in models.CONFIGS:
        print(f"step.py: unknown model/config {args.model}/{args.config} (models: {', '.join(models.MODELS)}; "
              f"configs: {', '.join(models.CONFIGS)})", file=sys.stderr)
        return 2
    if args.threads < 1 or args.steps < 1:
        print("step.py: --threads and --steps must be >= 1", file=sys.stderr)
        return 2

    if args.torch_threads > 0:  # child: measure this setting
        print(json.dumps(measure(args)))
        return 0

    todo = settings(args.threads)
    if args.settings:
        try:
            todo = [tuple(int(v) for v in item.split(":")) for item in args.settings.split(",")]
        except ValueError:
            print(f"step.py: bad --settings {args.settings!r} (want e.g. 1:1,2:1)", file=sys.stderr)
            return 2
    best = None
    for t, b in todo:
        env = dict(os.environ, OMP_NUM_THREADS=str(t), OPENBLAS_NUM_THREADS=str(b))
        cmd = [sys.executable, os.path.abspath(__file__), "--model", args.model, "--config", args.config,
               "--threads", str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--min-seconds", str(args.min_seconds), "--batch", str(args.batch), "--points", str(args.points),
               "--d", str(args.d), "--torch-threads", str(t)]
        try:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"step.py: setting torch={t} openblas={b} took over {args.timeout:.0f} s; skipped", file=sys.stderr)
            continue
        if r.returncode != 0:
            print(f"step.py: setting torch={t} openblas={b} failed: {r.stderr.strip()[-500:]}", file=sys.stderr)
            return 1
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["kind"] = "setting"
        print(json.dumps(res), flush=True)
        if "openblas" not in res["blas"]:
            print(f"step.py: warning: PyTorch does not use OpenBLAS here ({res['blas'] or 'no BLAS mapped'})",
                  file=sys.stderr)
        if best is None or res["step_ms_min"] < best["step_ms_min"]:
            best = res
    if best is None:
        print("step.py: no setting finished", file=sys.stderr)
        return 1
    best = dict(best, kind="best")
    print(json.dumps(best), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
