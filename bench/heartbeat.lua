-- wrk script: valid heartbeats, one learner per request in turn; each learner's seq increases.
-- Learners come from the file named by BENCH_LEARNERS: cookie<TAB>csrf<TAB>session id per line.
-- Sequence numbers start above BENCH_SEQ_BASE, which the driver raises for every run, so no beat of
-- a later run repeats an earlier one (a repeated seq is a duplicate: read, not written).
-- Responses that are not a credited "ok" beat are counted and reported by done().
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  not_ok = 0
  seq_base = tonumber(os.getenv("BENCH_SEQ_BASE") or "0")
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  learners = {}
  local i = 0
  for line in io.lines(os.getenv("BENCH_LEARNERS")) do
    local cookie, csrf, sid = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)")
    if i % nthreads == id then
      table.insert(learners, {cookie = cookie, csrf = csrf, sid = sid, seq = seq_base})
    end
    i = i + 1
  end
  nxt = 0
end

function request()
  nxt = (nxt % #learners) + 1
  local l = learners[nxt]
  l.seq = l.seq + 1
  local pos = (l.seq % 28) + 1
  local body = string.format(
    '{"session_id":"%s","seq":%d,"position":%d,"segments":[[%d,%d]],"rate":1,"visible":true,"event":"tick","csrf_token":"%s"}',
    l.sid, l.seq, pos, pos - 1, pos, l.csrf)
  return wrk.format("POST", "/api/v1/learning/heartbeat",
    {["Content-Type"] = "application/json", ["Cookie"] = l.cookie, ["User-Agent"] = "gongxu-bench"}, body)
end

function response(status, headers, body)
  if status ~= 200 or not body:find('"status":"ok"', 1, true) then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("not_ok") or 0)
  end
  io.write(string.format("Beats not ok: %d\n", total))
end
