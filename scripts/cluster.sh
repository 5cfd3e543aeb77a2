#!/usr/bin/env bash
# One province on many processes, on loopback, from the repository alone (deploy/README.md):
#
#   scripts/cluster.sh up [--demo | --restore BACKUP]
#                                    haproxy → two app nodes (gunicorn, separate instance folders),
#                                    one worker per queue, PostgreSQL primary + streaming replica
#                                    (scripts/pg-pair.sh), pgbouncer (transaction pooling), Redis
#                                    (append-only file), shared media, index and signing keys; prints the URL
#   scripts/cluster.sh status        what runs, and the balancer's view of the nodes
#   scripts/cluster.sh down          stops exactly what `up` started and removes its folder
#   scripts/cluster.sh env           the nodes' environment (to run `flask` against the cluster)
#   scripts/cluster.sh stop PART | start PART
#                                    one part of a running cluster: redis, worker-default, worker-media,
#                                    worker-media2 (…), node1, node2, s3 (a fault, or a rolling restart:
#                                    stop, start, next)
#   scripts/cluster.sh backup DEST   `flask backup create` of the running cluster (database from the primary,
#                                    stored objects, signing keys, secrets) into the new folder DEST;
#                                    `up --restore DEST` starts a fresh cluster from it (same secrets)
#
# LMS_CLUSTER_DIR (default .cluster) holds everything; LMS_CLUSTER_BASE_PORT (default 18000) the ports:
# +80 haproxy, +1/+2 app nodes, +32/+33 PostgreSQL primary/replica, +34 pgbouncer, +79 Redis, +90 S3.
# LMS_CLUSTER_STORAGE=s3 keeps media, exports and certificates in a bucket of an S3-protocol server on
# loopback (moto's, objects in its memory; MinIO, Ceph RGW or Alibaba OSS in production) instead of
# the shared folder (file, the default).
# LMS_CLUSTER_MEDIA_WORKERS (default 2) media workers: worker-media, worker-media2, … (a transcode
# whose worker dies is retried by another).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=$(realpath -m "${LMS_CLUSTER_DIR:-.cluster}")
BASE=${LMS_CLUSTER_BASE_PORT:-18000}
HTTP=$((BASE + 80)) PRIMARY=$((BASE + 32)) REPLICA=$((BASE + 33)) PGB=$((BASE + 34)) REDIS=$((BASE + 79))
S3=$((BASE + 90)) STORAGE=${LMS_CLUSTER_STORAGE:-file}
NODES=(1 2)
MEDIA_WORKERS=(media)
for ((n = 2; n <= ${LMS_CLUSTER_MEDIA_WORKERS:-2}; n++)); do MEDIA_WORKERS+=("media$n"); done
BIN=$ROOT/.venv/bin
PIDS=$DIR/pids

node_port() { echo $((BASE + $1)); }

need() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || {
    echo "缺少 $1 / $1 is missing: run scripts/system-deps.sh --browser (as root)" >&2; exit 1; }
}

fill() {  # fill a deploy/ template's @KEY@ placeholders from KEY=value arguments
  local template=$1; shift
  local text; text=$(cat "$template")
  for pair in "$@"; do text=${text//@${pair%%=*}@/${pair#*=}}; done
  printf '%s\n' "$text"
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

write_env() {  # write_env [BACKUP]: new secrets, or the backup's
  local secret data token
  secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  data=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  if [ -n "${1:-}" ]; then
    secret=$(sed -n 's/^SECRET_KEY=//p' "$1/secrets.env")
    data=$(sed -n 's/^LMS_DATA_KEY=//p' "$1/secrets.env")
  fi
  token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  cat >"$DIR/env" <<EOF
LMS_ENV=production
LMS_SECURE_COOKIES=0
LMS_PROXY_FIX=1
LMS_PUBLIC_URL=http://127.0.0.1:$HTTP
SECRET_KEY=$secret
LMS_DATA_KEY=$data
LMS_METRICS_TOKEN=$token
DATABASE_URL=postgresql://postgres@127.0.0.1:$PGB/lms
LMS_PGBOUNCER=1
DATABASE_REPLICA_URL=postgresql://postgres@127.0.0.1:$REPLICA/lms
REDIS_URL=redis://127.0.0.1:$REDIS/0
LMS_MEDIA_ROOT=$DIR/shared/media
LMS_SEARCH_INDEX=$DIR/shared/search-index
LMS_SIGNING_KEY_DIR=$DIR/shared/signing-keys
LMS_SMS_SENDER=http
LMS_SMS_GATEWAY_URL=http://127.0.0.1:9/sms
EOF
  if [ "$STORAGE" = s3 ]; then
    cat >>"$DIR/env" <<EOF
LMS_STORAGE_URL=s3://lms-media
LMS_S3_ENDPOINT_URL=http://127.0.0.1:$S3
AWS_ACCESS_KEY_ID=lms-cluster-key
AWS_SECRET_ACCESS_KEY=lms-cluster-secret
AWS_DEFAULT_REGION=us-east-1
EOF
  fi
  chmod 600 "$DIR/env"
}

load_env() {
  set -a
  # shellcheck disable=SC1091
  . "$DIR/env"
  set +a
}

wait_http() {  # wait_http URL SECONDS
  for _ in $(seq 1 $(($2 * 5))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "no answer from $1" >&2
  return 1
}

start_node() {
  local n=$1
  mkdir -p "$DIR/node$n"
  LMS_INSTANCE_PATH=$DIR/node$n PROMETHEUS_MULTIPROC_DIR=$DIR/node$n/prometheus \
    "$BIN/gunicorn" -c deploy/gunicorn.conf.py -w "${LMS_CLUSTER_WORKERS:-2}" -b "127.0.0.1:$(node_port "$n")" \
    --daemon --pid "$PIDS/node$n.pid" --error-logfile "$DIR/node$n.log" --graceful-timeout 20 wsgi:app
  wait_http "http://127.0.0.1:$(node_port "$n")/healthz" 60
}

start_redis() {
  redis-server --bind 127.0.0.1 --port "$REDIS" --dir "$DIR/redis" --appendonly yes --appendfsync everysec \
    --save "" --daemonize yes --pidfile "$PIDS/redis.pid" --logfile "$DIR/redis.log"
  for _ in $(seq 1 50); do redis-cli -p "$REDIS" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "Redis did not start: $DIR/redis.log" >&2
  return 1
}

start_s3() {  # the S3-protocol server on loopback, with the platform's bucket
  "$BIN/python" -c 'import moto.server' 2>/dev/null || {
    echo "LMS_CLUSTER_STORAGE=s3 needs moto[server]: make .venv/.installed-test" >&2; exit 1; }
  nohup "$BIN/python" -m moto.server -H 127.0.0.1 -p "$S3" >>"$DIR/s3.log" 2>&1 &
  echo $! >"$PIDS/s3.pid"
  wait_http "http://127.0.0.1:$S3/moto-api/" 60
  "$BIN/python" -c 'import boto3, sys; boto3.client("s3", endpoint_url=sys.argv[1]).create_bucket(Bucket="lms-media")' \
    "http://127.0.0.1:$S3"
}

start_worker() {  # start_worker NAME QUEUE: this checkout's code (huey_consumer puts only its own folder on the path)
  LMS_INSTANCE_PATH=$DIR/worker-$1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    nohup "$BIN/huey_consumer" "lms.worker.$2" -w 1 -k thread -m 1 \
    >>"$DIR/worker-$1.log" 2>&1 &
  echo $! >"$PIDS/worker-$1.pid"
}

up() {
  local demo=${1:-} backup=""
  if [ "$demo" = "--restore" ]; then
    backup=$(realpath "${2:?usage: $0 up --restore BACKUP}")
    [ -f "$backup/secrets.env" ] || { echo "$backup/secrets.env 不存在 / the backup holds no secrets.env" >&2; exit 1; }
  fi
  [ -e "$DIR/env" ] && { echo "已在运行 / already up ($DIR): scripts/cluster.sh down first" >&2; exit 1; }
  need haproxy; need pgbouncer; need redis-server; need curl
  [ -x "$BIN/gunicorn" ] || { echo "run make .venv/.installed-run first" >&2; exit 1; }
  mkdir -p "$PIDS" "$DIR/shared/media" "$DIR/shared/search-index" "$DIR/redis"
  write_env "$backup"
  echo "PostgreSQL primary :$PRIMARY + replica :$REPLICA"
  scripts/pg-pair.sh up "$DIR/pg" "$PRIMARY" "$REPLICA" >/dev/null
  echo "pgbouncer :$PGB"
  mkdir -p "$DIR/pgbouncer"
  echo '"postgres" ""' >"$DIR/pgbouncer/pgbouncer-users.txt"
  fill deploy/pgbouncer.ini PRIMARY_PORT="$PRIMARY" PORT="$PGB" DIR="$DIR/pgbouncer" >"$DIR/pgbouncer/pgbouncer.ini"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$DIR/pgbouncer"
  as_postgres "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" -d "$DIR/pgbouncer/pgbouncer.ini"
  echo "Redis :$REDIS (append-only file)"
  start_redis
  load_env
  if [ "$STORAGE" = s3 ]; then
    echo "S3 :$S3 (bucket lms-media)"
    start_s3
  fi
  export LMS_INSTANCE_PATH=$DIR/admin
  echo "数据库 / database: migrations, reference data, the signing key"
  "$BIN/flask" --app wsgi setup >/dev/null
  "$BIN/flask" --app wsgi credentials rotate-key >/dev/null
  if [ -n "$backup" ]; then
    echo "从备份恢复 / restoring $backup"
    "$BIN/flask" --app wsgi backup restore "$backup" --database-url "$(primary_url)"
  fi
  if [ "$demo" = "--demo" ]; then
    echo "演示数据 / demo data"
    "$BIN/flask" --app wsgi demo >/dev/null
  fi
  "$BIN/flask" --app wsgi search rebuild --inline >/dev/null
  echo "后台任务 / workers: default queue, ${#MEDIA_WORKERS[@]} on the media queue"
  start_worker default huey
  for name in "${MEDIA_WORKERS[@]}"; do start_worker "$name" media_huey; done
  for n in "${NODES[@]}"; do
    echo "应用节点 / app node $n :$(node_port "$n")"
    start_node "$n"
  done
  local servers=""
  for n in "${NODES[@]}"; do servers+="    server node$n 127.0.0.1:$(node_port "$n") check"$'\n'; done
  fill deploy/haproxy.cfg HTTP_PORT="$HTTP" PIDFILE="$PIDS/haproxy.pid" STATS_SOCKET="$DIR/haproxy.sock" \
    SERVERS="$servers" >"$DIR/haproxy.cfg"
  haproxy -f "$DIR/haproxy.cfg" -D
  wait_http "http://127.0.0.1:$HTTP/healthz" 30
  echo "平台地址 / serving at http://127.0.0.1:$HTTP"
}

primary_url() {  # the primary itself: pg_dump and pg_restore keep a session, which pgbouncer's pool does not
  echo "postgresql://postgres@127.0.0.1:$PRIMARY/lms"
}

part() {  # part stop|start NAME
  [ -e "$DIR/env" ] || { echo "未运行 / not up" >&2; exit 3; }
  load_env
  case "$1:$2" in
    stop:redis) stop_pid "$PIDS/redis.pid" ;;  # SIGTERM: Redis writes its append-only file and exits
    start:redis) start_redis ;;
    stop:worker-default|stop:worker-media|stop:worker-media[0-9]*)
      stop_pid "$PIDS/$2.pid" INT ;;  # a warm shutdown: the job in hand finishes
    start:worker-default) start_worker default huey ;;
    start:worker-media|start:worker-media[0-9]*) start_worker "${2#worker-}" media_huey ;;
    stop:s3) stop_pid "$PIDS/s3.pid" ;;  # the store unreachable (moto keeps objects in memory: they go with it)
    start:s3) start_s3 ;;
    stop:node[12]) stop_pid "$PIDS/$2.pid" ;;  # gunicorn: graceful, requests in flight finish
    start:node[12]) start_node "${2#node}" ;;
    *) echo "usage: $0 stop|start redis|worker-default|worker-media|worker-media2|node1|node2|s3" >&2; exit 2 ;;
  esac
}

backup() {
  [ -e "$DIR/env" ] || { echo "未运行 / not up" >&2; exit 3; }
  load_env
  LMS_INSTANCE_PATH=$DIR/admin "$BIN/flask" --app wsgi backup create "${1:?usage: $0 backup DEST}" \
    --database-url "$(primary_url)"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

status() {
  [ -e "$DIR/env" ] || { echo "未运行 / not up"; return 3; }
  for pid in "$PIDS"/*.pid "$DIR/pgbouncer/pgbouncer.pid"; do
    if alive "$pid"; then echo "up    $(basename "$pid" .pid) ($(cat "$pid"))"; else echo "down  $(basename "$pid" .pid)"; fi
  done
  for node in primary replica; do
    if as_postgres "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl" -D "$DIR/pg/$node" status >/dev/null 2>&1; then
      echo "up    postgresql-$node"; else echo "down  postgresql-$node"; fi
  done
  if [ -S "$DIR/haproxy.sock" ]; then
    echo "show stat" | python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n"); d=b"".join(iter(lambda: s.recv(65536), b"")); [print("balancer", r.split(",")[1], r.split(",")[17]) for r in d.decode().splitlines() if r.startswith("app_nodes,node")]' "$DIR/haproxy.sock" || true
  fi
  echo "平台地址 / http://127.0.0.1:$HTTP"
}

stop_pid() {  # stop_pid FILE [SIGNAL]: the process, and wait until it is gone
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

down() {
  [ -d "$DIR" ] || { echo "未运行 / not up"; return 0; }
  stop_pid "$PIDS/haproxy.pid"
  for n in "${NODES[@]}"; do stop_pid "$PIDS/node$n.pid"; done
  stop_pid "$PIDS/worker-default.pid" INT
  for pid in "$PIDS"/worker-media*.pid; do [ -e "$pid" ] && stop_pid "$pid" INT; done  # each one started
  stop_pid "$DIR/pgbouncer/pgbouncer.pid"
  stop_pid "$PIDS/redis.pid"
  stop_pid "$PIDS/s3.pid"
  [ -d "$DIR/pg" ] && scripts/pg-pair.sh down "$DIR/pg"
  rm -rf "$DIR"
  echo "已停止 / down"
}

case "${1:-}" in
  up) up "${2:-}" "${3:-}" ;;
  backup) backup "${2:-}" ;;
  stop|start) part "$1" "${2:-}" ;;
  status) status ;;
  down) down ;;
  env) cat "$DIR/env" ;;
  *) echo "usage: $0 up [--demo | --restore BACKUP] | status | down | env | backup DEST | stop|start PART" >&2
     exit 2 ;;
esac
