#!/usr/bin/env bash
# reference.sh: this machine's no-op HTTP reference, the figure paysim's
# performance numbers are quoted against: a Go server whose handler does
# nothing (scripts/noop) under `wrk -t2 -c64 -d8s` on loopback. Prints
#   req_per_s=N cpu_ms_per_req=X
# where X is the CPU time of the server and wrk together per request (the
# unit of "CPU per payment as a multiple of a no-op request"). Run it
# alone: anything else on the machine lowers it. Inside slow-machine.sh it
# measures the emulated machine.
set -euo pipefail
for t in wrk /usr/bin/time; do command -v "$t" >/dev/null || { echo "reference.sh: $t is missing (apt-get install wrk time)" >&2; exit 3; }; done
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$bin"' EXIT
go build -o "$bin/noop" ./scripts/noop
addr=127.0.0.1:${NOOP_PORT:-18080}
"$bin/noop" -addr "$addr" &
pid=$!
up=
for _ in $(seq 50); do
  if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then up=1; break; fi
  sleep 0.1
done
[ -n "$up" ] || { echo "reference.sh: the no-op server did not listen on $addr" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)
before=$(ticks "$pid")
/usr/bin/time -f '%U %S' -o "$bin/wrk.time" \
  wrk -t2 -c64 -d"${REFERENCE_DURATION:-8s}" "http://$addr/" > "$bin/wrk.out"
after=$(ticks "$pid")
awk -v srv="$(( after - before ))" -v hz="$hz" -v wrk="$(cat "$bin/wrk.time")" '
  /^Requests\/sec/ { rps = $2 }
  /requests in/    { n = $1 }
  END {
    split(wrk, w, " ")
    cpu = srv / hz + w[1] + w[2]
    if (n == 0) { print "reference.sh: wrk made no request" > "/dev/stderr"; exit 1 }
    printf "req_per_s=%.0f cpu_ms_per_req=%.4f\n", rps, cpu * 1000 / n
  }' "$bin/wrk.out"
