#!/usr/bin/env bash
# End to end from a cold process: generator -> passthrough.wasm -> null, each
# run a fresh `target/release/flowctl run` (nothing warmed in the process),
# with pool_size 1 and pool_size 2, and generator -> null without a processor
# (pool `none`: the ceiling the source and the engine set for any processor),
# the three interleaved run by run. Prints one line per run and a summary
# table next to the runtime's criterion figure for the same module and events
# (benches/runtime.rs, `passthrough (302 B events)/wasm batched`: 300-byte
# `simple` events, batches of 256, one thread).
#
#   scripts/bench-e2e.sh [--events N] [--runs N] [--batch N] [--event-size N] [--runtime-eps N]
#
# Per run:
# - wall: exec to exit of the process, measured here: process start, module
#   load (from flowctl's module cache, filled by one untimed priming run
#   first), the run, the drain and the exit;
# - in-run: from the engine's `pipeline running` log line to its `pipeline
#   stopped` line (the run's own report), i.e. without start-up and exit.
# events/s = events / that time; the summary gives the median of the runs.
#
# Needs target/release/flowctl (cargo build --release) and
# processors/passthrough.wasm (scripts/build-processors.sh). The runtime
# figure comes from --runtime-eps or else from criterion's last result in
# target/criterion (cargo bench --bench runtime -- passthrough); without
# either, the ratio column says n/a. Figures: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

events=2000000
runs=3
batch=256
event_size=300
runtime_eps=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --events) events="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --batch) batch="$2"; shift 2 ;;
        --event-size) event_size="$2"; shift 2 ;;
        --runtime-eps) runtime_eps="$2"; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

flowctl=target/release/flowctl
module=processors/passthrough.wasm
[[ -x $flowctl ]] || { echo "$flowctl is missing: cargo build --release" >&2; exit 1; }
[[ -f $module ]] || { echo "$module is missing: scripts/build-processors.sh" >&2; exit 1; }

# The runtime figure: criterion's typical estimate (slope, else mean) of the
# batched passthrough, as events/s.
if [[ -z $runtime_eps ]]; then
    for dir in target/criterion/passthrough\ \(*\)/wasm\ batched; do
        [[ -f $dir/new/estimates.json ]] || continue
        ns=$(jq '(.slope // .mean).point_estimate' "$dir/new/estimates.json")
        elements=$(jq '.throughput.Elements' "$dir/new/benchmark.json")
        runtime_eps=$(awk -v e="$elements" -v ns="$ns" 'BEGIN { printf "%.0f", e * 1e9 / ns }')
        runtime_from="criterion, ${dir#target/criterion/}"
    done
fi
[[ -n $runtime_eps ]] && runtime_from=${runtime_from:-"--runtime-eps"}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Writes the pipeline for pool size $1 (`none`: no processor) and event count
# $2 to $work/pool$1.yaml.
pipeline() {
    local stages="  processors:
    - {id: p, type: wasm, inputs: [gen], wasm: {module: \"$PWD/$module\", pool_size: $1, batch_size: $batch}}
  sinks: [{id: out, type: null, inputs: [p]}]"
    [[ $1 == none ]] && stages="  sinks: [{id: out, type: null, inputs: [gen]}]"
    cat >"$work/pool$1.yaml" <<EOF
apiVersion: flowctl/v1
kind: Pipeline
metadata: {name: bench-e2e}
spec:
  settings: {metrics_addr: "127.0.0.1:0", dead_letter: {type: stderr}}
  sources: [{id: gen, type: generator, config: {count: $2, event_size: $event_size}}]
$stages
EOF
}

# Seconds since the epoch of the JSON log line whose message is $2, in log $1.
logged_at() {
    date -d "$(jq -rR --arg m "$2" 'fromjson? | select(.fields.message == $m) | .timestamp' "$1")" +%s.%N
}

# One cold run with pool size $1 (or `none`): prints "<wall s> <in-run s>".
run_once() {
    local log="$work/run.log" start end written
    pipeline "$1" "$events"
    start=$(date +%s.%N)
    if ! $flowctl --log-format json run --from-start "$work/pool$1.yaml" 2>"$log" >/dev/null; then
        echo "flowctl run failed (pool $1):" >&2; tail -5 "$log" >&2; exit 1
    fi
    end=$(date +%s.%N)
    written=$(jq -rR 'fromjson? | select(.fields.message == "sink finished") | .fields.written' "$log")
    [[ $written == "$events" ]] || { echo "pool $1: the sink wrote $written of $events events" >&2; exit 1; }
    awk -v s="$start" -v e="$end" -v r="$(logged_at "$log" "pipeline running")" \
        -v t="$(logged_at "$log" "pipeline stopped")" 'BEGIN { printf "%.3f %.3f\n", e - s, t - r }'
}

# Priming: compiles the module into flowctl's module cache, as any earlier
# run of the module would have; not timed.
pipeline 1 1000
$flowctl --log-format json run --from-start "$work/pool1.yaml" >/dev/null 2>&1

echo "generator ($events events of $event_size B) -> passthrough.wasm (batch $batch) -> null; one cold process per run"
printf '%-5s %-4s %8s %17s %9s %18s\n' pool run "wall s" "events/s (wall)" "in-run s" "events/s (in-run)"
declare -A wall_eps run_eps
for ((i = 1; i <= runs; i++)); do
    for pool in 1 2 none; do
        out=$(run_once "$pool")
        read -r wall inrun <<<"$out"
        w=$(awk -v n="$events" -v t="$wall" 'BEGIN { printf "%.0f", n / t }')
        r=$(awk -v n="$events" -v t="$inrun" 'BEGIN { printf "%.0f", n / t }')
        wall_eps[$pool]+="$w "
        run_eps[$pool]+="$r "
        printf '%-5s %-4s %8s %17s %9s %18s\n' "$pool" "$i" "$wall" "$w" "$inrun" "$r"
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
percent() { [[ -n $runtime_eps ]] && awk -v a="$1" -v b="$runtime_eps" 'BEGIN { printf "%.0f%%", 100 * a / b }' || echo n/a; }

echo
if [[ -n $runtime_eps ]]; then
    echo "runtime figure: $runtime_eps events/s ($runtime_from)"
else
    echo "runtime figure: none (cargo bench --bench runtime -- passthrough, or --runtime-eps N)"
fi
printf '%-5s %22s %12s %24s %12s\n' pool "median events/s (wall)" "of runtime" "median events/s (in-run)" "of runtime"
for pool in 1 2 none; do
    w=$(median <<<"${wall_eps[$pool]}")
    r=$(median <<<"${run_eps[$pool]}")
    printf '%-5s %22s %12s %24s %12s\n' "$pool" "$w" "$(percent "$w")" "$r" "$(percent "$r")"
done
w1=$(median <<<"${wall_eps[1]}")
w2=$(median <<<"${wall_eps[2]}")
awk -v a="$w2" -v b="$w1" 'BEGIN { printf "pool 2 / pool 1 (wall): %.2f\n", a / b }'
echo "targets: pool 1 >= 85% of the runtime figure; pool 2 faster than pool 1"
echo "pool none: generator -> null, no processor: the most a pipeline of this source reaches here"
