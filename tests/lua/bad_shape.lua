-- a shape mismatch inside a user model: matmul with the wrong inner size
local M = {}
local function proj(x, name, din, dout)
  local w = iclc.param(name, {dout, din}, iclc.init.normal(0.02))
  return x:matmul(w, {tb = true})
end
function M.m(cfg, shape)
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  local h = proj(x, "a", shape.d_in, 8)
  return proj(h, "b", 16, shape.d_out)
end
M.configs = {tiny = {}}
return M
