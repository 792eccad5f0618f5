#!/usr/bin/env bash
# The same processor in Rust, Go and AssemblyScript, side by side in one run:
# `flowctl bench` on each language's `filter` (field data.amount >= 5000) with
# the same 300-byte synthetic events, batched, one thread; the runs alternate
# language by language. Each run starts with an empty compile cache, so its
# load time is a cold start: compiling the module and making its first
# instance. Prints one line per run, then a Markdown table of medians.
#
#   scripts/bench-languages.sh [--events N] [--runs N] [--batch N]
#
# Needs target/release/flowctl (cargo build --release) and the modules
# (scripts/build-processors.sh for Rust; `flowctl build processors/filter-go`
# and `processors/filter-as`, which this script runs). Figures: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

events=1000000
runs=5
batch=128
while [ $# -gt 0 ]; do
    case "$1" in
        --events) events=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

flowctl=target/release/flowctl
[ -x "$flowctl" ] || { echo "no $flowctl: cargo build --release" >&2; exit 1; }
[ -f processors/filter.wasm ] || { echo "no processors/filter.wasm: scripts/build-processors.sh" >&2; exit 1; }
FLOWCTL_GO=$(scripts/go-toolchain.sh)
export FLOWCTL_GO
scripts/assemblyscript-toolchain.sh processors/filter-as
"$flowctl" build processors/filter-go >/dev/null
"$flowctl" build processors/filter-as >/dev/null

config='{"field":"data.amount","op":"gte","value":5000}'
results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $events events per run, batch $batch" >&2
for run in $(seq "$runs"); do
    for module in filter filter-go filter-as; do
        cache=$(mktemp -d)
        json=$(XDG_CACHE_HOME=$cache "$flowctl" bench "processors/$module.wasm" --config "$config" \
            --events "$events" --event-size 300 --batch "$batch" --json 2>/dev/null)
        rm -rf "$cache"
        echo "$json" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' >>"$results"
        echo "$json" | python3 -c '
import json, sys
r = json.load(sys.stdin)
eps, s = r["events_per_second"], r["start"]
print("run %s  %-10s %12s events/s  load %8.1f ms  instance %7.0f us" % (sys.argv[1], sys.argv[2], f"{eps:,.0f}", s["load_ms"], s["instance_us"]))
' "$run" "$module" >&2
    done
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows.setdefault(r["module"], []).append(r)
rust = statistics.median(r["events_per_second"] for r in rows["processors/filter.wasm"])
print("| language | module | size | cold start (compile + first instance) | new instance | events/s (median) | of Rust's rate |")
print("|---|---|---|---|---|---|---|")
for module, lang in [("filter", "Rust"), ("filter-go", "Go"), ("filter-as", "AssemblyScript")]:
    rs = rows[f"processors/{module}.wasm"]
    eps = statistics.median(r["events_per_second"] for r in rs)
    load = statistics.median(r["start"]["load_ms"] for r in rs)
    inst = statistics.median(r["start"]["instance_us"] for r in rs)
    size = rs[0]["start"]["module_bytes"]
    print(f"| {lang} | `{module}.wasm` | {size/1024:,.0f} KiB | {load:,.1f} ms | {inst:,.0f} µs | {eps:,.0f} | {eps/rust:.2f} (Rust {rust/eps:.2f}x) |")
PY
