-- models.lua — the architectures of "Can Mamba Learn How to Learn?" (Park et al. 2024), built from nn.lua.
--
-- Specification: ../shared/reference/models.md (architectures) and tasks.md (prompt layouts, read-in and
-- read-out). User documentation: docs/models.md.
--
-- Every model is a function (cfg, shape) -> prediction f32[B, T, d_out] at every token position:
--   cfg    the named config below, overridden by --set key=value (keys: see `configs`);
--   shape  the task's prompt: {B, T, d_in, d_out, task, n_points}.
--
-- Layer counting (the reference code's choice, stated by `iclc models`): config key `layers` counts
-- Transformer layers, where 1 layer = 1 GPT-2 block (attention + MLP) = 2 blocks in the paper's
-- counting. Mixer models (mamba, s4, s4_mamba, standard_hybrid) get the code's n_layer = 2 * layers
-- single-mixer blocks (so GPT-2 12 layers ~ Mamba 24 blocks in parameters); mambaformer gets
-- n_layer = 2 * layers plus its extra leading Mamba block. `--set n_layer=K` gives the code's raw
-- n_layer directly (GPT-2 blocks for the transformers, mixer blocks for the rest).
local nn = require("nn")

local M = {}

---------------------------------------------------------------------------------------------------
-- Config helpers, read-in and read-out shared by every model

-- Truthy config flag: absent -> default, 0 / false / "0" / "false" / "off" -> false.
local function flag(v, default)
    if v == nil then return default end
    return not (v == 0 or v == false or v == "0" or v == "false" or v == "off" or v == "no")
end

-- An optional key is set when it is not 0.
local function set(v) return v ~= nil and v ~= 0 end

-- A block count: a positive integer, else an error located at the model function's caller.
local function count(v)
    local n = math.tointeger(tonumber(v))
    if not n or n < 1 then error("config needs a positive integer `layers` or `n_layer`, got " .. tostring(v), 3) end
    return n
end
-- Number of GPT-2 blocks of the transformers.
local function gpt2_layers(cfg)
    return count(set(cfg.n_layer) and cfg.n_layer or cfg.layers)
end

-- The code's n_layer of the mixer models (single mixer blocks).
local function mixer_layers(cfg)
    return count(set(cfg.n_layer) and cfg.n_layer or 2 * (tonumber(cfg.layers) or 0))
end

local function read_in(cfg, shape) return nn.read_in(shape, cfg.D) end   -- nn.lua: tasks.md's layouts
local function read_out(h, cfg, shape) return nn.read_out(h, shape) end

-- GPT-2's position table rows: 2 * n_positions (interleaved x/y tokens), 3 * n_positions for cot_io.
local function gpt2_positions(cfg, shape)
    return (shape.task == "cot_io" and 3 or 2) * cfg.n_positions
end

---------------------------------------------------------------------------------------------------
-- Backbones

-- GPT-2 stack: L blocks (attention + MLP) then ln_f. Names backbone.h.<i>.*, backbone.ln_f.*.
local function gpt2_stack(h, cfg)
    local L = gpt2_layers(cfg)
    for i = 0, L - 1 do
        h = nn.gpt2_block(h, "backbone.h." .. i, cfg.heads, L)
    end
    return nn.layer_norm(h, "backbone.ln_f")
end

-- Mixer stack (MixerModel): pre-norm residual blocks backbone.layers.<i> with the given mixer kinds
-- ("M" Mamba, "S" S4-Mamba, "4" S4, "A" attention), then backbone.norm_f.
local function mixer_stack(h, cfg, shape, kinds, n_layer)
    local mixer_opt = {n_layer = n_layer, d_state = cfg.d_state, d_conv = cfg.d_conv, expand = cfg.expand,
                       heads = cfg.hybrid_heads,
                       dropout = flag(cfg.train, true) and flag(shape.train, true) and tonumber(cfg.dropout) or 0}
    for i, kind in ipairs(kinds) do
        local mixer
        if kind == "M" then
            mixer = function(x, p) return nn.mamba(x, p, mixer_opt) end
        elseif kind == "S" then
            mixer = function(x, p) return nn.s4_mamba(x, p, setmetatable({seed = i}, {__index = mixer_opt})) end
        elseif kind == "4" then
            mixer = function(x, p) return nn.s4(x, p .. ".s4", mixer_opt) end
        else
            mixer = function(x, p) return nn.causal_self_attention(x, p, mixer_opt) end
        end
        h = nn.residual(h, "backbone.layers." .. (i - 1), mixer)
    end
    return nn.layer_norm(h, "backbone.norm_f")
end

-- n copies of a kind, or the alternation a, b, a, b, ... of n blocks.
local function blocks(n, a, b)
    local t = {}
    for i = 1, n do t[i] = (b and i % 2 == 0) and b or a end
    return t
end

---------------------------------------------------------------------------------------------------
-- The models

-- Transformer (GPT-2 backbone, models.md section 2); cfg.pe = 0 removes the position table.
function M.transformer(cfg, shape)
    local h = read_in(cfg, shape)
    if flag(cfg.pe, true) then
        h = nn.add_positions(h, "backbone.wpe.weight", gpt2_positions(cfg, shape), 0.02, "n_positions")
    end
    return read_out(gpt2_stack(h, cfg), cfg, shape)
end

-- Transformer without positional encoding (MQAR Table 3b): GPT-2 with the wpe term removed.
function M.transformer_nope(cfg, shape)
    local c = setmetatable({pe = 0}, {__index = cfg})
    return M.transformer(c, shape)
end

-- Mamba: n_layer Mamba blocks.
function M.mamba(cfg, shape)
    local n = mixer_layers(cfg)
    return read_out(mixer_stack(read_in(cfg, shape), cfg, shape, blocks(n, "M"), n), cfg, shape)
end

-- S4-Mamba: n_layer S4-Mamba blocks (channel dropout cfg.dropout in training; cfg.train = 0 or
-- cfg.dropout = 0 turns it off).
function M.s4_mamba(cfg, shape)
    local n = mixer_layers(cfg)
    return read_out(mixer_stack(read_in(cfg, shape), cfg, shape, blocks(n, "S"), n), cfg, shape)
end

-- S4 (S4D + GELU + GLU): n_layer S4 blocks.
function M.s4(cfg, shape)
    local n = mixer_layers(cfg)
    return read_out(mixer_stack(read_in(cfg, shape), cfg, shape, blocks(n, "4"), n), cfg, shape)
end

-- Standard Hybrid: A, M, A, M, ... (n_layer blocks) with a learned position table of n_positions rows
-- (pe_rows overrides) initialised N(0, 1).
function M.standard_hybrid(cfg, shape)
    local n = mixer_layers(cfg)
    local h = nn.add_positions(read_in(cfg, shape), "pos_embed.weight",
                                 set(cfg.pe_rows) and cfg.pe_rows or cfg.n_positions, 1.0, "n_positions or pe_rows")
    return read_out(mixer_stack(h, cfg, shape, blocks(n, "A", "M"), n), cfg, shape)
end

-- MambaFormer: M, then A, M, A, M, ... (n_layer + 1 blocks), no positional encoding.
function M.mambaformer(cfg, shape)
    local n = mixer_layers(cfg)
    local kinds = {"M"}
    for _, k in ipairs(blocks(n, "A", "M")) do kinds[#kinds + 1] = k end
    return read_out(mixer_stack(read_in(cfg, shape), cfg, shape, kinds, n), cfg, shape)
end

-- Transformer with an initial Mamba block (A.3.8 ablation): one pre-LN Mamba block
-- (backbone.mamba.*, plain torch init of out_proj), then the GPT-2 blocks, no position table.
function M.transformer_mamba(cfg, shape)
    local h = nn.residual(read_in(cfg, shape), "backbone.mamba", function(x, p) return nn.mamba(x, p, {}) end)
    return read_out(gpt2_stack(h, cfg), cfg, shape)
end

-- MQAR's "Mamba + one Standard Hybrid": 2 * layers Mamba blocks whose middle two are replaced by one
-- attention block and one Mamba block (8 blocks: M M M A M M M M), no positional encoding.
function M.mamba_hybrid(cfg, shape)
    local n = mixer_layers(cfg)
    local kinds = blocks(n, "M")
    kinds[n // 2] = "A"
    return read_out(mixer_stack(read_in(cfg, shape), cfg, shape, kinds, n), cfg, shape)
end

M.model_names = {"transformer", "transformer_nope", "mamba", "s4", "s4_mamba", "standard_hybrid", "mambaformer",
                 "transformer_mamba", "mamba_hybrid"}

---------------------------------------------------------------------------------------------------
-- Configurations
--   D            model width (n_embd)
--   layers       Transformer layers (see the layer counting above); n_layer overrides with the code's count
--   heads        GPT-2 attention heads (the hybrids' attention always has hybrid_heads = 8)
--   n_positions  the yaml n_positions: GPT-2 table 2 x (3 x for cot_io), Standard Hybrid table 1 x
--   dropout      S4-Mamba channel dropout in training (0.1); train = 0 builds the evaluation graph
--   lr, clip     the yaml's learning rate and gradient clipping (for the trainer)
--   task         the task the config was written for
-- Every config carries every key (--set only overrides existing keys); n_layer = 0 and pe_rows = 0
-- mean "derive from layers" and "n_positions".
local defaults = {n_layer = 0, n_positions = 101, pe = 1, pe_rows = 0, hybrid_heads = 8, d_state = 16, d_conv = 4,
                  expand = 2, dropout = 0.1, train = 1, lr = 1e-4, clip = 10, task = "linear_regression"}
local function cfg(t)
    for k, v in pairs(defaults) do
        if t[k] == nil then t[k] = v end
    end
    return t
end

M.configs = {
    -- Garg et al.'s sizes (CoT-I/O Table 2).
    tiny     = cfg{D = 64, layers = 3, heads = 2},
    small    = cfg{D = 128, layers = 6, heads = 4},
    standard = cfg{D = 256, layers = 12, heads = 8},
    -- The reference code's per-task yamls (models.md section 10).
    linear_regression        = cfg{D = 128, layers = 2, heads = 8, task = "linear_regression"},
    sparse_linear_regression = cfg{D = 128, layers = 2, heads = 8, task = "sparse_linear_regression"},
    relu_2nn_regression      = cfg{D = 128, layers = 2, heads = 8, pe_rows = 202, task = "relu_2nn_regression"},
    decision_tree            = cfg{D = 128, layers = 2, heads = 8, lr = 4e-4, pe_rows = 202, task = "decision_tree"},
    ortho_outlier_regression = cfg{D = 128, layers = 2, heads = 8, pe_rows = 202, task = "ortho_outlier_regression"},
    many_outlier_regression  = cfg{D = 128, layers = 2, heads = 8, n_positions = 1024,
                                   task = "many_outlier_regression"},
    sparse_parity            = cfg{D = 256, layers = 12, heads = 8, n_positions = 300, lr = 4e-4,
                                   task = "sparse_parity"},
    retrieval                = cfg{D = 128, layers = 2, heads = 8, n_positions = 130, lr = 2e-4, clip = 100,
                                   task = "mqar"},
    mqar                     = cfg{D = 128, layers = 4, heads = 8, n_positions = 101, task = "mqar"},
    cot_io                   = cfg{D = 64, layers = 3, heads = 2, pe_rows = 303, task = "cot_io"},
}
M.config_names = {"tiny", "small", "standard", "linear_regression", "sparse_linear_regression",
                  "relu_2nn_regression", "decision_tree", "ortho_outlier_regression", "many_outlier_regression",
                  "sparse_parity", "retrieval", "mqar", "cot_io"}

-- One line for `iclc models`: the blocks the config builds and how they are counted.
function M.describe(model, config)
    local c = M.configs[config]
    if not c then return model end
    local L, n = c.layers, 2 * c.layers
    local what = ({
        transformer = string.format("%d GPT-2 blocks (attention + MLP) = %d blocks in the paper's counting", L, n),
        transformer_nope = string.format("%d GPT-2 blocks, no positions (= %d paper blocks)", L, n),
        mamba = string.format("%d Mamba blocks (code n_layer %d; 1 layer = 2 blocks)", n, n),
        s4 = string.format("%d S4 blocks (code n_layer %d; 1 layer = 2 blocks)", n, n),
        s4_mamba = string.format("%d S4-Mamba blocks (code n_layer %d; 1 layer = 2 blocks)", n, n),
        standard_hybrid = string.format("%d blocks A M A M.. + positions (code n_layer %d; 1 layer = 2 blocks)", n, n),
        mambaformer = string.format("%d blocks M A M.. (code n_layer %d + 1; 1 layer = 2 blocks)", n + 1, n),
        transformer_mamba = string.format("1 Mamba + %d GPT-2 blocks, no positions", L),
        mamba_hybrid = string.format("%d Mamba blocks, middle two -> A M (code n_layer %d; 1 layer = 2 blocks)", n, n),
    })[model] or model
    return string.format("D %d, %s", c.D, what)
end

return M
