-- reaching outside the sandbox, selected by cfg.case
local M = {}
local cases = {
  os = function() return os.exit(0) end,
  io = function() return io.open("/etc/passwd") end,
  require_c = function() return require("os") end,
  require_path = function() return require("../../etc/passwd") end,
  dofile = function() return dofile("/etc/passwd") end,
  load = function() return load("return 1")() end,
  dump = function() return string.dump(print) end,
  debug = function() return debug.getinfo(1) end,
  metatable = function(x) getmetatable(x).__index = nil; return x end,
}
function M.m(cfg, shape)
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  return cases[cfg.case](x)
end
M.configs = {tiny = {case = "os"}}
return M
