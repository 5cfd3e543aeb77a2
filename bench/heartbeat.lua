-- wrk script: valid heartbeats, one learner per request in turn; each learner's seq increases.
-- Learners come from the file named by BENCH_LEARNERS: cookie<TAB>csrf<TAB>session id per line.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  learners = {}
  local i = 0
  for line in io.lines(os.getenv("BENCH_LEARNERS")) do
    local cookie, csrf, sid = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)")
    if i % nthreads == id then
      table.insert(learners, {cookie = cookie, csrf = csrf, sid = sid, seq = 0})
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
