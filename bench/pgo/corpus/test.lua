-- SPDX-License-Identifier: Apache-2.0
-- The Lua interpreter's test load (bench/pgo/corpus.py), not the training
-- one: fannkuch, n-body style floating point, a word frequency count with
-- gsub, coroutines and an upvalue-heavy closure loop.
--   usage: lua test.lua N
local n = tonumber(arg[1]) or 8

-- fannkuch-redux as the benchmarks game writes it in Lua.
local function fannkuch(n)
  local p, q, s, sign, maxflips, sum = {}, {}, {}, 1, 0, 0
  for i = 1, n do p[i] = i; q[i] = i; s[i] = i end
  repeat
    local q1 = p[1]
    if q1 ~= 1 then
      for i = 2, n do q[i] = p[i] end
      local flips = 1
      repeat
        local qq = q[q1]
        if qq == 1 then
          sum = sum + sign * flips
          if flips > maxflips then maxflips = flips end
          break
        end
        q[q1] = q1
        if q1 >= 4 then
          local i, j = 2, q1 - 1
          repeat q[i], q[j] = q[j], q[i]; i = i + 1; j = j - 1 until i >= j
        end
        q1 = qq; flips = flips + 1
      until false
    end
    if sign == 1 then
      p[2], p[1] = p[1], p[2]; sign = -1
    else
      p[2], p[3] = p[3], p[2]; sign = 1
      for i = 3, n do
        local sx = s[i]
        if sx ~= 1 then s[i] = sx - 1; break end
        if i == n then return sum, maxflips end
        s[i] = i
        local t = p[1]
        for j = 1, i do p[j] = p[j + 1] end
        p[i + 1] = t
      end
    end
  until false
end

local function bodies(steps)
  local b = {}
  for i = 1, 5 do b[i] = {x = i, y = i * 0.5, z = -i, vx = 0, vy = 0, vz = 0, m = 1 / i} end
  for _ = 1, steps do
    for i = 1, #b do
      local bi = b[i]
      for j = i + 1, #b do
        local bj = b[j]
        local dx, dy, dz = bi.x - bj.x, bi.y - bj.y, bi.z - bj.z
        local d2 = dx * dx + dy * dy + dz * dz + 0.01
        local mag = 0.001 / (d2 * math.sqrt(d2))
        bi.vx = bi.vx - dx * bj.m * mag; bj.vx = bj.vx + dx * bi.m * mag
        bi.vy = bi.vy - dy * bj.m * mag; bj.vy = bj.vy + dy * bi.m * mag
        bi.vz = bi.vz - dz * bj.m * mag; bj.vz = bj.vz + dz * bi.m * mag
      end
    end
    for i = 1, #b do local bi = b[i]; bi.x = bi.x + bi.vx; bi.y = bi.y + bi.vy; bi.z = bi.z + bi.vz end
  end
  return b[1].x
end

local text = ("the quick brown fox jumps over the lazy dog and the cat "):rep(300)
local total = 0
for round = 1, n do
  local c = fannkuch(7)
  total = total + c + bodies(3000)
  local freq = {}
  local out = text:gsub("%a+", function(w) freq[w] = (freq[w] or 0) + 1; return w:upper() end)
  total = total + #out + freq.the
  local co = coroutine.wrap(function() for i = 1, 20000 do coroutine.yield(i) end end)
  for _ = 1, 20000 do total = total + co() end
  local function counter()
    local c = 0
    return function() c = c + 1; return c end
  end
  local f = counter()
  for _ = 1, 50000 do f() end
  total = total + f()
end
print(string.format("%.3f", total))
