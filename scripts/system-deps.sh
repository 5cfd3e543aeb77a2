#!/usr/bin/env bash
# Make sure the system packages the platform needs are present; install them with apt when root.
#   scripts/system-deps.sh            ffmpeg, ffprobe and a Chinese font (running the platform)
#   scripts/system-deps.sh --browser  also what the tests need: Chromium and CJK fonts for the browser
#                                     tests, PostgreSQL's server binaries, pgbouncer, haproxy and Redis for the scale-out
#                                     tests and scripts/cluster.sh
set -euo pipefail

want=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || want+=(ffmpeg)
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || want+=(fonts-wqy-zenhei)
command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 || want+=(poppler-utils)
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
  [ -d /usr/share/fonts/opentype/noto ] || want+=(fonts-noto-cjk)
  command -v pg_isready >/dev/null 2>&1 || want+=(postgresql-client)
  # A primary with its replica (scripts/pg-pair.sh) and pgbouncer in front, for the scale-out tests.
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
  command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || want+=(pgbouncer)
  command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || want+=(haproxy)
  command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
  # media behind nginx (deploy/nginx-media.conf: secure_link expiry, X-Accel-Redirect), tested as deployed
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || want+=(nginx)
fi

[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "安装系统软件包 / installing system packages: ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
else
  echo "缺少系统软件包 / missing system packages: ${want[*]}" >&2
  echo "请以 root 运行，或先执行: sudo apt-get install ${want[*]}" >&2
  exit 1
fi
