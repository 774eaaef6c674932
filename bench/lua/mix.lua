-- The benchmark's request mix, for wrk 4 (https://github.com/wg/wrk/blob/master/SCRIPTING).
--
-- Script arguments (after `--` on wrk's command line), as key=value:
--   data=PATH   a Lua file returning { {token, {task ids...}}, ... }, one entry per user
--   think=MS    think time per connection between a response and its next request (0: closed loop)
--   conns=N     connections per wrk thread (to stagger their first requests over one think time)
--   seed=N      random seed, so every run draws the same sequence
--
-- Each request takes the next user in turn (wrk's Lua cannot tell connections apart, so the
-- users are cycled per request; each thread starts at its own offset), and draws its kind:
--   65% GET /api/tasks                 (list, default page)
--   10% GET /api/tasks?sort=due&due=upcoming&tag=work
--                                      (list: the next 7 days of the user's time zone, by due)
--   10% POST /api/tasks                (create)
--   10% GET /api/tasks/{id}            (one of the user's own seeded tasks)
--    5% PATCH /api/tasks/{id}/complete (toggle one of the user's own seeded tasks)
-- Every status code is counted in response(); done() aggregates all threads' counts (each thread
-- has its own Lua state, reached through the thread objects collected in setup()) and prints one
-- line `BENCH_RESULT {json}` for the harness.

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   threads[#threads + 1] = thread
end

local users, user_count, next_user, think, first_delays, host_line
local created = 0

local function options(args)
   local found = {}
   for i = 1, #args do
      local key, value = string.match(args[i], "^([%w_]+)=(.*)$")
      if key then found[key] = value end
   end
   return found
end

function init(args)
   local opts = options(args)
   local index = thread_index or 0
   users = dofile(opts.data)
   user_count = #users
   -- Spread the threads over the users, so two threads never send the same user in lockstep.
   next_user = (index * 7919) % user_count
   math.randomseed((tonumber(opts.seed) or 1) + index * 1000003)
   think = tonumber(opts.think) or 0
   first_delays = tonumber(opts.conns) or 0
   local authority = wrk.host
   if wrk.port then authority = authority .. ":" .. wrk.port end
   host_line = "Host: " .. authority .. "\r\n"
   for _, user in ipairs(users) do
      user.auth = "Authorization: Bearer " .. user[1] .. "\r\n"
   end
   counts = { list = 0, upcoming = 0, create = 0, get = 0, toggle = 0 }
   statuses = {}
   if think > 0 then
      -- wrk calls delay() before every request of a connection, the first one included.
      delay = function()
         if first_delays > 0 then
            -- Stagger the connections' first requests over one think time: without it all of
            -- them would fire at once and stay in lockstep, one burst a second.
            first_delays = first_delays - 1
            return math.random(0, think)
         end
         -- Mean `think`, +-10% jitter so the arrivals never re-synchronise.
         return math.floor(think * (0.9 + 0.2 * math.random()))
      end
   end
end

function request()
   local user = users[next_user + 1]
   next_user = (next_user + 1) % user_count
   local roll = math.random(100)
   if roll <= 65 then
      counts.list = counts.list + 1
      return "GET /api/tasks HTTP/1.1\r\n" .. host_line .. user.auth .. "\r\n"
   elseif roll <= 75 then
      counts.upcoming = counts.upcoming + 1
      return "GET /api/tasks?sort=due&due=upcoming&tag=work HTTP/1.1\r\n" .. host_line
         .. user.auth .. "\r\n"
   elseif roll <= 85 then
      counts.create = counts.create + 1
      created = created + 1
      local body = '{"title":"Benchmark task ' .. created .. '","description":"made by wrk"}'
      return "POST /api/tasks HTTP/1.1\r\n" .. host_line .. user.auth
         .. "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
   end
   local ids = user[2]
   local id = ids[math.random(#ids)]
   if roll <= 95 then
      counts.get = counts.get + 1
      return "GET /api/tasks/" .. id .. " HTTP/1.1\r\n" .. host_line .. user.auth .. "\r\n"
   end
   counts.toggle = counts.toggle + 1
   return "PATCH /api/tasks/" .. id .. "/complete HTTP/1.1\r\n" .. host_line .. user.auth
      .. "Content-Length: 0\r\n\r\n"
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

local function object(entries)
   local parts = {}
   for key, value in pairs(entries) do
      parts[#parts + 1] = string.format('"%s":%.17g', tostring(key), value)
   end
   table.sort(parts)
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local status_totals, kind_totals = {}, {}
   for _, thread in ipairs(threads) do
      for code, n in pairs(thread:get("statuses") or {}) do
         local key = string.format("%d", code)
         status_totals[key] = (status_totals[key] or 0) + n
      end
      for kind, n in pairs(thread:get("counts") or {}) do
         kind_totals[kind] = (kind_totals[kind] or 0) + n
      end
   end
   local non_2xx = 0
   for code, n in pairs(status_totals) do
      local value = tonumber(code)
      if value < 200 or value > 299 then non_2xx = non_2xx + n end
   end
   local latency_us = {
      p50 = latency:percentile(50), p75 = latency:percentile(75),
      p90 = latency:percentile(90), p95 = latency:percentile(95),
      p99 = latency:percentile(99), p999 = latency:percentile(99.9),
      max = latency.max, mean = latency.mean,
   }
   local errors = summary.errors
   io.write("BENCH_RESULT {",
      string.format('"requests":%d,"duration_us":%d,"bytes":%d,', summary.requests,
         summary.duration, summary.bytes),
      '"errors":', object({ connect = errors.connect, read = errors.read, write = errors.write,
         status = errors.status, timeout = errors.timeout }), ",",
      '"latency_us":', object(latency_us), ",",
      '"statuses":', object(status_totals), ",",
      '"kinds":', object(kind_totals), ",",
      string.format('"non_2xx":%d', non_2xx),
      "}\n")
end
