-- wrk script: single-event commands (deposits) spread over ACCOUNTS pre-opened accounts bench-1..bench-N,
-- or all to bench-1 when ACCOUNTS=1 (the contended case).
local accounts = tonumber(os.getenv("ACCOUNTS") or "1000")
local body = '{"amount":1.25}'
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "") }

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed)
end

function request()
  local id = "bench-" .. math.random(1, accounts)
  return wrk.format("POST", "/api/accounts/" .. id .. "/deposits", headers, body)
end
