#!/usr/bin/env bash
# A PostgreSQL primary and its streaming replica on loopback, from Debian's PostgreSQL binaries, in a
# folder of their own (for the cluster on one machine and the replica tests):
#
#   scripts/pg-pair.sh up DIR PRIMARY_PORT REPLICA_PORT   # initdb the primary, pg_basebackup the replica, start both
#   scripts/pg-pair.sh stop-replica DIR | start-replica DIR
#   scripts/pg-pair.sh down DIR                           # stop both and remove DIR
#
# Trust authentication on 127.0.0.1 only; database `lms`, user `postgres`. The servers run as the
# `postgres` system user when started by root (PostgreSQL refuses to run as root).
set -euo pipefail

BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$BIN/initdb" ] || { echo "PostgreSQL binaries not found (install the postgresql package, or set PG_BIN)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

up() {
  local dir=$1 primary_port=$2 replica_port=$3
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_owner "$BIN/initdb" -D "$dir/primary" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
  cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 5
wal_keep_size = '256MB'
max_connections = 60
fsync = off
EOF
  echo "host replication postgres 127.0.0.1/32 trust" | as_owner tee -a "$dir/primary/pg_hba.conf" >/dev/null
  as_owner "$BIN/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null
  as_owner "$BIN/createdb" -h 127.0.0.1 -p "$primary_port" -U postgres lms
  as_owner "$BIN/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/replica" -R -X stream -c fast
  cat >>"$dir/replica/postgresql.conf" <<EOF
port = $replica_port
hot_standby = on
hot_standby_feedback = on
EOF
  start_replica "$dir"
  echo "primary postgresql://postgres@127.0.0.1:$primary_port/lms"
  echo "replica postgresql://postgres@127.0.0.1:$replica_port/lms"
}

start_replica() {
  as_owner "$BIN/pg_ctl" -D "$1/replica" -l "$1/replica.log" -w start >/dev/null
}

stop_replica() {
  as_owner "$BIN/pg_ctl" -D "$1/replica" -m fast -w stop >/dev/null
}

down() {
  local dir=$1
  for node in replica primary; do
    if [ -f "$dir/$node/postmaster.pid" ]; then
      as_owner "$BIN/pg_ctl" -D "$dir/$node" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$dir"
}

command=${1:-}
shift || true
case "$command" in
  up) [ $# -eq 3 ] || { echo "usage: $0 up DIR PRIMARY_PORT REPLICA_PORT" >&2; exit 2; }; up "$@" ;;
  stop-replica) stop_replica "$1" ;;
  start-replica) start_replica "$1" ;;
  down) down "$1" ;;
  *) echo "usage: $0 up DIR PRIMARY_PORT REPLICA_PORT | stop-replica DIR | start-replica DIR | down DIR" >&2; exit 2 ;;
esac
