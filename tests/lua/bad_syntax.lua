-- a syntax error on line 3
local M = {}
function M.m(cfg, shape) return end end
return M
