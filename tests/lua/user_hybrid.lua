-- A user's own hybrid: Mamba blocks with every third mixer an attention block, no positions.
local nn = require("nn")
local M = {}
function M.mamba_attn(cfg, shape)
    local n = 2 * cfg.layers                                   -- mixer blocks (1 layer = 2 blocks)
    local h = nn.read_in(shape, cfg.D)
    for i = 0, n - 1 do
        local mixer = (i % 3 == 2) and nn.causal_self_attention or nn.mamba
        h = nn.residual(h, "backbone.layers." .. i, function(x, p) return mixer(x, p, {n_layer = n}) end)
    end
    return nn.read_out(nn.layer_norm(h, "backbone.norm_f"), shape)
end
return M
