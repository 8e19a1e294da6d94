-- infinite recursion: Lua calls, and through metamethods (C stack)
local M = {}
local function f(n) return f(n + 1) + 1 end
local t = setmetatable({}, {__index = function(t, k) return t[k .. "x"] end})
function M.m(cfg, shape)
  if cfg.case == "meta" then return t.a end
  if cfg.case == "pcall" then local function g() return pcall(g) and g() end return g() end
  return f(1)
end
M.configs = {tiny = {case = "lua"}}
return M
