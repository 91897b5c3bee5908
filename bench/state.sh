#!/usr/bin/env bash
# Benchmarks of the state core (issue 2), against the same SeaweedFS and the
# same terraform:
#   1. apply of 300 terraform_data resources onto an existing env (destroyed
#      before each run, untimed), then a no-op plan, through `platctl tf`
#      (http backend, in-process) and through Terraform's native s3 backend
#      with use_lockfile;
#   2. lock + unlock round trips with 32 concurrent clients vs the floor of
#      one conditional PUT + one DELETE (crates/backend/benches/lock.rs).
# Results go to stdout; copy them into docs/benchmarks.md with the date.
#
#   bench/state.sh [runs] [lock-iterations-per-client-per-round (0 skips)]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
lock_iterations=${2:-25}

# shellcheck source=bench/lib/state-store.sh
source bench/lib/state-store.sh
export TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1

work=$(mktemp -d)
mkdir -p "$work/http" "$work/s3"
cp examples/demo/main.tf "$work/http/main.tf"
sed 's/backend "http" {}/backend "s3" {}/' examples/demo/main.tf >"$work/s3/main.tf"

now_ms() { date +%s%3N; }
results="$work/results.csv"
echo "mode,run,apply_ms,plan_ms" >"$results"

# Each side has one env (one prefix) for the whole benchmark, initialised once,
# like a real environment: every run destroys (untimed), then times the apply
# of 300 resources onto the existing state and a no-op plan. The first state
# write of a fresh prefix also creates the store's directories, which is a
# one-time cost neither side pays again.
prefix="bench-$RANDOM$RANDOM"
export PLATCTL_STORE="s3://$bucket/$prefix" PLATCTL_AUDIT_LOG="$work/audit.jsonl"
"$platctl" tf --env bench --dir "$work/http" -- init -input=false >/dev/null 2>&1
cat >"$work/s3/backend.tfbackend" <<CFG
bucket                      = "$bucket"
key                         = "$prefix/native/terraform.tfstate"
region                      = "us-east-1"
use_lockfile                = true
use_path_style              = true
skip_credentials_validation = true
skip_region_validation      = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
skip_s3_checksum            = true
endpoints = {
  s3 = "$PLATCTL_TEST_S3_ENDPOINT"
}
CFG
(cd "$work/s3" && terraform init -input=false -backend-config=backend.tfbackend >/dev/null 2>&1)

run_platctl() {
  local run=$1 t0 t1 t2
  "$platctl" tf --env bench --dir "$work/http" -- destroy -auto-approve -input=false -var replicas=300 >/dev/null 2>&1
  t0=$(now_ms)
  "$platctl" tf --env bench --dir "$work/http" -- apply -auto-approve -input=false -var replicas=300 >/dev/null 2>&1
  t1=$(now_ms)
  "$platctl" tf --env bench --dir "$work/http" -- plan -input=false -detailed-exitcode -var replicas=300 >/dev/null 2>&1
  t2=$(now_ms)
  echo "platctl,$run,$((t1 - t0)),$((t2 - t1))" >>"$results"
}

run_native() {
  local run=$1 t0 t1 t2
  (cd "$work/s3" && terraform destroy -auto-approve -input=false -var replicas=300 >/dev/null 2>&1)
  t0=$(now_ms)
  (cd "$work/s3" && terraform apply -auto-approve -input=false -var replicas=300 >/dev/null 2>&1)
  t1=$(now_ms)
  (cd "$work/s3" && terraform plan -input=false -detailed-exitcode -var replicas=300 >/dev/null 2>&1)
  t2=$(now_ms)
  echo "native-s3,$run,$((t1 - t0)),$((t2 - t1))" >>"$results"
}

# One untimed round first (page cache, the first write of each prefix), then
# ABBA order so neither side always runs first.
run_platctl 0 && sed -i '$d' "$results"
run_native 0 && sed -i '$d' "$results"
for run in $(seq 1 "$runs"); do
  if ((run % 2)); then
    run_platctl "$run"
    run_native "$run"
  else
    run_native "$run"
    run_platctl "$run"
  fi
  echo "run $run done" >&2
done

python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
med = {}
for mode in ("platctl", "native-s3"):
    r = [x for x in rows if x["mode"] == mode]
    med[mode] = {k: statistics.median(int(x[k]) for x in r) for k in ("apply_ms", "plan_ms")}
    med[mode].update({k + "_mean": statistics.mean(int(x[k]) for x in r) for k in ("apply_ms", "plan_ms")})
print(f"| step | platctl tf (ms, median of {len(rows)//2}) | native s3 + use_lockfile (ms) | ratio of medians | ratio of means |")
print("|---|---|---|---|---|")
for k, name in (("apply_ms", "apply 300 terraform_data"), ("plan_ms", "no-op plan")):
    a, b = med["platctl"][k], med["native-s3"][k]
    am, bm = med["platctl"][k + "_mean"], med["native-s3"][k + "_mean"]
    print(f"| {name} | {a:.0f} | {b:.0f} | {a/b:.3f} | {am/bm:.3f} |")
print()
for k, name in (("apply_ms", "apply"), ("plan_ms", "plan")):
    r = med["platctl"][k] / med["native-s3"][k]
    print(f"Goal {name} within 5% of native (ratio of medians): {'met' if r <= 1.05 else 'MISSED'} ({r:.3f})")
print()
for mode in ("platctl", "native-s3"):
    r = sorted(rows, key=lambda x: int(x["apply_ms"]))
    print(f"{mode} apply (ms, sorted):", " ".join(x["apply_ms"] for x in r if x["mode"] == mode))
    r = sorted(rows, key=lambda x: int(x["plan_ms"]))
    print(f"{mode} plan  (ms, sorted):", " ".join(x["plan_ms"] for x in r if x["mode"] == mode))
PY

echo
if ((lock_iterations > 0)); then
  echo "Lock round trips (32 clients, 4 alternating rounds of $lock_iterations each):"
  cargo bench --quiet --profile "$profile" -p platctl-backend --bench lock -- "$lock_iterations" 4 2>/dev/null | grep -E "floor|platctl|ratio"
fi
rm -rf "$work"
