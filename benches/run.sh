#!/usr/bin/env bash
# Load test: builds the release binary, starts it on a temporary SQLite database with the real
# course_content/, and runs wrk against a few pages. Prints requests/s, p50, p99 and peak memory.
#   benches/run.sh                 # defaults: 10 s per page, wrk -t2 -c32
#   DURATION=30s CONNECTIONS=64 benches/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-3917}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: wrk is missing; installing it (Debian package 'wrk')"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi

cargo build --release --quiet
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

LEARNWELL_ADDR="127.0.0.1:$PORT" BASE_URL="http://127.0.0.1:$PORT" DATABASE_URL="sqlite://$work/bench.db" \
  DATA_DIR="$work/data" RUST_LOG=warn ./target/release/learnwell serve >"$work/server.log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + 60))
until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$server_pid" 2>/dev/null; then
    echo "bench: the server did not come up"; cat "$work/server.log"; exit 1
  fi
  sleep 0.2
done

printf '%-60s %12s %9s %9s\n' "page (wrk -t$THREADS -c$CONNECTIONS -d$DURATION)" "requests/s" "p50" "p99"
bench() {
  local path="$1" label="${2:-$1}"
  shift 2 || shift 1
  local out
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "http://127.0.0.1:$PORT$path")"
  local rps p50 p99 errors
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
  printf '%-60s %12s %9s %9s%s\n' "$label" "$rps" "$p50" "$p99" "${errors:+  (non-2xx: $errors)}"
}
bench "/"
bench "/courses/gut-foundations"
bench "/courses/gut-foundations/lessons/meet-your-microbiome"
bench "/healthz"

# A signed-in student (the session is read from the database on every request).
curl -fs -o /dev/null -c "$work/cookies" -H "Origin: http://127.0.0.1:$PORT" \
  --data-urlencode "name=Bench Student" --data-urlencode "email=bench@example.com" \
  --data-urlencode "password=a calm long passphrase" "http://127.0.0.1:$PORT/signup"
cookie="$(awk '$6 == "learnwell_session" {print $6 "=" $7}' "$work/cookies")"
bench "/courses/gut-foundations" "/courses/gut-foundations (signed in)" -H "Cookie: $cookie"
bench "/account" "/account (signed in)" -H "Cookie: $cookie"

# The logged-in lesson page: STUDENTS students enrolled in both programs with progress, written
# straight into the database; the bench student is one of them.
STUDENTS="${STUDENTS:-5000}" python3 benches/seed.py "$work/bench.db" bench@example.com
lesson="/courses/gut-foundations/lessons/what-your-microbes-do"
curl -fs -o /dev/null -b "$work/cookies" "http://127.0.0.1:$PORT$lesson"
bench "$lesson" "a lesson, enrolled student with progress" -H "Cookie: $cookie"
bench "/dashboard" "/dashboard (enrolled student with progress)" -H "Cookie: $cookie"

rss_peak="$(awk '/VmHWM/ {print $2, $3}' "/proc/$server_pid/status")"
rss_now="$(awk '/VmRSS/ {print $2, $3}' "/proc/$server_pid/status")"
echo "server memory: peak resident $rss_peak, now $rss_now"
