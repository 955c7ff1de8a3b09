-- wrk: GET /api/v1/items/{id} for random ids in [BENCH_LO, BENCH_HI]; the harness flushes Redis
-- first, so a first touch is a cache miss (the harness reports the measured miss ratio).
local lo = tonumber(os.getenv("BENCH_LO") or "1")
local hi = tonumber(os.getenv("BENCH_HI") or "1")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/items/" .. math.random(lo, hi))
end
