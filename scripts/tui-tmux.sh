#!/usr/bin/env bash
# Drives the live dashboard the way a user sees it: `paysim run az-outage
# --ui tui` in a detached 100×30 tmux pane. Captures the screen mid-fault
# (the first AZ loses power at 20s) and at the end, asserts what each shows,
# quits with q and checks the exit code against the verdict.
#
# usage: scripts/tui-tmux.sh [DIR]   (DIR keeps the captures and the run;
#                                     default: a new temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
session="paysim-tui-$$"
cleanup() { tmux kill-session -t "$session" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "tui-tmux: FAIL: $*" >&2
  for f in mid end; do
    [ -s "$dir/$f.txt" ] && { echo "--- $f capture"; cat "$dir/$f.txt"; }
  done
  if tmux has-session -t "$session" 2>/dev/null; then
    echo "--- pane now"; tmux capture-pane -p -t "$session" || true
  fi
  exit 1
}

capture() { tmux capture-pane -p -t "$session" 2>/dev/null || true; }

# Build first so compile time is not part of the timing.
go build -o "$dir/paysim" ./cmd/paysim

rm -f "$dir/rc"
tmux new-session -d -s "$session" -x 100 -y 30 \
  "'$dir/paysim' run az-outage --duration 40s --rate 100 --ui tui --out '$dir/run'; echo \$? > '$dir/rc'"

# Mid-fault: the fault window is 20s..40s of load; capture once the
# dashboard's clock reads 28s or more (setup comes first, so bound by total
# time), and no later than 34s.
deadline=$((SECONDS + 180))
t=-1
while :; do
  screen=$(capture)
  t=$(grep -oE 't=[0-9]+s/40s' <<<"$screen" | head -1 | grep -oE '^t=[0-9]+' | cut -c3- || true)
  if [ -n "$t" ] && [ "$t" -ge 28 ]; then
    break
  fi
  [ -f "$dir/rc" ] && fail "the run ended (rc $(cat "$dir/rc")) before the fault window"
  [ "$SECONDS" -lt "$deadline" ] || fail "no dashboard at t>=28s within 180s (last t=${t:-none})"
  sleep 0.5
done
printf '%s\n' "$screen" >"$dir/mid.txt"
[ "$t" -le 34 ] || fail "captured at t=${t}s, past the 28-34s window"
grep -q 'ap-northeast-1a DOWN' "$dir/mid.txt" || fail "mid-fault: ap-northeast-1a is not shown DOWN"
grep -qE '^│ app +✖ down' "$dir/mid.txt" || fail "mid-fault: the AZ's app node is not shown down"
grep -qE 'ACTIVE +az-outage +ap-northeast-1a' "$dir/mid.txt" || fail "mid-fault: the az-outage fault is not listed as active"
grep -qE 'p99 +[0-9.]+m?s' "$dir/mid.txt" || fail "mid-fault: no p99 value"
echo "tui-tmux: mid-fault capture at t=${t}s ok"

# End: the load stops at 40s and the fault heals with it, then drain, checks
# and teardown; the result stays on screen until q.
deadline=$((SECONDS + 180))
until grep -q 'VERDICT: ' <<<"$(capture)"; do
  [ -f "$dir/rc" ] && fail "the run ended (rc $(cat "$dir/rc")) without showing a verdict"
  [ "$SECONDS" -lt "$deadline" ] || fail "no verdict on screen within 180s"
  sleep 0.5
done
capture >"$dir/end.txt"
verdict=$(jq -r .verdict "$dir/run/report.json")
grep -q "VERDICT: ${verdict^^}" "$dir/end.txt" || fail "end: the screen does not show the report's verdict ${verdict^^}"
grep -q 'Invariants' "$dir/end.txt" || fail "end: no invariants"
grep -qE 'healed +az-outage +ap-northeast-1a .*RTO [0-9.]+s' "$dir/end.txt" || fail "end: the healed fault has no RTO"
echo "tui-tmux: end capture ok (verdict $verdict)"

echo "--- mid-fault capture (t=${t}s)"
cat "$dir/mid.txt"
echo "--- end capture"
cat "$dir/end.txt"

# q leaves the held result; the exit code is the verdict's: 0 pass, 1 fail
# (an interrupt would be 130). At 40s the 10s writer failover costs about
# a quarter of the requests, under az-outage's 80% availability SLO, so a
# fail verdict is expected here; EXPECT_RC pins the code if wanted.
tmux send-keys -t "$session" q
deadline=$((SECONDS + 60))
until [ -s "$dir/rc" ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "paysim did not exit within 60s of q"
  sleep 0.2
done
rc=$(cat "$dir/rc")
want=${EXPECT_RC:-$([ "$verdict" = pass ] && echo 0 || echo 1)}
[ "$rc" = "$want" ] || fail "exit code $rc, want $want (verdict $verdict)"
echo "tui-tmux: exit code $rc (verdict $verdict) ok; artifacts in $dir"
