#!/usr/bin/env bash
# Benchmark: `platctl render` + strict validation of every environment, against the same
# `helm template` calls run directly one after another, in the same run.
# Goals (issue 12): at most 1.2x the direct helm calls, and well under a minute for all environments.
#
# The direct side runs exactly the helm commands the render records (`--output json`, .helm_calls:
# same charts, values, --api-versions, flags), sequentially, output discarded. The render side runs,
# per environment, `platctl render` (helm, kubectl kustomize, YAML parsing, annotation, writing) and
# `platctl check` on the result (the render's rules: SCHEMA, PARSE and the workload rules, with
# deploy/render-suppressions.yaml), as scripts/check-render does. The two sides
# run in interleaved rounds (ABBA) and the medians are compared.
# Writes a Markdown section (paste it into docs/benchmarks.md) to $BENCH_OUT and stdout; exits 1 when a
# goal is missed; last line is `N passed, M failed`.
#
# Env: PLATCTL_BIN (default: target/fast-build/platctl, built here if missing; PLATCTL_BENCH_PROFILE
#      picks the profile), PLATCTL_SCHEMAS, PLATCTL_CHARTS, BENCH_OUT (default bench/out/render.md),
#      BENCH_MIN_RUNS (rounds, default 5).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
profile=${PLATCTL_BENCH_PROFILE:-fast-build}
bin=${PLATCTL_BIN:-${CARGO_TARGET_DIR:-$root/target}/$profile/platctl}
schemas=$(cd "${PLATCTL_SCHEMAS:-$root/../shared/schemas}" && pwd)
out=${BENCH_OUT:-$root/bench/out/render.md}
min_runs=${BENCH_MIN_RUNS:-5}
mkdir -p "$(dirname "$out")"

for tool in helm kubectl jq; do
  command -v "$tool" >/dev/null || { echo "bench/render.sh: $tool not found (install it with .ci/install-tools)" >&2; exit 2; }
done
if [ ! -x "$bin" ]; then
  echo "==> building platctl (profile $profile)" >&2
  cargo build --profile "$profile" -p platctl >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# name|environment|extra flags: every root under deploy/clusters/ (as scripts/check-render).
renders=(
  "production|production|"
  "production-dedicated|production|--var staging_dedicated_cluster=true"
  "staging-dedicated|staging|--var staging_dedicated_cluster=true"
)

# A reference render of each: the helm commands to replay, the object counts, the schema overlay.
: >"$tmp/helm-calls.sh"
objects_total=0
apps_total=0
calls_total=0
invocations_total=0
counts=()
for r in "${renders[@]}"; do
  IFS='|' read -r name env flags <<<"$r"
  # shellcheck disable=SC2086 # the flags are words
  "$bin" render --env "$env" $flags --out-dir "$tmp/ref/$name" --output json >"$tmp/$name.json" 2>/dev/null
  jq -r '.helm_calls[].argv | map(@sh) | join(" ") + " >/dev/null"' "$tmp/$name.json" >>"$tmp/helm-calls.sh"
  objects=$(jq '.objects' "$tmp/$name.json")
  apps=$(jq '.applications | length' "$tmp/$name.json")
  calls=$(jq '.helm_calls | length' "$tmp/$name.json")
  again=$(jq '.rerendered | length' "$tmp/$name.json")
  objects_total=$((objects_total + objects))
  apps_total=$((apps_total + apps))
  calls_total=$((calls_total + calls))
  invocations_total=$((invocations_total + calls + again))
  counts+=("| $name | $(jq -r '.root_path' "$tmp/$name.json") | $apps | $objects | $calls | $again |")
  mkdir -p "$tmp/schemas-$name"
  cp -rs "$schemas/." "$tmp/schemas-$name/"
  cp -rn "$tmp/ref/$name/.schemas/crds/." "$tmp/schemas-$name/crds/"
done

# The render side: render and validate every environment, as scripts/check-render does.
{
  echo 'set -e'
  for r in "${renders[@]}"; do
    IFS='|' read -r name env flags <<<"$r"
    echo "'$bin' render --env $env $flags --out-dir '$tmp/run/$name' >/dev/null 2>&1"
    echo "'$bin' check '$tmp/run/$name' --schemas '$tmp/schemas-$name' --suppressions '$root/deploy/render-suppressions.yaml' >/dev/null"
  done
} >"$tmp/render.sh"

# One run of a side: "wall user+sys" in seconds (CPU includes every child process).
timed() {
  local TIMEFORMAT='%R %U %S'
  { time bash "$1" >/dev/null 2>&1 || { echo "bench/render.sh: $1 failed" >&2; exit 1; }; } 2>"$tmp/time"
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$tmp/time"
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# Interleaved ABBA rounds after one untimed round of each: the machine is shared, and its load drifts
# by the minute, so both sides see the same conditions.
echo "==> $min_runs rounds (ABBA): render + validate all environments vs the same helm calls, sequential" >&2
timed "$tmp/render.sh" >/dev/null
timed "$tmp/helm-calls.sh" >/dev/null
: >"$tmp/render.times"
: >"$tmp/helm.times"
for i in $(seq 1 "$min_runs"); do
  if [ $((i % 2)) -eq 1 ]; then
    timed "$tmp/render.sh" >>"$tmp/render.times"
    timed "$tmp/helm-calls.sh" >>"$tmp/helm.times"
  else
    timed "$tmp/helm-calls.sh" >>"$tmp/helm.times"
    timed "$tmp/render.sh" >>"$tmp/render.times"
  fi
  echo "    round $i: render $(tail -n 1 "$tmp/render.times"), helm $(tail -n 1 "$tmp/helm.times") (wall, CPU in s)" >&2
done
render_wall=$(cut -d' ' -f1 "$tmp/render.times" | median)
helm_wall=$(cut -d' ' -f1 "$tmp/helm.times" | median)
render_cpu=$(cut -d' ' -f2 "$tmp/render.times" | median)
helm_cpu=$(cut -d' ' -f2 "$tmp/helm.times" | median)
ratio=$(awk -v a="$render_wall" -v b="$helm_wall" 'BEGIN {printf "%.2f", a / b}')
cpu_ratio=$(awk -v a="$render_cpu" -v b="$helm_cpu" 'BEGIN {printf "%.2f", a / b}')
under_minute=$(awk -v a="$render_wall" 'BEGIN {print (a < 60) ? "true" : "false"}')
within=$(awk -v r="$ratio" 'BEGIN {print (r <= 1.2) ? "true" : "false"}')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
{
  echo "## Render: \`platctl render\` + validation vs the same \`helm template\` calls (\`bench/render.sh\`)"
  echo
  echo "Every root under \`deploy/clusters/\` (production in the shared topology; production and staging with"
  echo "\`staging_dedicated_cluster=true\`), rendered and then judged with \`platctl check\` (the render's rules:"
  echo "SCHEMA, PARSE and the workload rules with \`deploy/render-suppressions.yaml\`, as \`scripts/check-render\` does),"
  echo "against the helm commands the render records, replayed one after"
  echo "another with their output discarded. $min_runs interleaved rounds (ABBA) after one untimed round of each;"
  echo "medians. CPU is user + system time of everything each side ran."
  echo
  echo "- Date (UTC): $(date -u '+%Y-%m-%d %H:%M'); machine: $cpu, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- platctl: \`${bin#"$root"/}\` ($("$bin" --version)), --jobs default ($(nproc)); $(helm version --short); kubectl $(kubectl version --client -o json | jq -r .clientVersion.gitVersion)"
  echo "- $apps_total Applications, $objects_total objects; $calls_total helm calls on the direct side; the render ran"
  echo "  $invocations_total helm processes (a chart renders again only if API versions it checks for appeared"
  echo "  after its first render) plus one \`kubectl kustomize\` per render"
  echo
  echo "| render | root | Applications | objects | helm calls | rendered again |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${counts[@]}"
  echo
  echo "| side | wall, median (s) | CPU, median (s) | runs (wall/CPU, s) |"
  echo "|---|---|---|---|"
  echo "| platctl render + check, all environments | $render_wall | $render_cpu | $(tr '\n' ';' <"$tmp/render.times" | sed 's/;$//; s/;/; /g') |"
  echo "| helm template, same calls, one after another | $helm_wall | $helm_cpu | $(tr '\n' ';' <"$tmp/helm.times" | sed 's/;$//; s/;/; /g') |"
  echo
  echo "**render + validation / direct helm: ${ratio}x wall** (CPU: ${cpu_ratio}x)."
  echo
  echo "| Goal | Result |"
  echo "| --- | --- |"
  echo "| at most 1.2x the direct helm calls (wall) | $([ "$within" = true ] && echo met || echo MISSED) |"
  echo "| all environments well under a minute | $([ "$under_minute" = true ] && echo met || echo MISSED) |"
} >"$out"
cat "$out"
ok=0
[ "$within" = true ] && ok=$((ok + 1))
[ "$under_minute" = true ] && ok=$((ok + 1))
echo "$ok passed, $((2 - ok)) failed"
[ "$ok" -eq 2 ]
