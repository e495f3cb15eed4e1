#!/usr/bin/env bash
# Load test: builds the release binary and the bare axum yardstick (examples/bare_axum.rs), starts
# both, and runs wrk against a few Learnwell pages and against the yardstick in the same run. Prints
# requests/s, p50, p99, each page's share of the bare axum page, and peak memory. The share is the
# figure to compare across machines; requests/s alone moves with the machine and its load.
#   benches/run.sh                 # defaults: 10 s per page, wrk -t2 -c32, 5,000 seeded students
#   DURATION=30s CONNECTIONS=64 STUDENTS=5000 benches/run.sh
#   SKIP_BUILD=1 LEARNWELL_BIN=/path/learnwell BARE_BIN=/path/bare_axum benches/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-3917}"
BARE_PORT="${BARE_PORT:-3918}"
LEARNWELL_BIN="${LEARNWELL_BIN:-./target/release/learnwell}"
BARE_BIN="${BARE_BIN:-./target/release/examples/bare_axum}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: wrk is missing; installing it (Debian package 'wrk')"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi

[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet --bin learnwell --example bare_axum
work="$(mktemp -d)"
server_pid=""
bare_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$bare_pid" ] && kill "$bare_pid" 2>/dev/null && wait "$bare_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The allocator settings deploy/learnwell.service runs the server with (memory handed back at once).
export MIMALLOC_PURGE_DELAY="${MIMALLOC_PURGE_DELAY:-0}" MIMALLOC_ARENA_EAGER_COMMIT="${MIMALLOC_ARENA_EAGER_COMMIT:-0}"
LEARNWELL_ADDR="127.0.0.1:$PORT" BASE_URL="http://127.0.0.1:$PORT" DATABASE_URL="sqlite://$work/bench.db" \
  DATA_DIR="$work/data" RUST_LOG=warn AUTH_RATE_LIMIT=1000 "$LEARNWELL_BIN" serve >"$work/server.log" 2>&1 &
server_pid=$!
"$BARE_BIN" "127.0.0.1:$BARE_PORT" >"$work/bare.log" 2>&1 &
bare_pid=$!

deadline=$((SECONDS + 120))
until curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && curl -fs "http://127.0.0.1:$BARE_PORT/" >/dev/null; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$server_pid" 2>/dev/null; then
    echo "bench: the servers did not come up"; cat "$work/server.log" "$work/bare.log"; exit 1
  fi
  sleep 0.2
done

# A student: sign up (which asks to confirm the address), seed STUDENTS students with progress
# straight into the database (the bench student's address confirmed), then log in.
curl -fs -o /dev/null -H "Origin: http://127.0.0.1:$PORT" \
  --data-urlencode "name=Bench Student" --data-urlencode "email=bench@example.com" \
  --data-urlencode "password=a calm long passphrase for benches" "http://127.0.0.1:$PORT/signup"
STUDENTS="${STUDENTS:-5000}" python3 benches/seed.py "$work/bench.db" bench@example.com
curl -fs -o /dev/null -c "$work/cookies" -H "Origin: http://127.0.0.1:$PORT" \
  --data-urlencode "email=bench@example.com" --data-urlencode "password=a calm long passphrase for benches" \
  "http://127.0.0.1:$PORT/login"
cookie="$(awk '$6 ~ /learnwell_session$/ {print $6 "=" $7}' "$work/cookies")"
if [ -z "$cookie" ]; then echo "bench: could not log in"; tail -20 "$work/server.log"; exit 1; fi
lesson="/courses/gut-foundations/lessons/what-your-microbes-do"
# The health acknowledgement comes before a student's first lesson: confirm it, as a student would.
version="$(curl -fs -H "Cookie: $cookie" "http://127.0.0.1:$PORT/learn/gut-foundations/acknowledge" \
  | sed -n 's/.*name="version" value="\([^"]*\)".*/\1/p' | head -n1)"
curl -fs -o /dev/null -H "Cookie: $cookie" -H "Origin: http://127.0.0.1:$PORT" \
  --data-urlencode "version=$version" --data-urlencode "confirm=yes" \
  "http://127.0.0.1:$PORT/learn/gut-foundations/acknowledge"
status="$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$PORT$lesson")"
if [ "$status" != 200 ]; then echo "bench: the lesson page answered $status, not 200"; exit 1; fi

BARE_RPS=""
printf '%-52s %11s %8s %8s %9s\n' "page (wrk -t$THREADS -c$CONNECTIONS -d$DURATION)" "requests/s" "p50" "p99" "of bare"
bench() {
  local url="$1" label="$2"
  shift 2
  local out rps p50 p99 errors share
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")"
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
  if [ -z "$BARE_RPS" ]; then BARE_RPS="$rps"; fi
  share="$(awk -v a="$rps" -v b="$BARE_RPS" 'BEGIN {printf "%.1f%%", 100 * a / b}')"
  printf '%-52s %11s %8s %8s %9s%s\n' "$label" "$rps" "$p50" "$p99" "$share" "${errors:+  (non-2xx: $errors)}"
}
site="http://127.0.0.1:$PORT"
bench "http://127.0.0.1:$BARE_PORT/" "bare axum page (the yardstick)"
bench "$site/" "/ (home)"
bench "$site/courses/gut-foundations" "/courses/gut-foundations"
bench "$site/courses/gut-foundations/lessons/meet-your-microbiome" "a preview lesson, anonymous"
bench "$site$lesson" "a lesson, enrolled student with progress" -H "Cookie: $cookie"
bench "$site/dashboard" "/dashboard, enrolled student with progress" -H "Cookie: $cookie"
bench "$site/account" "/account, signed in" -H "Cookie: $cookie"
bench "http://127.0.0.1:$BARE_PORT/" "bare axum page again (drift check)"

rss_peak="$(awk '/VmHWM/ {print $2, $3}' "/proc/$server_pid/status")"
rss_now="$(awk '/VmRSS/ {print $2, $3}' "/proc/$server_pid/status")"
echo "server memory: peak resident $rss_peak, now $rss_now; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
