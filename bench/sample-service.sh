#!/usr/bin/env bash
# Benchmark: wrk against sample-service (metrics on, OTLP trace export on to a
# local sink, JSON access log on) and against a minimal axum hello-world, both
# built in this run with the same profile, same machine, same wrk settings.
# Every sample-service run is paired with a hello-world run just before it, and
# the ratio is taken per pair: the VM's speed drifts by 20% over minutes, and a
# pair sees the same conditions.
# Goals (issue 6): sample-service keeps >= 90% of hello-world's requests/s, and
# its p99 latency stays under 5 ms on loopback.
#
# Usage: bench/sample-service.sh [--duration S] [--connections N] [--threads N] [--rounds N]
# Env: NO_COLOR respected; PLATCTL_BENCH_PROFILE (default release; scripts/test
# uses the CI's fast-build). Results: bench/out/sample-service-<timestamp>.md (and stdout).
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
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
REPORT="$OUT/sample-service-$STAMP.md"

PROFILE=${PLATCTL_BENCH_PROFILE:-release}
say "building sample-service, hello-world and otlp-sink ($PROFILE profile)"
cargo build --profile "$PROFILE" --quiet --manifest-path "$ROOT/Cargo.toml" -p sample-service --bin sample-service --example hello-world --example otlp-sink
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

# Servers share CPU 0 (one Tokio worker each, the OTLP batch thread included),
# wrk gets CPU 1: the comparison stays fair on a busy machine. Without two
# CPUs everything shares one.
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SRV="taskset -c 0" LOAD="taskset -c 1"; export TOKIO_WORKER_THREADS=1
else
  SRV="" LOAD=""
fi
SINK_PORT=$(free_port); HELLO_PORT=$(free_port); FULL_PORT=$(free_port); TRACED_PORT=$(free_port); SAMPLED_PORT=$(free_port); METRICS_PORT=$(free_port)
LISTEN_ADDR=127.0.0.1:$SINK_PORT "$BIN/examples/otlp-sink" 2>"$OUT/otlp-sink.log" & PIDS+=($!)
declare -A PID
LISTEN_ADDR=127.0.0.1:$HELLO_PORT $SRV "$BIN/examples/hello-world" 2>/dev/null & PIDS+=($!); PID[hello]=$!
OTLP=http://127.0.0.1:$SINK_PORT
# full: metrics (always on), every request traced and exported over OTLP/HTTP, JSON access log (to /dev/null).
LISTEN_ADDR=127.0.0.1:$FULL_PORT OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP $SRV "$BIN/sample-service" >/dev/null 2>&1 & PIDS+=($!); PID[full]=$!
# traced: metrics + every request traced and exported; no access log.
LISTEN_ADDR=127.0.0.1:$TRACED_PORT OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP ACCESS_LOG=false \
  $SRV "$BIN/sample-service" >/dev/null 2>&1 & PIDS+=($!); PID[traced]=$!
# sampled: metrics + tracing with the standard 10% parent-based ratio sampler; no access log.
LISTEN_ADDR=127.0.0.1:$SAMPLED_PORT OTEL_EXPORTER_OTLP_ENDPOINT=$OTLP ACCESS_LOG=false \
  OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1 \
  $SRV "$BIN/sample-service" >/dev/null 2>&1 & PIDS+=($!); PID[sampled]=$!
# metrics: metrics only (no trace export, no access log): the middleware's own cost.
LISTEN_ADDR=127.0.0.1:$METRICS_PORT ACCESS_LOG=false $SRV "$BIN/sample-service" >/dev/null 2>&1 & PIDS+=($!); PID[metrics]=$!
for p in $HELLO_PORT $FULL_PORT $TRACED_PORT $SAMPLED_PORT $METRICS_PORT; do wait_http "http://127.0.0.1:$p/"; done

# CPU time (user+system, in clock ticks) the process has used so far. `taskset`
# execs the server, so the recorded PID is the server itself.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# wrk's "Requests/sec", the 99% line of --latency (ms), and the server's CPU
# microseconds per request (robust to other load on the machine: throughput of a
# CPU-bound server is inversely proportional to it).
run_wrk() {
  local url=$1 pid=$2 out c0 c1
  c0=$(cpu_ticks "$pid")
  out=$($LOAD wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
  c1=$(cpu_ticks "$pid")
  echo "$out" >>"$OUT/wrk-$STAMP.log"
  local rps p99 reqs cpu
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  cpu=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" -v t="$TICK" 'BEGIN {printf "%.2f", (b-a)/t*1e6/n}')
  echo "$rps $p99 $cpu"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

NAMES="full traced sampled metrics"
port_of() { case $1 in hello) echo "$HELLO_PORT" ;; full) echo "$FULL_PORT" ;; traced) echo "$TRACED_PORT" ;; sampled) echo "$SAMPLED_PORT" ;; metrics) echo "$METRICS_PORT" ;; esac; }
declare -A RPS P99 CPU RR CR
for name in hello $NAMES; do RPS[$name]=""; P99[$name]=""; CPU[$name]=""; RR[$name]=""; CR[$name]=""; done
for round in $(seq "$ROUNDS"); do
  for name in $NAMES; do
    say "round $round/$ROUNDS: hello-world, then $name (wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s each)"
    read -r hrps hp99 hcpu < <(run_wrk "http://127.0.0.1:$HELLO_PORT/" "${PID[hello]}")
    read -r rps p99 cpu < <(run_wrk "http://127.0.0.1:$(port_of "$name")/" "${PID[$name]}")
    RPS[hello]+="$hrps"$'\n'; P99[hello]+="$hp99"$'\n'; CPU[hello]+="$hcpu"$'\n'
    RPS[$name]+="$rps"$'\n'; P99[$name]+="$p99"$'\n'; CPU[$name]+="$cpu"$'\n'
    RR[$name]+="$(awk -v a="$rps" -v b="$hrps" 'BEGIN {printf "%.2f", 100*a/b}')"$'\n'
    CR[$name]+="$(awk -v a="$hcpu" -v b="$cpu" 'BEGIN {printf "%.2f", 100*a/b}')"$'\n'
  done
done

med() { printf '%s' "$1" | median; }
declare -A MR MP MC RATIO CRATIO RANGE
for name in hello $NAMES; do MR[$name]=$(med "${RPS[$name]}"); MP[$name]=$(med "${P99[$name]}"); MC[$name]=$(med "${CPU[$name]}"); done
RATIO[hello]=100; CRATIO[hello]=100
for name in $NAMES; do
  RATIO[$name]=$(med "${RR[$name]}"); CRATIO[$name]=$(med "${CR[$name]}")
  RANGE[$name]=$(printf '%s' "${RR[$name]}" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%s-%s%%", lo, hi}')
done
EXPORTS=$(tail -n1 "$OUT/otlp-sink.log" 2>/dev/null || true)
GOAL_RPS=$(awk -v r="${RATIO[traced]}" 'BEGIN {print (r >= 90) ? "met" : "MISSED"}')
GOAL_P99=$(awk -v p="${MP[traced]}" 'BEGIN {print (p < 5) ? "met" : "MISSED"}')

{
  echo "### sample-service vs axum hello-world ($STAMP)"
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average before the run: $LOADAVG."
  echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, GET /, loopback, $PROFILE profile, $ROUNDS rounds; each sample-service run paired with a hello-world run just before it."
  echo "CPU pinning: ${SRV:-none} for the servers (TOKIO_WORKER_THREADS=${TOKIO_WORKER_THREADS:-default}), ${LOAD:-none} for wrk."
  echo
  echo "| Server | Requests/s (wrk, median) | vs hello-world (median of pairs) | pairs' range | p99 latency | server CPU per request | hello-world CPU / this CPU (median of pairs) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  echo "| axum hello-world (examples/hello-world.rs) | ${MR[hello]} | 100% | | ${MP[hello]} ms | ${MC[hello]} µs | 100% |"
  echo "| sample-service: metrics + every request traced (OTLP) + JSON access log | ${MR[full]} | ${RATIO[full]}% | ${RANGE[full]} | ${MP[full]} ms | ${MC[full]} µs | ${CRATIO[full]}% |"
  echo "| sample-service: metrics + every request traced (OTLP), ACCESS_LOG=false | ${MR[traced]} | ${RATIO[traced]}% | ${RANGE[traced]} | ${MP[traced]} ms | ${MC[traced]} µs | ${CRATIO[traced]}% |"
  echo "| sample-service: metrics + tracing sampled 10% (parentbased_traceidratio), ACCESS_LOG=false | ${MR[sampled]} | ${RATIO[sampled]}% | ${RANGE[sampled]} | ${MP[sampled]} ms | ${MC[sampled]} µs | ${CRATIO[sampled]}% |"
  echo "| sample-service: metrics only (no OTLP endpoint), ACCESS_LOG=false | ${MR[metrics]} | ${RATIO[metrics]}% | ${RANGE[metrics]} | ${MP[metrics]} ms | ${MC[metrics]} µs | ${CRATIO[metrics]}% |"
  echo
  echo "Goal >= 90% of hello-world's requests/s with metrics and tracing on (row 3, median of the paired wrk ratios): **$GOAL_RPS** (${RATIO[traced]}%; by CPU per request ${CRATIO[traced]}%)."
  echo "Goal p99 < 5 ms (row 3): **$GOAL_P99** (${MP[traced]} ms; hello-world's own p99 in the same run: ${MP[hello]} ms)."
  echo "Server CPU per request is read from /proc/<pid>/stat around each wrk run (includes the OTLP export); its ratio estimates the throughput ratio on a dedicated core."
  echo "Load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "OTLP sink: ${EXPORTS:-no exports recorded}."
} | tee "$REPORT"
say "report: $REPORT (raw wrk output: $OUT/wrk-$STAMP.log)"
[ "$GOAL_RPS" = met ] && [ "$GOAL_P99" = met ]
