#!/usr/bin/env bash
# Audit shipping benchmark (issue 5): events/s from a JSON Lines audit file
# into the local Loki receiver (crates/audit-loki/benches/ship.rs `serve`:
# gunzips, decodes and validates every push), through the real
# `platctl audit ship --from FILE`, pinned to ONE core (taskset -c 0; the
# receiver runs on the other core), with max RSS from /usr/bin/time -v.
# Two sizes show memory is bounded (the file is streamed, one batch in memory).
# Results go to stdout as Markdown; copy them into docs/benchmarks.md.
#
#   bench/audit-ship.sh [runs] [small-N] [large-N]      (PROFILE=fast-build by default)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
small=${2:-100000}
large=${3:-1000000}
profile=${PROFILE:-fast-build}

cargo build --quiet --profile "$profile" -p platctl --bin platctl
platctl="$PWD/target/$profile/platctl"
bench=$(cargo build --quiet --profile "$profile" -p platctl-audit-loki --bench ship --message-format=json \
  | jq -r 'select(.reason == "compiler-artifact" and .target.name == "ship" and .executable != null) | .executable')
[ -x "$bench" ] || { echo "cannot find the ship bench executable" >&2; exit 1; }

dir=$(mktemp -d)
rpid=
cleanup() { exec 3>&- 2>/dev/null || true; [ -n "$rpid" ] && kill "$rpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
mkfifo "$dir/ctl"
taskset -c 1 "$bench" serve "$dir/port" <"$dir/ctl" >"$dir/recv.json" &
rpid=$!
exec 3>"$dir/ctl"
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$dir/port")"
unset PLATCTL_LOKI_URL PLATCTL_LOKI_TENANT PLATCTL_LOKI_USERNAME PLATCTL_LOKI_PASSWORD PLATCTL_LOKI_TOKEN
export NO_COLOR=1

echo "| events | run | wall s | events/s (wall) | shipper CPU s | events per CPU-second | max RSS MiB | file MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
total=0
for n in "$small" "$large"; do
  "$bench" gen "$dir/audit-$n.jsonl" "$n"
  mib=$(( $(stat -c %s "$dir/audit-$n.jsonl") / 1048576 ))
  for run in $(seq "$runs"); do
    /usr/bin/time -v -o "$dir/time" taskset -c 0 "$platctl" audit ship --from "$dir/audit-$n.jsonl" --loki "$url" \
      --from-start --output json >"$dir/ship.json" 2>/dev/null
    sent=$(jq -r .sent_events "$dir/ship.json")
    [ "$sent" = "$n" ] || { echo "run sent $sent of $n events" >&2; exit 1; }
    total=$((total + n))
    eps=$(jq -r '.events_per_second | floor' "$dir/ship.json")
    wall=$(jq -r '.duration_seconds * 1000 | floor / 1000' "$dir/ship.json")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$dir/time")
    cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.2f", t }' "$dir/time")
    epc=$(awk -v n="$n" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
    echo "| $n | $run | $wall | $eps | $cpu | $epc | $rss | $mib |"
  done
done
exec 3>&-
wait "$rpid"
rpid=
accepted=$(jq -r .accepted_entries "$dir/recv.json")
echo
echo "receiver accepted $accepted entries in $(jq -r .requests "$dir/recv.json") requests (expected $total)"
[ "$accepted" = "$total" ] || { echo "receiver count mismatch" >&2; exit 1; }
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); profile $profile; shipper pinned to core 0"
