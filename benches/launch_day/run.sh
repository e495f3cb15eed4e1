#!/usr/bin/env bash
# Launch day, rehearsed: the release binary behind Caddy, a real SMTP sink, pre-enrollees who sign
# up, pay and start lesson 1, anonymous visitors browsing, each from its own 127.x.y.z address.
#   benches/launch_day/run.sh                # both set-ups (SQLite; 2 instances on PostgreSQL), ~15 min
#   SMOKE=1 benches/launch_day/run.sh        # 20 people, 100 visitors, SQLite only, < 2 min
#   LEARNWELL_BIN=/path/to/learnwell SETUPS=postgres WINDOW=300 benches/launch_day/run.sh
# Settings and what it prints: README.md beside this file. Exit 1 when any request failed or got 429.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."

export LEARNWELL_BIN="${LEARNWELL_BIN:-target/release/learnwell}"
if [ ! -x "$LEARNWELL_BIN" ]; then
  if [ "${BUILD:-}" = 1 ]; then
    nice cargo build --release --quiet
  else
    echo "launch_day: no release binary at $LEARNWELL_BIN (build it with 'cargo build --release', set LEARNWELL_BIN, or BUILD=1)" >&2
    exit 2
  fi
fi

setups="${SETUPS:-}"
if [ -z "$setups" ]; then
  case "${SMOKE:-}" in ""|0) setups=sqlite,postgres ;; *) setups=sqlite ;; esac
fi
need_apt=()
command -v caddy >/dev/null 2>&1 || need_apt+=(caddy)
if [[ ",$setups," == *,postgres,* ]]; then
  command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "launch_day: installing ${need_apt[*]} (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # The package may start a system-wide Caddy on :80; the rehearsal runs its own.
  systemctl stop caddy >/dev/null 2>&1 || true
fi
if ! python3 -c 'import aiohttp' 2>/dev/null; then
  echo "launch_day: installing aiohttp (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check aiohttp
fi

# Many sockets: 2,500 browsers, each with a few keep-alive connections, plus Caddy's upstreams.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
exec python3 "$here/rehearsal.py"
