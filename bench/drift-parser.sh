#!/usr/bin/env bash
# Parser throughput on a 200 MB `terraform plan -json` stream, against
#   jq -c 'select(.type=="resource_drift" or .type=="planned_change")'
# on the same file in the same run, with peak memory of each.
#
#   bench/drift-parser.sh [megabytes]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-200}
command -v jq >/dev/null && command -v hyperfine >/dev/null || bash .ci/install-tools >/dev/null
cargo build --quiet --profile fast-build -p platctl-drift --example parse_plan
parser="${CARGO_TARGET_DIR:-$PWD/target}/fast-build/examples/parse_plan"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
plan="$work/plan.jsonl"

# Real line shapes recorded from terraform 1.11 (crates/drift/tests/data), repeated:
# refresh hooks, planned changes, a drift line every 50 lines, a diagnostic every 1000.
python3 - "$plan" "$mb" <<'PY'
import json, sys
path, mb = sys.argv[1], int(sys.argv[2])
target = mb * 1024 * 1024
res = lambda i: {"addr": f"linode_instance.n[{i}]", "module": "", "resource": f"linode_instance.n[{i}]", "implied_provider": "linode", "resource_type": "linode_instance", "resource_name": "n", "resource_key": i}
with open(path, "w") as f:
    size, i = 0, 0
    while size < target:
        i += 1
        if i % 1000 == 0:
            m = {"@level": "warn", "@message": "Warning: deprecated", "@module": "terraform.ui", "diagnostic": {"severity": "warning", "summary": "Deprecated attribute", "detail": "x"}, "type": "diagnostic"}
        elif i % 50 == 0:
            m = {"@level": "info", "@message": f"linode_instance.n[{i}]: Drift detected (update)", "@module": "terraform.ui", "change": {"resource": res(i), "action": "update"}, "type": "resource_drift"}
        elif i % 5 == 0:
            m = {"@level": "info", "@message": f"linode_instance.n[{i}]: Plan to update", "@module": "terraform.ui", "change": {"resource": res(i), "action": "update"}, "type": "planned_change"}
        else:
            m = {"@level": "info", "@message": f"linode_instance.n[{i}]: Refreshing state... [id={i}]", "@module": "terraform.ui", "@timestamp": "2026-11-25T18:57:31.112649Z", "hook": {"resource": res(i), "id_key": "id", "id_value": str(i)}, "type": "refresh_start"}
        line = json.dumps(m, separators=(",", ":")) + "\n"
        f.write(line)
        size += len(line)
PY
bytes=$(stat -c %s "$plan")
echo "stream: $plan ($((bytes / 1024 / 1024)) MiB, $(wc -l <"$plan") lines)"
"$parser" "$plan"

hyperfine --warmup 1 --runs 5 --export-json "$work/h.json" \
  -n platctl-drift-parser "$parser $plan" \
  -n jq "jq -c 'select(.type==\"resource_drift\" or .type==\"planned_change\")' $plan > /dev/null"
python3 - "$work/h.json" "$bytes" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
mb = int(sys.argv[2]) / 1e6
p, j = r["platctl-drift-parser"]["median"], r["jq"]["median"]
print(f"| parser | median s | MB/s |\n|---|---|---|\n| platctl drift parser | {p:.3f} | {mb/p:.0f} |\n| jq select | {j:.3f} | {mb/j:.0f} |")
print(f"speed-up: {j/p:.1f}x (goal >= 5x)")
PY
peak() { python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
PY
}
echo "peak RSS: parser $(peak "$parser" "$plan") MiB, jq $(peak sh -c "jq -c 'select(.type==\"resource_drift\" or .type==\"planned_change\")' $plan") MiB"
