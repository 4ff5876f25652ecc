-- bench/ingest.sh's wrk script: posts pre-encoded bodies in turn (each request is formatted
-- once, at start, so wrk's Lua does no work per request), and prints one JSON line at the end.
-- Usage: wrk -t1 -cN -dD -s bench/ingest_wrk.lua URL -- PATH FILE [FILE...]
-- INGEST_HEADER="name: value" adds a header (x-arc-database, Content-Encoding).
local reqs, n, i = {}, 0, 0

function init(args)
  local headers = {}
  local h = os.getenv("INGEST_HEADER")
  if h and h ~= "" then
    local k, v = h:match("^([^:]+):%s*(.*)$")
    headers[k] = v
  end
  for j = 2, #args do
    local f = assert(io.open(args[j], "rb"))
    local body = f:read("*a")
    f:close()
    n = n + 1
    reqs[n] = wrk.format("POST", args[1], headers, body)
  end
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "errors": %d, "non2xx": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
