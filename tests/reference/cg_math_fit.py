#!/usr/bin/python3
"""cg_math_fit.py — fits the polynomial coefficients of codegen/cg_math.c.

Each approximation is a polynomial with some leading coefficients fixed; the free
ones are fitted to minimise the maximum relative (or absolute) error on an
interval by Lawson's algorithm: weighted least squares whose weights are
multiplied by the current error each round, which converges towards the minimax
(equioscillating) solution. Then the coefficients are rounded to float32, the
error of the float32 polynomial (evaluated in double) is reported, and a C table
is printed.

    /usr/bin/python3 tests/reference/cg_math_fit.py      # prints the tables

Everything is derived here from the functions' definitions (numpy + math only).
"""
import math

import numpy as np


def erfc_np(x):
    return np.array([math.erfc(v) for v in x])


def lawson(basis, target, weight, xs, iters=400):
    """min over c of max |weight * (target - basis @ c)| via Lawson's IRLS."""
    A = basis * weight[:, None]
    t = target * weight
    w = np.ones(len(xs)) / len(xs)
    best, best_c = None, None
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(A * sw[:, None], t * sw, rcond=None)
        e = np.abs(A @ c - t)
        m = e.max()
        if best is None or m < best:
            best, best_c = m, c
        w = w * e
        s = w.sum()
        if s == 0:
            break
        w /= s
    return best_c, best


def cheb_points(a, b, n):
    k = np.arange(n)
    return 0.5 * (a + b) + 0.5 * (b - a) * np.cos(np.pi * (k + 0.5) / n)


def report(name, coefs, err, note):
    c32 = [float(np.float32(c)) for c in coefs]
    print(f"/* {name}: {note}; fitted max error {err:.3g} */")
    print(f"static const float {name}[{len(c32)}] = {{" + ", ".join(f"{c!r}f" if 'e' in repr(c) or '.' in repr(c) else f"{c}.0f" for c in c32) + "};")
    return c32


def horner(c, x):
    y = np.zeros_like(x) + c[-1]
    for k in range(len(c) - 2, -1, -1):
        y = y * x + c[k]
    return y


def main():
    # exp(r) = 1 + r + r^2 * P(r),  |r| <= ln2/2
    a = math.log(2) / 2
    r = np.concatenate([cheb_points(-a, a, 4000), np.linspace(-a, a, 2001)])
    r = r[np.abs(r) > 1e-9]
    deg = 5  # P degree 4 -> 5 coefficients (total degree 6)
    basis = np.stack([r ** (2 + k) for k in range(deg)], axis=1)
    target = np.exp(r) - 1 - r
    c, e = lawson(basis, target, 1 / np.exp(r), r)
    c32 = report("EXP_P", c, e, "exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2, relative")
    got = 1 + r + r * r * horner(c32, r)
    print(f"/*   float32 coefficients: max rel {np.max(np.abs(got / np.exp(r) - 1)):.3g} */")

    # log1p(f) = f + f^2 * Q(f),  f in [sqrt(1/2) - 1, sqrt(2) - 1]
    lo, hi = math.sqrt(0.5) - 1, math.sqrt(2) - 1
    f = np.concatenate([cheb_points(lo, hi, 6000), np.linspace(lo, hi, 3001)])
    f = f[np.abs(f) > 1e-6]
    deg = 9
    basis = np.stack([f ** (2 + k) for k in range(deg)], axis=1)
    target = np.log1p(f) - f
    c, e = lawson(basis, target, 1 / np.abs(np.log1p(f)), f)
    c32 = report("LOG_Q", c, e, "log1p(f) = f + f^2 Q(f), f in [sqrt(.5)-1, sqrt(2)-1], relative")
    got = f + f * f * horner(c32, f)
    print(f"/*   float32 coefficients: max rel {np.max(np.abs(got / np.log1p(f) - 1)):.3g} */")

    # tanh(x) = x + x^3 T(x^2), |x| <= TANH_SMALL
    ts = 0.625
    x = np.concatenate([cheb_points(1e-4, ts, 4000), np.linspace(1e-4, ts, 2001)])
    deg = 6
    basis = np.stack([x ** (3 + 2 * k) for k in range(deg)], axis=1)
    target = np.tanh(x) - x
    c, e = lawson(basis, target, 1 / np.tanh(x), x)
    c32 = report("TANH_T", c, e, f"tanh(x) = x + x^3 T(x^2), |x| <= {ts}, relative")
    got = x + x ** 3 * horner(c32, x * x)
    print(f"/*   float32 coefficients: max rel {np.max(np.abs(got / np.tanh(x) - 1)):.3g} */")

    # erf(x) = x * E(x^2), |x| <= ERF_SMALL
    es = 0.921875
    x = np.concatenate([cheb_points(1e-4, es, 4000), np.linspace(1e-4, es, 2001)])
    deg = 7
    basis = np.stack([x ** (1 + 2 * k) for k in range(deg)], axis=1)
    target = np.array([math.erf(v) for v in x])
    c, e = lawson(basis, target, 1 / target, x)
    c32 = report("ERF_E", c, e, f"erf(x) = x E(x^2), |x| <= {es}, relative")
    got = x * horner(c32, x * x)
    print(f"/*   float32 coefficients: max rel {np.max(np.abs(got / target - 1)):.3g} */")

    # erf(x) = 1 - exp(G(x)), ERF_SMALL <= x <= 3.92 (erfc < 2^-25 beyond: erf rounds to 1)
    x = np.concatenate([cheb_points(es, 3.925, 6000), np.linspace(es, 3.925, 3001)])
    deg = 11
    basis = np.stack([x ** k for k in range(deg)], axis=1)
    target = np.log(erfc_np(x))
    # absolute error of G = relative error of erfc; weight by erfc/erf so it is erf's relative error
    wt = erfc_np(x) / (1 - erfc_np(x))
    c, e = lawson(basis, target, wt, x)
    c32 = report("ERF_G", c, e, f"erfc(x) = exp(G(x)), {es} <= x <= 3.925, erf relative")
    got = 1 - np.exp(horner(c32, x))
    tgt = 1 - erfc_np(x)
    print(f"/*   float32 coefficients: max rel of erf {np.max(np.abs(got / tgt - 1)):.3g} */")

    # sin(r) = r + r^3 S(r^2), cos(r) = 1 - r^2/2 + r^4 C(r^2), |r| <= pi/4
    q = math.pi / 4
    r = np.concatenate([cheb_points(1e-4, q, 4000), np.linspace(1e-4, q, 2001)])
    deg = 4
    basis = np.stack([r ** (3 + 2 * k) for k in range(deg)], axis=1)
    c, e = lawson(basis, np.sin(r) - r, 1 / np.sin(r), r)
    c32 = report("SIN_S", c, e, "sin(r) = r + r^3 S(r^2), |r| <= pi/4, relative")
    got = r + r ** 3 * horner(c32, r * r)
    print(f"/*   float32 coefficients: max rel {np.max(np.abs(got / np.sin(r) - 1)):.3g} */")
    r = np.concatenate([cheb_points(0, q, 4000), np.linspace(0, q, 2001)])
    basis = np.stack([r ** (4 + 2 * k) for k in range(deg)], axis=1)
    c, e = lawson(basis, np.cos(r) - 1 + r * r / 2, 1 / np.cos(r), r)
    c32 = report("COS_C", c, e, "cos(r) = 1 - r^2/2 + r^4 C(r^2), |r| <= pi/4, relative")
    got = 1 - r * r / 2 + r ** 4 * horner(c32, r * r)
    print(f"/*   float32 coefficients: max rel {np.max(np.abs(got / np.cos(r) - 1)):.3g} */")


if __name__ == "__main__":
    main()
