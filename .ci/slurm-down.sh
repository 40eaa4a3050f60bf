#!/usr/bin/env bash
# Stop the daemons .ci/slurm-up.sh started (listed by pid file in $STATE), newest first, and only those.
STATE=${SLURM_CI_STATE:-/run/slurm/ci-started}
[ -s "$STATE" ] || { echo "slurm-down: nothing was started by slurm-up.sh ($STATE is empty)"; exit 0; }
stop() {
  local f=$1 p i
  [ -s "$f" ] || return 0
  p=$(cat "$f")
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  echo "slurm-down: $f (pid $p) did not exit in 10 s; killing it" >&2
  kill -9 "$p" 2>/dev/null
}
tac "$STATE" | while read -r pidfile; do stop "$pidfile"; done
rm -f "$STATE"
