#!/usr/bin/env bash
# Makes sure a Rust toolchain can build wasm32-unknown-unknown guests, and
# prints the command prefix to build them with (one line, eval-able).
#
# 1. rustup's target, when already installed or when `rustup target add` can
#    download it (a normal machine);
# 2. otherwise Debian's packaged Rust (rustc-web + its std source), which
#    compiles std for wasm32 itself (-Zbuild-std), linked by the matching lld.
# FLOWCTL_WASM_TOOLCHAIN=rustup|debian forces one route.
set -euo pipefail
TARGET=wasm32-unknown-unknown
log() { echo "wasm-toolchain: $*" >&2; }

rustup_has_target() {
    local libdir
    libdir=$(rustc --print target-libdir --target "$TARGET" 2>/dev/null) || return 1
    compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

use_rustup() {
    if rustup_has_target; then
        echo "cargo"
        return 0
    fi
    command -v rustup >/dev/null || return 1
    log "adding the $TARGET target with rustup"
    if timeout 180 rustup target add "$TARGET" >&2 && rustup_has_target; then
        echo "cargo"
        return 0
    fi
    log "rustup could not install $TARGET"
    return 1
}

debian_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

use_debian() {
    command -v apt-get >/dev/null || { log "no apt-get: install the $TARGET target with rustup"; return 1; }
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    local packages=(rustc-web cargo-web rust-web-src libstd-rust-web-dev)
    local missing=()
    for p in "${packages[@]}"; do debian_installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian's Rust toolchain for wasm: ${missing[*]}"
        $sudo apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
    local llvm
    llvm=$(/usr/bin/rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
    if ! debian_installed "lld-$llvm"; then
        log "installing lld-$llvm (the linker matching rustc's LLVM)"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "lld-$llvm" >&2
    fi
    # Debian's cargo with Debian's rustc, whatever rustup put first in PATH;
    # its own target dir, so the two toolchains never rebuild each other's files.
    echo "env -u RUSTUP_TOOLCHAIN -u RUSTC_WRAPPER RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1" \
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/llvm-$llvm/bin/wasm-ld" \
        "CARGO_TARGET_DIR=target/debian /usr/bin/cargo -Zbuild-std=std,panic_abort"
}

case "${FLOWCTL_WASM_TOOLCHAIN:-auto}" in
    rustup) use_rustup ;;
    debian) use_debian ;;
    auto) use_rustup || use_debian ;;
    *) log "FLOWCTL_WASM_TOOLCHAIN must be rustup, debian or unset"; exit 2 ;;
esac
