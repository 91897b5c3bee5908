#!/usr/bin/env bash
# Sealing throughput (secrets/s): platctl vs kubesealpy (PyPI), same machine, same run.
#
#   bench/seal.sh [SECRETS] [KEYS]     defaults: 1000 secrets of 3 values, RSA-4096 certificate
#
# Two measurements, each for both implementations:
#   in-process   one process seals SECRETS Secrets and renders YAML
#                (platctl-secrets' examples/seal_bench vs kubesealpy Sealer.seal().to_yaml());
#                best of 3 rounds
#   per-process  one process per Secret, the way kubeseal is used in scripts
#                (`platctl secrets seal` vs a python3 process using kubesealpy), hyperfine, 30 runs
# Results: a Markdown table on stdout (paste into docs/benchmarks.md) and
# JSON under bench/out/. Progress on stderr. Needs python3 + kubesealpy, hyperfine.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
SECRETS=${1:-1000}
KEYS=${2:-3}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HELPER=crates/secrets/tests/support/kubeseal_check.py
OUT=bench/out
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-seal.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
log() { printf '==> %s\n' "$*" >&2; }

command -v hyperfine >/dev/null || { echo "hyperfine is required (.ci/install-tools)" >&2; exit 2; }
python3 -c 'import kubesealpy' 2>/dev/null || { echo "kubesealpy is required (.ci/install-tools)" >&2; exit 2; }

log "building platctl and the seal_bench example (profile fast-build: dependencies at opt-level 2)"
cargo build -q --profile fast-build -p platctl -p platctl-secrets --example seal_bench >&2
PLATCTL=${CARGO_TARGET_DIR:-target}/fast-build/platctl
BENCH=${CARGO_TARGET_DIR:-target}/fast-build/examples/seal_bench

log "throwaway RSA-4096 controller certificate (the controller's default key size)"
python3 "$HELPER" gen --dir "$WORK" --bits 4096 --no-key >/dev/null
CERT="$WORK/cert.pem"

best() { python3 -c 'import json,sys; print(max(json.loads(l)["secrets_per_second"] for l in sys.stdin))'; }

log "in-process: $SECRETS secrets x $KEYS values, 3 rounds each"
rust_rounds=$(for _ in 1 2 3; do "$BENCH" "$CERT" "$SECRETS" "$KEYS"; done)
py_rounds=$(for _ in 1 2 3; do python3 "$HELPER" bench --cert "$CERT" --secrets "$SECRETS" --keys "$KEYS"; done)
rust_inproc=$(best <<<"$rust_rounds")
py_inproc=$(best <<<"$py_rounds")

log "per-process: one Secret of $KEYS values per process (hyperfine, 30 runs)"
{
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: bench\n  namespace: bench\nstringData:\n'
  for i in $(seq 1 "$KEYS"); do printf '  key%s: %s\n' "$i" "$(head -c 18 /dev/urandom | base64)"; done
} >"$WORK/secret.yaml"
# (hyperfine subtracts its own shell's start-up time from each run.)
hyperfine --warmup 3 --runs 30 --export-json "$WORK/hf.json" \
  -n platctl "$PLATCTL secrets seal --cert $CERT < $WORK/secret.yaml > /dev/null" \
  -n kubesealpy "python3 $HELPER seal --cert $CERT < $WORK/secret.yaml > /dev/null" >&2
read -r rust_proc py_proc < <(python3 -c '
import json,sys
r={x["command"]:x for x in json.load(open(sys.argv[1]))["results"]}
print(1/r["platctl"]["mean"], 1/r["kubesealpy"]["mean"])' "$WORK/hf.json")

stamp=$(date -u +%Y%m%dT%H%M%SZ)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //' || echo unknown)
python3 - "$OUT/seal-$stamp.json" <<PY
import json, sys
json.dump({"date": "$stamp", "cpu": "$cpu", "nproc": $(nproc), "secrets": $SECRETS, "keys": $KEYS, "rsa_bits": 4096,
           "in_process": {"platctl": $rust_inproc, "kubesealpy": $py_inproc},
           "per_process": {"platctl": $rust_proc, "kubesealpy": $py_proc}}, open(sys.argv[1], "w"), indent=2)
PY
log "raw results: $OUT/seal-$stamp.json"

printf '| mode | platctl (secrets/s) | kubesealpy (secrets/s) | ratio |\n|---|---:|---:|---:|\n'
python3 -c '
import sys
a,b,c,d=map(float,sys.argv[1:5])
print(f"| in-process, {sys.argv[5]} secrets x {sys.argv[6]} values | {a:,.0f} | {b:,.0f} | {a/b:.1f}x |")
print(f"| one process per secret ({sys.argv[6]} values) | {c:,.1f} | {d:,.1f} | {c/d:.1f}x |")' \
  "$rust_inproc" "$py_inproc" "$rust_proc" "$py_proc" "$SECRETS" "$KEYS"
printf '\n%s, %s cores, RSA-4096 certificate, %s\n' "$cpu" "$(nproc)" "$stamp"
