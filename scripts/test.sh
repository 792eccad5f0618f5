#!/usr/bin/env bash
# Runs every test of the project: builds the guest modules from processors/
# (installing the wasm32 target if needed), then the host's and the SDK's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-processors.sh
# The NATS tests start real JetStream servers.
NATS_SERVER=$(scripts/nats-server.sh)
export NATS_SERVER
echo "==> guest workspace tests: SDK and example processors (host target)"
(cd processors && cargo test --quiet --locked --workspace)
echo "==> flowctl tests"
cargo test --all-targets "$@"
