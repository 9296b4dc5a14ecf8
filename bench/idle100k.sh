#!/usr/bin/env bash
# Many idle connections in one server process: the conformance fixture
# (examples/conformance, ping 25 s / 20 s) and one sioload process that opens
# IDLE_N websocket connections spread over IDLE_SOURCES, joins each to "/",
# reads the server's RSS, then holds them IDLE_HOLD and fails if any drops
# (the pings answered per connection show the heartbeat kept flowing).
#
#   bench/idle100k.sh                  # 100,000 connections, held 70 s
#   IDLE_N=19000 bench/idle100k.sh     # what fits under a 20,000 fd limit
#
# Environment: IDLE_N (100000), IDLE_HOLD (70s), IDLE_SOURCES
# (127.0.0.2-127.0.0.9), IDLE_PORT (39400), IDLE_CONCURRENCY (connects in
# progress at once, 200), IDLE_OUT (result directory, default
# bench/results/<date>-idle<N>).
#
# Each process needs one file descriptor per connection (plus a few), so the
# script raises `ulimit -n` (soft, and hard when allowed) to IDLE_N + 1024
# for both; it stops before starting anything when that is impossible or
# when fs.nr_open, fs.file-max or the ephemeral ports of the source
# addresses are too few. The server is stopped when the script ends,
# whatever the way. Traffic stays on 127.0.0.x.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/bench/.bin
cd "$ROOT"

n=${IDLE_N:-100000}
hold=${IDLE_HOLD:-70s}
sources=${IDLE_SOURCES:-127.0.0.2-127.0.0.9}
port=${IDLE_PORT:-39400}
conc=${IDLE_CONCURRENCY:-200}
out=${IDLE_OUT:-$ROOT/bench/results/$(date -u +%Y-%m-%d)-idle$n}
need=$((n + 1024))

fail() { echo "idle100k.sh: $*" >&2; exit 2; }

# --- limits, checked before anything starts --------------------------------
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
  ulimit -Hn "$need" 2>/dev/null || fail "the hard RLIMIT_NOFILE is $hard and cannot be raised to $need here
(it takes root with CAP_SYS_RESOURCE, /etc/security/limits.conf or 'prlimit --nofile=$need:$need --pid \$\$').
With this limit at most about $((hard - 1024)) connections fit in one process: IDLE_N=$((hard - 1024)) $0"
fi
ulimit -n "$need" || fail "cannot raise ulimit -n to $need"
nr_open=$(cat /proc/sys/fs/nr_open)
file_max=$(cat /proc/sys/fs/file-max)
[ "$nr_open" -ge "$need" ] || fail "fs.nr_open is $nr_open, below $need"
# Both ends of every connection are file descriptors of this machine.
[ "$file_max" -ge $((2 * need)) ] || fail "fs.file-max is $file_max, below $((2 * need))"
read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
count_sources() {
  case "$1" in
    *-*) local a=${1%-*} b=${1#*-}; echo $(( ${b##*.} - ${a##*.} + 1 )) ;;
    *) echo "$1" | tr ',' '\n' | grep -c . ;;
  esac
}
nsrc=$(count_sources "$sources")
ports=$(( (hi - lo + 1) * nsrc ))
[ "$ports" -ge "$n" ] || fail "$nsrc source address(es) × $((hi - lo + 1)) ephemeral ports ($lo-$hi) = $ports, below $n"
echo "idle100k.sh: $n connections; ulimit -n $(ulimit -n) (hard $(ulimit -Hn)); fs.nr_open $nr_open, fs.file-max $file_max; $nsrc sources × ports $lo-$hi" >&2

# --- build and run ------------------------------------------------------------
mkdir -p "$BIN" "$out"
go build -o "$BIN/sioload" ./bench/cmd/sioload
go build -o "$BIN/conformance" ./examples/conformance

server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

"$BIN/conformance" -addr "127.0.0.1:$port" -ping-interval 25s -ping-timeout 20s >"$out/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
kill -0 "$server" 2>/dev/null || fail "the server did not start: $(tail -3 "$out/server.log")"

status=0
"$BIN/sioload" -scenario idle -label go -addr "127.0.0.1:$port" -server-pid "$server" \
  -n "$n" -sources "$sources" -connect-concurrency "$conc" -connect-timeout 60s \
  -settle 5s -hold "$hold" >>"$out/results.jsonl" 2> >(tee "$out/sioload.log" >&2) || status=$?
if ! kill -0 "$server" 2>/dev/null; then
  echo "idle100k.sh: the server died; its log: $out/server.log" >&2
  status=1
fi
echo "idle100k.sh: result in $out/results.jsonl (exit $status)" >&2
exit "$status"
