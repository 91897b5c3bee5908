#!/usr/bin/env bash
# Benchmark: wrk against sample-service (metrics on, OTLP trace export on to a
# local sink, JSON access log on) and against a minimal axum hello-world, both
# built in this run with the release profile, same machine, same wrk settings.
# Goals (issue 6): sample-service keeps >= 90% of hello-world's requests/s, and
# its p99 latency stays under 5 ms on loopback.
#
# Usage: bench/sample-service.sh [--duration S] [--connections N] [--threads N] [--rounds N]
# Env: NO_COLOR respected. Results: bench/out/sample-service-<timestamp>.md (and stdout).
# Exit: 0 goals met, 1 a goal missed, 2 usage or missing tool.
set -euo pipefail

DURATION=10 CONNECTIONS=32 THREADS=1 ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then B=$'\e[1m' R=$'\e[0m'; else B='' R=''; fi
say() { printf '%s==>%s %s\n' "$B" "$R" "$*" >&2; }

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk; .ci/install-tools)" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/bench/out"; mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
REPORT="$OUT/sample-service-$STAMP.md"

say "building sample-service, hello-world and otlp-sink (release profile)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p sample-service --bin sample-service --example hello-world --example otlp-sink
BIN="$ROOT/target/release"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

SINK_PORT=$(free_port); HELLO_PORT=$(free_port); SVC_PORT=$(free_port); QUIET_PORT=$(free_port)
LISTEN_ADDR=127.0.0.1:$SINK_PORT "$BIN/examples/otlp-sink" 2>"$OUT/otlp-sink.log" & PIDS+=($!)
LISTEN_ADDR=127.0.0.1:$HELLO_PORT "$BIN/examples/hello-world" 2>/dev/null & PIDS+=($!)
# Full configuration: metrics (always on), trace export over OTLP/HTTP, JSON access log.
LISTEN_ADDR=127.0.0.1:$SVC_PORT OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$SINK_PORT \
  "$BIN/sample-service" >/dev/null 2>&1 & PIDS+=($!)
# Same, without the per-request access log line (to show what logging costs).
LISTEN_ADDR=127.0.0.1:$QUIET_PORT OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$SINK_PORT ACCESS_LOG=false \
  "$BIN/sample-service" >/dev/null 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$HELLO_PORT/"; wait_http "http://127.0.0.1:$SVC_PORT/"; wait_http "http://127.0.0.1:$QUIET_PORT/"

# wrk's "Requests/sec" and the 99% line of --latency, in ms.
run_wrk() {
  local url=$1 out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
  echo "$out" >>"$OUT/wrk-$STAMP.log"
  local rps p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}')
  echo "$rps $p99"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RPS P99
for name in hello full quiet; do RPS[$name]=""; P99[$name]=""; done
for round in $(seq "$ROUNDS"); do
  for name in hello full quiet; do
    case $name in hello) port=$HELLO_PORT ;; full) port=$SVC_PORT ;; quiet) port=$QUIET_PORT ;; esac
    say "round $round/$ROUNDS: $name (wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s)"
    read -r rps p99 < <(run_wrk "http://127.0.0.1:$port/")
    RPS[$name]+="$rps"$'\n'; P99[$name]+="$p99"$'\n'
  done
done

med_rps() { printf '%s' "${RPS[$1]}" | median; }
med_p99() { printf '%s' "${P99[$1]}" | median; }
H_RPS=$(med_rps hello); F_RPS=$(med_rps full); Q_RPS=$(med_rps quiet)
H_P99=$(med_p99 hello); F_P99=$(med_p99 full); Q_P99=$(med_p99 quiet)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", 100*a/b}'; }
F_RATIO=$(ratio "$F_RPS" "$H_RPS"); Q_RATIO=$(ratio "$Q_RPS" "$H_RPS")
EXPORTS=$(tail -n1 "$OUT/otlp-sink.log" 2>/dev/null || true)
GOAL_RPS=$(awk -v r="$F_RATIO" 'BEGIN {print (r >= 90) ? "met" : "MISSED"}')
GOAL_P99=$(awk -v p="$F_P99" 'BEGIN {print (p < 5) ? "met" : "MISSED"}')

{
  echo "### sample-service vs axum hello-world ($STAMP)"
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, GET /, loopback, median of $ROUNDS rounds, release profile; wrk and the server share the machine."
  echo
  echo "| Server | Requests/s | p99 latency | vs hello-world |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| axum hello-world (examples/hello-world.rs) | $H_RPS | ${H_P99} ms | 100% |"
  echo "| sample-service: metrics + OTLP traces + JSON access log | $F_RPS | ${F_P99} ms | ${F_RATIO}% |"
  echo "| sample-service: metrics + OTLP traces, ACCESS_LOG=false | $Q_RPS | ${Q_P99} ms | ${Q_RATIO}% |"
  echo
  echo "Goal >= 90% of hello-world's requests/s (full configuration): **$GOAL_RPS** (${F_RATIO}%)."
  echo "Goal p99 < 5 ms (full configuration): **$GOAL_P99** (${F_P99} ms)."
  echo "OTLP sink: ${EXPORTS:-no exports recorded}."
} | tee "$REPORT"
say "report: $REPORT (raw wrk output: $OUT/wrk-$STAMP.log)"
[ "$GOAL_RPS" = met ] && [ "$GOAL_P99" = met ]
