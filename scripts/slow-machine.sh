#!/usr/bin/env bash
# slow-machine.sh CPUS CMD...: runs CMD with its CPU time capped at CPUS
# cores (a cgroup v1 cpu quota, or cgroup v2 cpu.max), to emulate a slower
# machine of the same size. Machines of one nominal size differ ~2.5x; the
# no-op reference (scripts/reference.sh) run inside, e.g.
#   scripts/slow-machine.sh 1.15 scripts/reference.sh
# says which kind of machine the cap makes. Needs root.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: slow-machine.sh CPUS CMD..." >&2; exit 2; }
cpus=$1; shift
period=10000
quota=$(awk -v c="$cpus" 'BEGIN { q = int(c * 10000); if (q < 1000) exit 1; print q }') \
  || { echo "slow-machine.sh: CPUS must be a number >= 0.1, got $cpus" >&2; exit 2; }
if [ -d /sys/fs/cgroup/cpu ]; then # cgroup v1
  g=/sys/fs/cgroup/cpu/paysim-slow
  mkdir -p "$g"
  echo "$period" > "$g/cpu.cfs_period_us"
  echo "$quota" > "$g/cpu.cfs_quota_us"
  echo 10240 > "$g/cpu.shares" # ahead of anything else on the machine
else # cgroup v2
  g=/sys/fs/cgroup/paysim-slow
  mkdir -p "$g"
  echo "$quota $period" > "$g/cpu.max"
fi
echo $$ > "$g/cgroup.procs"
exec "$@"
