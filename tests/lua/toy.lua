-- A toy model file for the frontend's tests: a read-in, one gated MLP block, a read-out.
local M = {}

M.configs = {
  tiny = {D = 8, hidden = 16},
  small = {D = 16, hidden = 32, act = "relu"},
}
M.config_names = {"tiny", "small"}
M.model_names = {"mlp", "linear"}

local function linear(x, name, din, dout)
  local bound = 1 / math.sqrt(din)
  local w = iclc.param(name .. ".weight", {dout, din}, iclc.init.uniform(-bound, bound))
  local b = iclc.param(name .. ".bias", {dout}, iclc.init.uniform(-bound, bound))
  return x:matmul(w, {tb = true}) + b
end

function M.mlp(cfg, shape)
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  local h = linear(x, "read_in", shape.d_in, cfg.D)
  local a = linear(h, "fc1", cfg.D, cfg.hidden)
  a = cfg.act == "relu" and a:relu() or a:gelu()
  h = h + linear(a, "fc2", cfg.hidden, cfg.D)
  return linear(h, "read_out", cfg.D, shape.d_out)
end

function M.linear(cfg, shape)
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  return linear(x, "read_out", shape.d_in, shape.d_out)
end

function M.describe(model, config)
  return model .. " at " .. config
end

return M
