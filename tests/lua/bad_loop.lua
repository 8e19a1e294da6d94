-- runaway loops: plain, and one that tries to survive the budget with pcall
local M = {}
function M.m(cfg, shape)
  if cfg.case == "pcall" then
    while true do pcall(function() while true do end end) end
  end
  while true do end
end
M.configs = {tiny = {case = "plain"}}
return M
