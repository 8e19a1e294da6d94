-- error objects that are not strings, selected by cfg.case
local M = {}
local cases = {
  table = function() error({code = 1}) end,
  table_tostring = function() error(setmetatable({}, {__tostring = function() return "custom error object" end})) end,
  tostring_fails = function() error(setmetatable({}, {__tostring = function() error("inner") end})) end,
  tostring_not_string = function() error(setmetatable({}, {__tostring = function() return {} end})) end,
  tostring_loops = function() error(setmetatable({}, {__tostring = function() while true do end end})) end,
  nil_error = function() error(nil) end,
  number = function() error(42) end,
  tensor = function(x) error(x) end,
  level0 = function() error("no position", 0) end,
  multiline = function() error("line one\nline two") end,
  bool = function() error(true) end,
  fn = function() error(print) end,
}
function M.m(cfg, shape)
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  return cases[cfg.case](x)
end
M.configs = {tiny = {case = "table"}}
return M
