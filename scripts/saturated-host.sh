#!/usr/bin/env bash
# A saturated host is judged, not blamed: baseline at 300/s on a quiet host
# passes; the same run beside a busy loop on every core reports the host as
# saturated, judges every invariant (all pass), and any SLO it misses is
# inconclusive ("host saturated"), never failed.
# usage: scripts/saturated-host.sh PAYSIM_BINARY OUT_DIR
set -euo pipefail
paysim=$1
out=$2
mkdir -p "$out"

run() { # name: a baseline run; its exit code is judged from report.json below
  "$paysim" run baseline --seed 5 --duration 15s --rate 300 --ui plain --out "$out/$1" >"$out/$1.log" 2>&1 || true
  jq -c '{verdict, reasons, host: {cpu_used: .host.cpu_used, host_cpu_busy: .host.host_cpu_busy, late_p99_ms: .host.loadgen_lateness_p99_ms, sched_p99_ms: .host.sched_latency_p99_ms, saturated: .host.saturated}, p99_ms: .latency_ms.p99}' "$out/$1/report.json"
}
fail() { echo "saturated-host: $*"; exit 1; }

run quiet
q="$out/quiet/report.json"
jq -e '.host.saturated == false and .verdict == "pass"' "$q" >/dev/null \
  || fail "the quiet run is not a pass on an unsaturated host (see $out/quiet.log)"

burners=()
for _ in $(seq "$(nproc)"); do
  sh -c 'while :; do :; done' &
  burners+=($!)
done
trap 'kill "${burners[@]}" 2>/dev/null || true' EXIT
run busy
kill "${burners[@]}" 2>/dev/null || true
b="$out/busy/report.json"
jq -e '.host.saturated == true' "$b" >/dev/null || fail "a busy loop on every core did not saturate the host"
jq -e '.verdict != "fail"' "$b" >/dev/null || fail "the run on a saturated host failed: $(jq -c .reasons "$b")"
jq -e '[.invariants[] | select(.status == "fail")] | length == 0' "$b" >/dev/null || fail "an invariant failed on the saturated host"
jq -e '[.slos[] | select(.ok == false and .name != "rpo" and .status != "inconclusive")] | length == 0' "$b" >/dev/null \
  || fail "an SLO missed on the saturated host was not inconclusive"
echo "saturated-host: quiet run passes; busy run $(jq -r .verdict "$b") with the host saturated and every invariant judged"
