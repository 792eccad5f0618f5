#!/usr/bin/env bash
# Runs every test of the project: builds the guest modules from processors/
# (installing the wasm32 target, Go and AssemblyScript if needed), then the
# host's and the SDKs' tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-processors.sh
# The NATS tests start real JetStream servers.
NATS_SERVER=$(scripts/nats-server.sh)
export NATS_SERVER
# Go and AssemblyScript guests: tests/guest_languages.rs builds them with
# `flowctl build`, using the toolchains these scripts find or install.
FLOWCTL_GO=$(scripts/go-toolchain.sh)
export FLOWCTL_GO
scripts/assemblyscript-toolchain.sh
echo "==> guest workspace tests: SDK and example processors (host target)"
(cd processors && cargo test --quiet --locked --workspace)
echo "==> Go SDK and example tests (host)"
for module in processors/sdk-go processors/*-go; do
    (cd "$module" && GOTOOLCHAIN=local "$FLOWCTL_GO" test ./...)
done
echo "==> AssemblyScript SDK tests (node)"
(cd processors/sdk-assemblyscript && npm test --silent)
echo "==> flowctl tests"
cargo test --all-targets "$@"
