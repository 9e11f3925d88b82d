#!/usr/bin/env bash
# shellcheck disable=SC2016  # the --wrap scripts expand $SLURM_* in the job, not here
# End-to-end check of slurm_cluster.sh: starts a single-node Slurm, runs a job array, scancel,
# SIGTERM delivery to a trap, requeue, stop, and a second start in a fresh directory.
# Exit 0: all passed; 77: Slurm cannot start here (skip); 1: a check failed.
#
# Usage: tests/slurm/selftest.sh [--install] [--slow]
#   --install  run `slurm_cluster.sh install` first (apt-get)
#   --slow     also check the time-limit path (--time=1: about 100 s more)
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER=$HERE/slurm_cluster.sh
INSTALL=0 SLOW=0
for a in "$@"; do
  case $a in
    --install) INSTALL=1 ;;
    --slow) SLOW=1 ;;
    *) echo "usage: $0 [--install] [--slow]" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d /tmp/slurm_selftest.XXXXXX)
DIR=$WORK/c1
FAILS=0
T0=$SECONDS

cleanup() {
  "$CLUSTER" stop "$WORK/c1" >/dev/null 2>&1
  "$CLUSTER" stop "$WORK/c2" >/dev/null 2>&1
}
trap cleanup EXIT

say() { echo "[$(( SECONDS - T0 ))s] $*"; }
ok() { say "ok: $*"; }
bad() { say "FAIL: $*"; FAILS=$((FAILS + 1)); }

# wait_gone JOB SECONDS: until squeue no longer lists JOB (or any of its array tasks)
wait_gone() {
  local end=$((SECONDS + $2))
  while (( SECONDS < end )); do
    [[ -z $(squeue -h -j "$1" -o %i 2>/dev/null) ]] && return 0
    sleep 0.25
  done
  return 1
}

# wait_state JOB STATE SECONDS
wait_state() {
  local end=$((SECONDS + $3))
  while (( SECONDS < end )); do
    [[ $(squeue -h -j "$1" -o %T 2>/dev/null) == "$2" ]] && return 0
    sleep 0.2
  done
  return 1
}

job_state() { scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n1 | cut -d= -f2; }

start_cluster() {
  local rc t=$SECONDS
  "$CLUSTER" start "$1" >"$WORK/start.out" 2>&1
  rc=$?
  cat "$WORK/start.out"
  if (( rc == 77 )); then echo "SKIP: Slurm cannot start here"; exit 77; fi
  (( rc == 0 )) || { echo "FAIL: start exited $rc"; exit 1; }
  say "start took $((SECONDS - t))s"
}

if (( INSTALL )); then
  "$CLUSTER" install || { rc=$?; (( rc == 77 )) && { echo "SKIP: cannot install"; exit 77; }; exit 1; }
fi

start_cluster "$DIR"
export SLURM_CONF=$DIR/slurm.conf

# A second start on a running cluster is a no-op.
if "$CLUSTER" start "$DIR" >/dev/null 2>&1; then ok "start on a running cluster: exit 0"
else bad "start on a running cluster failed"; fi

# 1. Job array: 4 tasks, each writes its task id.
t=$SECONDS
J=$(sbatch --parsable --array=0-3 --output "$DIR/out_%A_%a.txt" \
      --wrap 'echo $SLURM_ARRAY_TASK_ID; sleep 2')
if wait_gone "$J" 60; then
  good=1
  for a in 0 1 2 3; do
    [[ $(cat "$DIR/out_${J}_$a.txt" 2>/dev/null) == "$a" ]] || { good=0; bad "array task $a output"; }
  done
  (( good )) && ok "array $J: 4 tasks, right ids, $((SECONDS - t))s"
else
  bad "array $J still queued after 60 s"
fi

# A job script that logs SIGTERM and then, like issue 14's worker, finishes its current chunk.
cat >"$DIR/chunky.sh" <<'EOF'
#!/bin/bash
term=0
trap 'echo "TERM $(date +%s)"; term=1' TERM
echo "start $(date +%s) restart=${SLURM_RESTART_COUNT:-0}"
while (( ! term )); do sleep 0.2; done
echo "finished chunk"
EOF
# One that logs SIGTERM and then ignores it (must be SIGKILLed KillWait=5 s later).
cat >"$DIR/stubborn.sh" <<'EOF'
#!/bin/bash
trap 'echo "TERM $(date +%s)"' TERM
echo "start $(date +%s)"
while true; do sleep 0.2; done
EOF

# 2. scancel: the batch shell gets SIGTERM at once, SIGKILL after KillWait; state CANCELLED.
J=$(sbatch --parsable --output "$DIR/stubborn_%j.txt" "$DIR/stubborn.sh")
if wait_state "$J" RUNNING 30; then
  sleep 1; t=$SECONDS; scancel "$J"
  if wait_gone "$J" 30; then
    el=$((SECONDS - t))
    st=$(job_state "$J")
    if grep -q '^TERM' "$DIR/stubborn_$J.txt" && [[ $st == CANCELLED ]] && (( el >= 4 )); then
      ok "scancel: trap saw SIGTERM, killed after ${el}s (KillWait=5), state $st"
    else
      bad "scancel: state=$st after ${el}s, output: $(tr '\n' '|' <"$DIR/stubborn_$J.txt")"
    fi
  else
    bad "scancel: job $J still listed after 30 s"
  fi
else
  bad "job $J did not start"
fi

# 3. scancel --signal=TERM: without --batch (or --full) it is NOT sent to the batch shell;
#    with --batch the trap finishes the chunk and the job ends COMPLETED.
J=$(sbatch --parsable --output "$DIR/chunky_%j.txt" "$DIR/chunky.sh")
if wait_state "$J" RUNNING 30; then
  sleep 1
  scancel --signal=TERM "$J"; sleep 2
  if [[ $(squeue -h -j "$J" -o %T) == RUNNING ]] && ! grep -q '^TERM' "$DIR/chunky_$J.txt"; then
    ok "scancel --signal=TERM (no --batch) does not reach the batch shell"
  else
    bad "scancel --signal=TERM without --batch reached the batch shell?"
  fi
  scancel --batch --signal=TERM "$J"
  if wait_gone "$J" 20 && grep -q '^finished chunk' "$DIR/chunky_$J.txt" \
     && [[ $(job_state "$J") == COMPLETED ]]; then
    ok "scancel --batch --signal=TERM: trap finished its chunk, state COMPLETED"
  else
    bad "scancel --batch --signal=TERM: state $(job_state "$J"), output: $(tr '\n' '|' <"$DIR/chunky_$J.txt")"
  fi
else
  bad "job $J did not start"
fi

# 4. Requeue: the job restarts (SLURM_RESTART_COUNT=1) after cred_expire=10 s.
#    (--wrap scripts run under /bin/sh, i.e. dash: no [[ ]].)
J=$(sbatch --parsable --requeue --open-mode=append --output "$DIR/requeue_%j.txt" \
      --wrap 'echo "run restart=${SLURM_RESTART_COUNT:-0}"; [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] || sleep 300')
if wait_state "$J" RUNNING 30; then
  t=$SECONDS
  scontrol requeue "$J"
  if wait_gone "$J" 60 && grep -q 'restart=0' "$DIR/requeue_$J.txt" \
     && grep -q 'restart=1' "$DIR/requeue_$J.txt" \
     && scontrol show job "$J" | grep -q 'Restarts=1' && [[ $(job_state "$J") == COMPLETED ]]; then
    ok "scontrol requeue: ran again (Restarts=1) and completed, $((SECONDS - t))s"
  else
    bad "requeue: state $(job_state "$J"), output: $(tr '\n' '|' <"$DIR/requeue_$J.txt")"
  fi
else
  bad "job $J did not start"
fi

# 5. (--slow) Time limit: --signal=B:TERM@50 warns the batch shell before the 1-minute limit,
#    and at the limit a job that ignores SIGTERM is SIGKILLed (state TIMEOUT).
if (( SLOW )); then
  t=$SECONDS
  J1=$(sbatch --parsable --time=1 --signal=B:TERM@50 --output "$DIR/warn_%j.txt" "$DIR/chunky.sh")
  J2=$(sbatch --parsable --time=1 --output "$DIR/limit_%j.txt" "$DIR/stubborn.sh")
  wait_gone "$J1" 120; s1=$(( SECONDS - t ))
  wait_gone "$J2" 150; s2=$(( SECONDS - t ))
  if grep -q '^finished chunk' "$DIR/warn_$J1.txt" && [[ $(job_state "$J1") == COMPLETED ]] \
     && (( s1 < 60 )); then
    ok "--signal=B:TERM@50: trap finished its chunk before the limit (${s1}s), COMPLETED"
  else
    bad "--signal=B:TERM@50: state $(job_state "$J1") after ${s1}s: $(tr '\n' '|' <"$DIR/warn_$J1.txt")"
  fi
  if grep -q '^TERM' "$DIR/limit_$J2.txt" && [[ $(job_state "$J2") == TIMEOUT ]]; then
    ok "--time=1: SIGTERM at the limit, then SIGKILL, state TIMEOUT (${s2}s)"
  else
    bad "--time=1: state $(job_state "$J2") after ${s2}s: $(tr '\n' '|' <"$DIR/limit_$J2.txt")"
  fi
fi

"$CLUSTER" status "$DIR"

# 6. Stop (with a job still running: stop cancels it), then start again in a fresh directory.
J=$(sbatch --parsable --output /dev/null --wrap 'sleep 300')
wait_state "$J" RUNNING 30
t=$SECONDS
"$CLUSTER" stop "$DIR" || bad "stop exited non-zero"
say "stop took $((SECONDS - t))s"
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || pgrep -f "slurmstepd.*\[$J\." >/dev/null; then
  bad "daemons or the job's slurmstepd survived stop"
else
  ok "stop: no slurmctld/slurmd/slurmstepd left"
fi
"$CLUSTER" stop "$DIR" >/dev/null || bad "second stop exited non-zero"

DIR=$WORK/c2
start_cluster "$DIR"
export SLURM_CONF=$DIR/slurm.conf
J=$(sbatch --parsable --output "$DIR/again_%j.txt" --wrap 'echo again')
if wait_gone "$J" 30 && [[ $(cat "$DIR/again_$J.txt") == again ]]; then
  ok "second cluster in a fresh dir runs jobs"
else
  bad "second cluster: job $J"
fi
"$CLUSTER" stop "$DIR" >/dev/null

say "done: $FAILS failure(s)"
(( FAILS == 0 )) && rm -rf "$WORK"
(( FAILS == 0 ))
