-- non-tensor arguments, selected by cfg.case (see tests/frontend.t)
local M = {}
local cases = {
  string_input = function(x) return x + "a" end,
  nil_input = function(x) return iclc.exp(nil) end,
  table_input = function(x) return x:matmul({}) end,
  bad_attr = function(x) return x:sum{axes = 1} end,
  bad_axis_type = function(x) return x:sum("1") end,
  bool_attr = function(x) return x:matmul(x, {tb = 1}) end,
  float_axis = function(x) return x:sum(1.5) end,
  huge_rank = function(x) return x:reshape{1, 1, 1, 1, 1, 1, 1} end,
  negative_dim = function(x) return iclc.const(0, {2, -3}) end,
  huge_dims = function(x) return iclc.const(0, {2^31, 2^31, 2^31}) end,
  overflow_dims = function(x) return iclc.param("p", {2^62, 2^62}, iclc.init.zeros()) end,
  nan_dim = function(x) return iclc.const(0, {0/0}) end,
  bad_init = function(x) return iclc.param("p", {2}, "normal") end,
  no_init = function(x) return iclc.param("p", {2}) end,
  dup_param = function(x) iclc.param("p", {2}, iclc.init.zeros()); return iclc.param("p", {2}, iclc.init.zeros()) end,
  bad_perm = function(x) return x:permute{0, 0, 1} end,
  axis_range = function(x) return x:sum(7) end,
  method_on_number = function(x) return iclc.init.exp(3) end,
  immutable = function(x) x.shape = {1}; return x end,
  return_nil = function(x) return nil end,
  return_wrong_shape = function(x) return x end,
  too_many = function(x) return x:sum(1, 2, 3, 4) end,
  arith_pow = function(x) return x ^ 2 end,
  concat_empty = function(x) return iclc.concat({}, 0) end,
  slice_range = function(x) return x:slice(1, 5, 2) end,
  many_nodes = function(x) while true do x = x + 1 end end,
  many_params = function(x) for i = 1, 1e6 do iclc.param("p" .. i, {1}, iclc.init.zeros()) end end,
}
function M.m(cfg, shape)
  local x = iclc.input("tokens", {shape.B, shape.T, shape.d_in})
  return cases[cfg.case](x)
end
M.configs = {tiny = {case = "string_input"}}
return M
