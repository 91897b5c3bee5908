# Starts the real services the test suite needs, on loopback, in a private
# temp dir, and exports their addresses for the tests. Source it; call
# start_services; everything is stopped on exit.
# shellcheck shell=bash

SERVICES_DIR=""
SERVICE_PIDS=()

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# A port p such that p and p+10000 are both free (SeaweedFS puts gRPC at +10000).
free_port_pair() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 29999)
    ok = True
    for q in (p, p + 10000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", q))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break
PY
}

stop_services() {
  for pid in "${SERVICE_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVICE_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  [ -n "$SERVICES_DIR" ] && rm -rf "$SERVICES_DIR"
}

wait_http() { # url, name, log
  local url=$1 name=$2 log=$3
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.5
  done
  echo "error: $name did not start; its log follows" >&2
  tail -50 "$log" >&2
  return 1
}

start_seaweedfs() {
  local master volume filer s3
  master=$(free_port_pair); volume=$(free_port_pair); filer=$(free_port_pair); s3=$(free_port_pair)
  mkdir -p "$SERVICES_DIR/weed"
  # No -s3.config: anonymous access, which lets the If-None-Match-stripping
  # test proxy sit in front without breaking request signatures.
  weed server -dir="$SERVICES_DIR/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$master" -volume.port="$volume" -filer.port="$filer" \
    -s3 -s3.port="$s3" -s3.port.iceberg=0 -s3.port.lance=0 -volume.max=100 -master.volumeSizeLimitMB=64 \
    >"$SERVICES_DIR/weed.log" 2>&1 &
  SERVICE_PIDS+=($!)
  wait_http "http://127.0.0.1:$s3/" SeaweedFS "$SERVICES_DIR/weed.log"
  # The S3 gateway answers before the volume servers are ready: wait for a real write.
  for _ in $(seq 1 120); do
    curl -s -o /dev/null -X PUT "http://127.0.0.1:$s3/platctl-ready" || true
    if curl -sf -o /dev/null -X PUT --data ok "http://127.0.0.1:$s3/platctl-ready/probe"; then break; fi
    sleep 0.5
  done
  export PLATCTL_TEST_S3_ENDPOINT="http://127.0.0.1:$s3"
  echo "SeaweedFS S3 at $PLATCTL_TEST_S3_ENDPOINT" >&2
}

start_openbao() {
  local port token
  port=$(free_port)
  token="root-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  bao server -dev -dev-root-token-id="$token" -dev-listen-address="127.0.0.1:$port" \
    >"$SERVICES_DIR/bao.log" 2>&1 &
  SERVICE_PIDS+=($!)
  wait_http "http://127.0.0.1:$port/v1/sys/health" OpenBao "$SERVICES_DIR/bao.log"
  export PLATCTL_TEST_BAO_ADDR="http://127.0.0.1:$port"
  export PLATCTL_TEST_BAO_TOKEN="$token"
  echo "OpenBao at $PLATCTL_TEST_BAO_ADDR" >&2
}

start_services() {
  SERVICES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/platctl-services.XXXXXX")
  trap stop_services EXIT
  start_seaweedfs
  start_openbao
}
