#!/usr/bin/env bash
# `platctl state serve` under a hostile load (issue 16), on the same SeaweedFS
# as bench/state.sh: an authorised client's LOCK + UNLOCK latency idle and
# while 16 anonymous clients keep uploading 60 MB bodies and 300 connections
# stay stalled, and the server's RSS throughout
# (crates/backend/benches/hostile.rs drives the real binary).
# Goals: the attack adds < 64 MB to the server's RSS; the authorised p99 stays
# within 2x of its idle value. Results go to stdout; docs/benchmarks.md keeps them.
#
#   bench/state-hostile.sh [round-trips-per-client-per-round] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
per_round=${1:-50}
rounds=${2:-4}

# shellcheck source=bench/lib/state-store.sh
source bench/lib/state-store.sh
export PLATCTL_BIN="$platctl" PLATCTL_STORE="s3://$bucket/hostile-$RANDOM$RANDOM"

echo "profile: $profile; $(nproc) cores; $(date -u +'%Y-%m-%d %H:%M UTC')"
cargo bench --quiet --profile "$profile" -p platctl-backend --bench hostile -- "$per_round" "$rounds" 2>/dev/null
