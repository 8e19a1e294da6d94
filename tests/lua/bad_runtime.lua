-- a Lua runtime error inside the model function
local M = {}
function M.m(cfg, shape)
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  return x + cfg.missing.field
end
M.configs = {tiny = {}}
return M
