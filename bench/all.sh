#!/usr/bin/env bash
# Every benchmark, with the parameters docs/benchmarks.md reports. Each prints its result and its
# goal; a missed goal or a failed run is reported and the others still run (exit 1 at the end if
# any failed). PLATCTL_BENCH_PROFILE picks the build profile (each script documents its default).
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
for bench in "bench/state.sh 16 25" "bench/state-hostile.sh 50 4" "bench/check.sh" \
             "bench/drift-parser.sh 200" "bench/audit-ship.sh 1 100000 100000" "bench/seal.sh 200 3" \
             "bench/sample-service.sh --duration 3 --rounds 5" "bench/render.sh"; do
  echo "==> benchmark: $bench" >&2
  # shellcheck disable=SC2086
  bash $bench || failed+=("$bench")
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'missed a goal or failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
