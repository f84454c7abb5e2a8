#!/usr/bin/env bash
# reference.sh: this machine's no-op HTTP reference, the figure paysim's
# performance numbers are quoted against: a Go server whose handler does
# nothing (scripts/noop) under `wrk -t2 -c64 -d8s` on loopback. Prints the
# requests per second. Run it alone: anything else on the machine lowers it.
# Inside slow-machine.sh it measures the emulated machine.
set -euo pipefail
command -v wrk >/dev/null || { echo "reference.sh: wrk is missing (apt-get install wrk)" >&2; exit 3; }
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$bin"' EXIT
go build -o "$bin/noop" ./scripts/noop
addr=127.0.0.1:${NOOP_PORT:-18080}
"$bin/noop" -addr "$addr" &
pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null && break; sleep 0.1; done
wrk -t2 -c64 -d"${REFERENCE_DURATION:-8s}" "http://$addr/" | awk '/Requests\/sec/ {printf "%.0f\n", $2}'
