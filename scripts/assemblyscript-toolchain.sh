#!/usr/bin/env bash
# Makes sure AssemblyScript processors can be built: node (18 or newer) and
# npm, installed from Debian's packages when missing, and each project's
# pinned compiler installed from its package-lock.json (`npm ci`) when its
# node_modules is missing or older than its package.json or lock.
#
# Usage: scripts/assemblyscript-toolchain.sh [PROJECT_DIR...]
# Default: every processors/*/ whose package.json depends on assemblyscript.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "assemblyscript-toolchain: $*" >&2; }

node_ok() {
    command -v node >/dev/null && command -v npm >/dev/null &&
        node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' 2>/dev/null
}

if ! node_ok; then
    command -v apt-get >/dev/null || { log "no apt-get: install node 18+ and npm"; exit 1; }
    log "installing node and npm (Debian packages nodejs npm)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >&2
    node_ok || { log "node 18 or newer is needed, found $(node --version 2>/dev/null || echo none)"; exit 1; }
fi

projects=("$@")
if [ ${#projects[@]} -eq 0 ]; then
    for manifest in processors/*/package.json; do
        grep -q '"assemblyscript"' "$manifest" && projects+=("$(dirname "$manifest")")
    done
fi

# npm's record of what it installed; older than the manifests means stale.
stale() {
    local installed="$1/node_modules/.package-lock.json" file
    [ -f "$installed" ] || return 0
    for file in "$1/package.json" "$1/package-lock.json"; do
        [ ! -f "$file" ] || [ ! "$file" -nt "$installed" ] || return 0
    done
    return 1
}

for dir in "${projects[@]}"; do
    [ -f "$dir/package.json" ] || { log "$dir has no package.json"; exit 1; }
    stale "$dir" || continue
    if [ -f "$dir/package-lock.json" ]; then
        log "$dir: npm ci"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    else
        log "$dir: npm install (no package-lock.json)"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
    fi
done
