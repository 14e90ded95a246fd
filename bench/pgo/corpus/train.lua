-- SPDX-License-Identifier: Apache-2.0
-- The Lua interpreter's training load (bench/pgo/corpus.py): binary trees,
-- string building and matching, table sorts, closures and metatables.
--   usage: lua train.lua N
local n = tonumber(arg[1]) or 10

local function tree(d)
  if d == 0 then return {} end
  return {tree(d - 1), tree(d - 1)}
end
local function check(t)
  if not t[1] then return 1 end
  return 1 + check(t[1]) + check(t[2])
end

local Vec = {}
Vec.__index = Vec
Vec.__add = function(a, b) return setmetatable({x = a.x + b.x, y = a.y + b.y}, Vec) end
local function vec(x, y) return setmetatable({x = x, y = y}, Vec) end

local sum = 0
for round = 1, n do
  sum = sum + check(tree(12))
  local parts = {}
  for i = 1, 4000 do parts[#parts + 1] = string.format("%d:%s", i, ("k" .. i):rep(2)) end
  local s = table.concat(parts, ",")
  for w in s:gmatch("(%d+):k") do sum = sum + #w end
  local t = {}
  for i = 1, 6000 do t[i] = (i * 7919) % 6007 end
  table.sort(t, function(a, b) return a > b end)
  sum = sum + t[1]
  local acc = vec(0, 0)
  for i = 1, 20000 do acc = acc + vec(i, -i) end
  sum = sum + acc.x
  local counters = {}
  for i = 1, 20000 do
    local k = "c" .. (i % 97)
    counters[k] = (counters[k] or 0) + 1
  end
  for _, v in pairs(counters) do sum = sum + v end
end
print(sum)
