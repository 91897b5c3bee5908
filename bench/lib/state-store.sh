# The setup bench/state.sh and bench/state-hostile.sh share: tools, a fresh
# SeaweedFS on loopback (stopped on exit), the platctl binary of the bench
# profile, and an S3 bucket for the run. Source it from the repository root.
# Sets: profile, platctl (the binary), bucket; exports the AWS_* settings.
# shellcheck shell=bash

bash .ci/install-tools >/dev/null
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
SERVICES_DIR=$(mktemp -d)
trap stop_services EXIT
start_seaweedfs

# The shipped binary: release profile (PLATCTL_BENCH_PROFILE=fast-build for the CI one).
profile=${PLATCTL_BENCH_PROFILE:-release}
cargo build --quiet --profile "$profile" -p platctl
platctl="${CARGO_TARGET_DIR:-$PWD/target}/$profile/platctl"
export NO_COLOR=1
export AWS_ENDPOINT_URL="$PLATCTL_TEST_S3_ENDPOINT" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
bucket=platctl-bench
curl -s -o /dev/null -X PUT "$PLATCTL_TEST_S3_ENDPOINT/$bucket"
