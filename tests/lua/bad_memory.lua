-- a memory bomb: strings, then tables
local M = {}
function M.m(cfg, shape)
  if cfg.case == "tables" then
    local t = {}
    for i = 1, math.huge do t[i] = {i, i, i, i} end
  end
  if cfg.case == "pcall" then
    local keep = {}
    while true do pcall(function() keep[#keep + 1] = string.rep("x", 1 << 20) end) end
  end
  local s = "x"
  while true do s = s .. s end
end
M.configs = {tiny = {case = "strings"}}
return M
