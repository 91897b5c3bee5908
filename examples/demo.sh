#!/usr/bin/env bash
# End-to-end tour of platctl's state core on the embedded default store
# (a local directory, no cloud account): terraform through platctl, a lock
# that blocks a second writer, immutable versions, and a rollback.
#
#   ./examples/demo.sh            # uses a fresh store under .platctl/demo/
#   KEEP=1 ./examples/demo.sh     # keep the store afterwards for exploring
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m### %s\033[0m\n' "$*"; [ -n "${NO_COLOR:-}" ] || true; }
[ -n "${NO_COLOR:-}" ] && say() { printf '\n### %s\n' "$*"; }

command -v terraform >/dev/null || { echo "error: terraform is not on PATH (the demo drives the real terraform)" >&2; exit 1; }

say "Building platctl"
cargo build --quiet --profile fast-build -p platctl
platctl="${CARGO_TARGET_DIR:-$PWD/target}/fast-build/platctl"

demo_dir="$PWD/.platctl/demo"
rm -rf "$demo_dir"
mkdir -p "$demo_dir"
export PLATCTL_STORE="file://$demo_dir/store"
export PLATCTL_AUDIT_LOG="$demo_dir/audit.jsonl"
export TF_IN_AUTOMATION=1
root=examples/demo
rm -rf "$root/.terraform" "$root/.terraform.lock.hcl"
tf() { "$platctl" tf --env demo --dir "$root" -- "$@"; }

say "The store refuses a second create of the same key (safe to lock on)"
"$platctl" store probe

say "terraform init + apply v1 through platctl (state served in-process)"
tf init -input=false -no-color >/dev/null
tf apply -auto-approve -input=false -no-color -var release=v1 | tail -3

say "apply v2"
tf apply -auto-approve -input=false -no-color -var release=v2 | tail -3

say "A long apply holds the lock; a second writer is refused and told who holds it"
tf apply -auto-approve -input=false -no-color -var release=v3 -var hold_seconds=6 >"$demo_dir/holder.log" 2>&1 &
holder=$!
for _ in $(seq 1 50); do
  "$platctl" state list --output json | grep -q '"ID"' && break
  sleep 0.2
done
"$platctl" state list
if tf apply -auto-approve -input=false -no-color -var release=intruder >"$demo_dir/intruder.log" 2>&1; then
  echo "error: the second writer was not blocked" >&2; exit 1
fi
grep -E "Error acquiring the state lock|ID:|Who:" "$demo_dir/intruder.log" | sed 's/^/    /'
wait "$holder"

say "Every state write is an immutable version"
"$platctl" state versions --env demo
first=$("$platctl" state versions --env demo --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

say "Roll back to the first version ($first): a new version, serial + 1, same lineage"
"$platctl" state rollback --env demo --to "$first" --reason "demo: v3 was bad"
"$platctl" state show --env demo

say "State rolled back; real infrastructure did not: plan shows what an apply of v3 would change"
set +e
tf plan -detailed-exitcode -input=false -no-color -var release=v3 | grep -E "^Plan:|No changes"
code=${PIPESTATUS[0]}
set -e
echo "    plan exit code: $code (2 = changes pending)"

say "The audit trail (one JSON line per lock, write, unlock, rollback and terraform run)"
python3 - "$PLATCTL_AUDIT_LOG" <<'PY'
import collections, json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
print(f"    {len(events)} events:", dict(collections.Counter(e["action"] for e in events)))
PY
[ -n "${KEEP:-}" ] || rm -rf "$root/.terraform" "$root/.terraform.lock.hcl"
echo
echo "Done. Store: $PLATCTL_STORE  Audit log: $PLATCTL_AUDIT_LOG"
