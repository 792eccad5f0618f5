#!/usr/bin/env bash
# Builds every guest crate of processors/ to wasm32-unknown-unknown (release)
# and copies each module to processors/<crate>.wasm, where pipelines and tests
# find them. Installs the wasm target first if needed (scripts/wasm-toolchain.sh).
set -euo pipefail
cd "$(dirname "$0")/../processors"

cargo_cmd=$(../scripts/wasm-toolchain.sh)
echo "==> building guest modules ($cargo_cmd)" >&2
# shellcheck disable=SC2086 # the prefix is words on purpose
eval $cargo_cmd build --release --locked --target wasm32-unknown-unknown --workspace

out_dir=target/wasm32-unknown-unknown/release
[[ $cargo_cmd == *CARGO_TARGET_DIR=target/debian* ]] && out_dir=target/debian/wasm32-unknown-unknown/release
for manifest in */Cargo.toml; do
    crate=$(dirname "$manifest")
    [ "$crate" = sdk ] && continue
    built="$out_dir/${crate//-/_}.wasm"
    [ -f "$built" ] || continue
    # Copy only when changed: a running pipeline watching the file sees no reload for nothing.
    cmp -s "$built" "$crate.wasm" 2>/dev/null || cp "$built" "$crate.wasm"
done
ls -1 ./*.wasm | sed 's/^/    /' >&2
