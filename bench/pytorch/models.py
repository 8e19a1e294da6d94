"""models.py — the paper's models in PyTorch, for timing against iclc (bench/pytorch/step.py).

Written from ../shared/reference/models.md (the same spec models.lua follows), for PyTorch 1.13 on a CPU:
  transformer      GPT-2 backbone: pre-LN blocks (attention + MLP 4D, gelu_new), learned positions
  mamba            Mamba mixer blocks; the selective scan is a sequential loop over time, vectorised over
                   batch, channels and state (the structure of the reference's selective_scan_ref: what
                   PyTorch runs on a CPU, where the CUDA kernels do not exist)
  mambaformer      M, then A, M, A, M, ... (2 * layers + 1 blocks), no positions
  standard_hybrid  A, M, A, M, ... (2 * layers blocks) + a learned position table of n_positions rows
  s4               S4D kernel (FFT convolution, as the reference code) + exact GELU + GLU output
Configs as models.lua: tiny D 64 / 3 layers / 2 heads, small 128 / 6 / 4, standard 256 / 12 / 8; mixer
models have 2 * layers blocks; the hybrids' attention always has 8 heads.

Parameter counts equal `iclc models` (checked by step.py --check-params). Initialisation follows the spec
where it shapes the numerics (A_log, dt bias, D skip, LayerNorm, position tables); the timing does not
depend on the rest.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "tiny": dict(D=64, layers=3, heads=2),
    "small": dict(D=128, layers=6, heads=4),
    "standard": dict(D=256, layers=12, heads=8),
}
N_POSITIONS = 101  # yaml n_positions: GPT-2 table 2x, Standard Hybrid table 1x
MODELS = ["transformer", "mamba", "mambaformer", "standard_hybrid", "s4"]


# ---------------------------------------------------------------------------------------------------
# Attention


def causal_attention(q, k, v, heads):
    """q, k, v: (B, L, D) -> (B, L, D); heads are contiguous chunks of D."""
    B, L, D = q.shape
    hd = D // heads

    def split(t):
        return t.view(B, L, heads, hd).transpose(1, 2)  # (B, H, L, hd)

    s = split(q) @ split(k).transpose(-1, -2) * (1.0 / math.sqrt(hd))  # (B, H, L, L)
    mask = torch.ones(L, L, dtype=torch.bool, device=q.device).triu(1)
    s = s.masked_fill(mask, float("-inf"))
    p = torch.softmax(s, dim=-1)
    return (p @ split(v)).transpose(1, 2).reshape(B, L, D)


class GPT2Block(nn.Module):
    """HF GPT2Block: h + Attn(LN_1 h), then + MLP(LN_2 h); Conv1D weights (in, out) ~ N(0, 0.02^2)."""

    def __init__(self, D, heads, n_layer):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.c_attn, self.attn_proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.c_fc, self.mlp_proj = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
        for lin, std in ((self.c_attn, 0.02), (self.c_fc, 0.02), (self.attn_proj, 0.02 / math.sqrt(2 * n_layer)),
                         (self.mlp_proj, 0.02 / math.sqrt(2 * n_layer))):
            nn.init.normal_(lin.weight, 0.0, std)
            nn.init.zeros_(lin.bias)

    def forward(self, h):
        D = h.shape[-1]
        qkv = self.c_attn(self.ln_1(h))
        h = h + self.attn_proj(causal_attention(qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:], self.heads))
        m = F.gelu(self.c_fc(self.ln_2(h)), approximate="tanh")  # gelu_new
        return h + self.mlp_proj(m)


class CausalSelfAttention(nn.Module):
    """The hybrids' attention mixer: c_attn Linear(D, 3D), c_proj Linear(D, D), 8 heads, biases 0."""

    def __init__(self, D, heads=8):
        super().__init__()
        self.heads = heads
        self.c_attn, self.c_proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        nn.init.zeros_(self.c_attn.bias)
        nn.init.zeros_(self.c_proj.bias)

    def forward(self, x):
        D = x.shape[-1]
        qkv = self.c_attn(x)
        return self.c_proj(causal_attention(qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:], self.heads))


# ---------------------------------------------------------------------------------------------------
# Mamba


def selective_scan(u, delta, A, Bm, Cm, Dskip):
    """Sequential selective scan. u, delta: (B, E, L); A: (E, N); Bm, Cm: (B, N, L); Dskip: (E).
    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t;  y_t = h_t . C_t + D u_t.  Returns (B, E, L)."""
    Bsz, E, _ = u.shape
    N = A.shape[1]
    dA = torch.exp(delta.unsqueeze(-1) * A.unsqueeze(1))                 # (B, E, L, N)
    dBu = (delta * u).unsqueeze(-1) * Bm.transpose(1, 2).unsqueeze(1)    # (B, E, L, N)
    h = u.new_zeros(Bsz, E, N)
    ys = []
    # unbind instead of the reference's dA[:, :, t]: the same loop, but autograd's backward of unbind is
    # one stack, while indexing materialises a full (B, E, L, N) gradient per time step (24x slower
    # backward at L = 41): the faster of the two is the fair baseline.
    for a_t, b_t, c_t in zip(dA.unbind(2), dBu.unbind(2), Cm.unbind(2)):
        h = a_t * h + b_t
        ys.append(torch.einsum("ben,bn->be", h, c_t))
    y = torch.stack(ys, dim=2)                                           # (B, E, L)
    return y + u * Dskip.unsqueeze(-1)


class Mamba(nn.Module):
    """Mamba mixer (models.md section 4): N 16, K 4, expand 2, R ceil(D/16), no projection biases."""

    def __init__(self, D, n_layer, N=16, K=4, expand=2):
        super().__init__()
        E, R = expand * D, math.ceil(D / 16)
        self.E, self.N, self.R, self.K = E, N, R, K
        self.in_proj = nn.Linear(D, 2 * E, bias=False)
        self.conv1d = nn.Conv1d(E, E, K, groups=E, padding=K - 1, bias=True)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        nn.init.uniform_(self.dt_proj.weight, -R ** -0.5, R ** -0.5)
        dt = torch.exp(torch.rand(E) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1))
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, D, bias=False)
        with torch.no_grad():
            self.out_proj.weight /= math.sqrt(n_layer)

    def forward(self, x):                                                # x (B, L, D)
        L = x.shape[1]
        xz = self.in_proj(x)
        xi, z = xz[..., :self.E], xz[..., self.E:]
        u = F.silu(self.conv1d(xi.transpose(1, 2))[..., :L])             # (B, E, L)
        x_dbl = self.x_proj(u.transpose(1, 2))                           # (B, L, R+2N)
        dr, Bm, Cm = torch.split(x_dbl, [self.R, self.N, self.N], dim=-1)
        delta = F.softplus(self.dt_proj(dr)).transpose(1, 2)             # (B, E, L)
        A = -torch.exp(self.A_log)
        y = selective_scan(u, delta, A, Bm.transpose(1, 2), Cm.transpose(1, 2), self.D)
        y = y.transpose(1, 2) * F.silu(z)                                # (B, L, E)
        return self.out_proj(y)


# ---------------------------------------------------------------------------------------------------
# S4 (S4D kernel, FFT convolution)


class S4(nn.Module):
    """S4 mixer (models.md section 6): S4D (N/2 = 8 complex modes per channel), exact GELU, GLU."""

    def __init__(self, D, N=16):
        super().__init__()
        M = N // 2
        self.log_dt = nn.Parameter(torch.rand(D) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.C = nn.Parameter(torch.randn(D, M, 2) * math.sqrt(0.5))
        self.log_A_real = nn.Parameter(torch.full((D, M), math.log(0.5)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(M, dtype=torch.float32).repeat(D, 1))
        self.Dskip = nn.Parameter(torch.randn(D))
        self.output_linear = nn.Conv1d(D, 2 * D, kernel_size=1)

    def kernel(self, L):
        dt = torch.exp(self.log_dt)                                      # (D)
        C = torch.view_as_complex(self.C)                                # (D, M)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag               # (D, M)
        dtA = A * dt.unsqueeze(-1)
        Kp = dtA.unsqueeze(-1) * torch.arange(L, device=A.device)        # (D, M, L)
        C = C * (torch.exp(dtA) - 1.0) / A
        return 2 * torch.einsum("dm,dml->dl", C, torch.exp(Kp)).real     # (D, L)

    def forward(self, x):                                                # x (B, L, D)
        L = x.shape[1]
        u = x.transpose(1, 2)                                            # (B, D, L)
        k = self.kernel(L)
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
        y = F.gelu(y + u * self.Dskip.unsqueeze(-1))                     # exact GELU
        y = F.glu(self.output_linear(y), dim=-2)                         # (B, D, L)
        return y.transpose(1, 2)


# ---------------------------------------------------------------------------------------------------
# Backbones and the wrapper


class Residual(nn.Module):
    """Pre-norm residual block of the mixer models: h + mixer(LN(h))."""

    def __init__(self, D, mixer):
        super().__init__()
        self.norm, self.mixer = nn.LayerNorm(D), mixer

    def forward(self, h):
        return h + self.mixer(self.norm(h))


class ICLModel(nn.Module):
    """read_in Linear(d -> D) [+ positions] -> backbone -> final LayerNorm -> read_out Linear(D -> 1)."""

    def __init__(self, name, cfg, d):
        super().__init__()
        D, layers, heads = cfg["D"], cfg["layers"], cfg["heads"]
        self.read_in = nn.Linear(d, D)
        self.pos = None
        n = 2 * layers  # mixer blocks
        if name == "transformer":
            self.pos = nn.Parameter(torch.randn(2 * N_POSITIONS, D) * 0.02)
            blocks = [GPT2Block(D, heads, layers) for _ in range(layers)]
        elif name == "mamba":
            blocks = [Residual(D, Mamba(D, n)) for _ in range(n)]
        elif name == "s4":
            blocks = [Residual(D, S4(D)) for _ in range(n)]
        elif name == "standard_hybrid":
            self.pos = nn.Parameter(torch.randn(N_POSITIONS, D))
            blocks = [Residual(D, CausalSelfAttention(D) if i % 2 == 0 else Mamba(D, n)) for i in range(n)]
        elif name == "mambaformer":
            blocks = [Residual(D, Mamba(D, n))]
            blocks += [Residual(D, CausalSelfAttention(D) if i % 2 == 0 else Mamba(D, n)) for i in range(n)]
        else:
            raise ValueError(f"unknown model {name}; known: {', '.join(MODELS)}")
        self.blocks = nn.ModuleList(blocks)
        self.norm_f = nn.LayerNorm(D)
        self.read_out = nn.Linear(D, 1)

    def forward(self, tokens):                                           # (B, T, d) -> (B, T, 1)
        h = self.read_in(tokens)
        if self.pos is not None:
            h = h + self.pos[:h.shape[1]]
        for blk in self.blocks:
            h = blk(h)
        return self.read_out(self.norm_f(h))


def build(name, config, d=20):
    if config not in CONFIGS:
        raise ValueError(f"unknown config {config}; known: {', '.join(CONFIGS)}")
    return ICLModel(name, CONFIGS[config], d)


def count_params(model):
    return sum(p.numel() for p in model.parameters())
