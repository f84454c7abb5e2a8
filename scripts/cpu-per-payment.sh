#!/usr/bin/env bash
# cpu-per-payment.sh [RATE] [DURATION]: CPU per payment as a multiple of a
# no-op request's CPU, both measured here in the same minutes (issue 19):
# the no-op reference (reference.sh: a Go server that does nothing under
# wrk), then `paysim run baseline --rate RATE --duration DURATION` (500,
# 30s), then the reference again. A payment's CPU is the paysim process's
# CPU over the load phase (report.json's host.process_cpu_s) per ok
# payment: load generator and, in embedded mode, the whole stack. Prints
#   reference_cpu_ms=X payment_cpu_ms=Y ratio=Y/X verdict=V
# Run it alone: anything else on the machine changes both figures.
# PAYSIM_BIN=path measures that binary instead of building this tree (a
# before/after pair, alternated, is the fair comparison). paysim runs in a
# scratch directory on its built-in catalogue's baseline, so a binary of an
# older tree (one that would refuse this tree's scenarios.yaml) runs too.
set -euo pipefail
rate=${1:-500}
duration=${2:-30s}
cd "$(dirname "$0")/.."
for t in jq wrk /usr/bin/time; do command -v "$t" >/dev/null || { echo "cpu-per-payment.sh: $t is missing (apt-get install jq wrk time)" >&2; exit 3; }; done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "${PAYSIM_BIN:-}" ]; then cp "$PAYSIM_BIN" "$tmp/paysim"; else go build -o "$tmp/paysim" ./cmd/paysim; fi
ref() { bash scripts/reference.sh | tee -a "$tmp/ref.txt"; }
ref
(cd "$tmp" && "$tmp/paysim" run baseline --rate "$rate" --duration "$duration" --ui plain --out "$tmp/run") >"$tmp/run.log" 2>&1 || true
[ -f "$tmp/run/report.json" ] || { cat "$tmp/run.log"; echo "cpu-per-payment.sh: the run wrote no report" >&2; exit 1; }
ref
jq -r '"run: \(.verdict) ok=\(.requests.ok) load_s=\(.host.load_s) process_cpu_s=\(.host.process_cpu_s) host_cpu_busy=\(.host.host_cpu_busy) p99_ms=\(.latency_ms.p99)"' "$tmp/run/report.json"
refms=$(awk -F'cpu_ms_per_req=' '{ s += $2; n++ } END { printf "%.5f", s / n }' "$tmp/ref.txt")
jq -r --argjson ref "$refms" '
  (.host.process_cpu_s * 1000 / .requests.ok) as $p
  | "reference_cpu_ms=\($ref) payment_cpu_ms=\($p * 1000 | round / 1000) ratio=\($p / $ref | round) verdict=\(.verdict)"' "$tmp/run/report.json"
