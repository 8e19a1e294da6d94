-- nn.lua — iclc's layer library, written only in primitive ops (ir/ops.def).
--
-- Specification: ../shared/reference/models.md (equations, sizes, initialisations). No fused op is used
-- here: the fusion passes recognise these patterns and make them fast without changing this file.
--
-- Dimension names used throughout:
--   B batch, L tokens per prompt (the scan axis), D model width, E = expand * D inner width,
--   N state size (d_state), K conv width (d_conv), R dt rank, H heads, hd = D / H head size,
--   M = N / 2 complex S4D modes.
--
-- Every layer is a function (x, prefix, ...) -> y that declares its parameters under the hierarchical name
-- prefix .. "." .. local_name, with the local names and shapes of the reference code's PyTorch modules
-- (torch Linear weight = (out, in); GPT-2's Conv1D weight = (in, out); depthwise Conv1d weight = (E, 1, K)).
local iclc = require("iclc")

local nn = {}

-- "a.b" from ("a", "b"); an empty prefix gives just "b".
local function join(prefix, name)
    if prefix == nil or prefix == "" then return name end
    return prefix .. "." .. name
end
nn.join = join

-- Size of the last axis of x.
local function last_dim(x)
    local s = x.shape
    return s[#s]
end
nn.last_dim = last_dim

-- torch's default Linear/Conv init for both weight and bias: U(+-1/sqrt(fan_in)).
function nn.torch_uniform(fan_in, scale)
    local c = (scale or 1) / math.sqrt(fan_in)
    return iclc.init.uniform(-c, c)
end

---------------------------------------------------------------------------------------------------
-- Dense layers

-- torch Linear: y = x W^T + b, W (d_out, d_in). opt.bias = false drops the bias; opt.init / opt.bias_init
-- replace torch's default U(+-1/sqrt(d_in)).
function nn.linear(x, prefix, d_out, opt)
    opt = opt or {}
    local d_in = last_dim(x)
    local w = iclc.param(join(prefix, "weight"), {d_out, d_in}, opt.init or nn.torch_uniform(d_in))
    local y = x:matmul(w, {tb = true})
    if opt.bias ~= false then
        y = y + iclc.param(join(prefix, "bias"), {d_out}, opt.bias_init or nn.torch_uniform(d_in))
    end
    return y
end

-- GPT-2 Conv1D (HF): y = x W + b, W stored (d_in, d_out). Init W ~ N(0, std^2), b = 0.
function nn.conv1d_gpt2(x, prefix, d_out, std)
    local d_in = last_dim(x)
    local w = iclc.param(join(prefix, "weight"), {d_in, d_out}, iclc.init.normal(std))
    return x:matmul(w) + iclc.param(join(prefix, "bias"), {d_out}, iclc.init.zeros())
end

---------------------------------------------------------------------------------------------------
-- Normalisation over the last axis (per token)

-- LayerNorm: (x - mean) / sqrt(var + eps) * weight + bias, biased variance, eps 1e-5, weight 1, bias 0.
function nn.layer_norm(x, prefix, eps)
    local d = last_dim(x)
    local r = x.rank - 1
    local xc = x - x:mean(r)
    local inv = (xc:square():mean(r) + (eps or 1e-5)):rsqrt()
    return xc * inv * iclc.param(join(prefix, "weight"), {d}, iclc.init.ones())
        + iclc.param(join(prefix, "bias"), {d}, iclc.init.zeros())
end

-- RMSNorm: x / sqrt(mean(x^2) + eps) * weight (weight 1). Not used by the paper's models.
function nn.rms_norm(x, prefix, eps)
    local d = last_dim(x)
    local inv = (x:square():mean(x.rank - 1) + (eps or 1e-5)):rsqrt()
    return x * inv * iclc.param(join(prefix, "weight"), {d}, iclc.init.ones())
end

---------------------------------------------------------------------------------------------------
-- Activations written from primitives

-- Exact GELU 0.5 x (1 + erf(x / sqrt 2)) (torch nn.GELU()); the `gelu` op is GPT-2's tanh form.
function nn.gelu_erf(x)
    return 0.5 * x * ((x * (1 / math.sqrt(2))):erf() + 1)
end

---------------------------------------------------------------------------------------------------
-- Multi-layer perceptron (GPT-2): gelu_new(x W_fc + b_fc) W_proj + b_proj, hidden 4D.
-- W_fc ~ N(0, 0.02^2); W_proj ~ N(0, (0.02 / sqrt(2 n_layer))^2); biases 0.
function nn.gpt2_mlp(x, prefix, n_layer)
    local d = last_dim(x)
    local h = nn.conv1d_gpt2(x, join(prefix, "c_fc"), 4 * d, 0.02):gelu()
    return nn.conv1d_gpt2(h, join(prefix, "c_proj"), d, 0.02 / math.sqrt(2 * n_layer))
end

---------------------------------------------------------------------------------------------------
-- Attention

-- Causal scaled dot-product attention over H heads. q, k, v: (B, L, D) -> (B, L, D).
-- Heads are contiguous chunks of D; scores_h = q_h k_h^T / sqrt(hd); keys after the query are masked
-- with -1e30 before the softmax (exp of it is exactly 0, the same as -inf or the dtype minimum).
function nn.causal_attention(q, k, v, heads)
    local B, L, D = table.unpack(q.shape)
    assert(D % heads == 0, string.format("attention: width %d is not divisible by %d heads", D, heads))
    local hd = D // heads
    local function split(t) return t:reshape{B, L, heads, hd}:permute{0, 2, 1, 3} end -- (B, H, L, hd)
    local s = split(q):matmul(split(k), {tb = true}) * (1 / math.sqrt(hd))            -- (B, H, L, L)
    local future = iclc.iota({L, L}, 1):gt(iclc.iota({L, L}, 0))                       -- key > query
    s = iclc.select(future, -1e30, s)
    local e = (s - s:rmax(3)):exp()
    local p = e / e:sum(3)
    return p:matmul(split(v)):permute{0, 2, 1, 3}:reshape{B, L, D}                     -- (B, L, D)
end

-- GPT-2 attention (HF GPT2Attention): [q|k|v] = x W_qkv + b (W_qkv (D, 3D) ~ N(0, 0.02^2)), causal
-- attention, c_proj (D, D) ~ N(0, (0.02 / sqrt(2 n_layer))^2); biases 0.
function nn.gpt2_attention(x, prefix, heads, n_layer)
    local D = last_dim(x)
    local qkv = nn.conv1d_gpt2(x, join(prefix, "c_attn"), 3 * D, 0.02)
    local o = nn.causal_attention(qkv:slice(2, 0, D), qkv:slice(2, D, 2 * D), qkv:slice(2, 2 * D, 3 * D), heads)
    return nn.conv1d_gpt2(o, join(prefix, "c_proj"), D, 0.02 / math.sqrt(2 * n_layer))
end

-- The hybrids' attention mixer (CausalSelfAttention of the vendored mamba): c_attn Linear(D -> 3D) and
-- c_proj Linear(D -> D), torch default weights U(+-1/sqrt(D)), biases 0 (init pass), opt.heads (8).
function nn.causal_self_attention(x, prefix, opt)
    local D = last_dim(x)
    local zero = iclc.init.zeros()
    local qkv = nn.linear(x, join(prefix, "c_attn"), 3 * D, {bias_init = zero})
    local heads = (opt or {}).heads or 8
    local o = nn.causal_attention(qkv:slice(2, 0, D), qkv:slice(2, D, 2 * D), qkv:slice(2, 2 * D, 3 * D), heads)
    return nn.linear(o, join(prefix, "c_proj"), D, {bias_init = zero})
end

-- Learned absolute positions: x (B, L, D) + P[0..L-1], P (rows, D) ~ N(0, std^2).
-- hint names the config key that sets rows (for the error message).
function nn.add_positions(x, name, rows, std, hint)
    local B, L, D = table.unpack(x.shape)
    if L > rows then
        error(string.format("%s: the prompt has %d tokens but the position table holds %d (raise %s)",
                            name, L, rows, hint or "the table size"), 2)
    end
    local P = iclc.param(name, {rows, D}, iclc.init.normal(std))
    return x + P:slice(0, 0, L)
end

---------------------------------------------------------------------------------------------------
-- Mamba pieces

-- Depthwise causal conv1d over the token axis: x (B, L, E) -> (B, L, E).
-- y_t[c] = bias[c] + sum_j w[c, 0, j] x_{t-K+1+j}[c], x_s = 0 for s < 0 (pad K-1 zeros on the left, then
-- K shifted slices times the per-channel taps). weight (E, 1, K) and bias (E) ~ U(+-1/sqrt(K)).
function nn.causal_conv1d(x, prefix, K)
    local B, L, E = table.unpack(x.shape)
    local w = iclc.param(join(prefix, "weight"), {E, 1, K}, nn.torch_uniform(K))
    local y = iclc.param(join(prefix, "bias"), {E}, nn.torch_uniform(K))
    local xp = x:pad(1, K - 1, 0)                                                       -- (B, L+K-1, E)
    for j = 0, K - 1 do
        y = y + xp:slice(1, j, j + L) * w:slice(2, j, j + 1):reshape{E}
    end
    return y
end

-- Selective scan (Mamba's S6), state h (B, L, E, N) with the scan along L (axis 1):
--   dA = exp(delta A), dBu = delta B u, h_t = dA_t h_{t-1} + dBu_t, y_t = sum_n h_t C_t + Dskip u_t.
-- u, delta: (B, L, E); A: (E, N); Bm, Cm: (B, L, N); Dskip: (E). Returns y (B, L, E).
function nn.selective_scan(u, delta, A, Bm, Cm, Dskip)
    local B, L, E = table.unpack(u.shape)
    local N = A.shape[2]
    local dA = (delta:reshape{B, L, E, 1} * A):exp()                                     -- (B, L, E, N)
    local dBu = (delta * u):reshape{B, L, E, 1} * Bm:reshape{B, L, 1, N}               -- (B, L, E, N)
    local h = iclc.scan(dA, dBu, iclc.const(0, {B, 1, E, N}), {axis = 1})              -- (B, L, E, N)
    local y = (h * Cm:reshape{B, L, 1, N}):sum(3):reshape{B, L, E}
    return y + u * Dskip
end

-- Mamba mixer (models.md section 4): x (B, L, D) -> (B, L, D).
-- opt: d_state (16), d_conv (4), expand (2), dt_rank (ceil(D/16)), n_layer (out_proj init divisor
-- sqrt(n_layer); 1 = plain torch init).
function nn.mamba(x, prefix, opt)
    opt = opt or {}
    local B, L, D = table.unpack(x.shape)
    local N, K = opt.d_state or 16, opt.d_conv or 4
    local E = (opt.expand or 2) * D
    local R = opt.dt_rank or math.ceil(D / 16)
    local p = function(name) return join(prefix, name) end

    local xz = nn.linear(x, p("in_proj"), 2 * E, {bias = false})                        -- (B, L, 2E)
    local u = nn.causal_conv1d(xz:slice(2, 0, E), p("conv1d"), K):silu()                -- (B, L, E)
    local z = xz:slice(2, E, 2 * E)
    local x_dbl = nn.linear(u, p("x_proj"), R + 2 * N, {bias = false})                  -- (B, L, R+2N)
    local dt_init = iclc.init.uniform(math.log(1e-3), math.log(1e-1)):exp():softplus_inv()
    local delta = nn.linear(x_dbl:slice(2, 0, R), p("dt_proj"), E,
                            {init = nn.torch_uniform(R), bias_init = dt_init}):softplus() -- (B, L, E)
    local a_log = {}
    for _ = 1, E do
        for n = 0, N - 1 do a_log[#a_log + 1] = math.log(n + 1) end
    end
    local A = -iclc.param(p("A_log"), {E, N}, iclc.init.data(a_log)):exp()             -- (E, N)
    local Dskip = iclc.param(p("D"), {E}, iclc.init.ones())
    local y = nn.selective_scan(u, delta, A, x_dbl:slice(2, R, R + N), x_dbl:slice(2, R + N, R + 2 * N), Dskip)
    y = y * z:silu()
    return nn.linear(y, p("out_proj"), D, {bias = false, init = nn.torch_uniform(E, 1 / math.sqrt(opt.n_layer or 1))})
end

---------------------------------------------------------------------------------------------------
-- S4D (diagonal S4, ZOH, S4D-Lin init), computed as a complex diagonal recurrence with `cscan`:
--   s_t = exp(dt A) s_{t-1} + ((exp(dt A) - 1) / A) u_t,  y_t = 2 Re(sum_m C_m s_t[m]) + Dskip u_t,
-- which equals the causal convolution with K[l] = 2 Re(sum_m C_m (exp(dt A_m) - 1)/A_m exp(dt A_m l)).
-- u: (B, L, H) -> (B, L, H). Parameters (prefix.kernel.*, prefix.D), M = N/2 modes:
--   log_dt (H) ~ U(ln 1e-3, ln 1e-1); C (H, M, 2) = (re, im), each N(0, 1/2); log_A_real (H, M) = ln 0.5;
--   A_imag (H, M) = pi m; D (H) ~ N(0, 1).
function nn.s4d(u, prefix, opt)
    opt = opt or {}
    local B, L, H = table.unpack(u.shape)
    local M = (opt.d_state or 16) // 2
    local k = function(name) return join(join(prefix, "kernel"), name) end
    local a_imag = {}
    for _ = 1, H do
        for m = 0, M - 1 do a_imag[#a_imag + 1] = math.pi * m end
    end
    local C = iclc.param(k("C"), {H, M, 2}, iclc.init.normal(math.sqrt(0.5)))
    local dt = iclc.param(k("log_dt"), {H}, iclc.init.uniform(math.log(1e-3), math.log(1e-1))):exp():reshape{H, 1}
    local ar = -iclc.param(k("log_A_real"), {H, M}, iclc.init.constant(math.log(0.5))):exp()  -- Re A (H, M)
    local ai = iclc.param(k("A_imag"), {H, M}, iclc.init.data(a_imag))                         -- Im A (H, M)
    local Dskip = iclc.param(join(prefix, "D"), {H}, iclc.init.normal(1))

    -- dA = exp(dt A) = e^(dt ar) (cos(dt ai) + i sin(dt ai)); dB = (dA - 1) / A.
    local mag = (dt * ar):exp()
    local dar, dai = mag * (dt * ai):cos(), mag * (dt * ai):sin()
    local den = ar:square() + ai:square()
    local dbr = ((dar - 1) * ar + dai * ai) / den
    local dbi = (dai * ar - (dar - 1) * ai) / den
    local function cplx(re, im) return iclc.concat({re:reshape{H, M, 1}, im:reshape{H, M, 1}}, 2) end -- (H, M, 2)
    local a = cplx(dar, dai):broadcast{B, L, H, M, 2}
    local b = cplx(dbr, dbi) * u:reshape{B, L, H, 1, 1}                                  -- (B, L, H, M, 2)
    local s = iclc.cscan(a, b, iclc.const(0, {B, 1, H, M, 2}), {axis = 1})              -- (B, L, H, M, 2)
    -- 2 Re(C s) = 2 (Cr sr - Ci si): multiply by (Cr, -Ci) and sum over (re, im) and modes.
    local cc = C * (1 - 2 * iclc.iota({2}, 0))                                          -- (H, M, 2)
    local y = (s * cc):sum(4):sum(3):reshape{B, L, H} * 2
    return y + u * Dskip
end

-- S4 mixer (S4Wrapper -> S4D, models.md section 6) on the D-wide input x (B, L, D) -> (B, L, D):
-- v = S4D(x) (+ D skip), g = exact GELU(v), [p | q] = g W^T + b with W the kernel-1 Conv1d weight
-- (2D, D, 1) and b (2D), torch default init U(+-1/sqrt(D)); out = p * sigmoid(q) (GLU).
function nn.s4(x, prefix, opt)
    local D = last_dim(x)
    local g = nn.gelu_erf(nn.s4d(x, prefix, opt))
    local w = iclc.param(join(prefix, "output_linear.0.weight"), {2 * D, D, 1}, nn.torch_uniform(D))
    local pq = g:matmul(w:reshape{2 * D, D}, {tb = true})
        + iclc.param(join(prefix, "output_linear.0.bias"), {2 * D}, nn.torch_uniform(D))
    return pq:slice(2, 0, D) * pq:slice(2, D, 2 * D):sigmoid()
end

-- S4-Mamba mixer (models.md section 5): Mamba's in_proj, causal conv and SiLU, then S4D over the E
-- channels (prefix.S4DMamba.*), channel dropout, the RAW z gate (no SiLU) and out_proj.
-- opt: d_state, d_conv, expand as for nn.mamba; n_layer (out_proj divisor); dropout p (0 = off): one mask
-- per (sequence, channel) shared over all tokens, kept values scaled by 1/(1-p), a fresh draw every step
-- (rand_mask stream opt.seed).
function nn.s4_mamba(x, prefix, opt)
    opt = opt or {}
    local B, L, D = table.unpack(x.shape)
    local K = opt.d_conv or 4
    local E = (opt.expand or 2) * D
    local p = function(name) return join(prefix, name) end
    local xz = nn.linear(x, p("in_proj"), 2 * E, {bias = false})                        -- (B, L, 2E)
    local u = nn.causal_conv1d(xz:slice(2, 0, E), p("conv1d"), K):silu()                -- (B, L, E)
    local y = nn.s4d(u, p("S4DMamba"), opt)                                             -- (B, L, E)
    if (opt.dropout or 0) > 0 then
        y = y * iclc.rand_mask({B, 1, E}, opt.dropout, opt.seed or 0)
    end
    y = y * xz:slice(2, E, 2 * E)
    return nn.linear(y, p("out_proj"), D, {bias = false, init = nn.torch_uniform(E, 1 / math.sqrt(opt.n_layer or 1))})
end

---------------------------------------------------------------------------------------------------
-- Read-in and read-out of the ICL prompts (models.md section 1, tasks.md)

-- cot_io tokens hold x, s and y in disjoint channel slices (d + k + 1 wide); the model predicts
-- [s_hat (k) | y_hat (1)] at every position (d_out = k + 1).
local function cot_dims(shape)
    local k = shape.k or (shape.d_out - 1)
    return shape.d or (shape.d_in - k - 1), k
end

-- The prompt input "tokens" (B, T, d_in) read in to (B, T, D): Linear(d_in -> D), torch default init.
-- cot_io has one read-in per token type (Li et al.): x via Linear(d -> D), s via Linear(k -> D),
-- y via Linear(1 -> D), written as one (D, d+k+1) matrix on the token masked to its type's slice
-- (type = position mod 3) plus the type's bias.
function nn.read_in(shape, D)
    local B, T, d_in = shape.B, shape.T, shape.d_in
    local z = iclc.input("tokens", {B, T, d_in})
    if shape.task ~= "cot_io" then return nn.linear(z, "read_in", D) end
    local d, k = cot_dims(shape)
    if T % 3 ~= 0 then error("cot_io: tokens per prompt must be a multiple of 3, got " .. T, 2) end
    local parts, ws, bs = {{"x", d}, {"s", k}, {"y", 1}}, {}, {}
    for i, part in ipairs(parts) do
        ws[i] = iclc.param("read_in." .. part[1] .. ".weight", {D, part[2]}, nn.torch_uniform(part[2]))
        bs[i] = iclc.param("read_in." .. part[1] .. ".bias", {D}, nn.torch_uniform(part[2])):reshape{1, D}
    end
    local keep = iclc.concat({iclc.const(1, {1, d}):pad(1, 0, k + 1), iclc.const(1, {1, k}):pad(1, d, 1),
                              iclc.const(1, {1, 1}):pad(1, d + k, 0)}, 0)            -- (3, d_in) 0/1
    z = (z:reshape{B, T // 3, 3, d_in} * keep):reshape{B, T, d_in}
    local h = z:matmul(iclc.concat(ws, 1), {tb = true})                                  -- (B, T, D)
    return (h:reshape{B, T // 3, 3, D} + iclc.concat(bs, 0)):reshape{B, T, D}
end

-- Read-out (B, T, D) -> (B, T, d_out): Linear(D -> d_out); cot_io: [Linear(D -> k) | Linear(D -> 1)].
function nn.read_out(h, shape)
    if shape.task ~= "cot_io" then return nn.linear(h, "read_out", shape.d_out) end
    local _, k = cot_dims(shape)
    return iclc.concat({nn.linear(h, "read_out.s", k), nn.linear(h, "read_out.y", 1)}, 2)
end

---------------------------------------------------------------------------------------------------
-- Blocks

-- Pre-norm residual block of the mixer models (Block of the vendored mamba):
-- h + mixer(LN(h), prefix.mixer), the LayerNorm named prefix.norm.
function nn.residual(h, prefix, mixer)
    return h + mixer(nn.layer_norm(h, join(prefix, "norm")), join(prefix, "mixer"))
end

-- GPT-2 block (HF GPT2Block): h + Attn(LN_1 h), then + MLP(LN_2 h).
function nn.gpt2_block(h, prefix, heads, n_layer)
    h = h + nn.gpt2_attention(nn.layer_norm(h, join(prefix, "ln_1")), join(prefix, "attn"), heads, n_layer)
    return h + nn.gpt2_mlp(nn.layer_norm(h, join(prefix, "ln_2")), join(prefix, "mlp"), n_layer)
end

return nn
