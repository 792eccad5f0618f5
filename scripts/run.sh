#!/usr/bin/env bash
# Builds the guest modules and flowctl (release), then runs a pipeline:
# the repository's flowctl.yaml unless another file is given.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-processors.sh
cargo build --release --quiet
exec target/release/flowctl run "${1:-flowctl.yaml}" "${@:2}"
