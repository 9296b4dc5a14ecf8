#!/usr/bin/env bash
# Benchmarks: the same conformance app on several servers ("peers"), driven
# by bench/cmd/sioload, interleaved (A B A B ...), medians and ratios to Node.
#
#   bench/run.sh --smoke          # seconds: small sizes, 1 repeat (CI)
#   bench/run.sh                  # full: about 10 minutes with two peers
#
# Flags:
#   --smoke              short mode (below)
#   --repeats N          runs per peer and scenario (full: 3)
#   --peers LIST         comma list of node,uws,go,caddy (default: all, but
#                        caddy only in full mode; the ones that cannot run
#                        are skipped with a message)
#   --scenarios LIST     comma list of fanout,echo,idle,churn (default: all)
#   --pin / --no-pin     server on CPU 0 and sioload on CPU 1 with taskset
#                        (default: on in full mode, off in smoke mode)
#   --out DIR            where results.jsonl and report.md go
#                        (default: bench/results/<date>-<mode>)
# Sizes and times can be changed with environment variables:
#   BENCH_DURATION (measured window, full 10s), BENCH_WARMUP (2s),
#   BENCH_LATENCY_DURATION (10s), BENCH_RATE (50%, or messages/s),
#   BENCH_FANOUT_N ("1000 5000"), BENCH_ECHO_C (64), BENCH_IDLE_N (10000),
#   BENCH_CHURN_C (64), BENCH_SOURCES (127.0.0.2-127.0.0.9),
#   BENCH_SERVER_CPU (0), BENCH_LOAD_CPU (1), BENCH_CADDY_RULES (the rules
#   of namespace "/" in the generated Caddyfile).
# All traffic stays on 127.0.0.x; every server is stopped when the script
# ends, whatever the way.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
BIN=$BENCH/.bin
cd "$ROOT"

mode=full
repeats=""
peers=""
scenarios="fanout,echo,idle,churn"
pin=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --repeats) repeats=$2; shift ;;
    --peers) peers=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --pin) pin=1 ;;
    --no-pin) pin=0 ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$mode" = smoke ]; then
  # Caddy is left out to keep smoke short (~8 s more); --peers adds it.
  d_peers="node,uws,go"
  d_repeats=1 d_duration=1s d_warmup=300ms d_latency=1s d_fanout="50 200" d_echo=4 d_idle=300 d_churn=2 d_pin=0
  d_settle=500ms d_limit=120
else
  d_peers="node,uws,go,caddy"
  d_repeats=3 d_duration=10s d_warmup=2s d_latency=10s d_fanout="1000 5000" d_echo=64 d_idle=10000 d_churn=64 d_pin=1
  d_settle=2s d_limit=600
fi
peers=${peers:-$d_peers}
repeats=${repeats:-${BENCH_REPEATS:-$d_repeats}}
duration=${BENCH_DURATION:-$d_duration}
warmup=${BENCH_WARMUP:-$d_warmup}
latency=${BENCH_LATENCY_DURATION:-$d_latency}
rate=${BENCH_RATE:-50%}
fanout_n=${BENCH_FANOUT_N:-$d_fanout}
echo_c=${BENCH_ECHO_C:-$d_echo}
idle_n=${BENCH_IDLE_N:-$d_idle}
churn_c=${BENCH_CHURN_C:-$d_churn}
sources=${BENCH_SOURCES:-127.0.0.2-127.0.0.9}
pin=${pin:-$d_pin}
out=${out:-$BENCH/results/$(date +%Y%m%d-%H%M%S)-$mode}

server_pin=() load_pin=()
if [ "$pin" = 1 ]; then
  if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    server_pin=(taskset -c "${BENCH_SERVER_CPU:-0}")
    load_pin=(taskset -c "${BENCH_LOAD_CPU:-1}")
  else
    echo "run.sh: pinning needs taskset and 2 CPUs; running unpinned" >&2
    pin=0
  fi
fi

# Many connections: servers inherit this limit (sioload raises its own).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p "$BIN" "$out"
results=$out/results.jsonl
: >"$results"
work=$(mktemp -d)
server_pid=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

echo "== build"
go build -o "$BIN/sioload" ./bench/cmd/sioload
go build -o "$BIN/conformance" ./examples/conformance

# The Node peers take socket.io from bench/node's lockfile. The official
# server is test/interop/reference-server.mjs, run from a copy inside
# bench/node so that it resolves bench/node/node_modules.
node_ok=1
if ! command -v node >/dev/null; then
  node_ok=0
else
  stamp=$BENCH/node/node_modules/.lock-stamp
  if [ ! -f "$stamp" ] || ! cmp -s "$BENCH/node/package-lock.json" "$stamp"; then
    (cd "$BENCH/node" && npm ci --no-audit --no-fund >/dev/null) && cp "$BENCH/node/package-lock.json" "$stamp" || node_ok=0
  fi
  mkdir -p "$BENCH/node/.run"
  cp test/interop/reference-server.mjs "$BENCH/node/.run/reference-server.mjs"
fi

have_caddy=0
if [ -d cmd/caddy ]; then
  if go build -o "$BIN/caddy" ./cmd/caddy; then have_caddy=1; fi
fi
# Rules of namespace "/" for Caddy: the conformance rules the load generator
# uses, written with the module's declarative rules. R1: welcome arrives on
# connect (sioload checks that it arrives, not its content); R3: ack-echo;
# R4: join acks with the room name; R6: to-room {room, payload} sends
# room-message(payload) to the room, sender included.
caddy_rules=${BENCH_CADDY_RULES:-$'greet welcome `{}`\n\t\t\tjoin join room\n\t\t\tack ack-echo\n\t\t\trelay to-room room-message {\n\t\t\t\tto field room\n\t\t\t\tpayload payload\n\t\t\t}'}

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# start_server PEER: starts it pinned, sets server_pid and server_addr, or
# prints why it cannot run and returns 1.
start_server() {
  local peer=$1 log=$work/$1.log port cmd=()
  server_addr=""
  case "$peer" in
    node)
      [ "$node_ok" = 1 ] || { echo "skipped: node or the bench/node packages are missing"; return 1; }
      cmd=(node "$BENCH/node/.run/reference-server.mjs" --addr 127.0.0.1:0 --ping-interval 25000 --ping-timeout 20000) ;;
    uws)
      [ "$node_ok" = 1 ] || { echo "skipped: node or the bench/node packages are missing"; return 1; }
      if ! (cd "$BENCH/node" && node -e 'import("uWebSockets.js").catch(() => process.exit(3))') 2>/dev/null; then
        echo "skipped: uWebSockets.js is not on the npm registry"; return 1
      fi
      cmd=(node "$BENCH/node/uws-server.mjs" --addr 127.0.0.1:0 --ping-interval 25000 --ping-timeout 20000) ;;
    go)
      cmd=("$BIN/conformance" -addr 127.0.0.1:0 -ping-interval 25s -ping-timeout 20s) ;;
    caddy)
      [ "$have_caddy" = 1 ] || { echo "skipped: no ./cmd/caddy to build"; return 1; }
      port=$(free_port) || { echo "skipped: no free port for caddy"; return 1; }
      mkdir -p "$work/caddy"
      printf '{\n\tadmin off\n}\n\nhttp://127.0.0.1:%s {\n\tsocketio {\n\t\tping_interval 25s\n\t\tping_timeout 20s\n\t\tnamespace / {\n\t\t\t%s\n\t\t}\n\t}\n}\n' \
        "$port" "$caddy_rules" >"$work/caddy/Caddyfile"
      cmd=(env XDG_DATA_HOME="$work/caddy" XDG_CONFIG_HOME="$work/caddy" "$BIN/caddy" run --adapter caddyfile --config "$work/caddy/Caddyfile") ;;
  esac
  "${server_pin[@]}" "${cmd[@]}" >"$log" 2>&1 </dev/null &
  server_pid=$!
  for _ in $(seq 100); do
    if [ "$peer" = caddy ]; then
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then server_addr=127.0.0.1:$port; break; fi
    else
      server_addr=$(sed -n 's/^listening on \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$log" | head -1)
      [ -n "$server_addr" ] && break
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$server_addr" ]; then
    echo "skipped: $peer did not start: $(tail -3 "$log" | tr '\n' ' ')"
    stop_server
    return 1
  fi
  # The `env` wrapper of caddy execs, so the pid is the server's in every case.
  if ! probe=$("$BIN/sioload" -scenario probe -addr "$server_addr" -label "$peer" -q 2>&1 >/dev/null); then
    echo "skipped: $peer does not serve the conformance rules join/to-room/ack-echo (${probe#*FAILED: })"
    stop_server
    return 1
  fi
}

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== mode $mode: repeats $repeats, duration $duration (+$warmup warm-up), pinned $([ "$pin" = 1 ] && echo "server cpu ${BENCH_SERVER_CPU:-0}, load cpu ${BENCH_LOAD_CPU:-1}" || echo no)"
echo "== go $(go env GOVERSION), node $(node --version 2>/dev/null || echo none), out $out"

# Decide once which peers run: each must start and pass the probe.
active=()
IFS=, read -r -a wanted <<<"$peers"
for peer in "${wanted[@]}"; do
  case "$peer" in node|uws|go|caddy) ;; *) echo "run.sh: unknown peer $peer" >&2; exit 2 ;; esac
  echo -n "-- $peer: "
  if start_server "$peer"; then
    echo "ok ($server_addr)"
    active+=("$peer")
    stop_server
  fi
done
[ ${#active[@]} -gt 0 ] || { echo "run.sh: no peer can run" >&2; exit 1; }

failures=0
run_one() { # run_one PEER SCENARIO ARGS...
  local peer=$1 scenario=$2
  shift 2
  if ! start_server "$peer"; then failures=$((failures + 1)); return; fi
  if ! timeout --kill-after=10 "$d_limit" "${load_pin[@]}" "$BIN/sioload" -scenario "$scenario" -addr "$server_addr" \
    -label "$peer" -server-pid "$server_pid" -q "$@" >>"$results"; then
    failures=$((failures + 1))
  fi
  stop_server
}

IFS=, read -r -a scen <<<"$scenarios"
for s in "${scen[@]}"; do
  case "$s" in
    fanout)
      for n in $fanout_n; do
        echo "== fanout $n subscribers"
        for rep in $(seq "$repeats"); do
          for peer in "${active[@]}"; do
            run_one "$peer" fanout -n "$n" -warmup "$warmup" -duration "$duration" -latency-duration "$latency" \
              -rate "$rate" -sources "$sources"
          done
        done
      done ;;
    echo)
      echo "== echo $echo_c clients"
      for rep in $(seq "$repeats"); do
        for peer in "${active[@]}"; do run_one "$peer" echo -c "$echo_c" -warmup "$warmup" -duration "$duration"; done
      done ;;
    idle)
      echo "== idle $idle_n connections"
      for rep in $(seq "$repeats"); do
        for peer in "${active[@]}"; do run_one "$peer" idle -n "$idle_n" -sources "$sources" -settle "$d_settle"; done
      done ;;
    churn)
      echo "== churn $churn_c workers"
      for rep in $(seq "$repeats"); do
        for peer in "${active[@]}"; do
          run_one "$peer" churn -c "$churn_c" -warmup "$warmup" -duration "$duration" -sources "$sources"
        done
      done ;;
    *) echo "run.sh: unknown scenario $s" >&2; exit 2 ;;
  esac
done

echo
baseline=node
[[ " ${active[*]} " == *" node "* ]] || baseline=${active[0]}
{
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); mode $mode, pinned: $([ "$pin" = 1 ] && echo yes || echo no); $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  "$BIN/sioload" report -baseline "$baseline" "$results"
} | tee "$out/report.md"
echo "results: $results"
if [ "$failures" -gt 0 ]; then
  echo "run.sh: $failures run(s) failed" >&2
  exit 1
fi
