#!/usr/bin/env bash
# cpu-ab.sh BIN_A BIN_B [ROUNDS] [RATE]: CPU per payment of two paysim
# binaries run side by side, at the same time, so that both see the same
# machine (issue 19). On these shared 2-core machines the speed drifts by
# more than 10% within minutes, so runs taken one after another
# (cpu-per-payment.sh) need many pairs to show a 5% change; two runs at
# once share every drift. Each round runs `paysim run baseline --rate RATE
# --duration 40s` (default 350/s: both together keep the host near 70% busy,
# below saturation) with each binary, swapping which starts first, and
# prints both CPU-ms per ok payment (report.json's host.process_cpu_s over
# requests.ok) and B/A. ROUNDS defaults to 4. The ratios compare the trees;
# the absolute figures are at RATE with another run beside, so quote
# cpu-per-payment.sh for the issue's ratio. Both run in a scratch directory,
# each on its own built-in catalogue's baseline, so a binary of an older tree
# (one that would refuse this tree's scenarios.yaml) can be measured too.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: cpu-ab.sh BIN_A BIN_B [ROUNDS] [RATE]" >&2; exit 2; }
rounds=${3:-4} rate=${4:-350}
for f in "$1" "$2"; do [ -x "$f" ] || { echo "cpu-ab.sh: $f is not an executable" >&2; exit 2; }; done
a=$(realpath "$1") b=$(realpath "$2")
command -v jq >/dev/null || { echo "cpu-ab.sh: jq is missing (apt-get install jq)" >&2; exit 3; }
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
cpu() { jq '.host.process_cpu_s * 1000 / .requests.ok' "$1/report.json"; }
sum=0
for i in $(seq 1 "$rounds"); do
	first=$a second=$b
	if [ $((i % 2)) -eq 0 ]; then first=$b second=$a; fi
	rm -rf "$tmp/a" "$tmp/b"
	pids=()
	for bin in "$first" "$second"; do
		d=$tmp/a
		[ "$bin" = "$b" ] && d=$tmp/b
		(cd "$tmp" && exec "$bin" run baseline --rate "$rate" --duration 40s --ui plain --out "$d") >"$d.log" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	pids=()
	for d in "$tmp/a" "$tmp/b"; do
		[ -f "$d/report.json" ] || { cat "$d.log" >&2; echo "cpu-ab.sh: a run wrote no report" >&2; exit 1; }
	done
	ca=$(cpu "$tmp/a") cb=$(cpu "$tmp/b")
	r=$(jq -n --argjson a "$ca" --argjson b "$cb" '$b / $a * 1000 | round / 1000')
	sum=$(jq -n --argjson s "$sum" --argjson r "$r" '$s + $r')
	printf 'round %d: A %.3f B %.3f CPU-ms per payment, B/A %s (verdicts %s %s, host busy %.2f)\n' "$i" "$ca" "$cb" "$r" \
		"$(jq -r .verdict "$tmp/a/report.json")" "$(jq -r .verdict "$tmp/b/report.json")" "$(jq .host.host_cpu_busy "$tmp/a/report.json")"
done
jq -n --argjson s "$sum" --argjson n "$rounds" '"mean B/A \($s / $n * 1000 | round / 1000)"' -r
