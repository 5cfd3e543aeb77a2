#!/usr/bin/env bash
# The whole test suite, once on SQLite and once on PostgreSQL (browser tests included in both).
# Extra arguments go to pytest on each database, e.g. scripts/test.sh -k catalog, and the layers
# (markers set by tests/markers.py) give quicker loops:
#   scripts/test.sh -m "not e2e"                       # without the browser tests
#   scripts/test.sh -m "not e2e and not integration"   # service and route tests only
# LMS_TEST_DATABASES chooses the databases: LMS_TEST_DATABASES=sqlite scripts/test.sh -m "not e2e" -x
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=.venv/bin/pytest
DATABASES=${LMS_TEST_DATABASES:-sqlite postgresql}

# PostgreSQL on 127.0.0.1:5432: start the local cluster if it is down.
if [[ " $DATABASES " == *" postgresql "* ]] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "启动 PostgreSQL / starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL 未在 127.0.0.1:5432 运行 / is not running" >&2; exit 1; }
fi

# Ralph, a real Learning Record Store for the xAPI tests, in a virtual environment of its own
# (its pins clash with ours); created once, skipped when present. RALPH_BIN overrides it.
if [ -z "${RALPH_BIN:-}" ] && [ ! -f .venv-ralph/.installed ]; then
  echo "安装 Ralph（xAPI 测试用的学习记录库）/ installing Ralph into .venv-ralph"
  { "${PYTHON:-python3}" -m venv .venv-ralph \
      && .venv-ralph/bin/python -m pip install --quiet --disable-pip-version-check 'ralph-malph[cli,lrs]>=5.1,<6' requests \
      && touch .venv-ralph/.installed; } || echo "Ralph 安装失败，xAPI 测试将失败 / Ralph install failed" >&2
fi

# The passes run side by side (the suite mostly waits: on servers, browsers, workers, timeouts), each
# with a Redis database of its own (the tests flush it); the first database's pass prints as it goes,
# the others' logs are printed when they end (follow one meanwhile: tail -f .cache/test-postgresql.log).
# LMS_TEST_SERIAL=1 runs them one after the other (on LMS_TEST_REDIS_URL, if set).
run_pass() {  # run_pass DATABASE REDIS_URL [pytest arguments]
  local database=$1 redis=$2 start; shift 2
  echo "=== 测试数据库 / database: $database"
  start=$(date +%s)
  LMS_TEST_DATABASE=$database LMS_TEST_REDIS_URL=$redis "$PYTEST" "$@"
  local result=$?
  echo "=== $database: $(( $(date +%s) - start )) s"
  return $result
}

status=0
read -r -a databases <<<"$DATABASES"
if [ "${LMS_TEST_SERIAL:-0}" = 1 ] || [ "${#databases[@]}" -lt 2 ]; then
  for database in "${databases[@]}"; do
    run_pass "$database" "${LMS_TEST_REDIS_URL:-redis://127.0.0.1:6379/14}" "$@" || status=1
  done
  exit $status
fi

mkdir -p .cache
pids=() logs=()
redis=15
# The whole suite (no arguments): the loopback-cluster proofs (PostgreSQL only, mostly waiting on
# their clusters) run as a pass of their own beside the others.
cluster=0
if [ $# -eq 0 ] && [[ " $DATABASES " == *" postgresql "* ]]; then cluster=1; fi
for database in "${databases[@]:1}"; do
  log=.cache/test-$database.log
  echo "=== $database: 同时运行，日志 / running beside, log: $log"
  if [ "$database" = postgresql ] && [ $cluster = 1 ]; then
    run_pass "$database" "redis://127.0.0.1:6379/$redis" -m "not cluster" >"$log" 2>&1 &
  else
    run_pass "$database" "redis://127.0.0.1:6379/$redis" "$@" >"$log" 2>&1 &
  fi
  pids+=($!) logs+=("$log")
  redis=$((redis + 1))
done
if [ $cluster = 1 ]; then
  log=.cache/test-cluster.log
  echo "=== postgresql (cluster): 同时运行，日志 / running beside, log: $log"
  run_pass postgresql "redis://127.0.0.1:6379/$redis" -m cluster tests/cluster >"$log" 2>&1 &
  pids+=($!) logs+=("$log")
fi
run_pass "${databases[0]}" "redis://127.0.0.1:6379/14" "$@" || status=1
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
  echo "=== ${logs[$i]}:"
  cat "${logs[$i]}"
done
exit $status
