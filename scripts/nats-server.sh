#!/usr/bin/env bash
# Makes sure `nats-server` (Debian package nats-server, JetStream included) is
# installed: the NATS tests start real servers with it. Prints its path.
set -euo pipefail
find_server() {
    command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true
}
server=$(find_server)
if [ -z "$server" ]; then
    echo "==> installing nats-server (Debian package nats-server)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nats-server >&2
    server=$(find_server)
fi
[ -n "$server" ] || { echo "nats-server is not installed and could not be" >&2; exit 1; }
echo "$server"
