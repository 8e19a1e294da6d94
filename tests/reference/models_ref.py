#!/usr/bin/python3
"""models_ref.py — an independent numpy implementation of every architecture of models.md.

Written straight from ../shared/reference/models.md (equations, sizes, initialisations), not from
models.lua / nn.lua: loops and float64 everywhere, speed irrelevant. It reads the weights and the input
tokens from safetensors files (parsed by hand: 8-byte little-endian header length, JSON header, raw
little-endian F32 data), checks that the weight file holds exactly the parameters the reference
prescribes (names and shapes), optionally checks their initial values against the reference's
initialisers, runs the forward pass and writes the prediction (B, T, d_out) as tensor "pred".

  models_ref.py forward --model mamba --n-layer 2 --weights w.safetensors --inputs in.safetensors \
                        --out ref.safetensors [--heads 2] [--task linear_regression]
  models_ref.py initcheck --model mamba --n-layer 2 --weights w.safetensors   (forward --check-init: both)
  models_ref.py compare a.safetensors b.safetensors --rtol 1e-5   (exit 1 when they differ)
  models_ref.py tokens --shape 2,10,5 --seed 3 --out in.safetensors   (random N(0,1) tokens)
  models_ref.py count --model mamba --n-layer 4 --D 128 --d-in 20 ... (parameter count from the formulas)

--n-layer is the code's n_layer: GPT-2 blocks for the transformers, mixer blocks for the mixer models
(MambaFormer builds n_layer + 1). Width D, d_in, d_out and table sizes come from the weight shapes
(the shapes themselves are then checked against the formulas).
"""
import argparse
import json
import math
import struct
import sys

import numpy as np

# ------------------------------------------------------------------------------------------------
# safetensors, by hand


def st_read(path):
    """Returns {name: float64 array} of an F32 safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (hlen,) = struct.unpack("<Q", raw[:8])
    if 8 + hlen > len(raw):
        raise ValueError(f"{path}: header length {hlen} exceeds the file")
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    data = raw[8 + hlen:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}, expected F32")
        a, b = info["data_offsets"]
        shape = tuple(info["shape"])
        n = int(np.prod(shape)) if shape else 1
        if b - a != 4 * n or b > len(data):
            raise ValueError(f"{path}: {name} has bad offsets {a}..{b} for shape {shape}")
        out[name] = np.frombuffer(data[a:b], dtype="<f4").astype(np.float64).reshape(shape)
    return out


def st_write(path, tensors):
    """Writes {name: array} as F32 safetensors (names sorted, 8-byte aligned header)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + arr.nbytes]}
        blobs.append(arr.tobytes())
        off += arr.nbytes
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ------------------------------------------------------------------------------------------------
# Parameter specification: the reference's names, shapes and initialisers.
# Each entry: name -> (shape, init) with init one of
#   ("uniform", c)           U(-c, c)
#   ("normal", std)          N(0, std^2)
#   ("const", v)             every element v
#   ("data", array)          exact values
#   ("dt_bias",)             softplus^-1 of exp(U(ln 1e-3, ln 1e-1))
#   ("log_uniform", lo, hi)  U(lo, hi)


class Spec:
    def __init__(self):
        self.p = {}

    def add(self, name, shape, init):
        assert name not in self.p, name
        self.p[name] = (tuple(shape), init)

    def linear(self, prefix, d_in, d_out, bias=True, w_init=None, b_init=None):
        c = 1 / math.sqrt(d_in)
        self.add(prefix + ".weight", (d_out, d_in), w_init or ("uniform", c))
        if bias:
            self.add(prefix + ".bias", (d_out,), b_init or ("uniform", c))

    def ln(self, prefix, D):
        self.add(prefix + ".weight", (D,), ("const", 1.0))
        self.add(prefix + ".bias", (D,), ("const", 0.0))

    def gpt2_block(self, prefix, D, L):
        s = 0.02 / math.sqrt(2 * L)
        self.ln(prefix + ".ln_1", D)
        self.add(prefix + ".attn.c_attn.weight", (D, 3 * D), ("normal", 0.02))
        self.add(prefix + ".attn.c_attn.bias", (3 * D,), ("const", 0.0))
        self.add(prefix + ".attn.c_proj.weight", (D, D), ("normal", s))
        self.add(prefix + ".attn.c_proj.bias", (D,), ("const", 0.0))
        self.ln(prefix + ".ln_2", D)
        self.add(prefix + ".mlp.c_fc.weight", (D, 4 * D), ("normal", 0.02))
        self.add(prefix + ".mlp.c_fc.bias", (4 * D,), ("const", 0.0))
        self.add(prefix + ".mlp.c_proj.weight", (4 * D, D), ("normal", s))
        self.add(prefix + ".mlp.c_proj.bias", (D,), ("const", 0.0))

    def mamba(self, prefix, D, n_layer, N=16, K=4):
        E, R = 2 * D, math.ceil(D / 16)
        self.linear(prefix + ".in_proj", D, 2 * E, bias=False)
        self.add(prefix + ".conv1d.weight", (E, 1, K), ("uniform", 1 / math.sqrt(K)))
        self.add(prefix + ".conv1d.bias", (E,), ("uniform", 1 / math.sqrt(K)))
        self.linear(prefix + ".x_proj", E, R + 2 * N, bias=False)
        self.linear(prefix + ".dt_proj", R, E, w_init=("uniform", R ** -0.5), b_init=("dt_bias",))
        self.add(prefix + ".A_log", (E, N), ("data", np.log(np.tile(np.arange(1, N + 1, dtype=np.float64), (E, 1)))))
        self.add(prefix + ".D", (E,), ("const", 1.0))
        self.linear(prefix + ".out_proj", E, D, bias=False, w_init=("uniform", 1 / math.sqrt(E) / math.sqrt(n_layer)))

    def s4d(self, prefix, H, N=16):
        M = N // 2
        self.add(prefix + ".D", (H,), ("normal", 1.0))
        self.add(prefix + ".kernel.C", (H, M, 2), ("normal", math.sqrt(0.5)))
        self.add(prefix + ".kernel.log_dt", (H,), ("log_uniform", math.log(1e-3), math.log(1e-1)))
        self.add(prefix + ".kernel.log_A_real", (H, M), ("const", math.log(0.5)))
        self.add(prefix + ".kernel.A_imag", (H, M), ("data", np.tile(math.pi * np.arange(M, dtype=np.float64), (H, 1))))

    def s4(self, prefix, D):
        self.s4d(prefix + ".s4", D)
        c = 1 / math.sqrt(D)
        self.add(prefix + ".s4.output_linear.0.weight", (2 * D, D, 1), ("uniform", c))
        self.add(prefix + ".s4.output_linear.0.bias", (2 * D,), ("uniform", c))

    def s4_mamba(self, prefix, D, n_layer, K=4):
        E = 2 * D
        self.linear(prefix + ".in_proj", D, 2 * E, bias=False)
        self.add(prefix + ".conv1d.weight", (E, 1, K), ("uniform", 1 / math.sqrt(K)))
        self.add(prefix + ".conv1d.bias", (E,), ("uniform", 1 / math.sqrt(K)))
        self.s4d(prefix + ".S4DMamba", E)
        self.linear(prefix + ".out_proj", E, D, bias=False, w_init=("uniform", 1 / math.sqrt(E) / math.sqrt(n_layer)))

    def attn(self, prefix, D):
        self.linear(prefix + ".c_attn", D, 3 * D, b_init=("const", 0.0))
        self.linear(prefix + ".c_proj", D, D, b_init=("const", 0.0))


def mixer_kinds(model, n_layer):
    """Block list of the mixer models (models.md section 3 and 8)."""
    if model == "mamba":
        return ["M"] * n_layer
    if model == "s4_mamba":
        return ["S"] * n_layer
    if model == "s4":
        return ["4"] * n_layer
    if model == "standard_hybrid":
        return ["A" if i % 2 == 0 else "M" for i in range(n_layer)]
    if model == "mambaformer":
        return ["M"] + ["A" if i % 2 == 0 else "M" for i in range(n_layer)]
    if model == "mamba_hybrid":
        k = ["M"] * n_layer
        k[n_layer // 2 - 1] = "A"
        return k
    raise ValueError(f"unknown model {model}")


GPT2 = ("transformer", "transformer_nope", "transformer_mamba")


def build_spec(model, n_layer, D, d_in, d_out, pos_rows, task):
    s = Spec()
    if task == "cot_io":
        k = d_out - 1
        d = d_in - k - 1
        for part, w in (("x", d), ("s", k), ("y", 1)):
            s.linear("read_in." + part, w, D)
        s.linear("read_out.s", D, k)
        s.linear("read_out.y", D, 1)
    else:
        s.linear("read_in", d_in, D)
        s.linear("read_out", D, d_out)
    if model in GPT2:
        if model == "transformer":
            s.add("backbone.wpe.weight", (pos_rows, D), ("normal", 0.02))
        if model == "transformer_mamba":
            s.ln("backbone.mamba.norm", D)
            s.mamba("backbone.mamba.mixer", D, 1)
        for i in range(n_layer):
            s.gpt2_block(f"backbone.h.{i}", D, n_layer)
        s.ln("backbone.ln_f", D)
        return s
    if model == "standard_hybrid":
        s.add("pos_embed.weight", (pos_rows, D), ("normal", 1.0))
    for i, kind in enumerate(mixer_kinds(model, n_layer)):
        p = f"backbone.layers.{i}"
        s.ln(p + ".norm", D)
        if kind == "M":
            s.mamba(p + ".mixer", D, n_layer)
        elif kind == "S":
            s.s4_mamba(p + ".mixer", D, n_layer)
        elif kind == "4":
            s.s4(p + ".mixer", D)
        else:
            s.attn(p + ".mixer", D)
    s.ln("backbone.norm_f", D)
    return s


# ------------------------------------------------------------------------------------------------
# Forward pass, one function per equation block of models.md, float64


def linear(x, W, b=None):
    y = x @ W.T
    return y if b is None else y + b


def layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def gelu_new(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


_erf = np.vectorize(math.erf)


def gelu_exact(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def attention(q, k, v, H):
    """Causal softmax attention of (B, T, D) q, k, v over H contiguous heads."""
    B, T, D = q.shape
    hd = D // H
    out = np.zeros_like(q)
    for b in range(B):
        for h in range(H):
            sl = slice(h * hd, (h + 1) * hd)
            for t in range(T):
                sc = q[b, t, sl] @ k[b, :t + 1, sl].T / math.sqrt(hd)   # keys 0..t only
                p = np.exp(sc - sc.max())
                p /= p.sum()
                out[b, t, sl] = p @ v[b, :t + 1, sl]
    return out


def gpt2_block(h, W, p, H):
    a = layer_norm(h, W[p + ".ln_1.weight"], W[p + ".ln_1.bias"])
    qkv = a @ W[p + ".attn.c_attn.weight"] + W[p + ".attn.c_attn.bias"]
    D = h.shape[-1]
    o = attention(qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:], H)
    h = h + o @ W[p + ".attn.c_proj.weight"] + W[p + ".attn.c_proj.bias"]
    m = layer_norm(h, W[p + ".ln_2.weight"], W[p + ".ln_2.bias"])
    f = gelu_new(m @ W[p + ".mlp.c_fc.weight"] + W[p + ".mlp.c_fc.bias"])
    return h + f @ W[p + ".mlp.c_proj.weight"] + W[p + ".mlp.c_proj.bias"]


def causal_conv(x, w, bias):
    """Depthwise causal conv: x (B, T, E), w (E, 1, K) -> (B, T, E)."""
    B, T, E = x.shape
    K = w.shape[2]
    y = np.tile(bias, (B, T, 1)).astype(np.float64)
    for t in range(T):
        for j in range(K):
            s = t - K + 1 + j
            if s >= 0:
                y[:, t, :] += w[:, 0, j] * x[:, s, :]
    return y


def mamba_mixer(a, W, p):
    """models.md section 4, steps 1-8, token by token."""
    E = W[p + ".D"].shape[0]
    N = W[p + ".A_log"].shape[1]
    R = W[p + ".dt_proj.weight"].shape[1]
    xz = linear(a, W[p + ".in_proj.weight"])
    x, z = xz[..., :E], xz[..., E:]
    u = silu(causal_conv(x, W[p + ".conv1d.weight"], W[p + ".conv1d.bias"]))
    x_dbl = linear(u, W[p + ".x_proj.weight"])
    dr, Bm, Cm = x_dbl[..., :R], x_dbl[..., R:R + N], x_dbl[..., R + N:]
    delta = softplus(linear(dr, W[p + ".dt_proj.weight"], W[p + ".dt_proj.bias"]))
    A = -np.exp(W[p + ".A_log"])
    Bsz, T, _ = a.shape
    y = np.zeros((Bsz, T, E))
    for b in range(Bsz):
        h = np.zeros((E, N))
        for t in range(T):
            dA = np.exp(delta[b, t][:, None] * A)
            dBu = delta[b, t][:, None] * Bm[b, t][None, :] * u[b, t][:, None]
            h = dA * h + dBu
            y[b, t] = h @ Cm[b, t] + W[p + ".D"] * u[b, t]
    y = y * silu(z)
    return linear(y, W[p + ".out_proj.weight"])


def s4d_conv(u, W, p):
    """S4D (models.md section 6): closed-form kernel, direct causal convolution, plus D skip. u (B, T, H)."""
    Bsz, T, H = u.shape
    C = W[p + ".kernel.C"][..., 0] + 1j * W[p + ".kernel.C"][..., 1]        # (H, M)
    dt = np.exp(W[p + ".kernel.log_dt"])                                     # (H)
    A = -np.exp(W[p + ".kernel.log_A_real"]) + 1j * W[p + ".kernel.A_imag"]  # (H, M)
    dtA = A * dt[:, None]
    l = np.arange(T)
    Kern = 2 * np.einsum("hm,hml->hl", C * (np.exp(dtA) - 1) / A, np.exp(dtA[:, :, None] * l)).real  # (H, T)
    y = np.zeros_like(u)
    for t in range(T):
        for s in range(t + 1):
            y[:, t, :] += Kern[:, s] * u[:, t - s, :]
    return y + u * W[p + ".D"]


def s4_mixer(a, W, p):
    D = a.shape[-1]
    g = gelu_exact(s4d_conv(a, W, p + ".s4"))
    pq = g @ W[p + ".s4.output_linear.0.weight"][:, :, 0].T + W[p + ".s4.output_linear.0.bias"]
    return pq[..., :D] * sigmoid(pq[..., D:])


def s4_mamba_mixer(a, W, p):
    """models.md section 5 at evaluation (dropout off)."""
    E = W[p + ".conv1d.bias"].shape[0]
    xz = linear(a, W[p + ".in_proj.weight"])
    u = silu(causal_conv(xz[..., :E], W[p + ".conv1d.weight"], W[p + ".conv1d.bias"]))
    y = s4d_conv(u, W, p + ".S4DMamba") * xz[..., E:]
    return linear(y, W[p + ".out_proj.weight"])


def attn_mixer(a, W, p, H=8):
    D = a.shape[-1]
    qkv = linear(a, W[p + ".c_attn.weight"], W[p + ".c_attn.bias"])
    o = attention(qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:], H)
    return linear(o, W[p + ".c_proj.weight"], W[p + ".c_proj.bias"])


def read_in(z, W, task):
    if task != "cot_io":
        return linear(z, W["read_in.weight"], W["read_in.bias"])
    d = W["read_in.x.weight"].shape[1]
    k = W["read_in.s.weight"].shape[1]
    B, T, _ = z.shape
    out = np.zeros((B, T, W["read_in.x.weight"].shape[0]))
    for t in range(T):
        if t % 3 == 0:
            out[:, t] = linear(z[:, t, :d], W["read_in.x.weight"], W["read_in.x.bias"])
        elif t % 3 == 1:
            out[:, t] = linear(z[:, t, d:d + k], W["read_in.s.weight"], W["read_in.s.bias"])
        else:
            out[:, t] = linear(z[:, t, d + k:d + k + 1], W["read_in.y.weight"], W["read_in.y.bias"])
    return out


def read_out(h, W, task):
    if task != "cot_io":
        return linear(h, W["read_out.weight"], W["read_out.bias"])
    return np.concatenate([linear(h, W["read_out.s.weight"], W["read_out.s.bias"]),
                           linear(h, W["read_out.y.weight"], W["read_out.y.bias"])], axis=-1)


def forward(model, n_layer, W, z, heads, task):
    h = read_in(z, W, task)
    T = z.shape[1]
    if model in GPT2:
        if model == "transformer":
            h = h + W["backbone.wpe.weight"][:T]
        if model == "transformer_mamba":
            h = h + mamba_mixer(layer_norm(h, W["backbone.mamba.norm.weight"], W["backbone.mamba.norm.bias"]),
                                W, "backbone.mamba.mixer")
        for i in range(n_layer):
            h = gpt2_block(h, W, f"backbone.h.{i}", heads)
        return read_out(layer_norm(h, W["backbone.ln_f.weight"], W["backbone.ln_f.bias"]), W, task)
    if model == "standard_hybrid":
        h = h + W["pos_embed.weight"][:T]
    mixers = {"M": mamba_mixer, "S": s4_mamba_mixer, "4": s4_mixer, "A": attn_mixer}
    for i, kind in enumerate(mixer_kinds(model, n_layer)):
        p = f"backbone.layers.{i}"
        h = h + mixers[kind](layer_norm(h, W[p + ".norm.weight"], W[p + ".norm.bias"]), W, p + ".mixer")
    return read_out(layer_norm(h, W["backbone.norm_f.weight"], W["backbone.norm_f.bias"]), W, task)


# ------------------------------------------------------------------------------------------------
# Checks


def shapes_from_weights(W, task):
    if task == "cot_io":
        D = W["read_in.x.weight"].shape[0]
        d_in = sum(W[f"read_in.{p}.weight"].shape[1] for p in "xsy")
        d_out = W["read_out.s.weight"].shape[0] + 1
    else:
        D, d_in = W["read_in.weight"].shape
        d_out = W["read_out.weight"].shape[0]
    rows = 0
    for name in ("backbone.wpe.weight", "pos_embed.weight"):
        if name in W:
            rows = W[name].shape[0]
    return D, d_in, d_out, rows


def check_names(spec, W):
    """Exactly the reference's parameters, with the reference's shapes. Returns a list of problems."""
    bad = []
    for name, (shape, _) in spec.p.items():
        if name not in W:
            bad.append(f"missing parameter {name} {shape}")
        elif W[name].shape != shape:
            bad.append(f"{name}: shape {W[name].shape}, reference {shape}")
    for name in W:
        if name not in spec.p:
            bad.append(f"unexpected parameter {name} {W[name].shape}")
    return bad


def check_init(spec, W):
    """Initial values against the reference's initialisers (bounds exactly, moments loosely)."""
    bad = []
    for name, (shape, init) in spec.p.items():
        w = W.get(name)
        if w is None:
            continue
        n = w.size
        kind = init[0]
        if kind == "uniform":
            c = init[1]
            if np.abs(w).max() > c * (1 + 1e-6):
                bad.append(f"{name}: |w| max {np.abs(w).max():.4g} exceeds U bound {c:.4g}")
            if n >= 64 and np.abs(w).max() < 0.8 * c:
                bad.append(f"{name}: |w| max {np.abs(w).max():.4g} far below U bound {c:.4g}")
            if n >= 256 and abs(w.std() - c / math.sqrt(3)) > 0.15 * c / math.sqrt(3):
                bad.append(f"{name}: std {w.std():.4g}, U(+-{c:.4g}) has {c / math.sqrt(3):.4g}")
        elif kind == "normal":
            if n >= 256 and abs(w.std() - init[1]) > 0.15 * init[1]:
                bad.append(f"{name}: std {w.std():.4g}, reference {init[1]:.4g}")
        elif kind == "const":
            if np.abs(w - init[1]).max() > 1e-7 * max(1, abs(init[1])):
                bad.append(f"{name}: not the constant {init[1]}")
        elif kind == "data":
            if np.abs(w - init[1]).max() > 1e-6 * max(1, np.abs(init[1]).max()):
                bad.append(f"{name}: differs from the reference's values")
        elif kind == "log_uniform":
            if w.min() < init[1] - 1e-6 or w.max() > init[2] + 1e-6:
                bad.append(f"{name}: outside [{init[1]:.4g}, {init[2]:.4g}]")
        elif kind == "dt_bias":
            dt = np.log1p(np.exp(w))   # softplus(bias) must be dt in [1e-3, 1e-1]
            if dt.min() < 1e-3 * (1 - 1e-4) or dt.max() > 1e-1 * (1 + 1e-4):
                bad.append(f"{name}: softplus(bias) outside [1e-3, 1e-1]: {dt.min():.4g}..{dt.max():.4g}")
            if n >= 64 and (np.log(dt).max() - np.log(dt).min()) < 0.7 * math.log(100):
                bad.append(f"{name}: log dt does not span U(ln 1e-3, ln 1e-1)")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["forward", "initcheck", "compare", "tokens", "count"])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--model")
    ap.add_argument("--n-layer", type=int)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--task", default="linear_regression")
    ap.add_argument("--weights")
    ap.add_argument("--inputs")
    ap.add_argument("--input-name", default="tokens")
    ap.add_argument("--out")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--check-init", action="store_true", help="forward: also check the initial values")
    ap.add_argument("--shape")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--D", type=int)
    ap.add_argument("--d-in", type=int)
    ap.add_argument("--d-out", type=int, default=1)
    ap.add_argument("--pos-rows", type=int, default=0)
    a = ap.parse_args()

    if a.cmd == "tokens":
        shape = tuple(int(v) for v in a.shape.split(","))
        st_write(a.out, {a.input_name: np.random.default_rng(a.seed).standard_normal(shape)})
        return 0
    if a.cmd == "compare":
        x, y = (st_read(f) for f in a.files)
        xs = x.get("pred", next(iter(x.values())))
        ys = y.get("pred", next(iter(y.values())))
        if xs.shape != ys.shape:
            print(f"shape {xs.shape} vs {ys.shape}")
            return 1
        scale = max(np.abs(ys).max(), 1e-30)
        err = np.abs(xs - ys).max() / scale
        print(f"max |diff| / max |ref| = {err:.3g} over {xs.size} values (max |ref| {scale:.4g})")
        return 0 if err <= a.rtol and np.all(np.isfinite(xs)) else 1
    if a.cmd == "count":
        spec = build_spec(a.model, a.n_layer, a.D, a.d_in, a.d_out, a.pos_rows, a.task)
        print(sum(int(np.prod(s)) for s, _ in spec.p.values()))
        return 0

    W = st_read(a.weights)
    D, d_in, d_out, rows = shapes_from_weights(W, a.task)
    spec = build_spec(a.model, a.n_layer, D, d_in, d_out, rows, a.task)
    bad = check_names(spec, W)
    if a.cmd == "initcheck" or a.check_init:
        bad += check_init(spec, W)
    for b in bad:
        print(b)
    if bad:
        return 1
    if a.cmd == "initcheck" or a.check_init:
        print(f"{len(spec.p)} parameters, {sum(w.size for w in W.values())} values: names, shapes, inits ok")
    if a.cmd == "initcheck":
        return 0
    z = st_read(a.inputs)[a.input_name]
    y = forward(a.model, a.n_layer, W, z, a.heads, a.task)
    st_write(a.out, {"pred": y})
    return 0


if __name__ == "__main__":
    sys.exit(main())
