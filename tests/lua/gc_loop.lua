-- a finalizer that would loop forever when the state is closed: the model itself is fine
local M = {configs = {tiny = {}}}
function M.m(cfg, shape)
  setmetatable({}, {__gc = function() while true do end end})
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  return x:slice(2, 0, shape.d_out)
end
return M
