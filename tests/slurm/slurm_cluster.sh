#!/usr/bin/env bash
# Starts and stops a throwaway single-node Slurm (munged + slurmctld + slurmd) as root, without
# systemd, with every file it writes under one directory. See tests/slurm/README.md.
#
# Usage: slurm_cluster.sh install
#        slurm_cluster.sh start  DIR    # exit 0: node idle; exit 77: Slurm cannot start (skip)
#        slurm_cluster.sh stop   DIR    # bounded, never hangs
#        slurm_cluster.sh status DIR
#
# Environment (all optional):
#   SLURM_CLUSTER_TIMEOUT   seconds `start` waits for the node to be idle (60)
#   SLURM_CLUSTER_CTLD_PORT slurmctld port (6817); SLURM_CLUSTER_SLURMD_PORT slurmd port (6818)
#   SLURM_CLUSTER_NODENAME  node name (the machine's short hostname)
set -uo pipefail

SKIP=77
PACKAGES=(slurm-wlm munge)

die_usage() { echo "usage: $0 install | start DIR | stop DIR | status DIR" >&2; exit 2; }
log() { echo "slurm_cluster: $*" >&2; }

skip() {  # skip MESSAGE: Slurm cannot run here
  log "SKIP: $*"
  exit "$SKIP"
}

need_root() {
  [[ $(id -u) == 0 ]] || skip "must run as root (the daemons run as root, SlurmUser=root)"
}

installed() {
  local p
  for p in slurmctld slurmd slurm-client munge; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || return 1
  done
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null
}

cmd_install() {
  need_root
  if installed; then
    log "slurm-wlm and munge are already installed"
    return 0
  fi
  command -v apt-get >/dev/null || skip "apt-get not found; install ${PACKAGES[*]} by hand"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' postinst scripts try to start the services with invoke-rc.d; without systemd
  # or a runlevel that is a no-op (or denied by policy-rc.d). We start our own daemons anyway.
  if ! apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" </dev/null; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get update -q </dev/null || skip "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" </dev/null \
      || skip "apt-get install ${PACKAGES[*]} failed"
  fi
  installed || skip "packages installed but slurmctld/slurmd/munged are missing"
}

# ---- paths -------------------------------------------------------------------------------

set_paths() {
  [[ -n ${1:-} ]] || die_usage
  if [[ ${2:-} == create ]]; then mkdir -p "$1" || skip "cannot create $1"; fi
  [[ -d $1 ]] || { log "no such directory: $1"; return 1; }
  DIR=$(cd "$1" && pwd -P)
  CONF=$DIR/slurm.conf
  MUNGE_DIR=$DIR/munge
  MUNGE_PID=$MUNGE_DIR/munged.pid
  RUN_DIR=$DIR/run
  LOG_DIR=$DIR/log
  CTLD_PID=$RUN_DIR/slurmctld.pid
  SLURMD_PID=$RUN_DIR/slurmd.pid
  export SLURM_CONF=$CONF
}

# pid_alive PIDFILE NAME: prints the pid when the file names a live process called NAME
pid_alive() {
  local pid comm
  [[ -s $1 ]] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [[ -n $pid ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $comm == "$2"* ]] || return 1
  echo "$pid"
}

# node_state: the node's state as sinfo reports it (empty when slurmctld does not answer)
node_state() {
  timeout 10 sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1
}

show_logs() {
  local f
  for f in "$MUNGE_DIR/munged.log" "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"; do
    [[ -f $f ]] || continue
    echo "----- $f (last 40 lines) -----" >&2
    tail -n 40 "$f" >&2
  done
}

fail_start() {  # fail_start MESSAGE: undo a partial start, show the logs, skip
  log "start failed: $*"
  show_logs
  stop_daemons >&2
  skip "Slurm cannot start on this machine: $*"
}

# ---- start -------------------------------------------------------------------------------

# choose_socket: munged wants every directory above its socket searchable by everyone (mktemp -d
# makes 0700 dirs) and a socket path < 108 bytes; use DIR/munge when it can, else /run or /tmp.
choose_socket() {
  local d=$DIR ok=1 mode alt
  while [[ $d != / ]]; do
    d=$(dirname "$d")
    mode=$(stat -c %A "$d") || { ok=0; break; }
    [[ ${mode:9:1} == [xt] ]] || { ok=0; break; }
  done
  (( ${#MUNGE_DIR} < 90 )) || ok=0
  if (( ok )); then
    SOCKET=$MUNGE_DIR/munge.socket
    return 0
  fi
  for alt in /run /tmp; do
    [[ -d $alt && -w $alt ]] || continue
    alt=$alt/slurm_cluster.$(printf %s "$DIR" | md5sum | cut -c1-12)
    install -d -m 0755 "$alt" || continue
    echo "$alt" >"$MUNGE_DIR/socket_dir"
    SOCKET=$alt/munge.socket
    log "munge socket in $alt (a directory above $DIR is not searchable by all, or the path is long)"
    return 0
  done
  return 1
}

make_munge_key() {
  # The system key: created the way Debian's munge package does (munge:munge, 0400) when absent.
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    install -d -m 0700 /etc/munge || return 1
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile=/etc/munge/munge.key --force || return 1
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none || return 1
    fi
    if id munge >/dev/null 2>&1; then
      chown munge:munge /etc/munge /etc/munge/munge.key || return 1
    fi
    chmod 0400 /etc/munge/munge.key || return 1
  fi
  # munged refuses a key owned by another user than the one it runs as ("Keyfile is insecure:
  # should be owned by UID 0"); our munged runs as root, so it reads a root-owned private copy.
  install -m 0400 -o root -g root /etc/munge/munge.key "$MUNGE_DIR/munge.key"
}

write_conf() {
  local hw cpus boards sockets cores threads mem host
  host=$(hostname -s)
  # `slurmd -C` prints this machine's hardware in slurm.conf syntax.
  hw=$(SLURM_CONF=/nonexistent slurmd -C 2>/dev/null | head -n1)
  field() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$hw"; }
  cpus=$(field CPUs); boards=$(field Boards); sockets=$(field SocketsPerBoard)
  cores=$(field CoresPerSocket); threads=$(field ThreadsPerCore); mem=$(field RealMemory)
  if [[ -z $cpus || -z $cores || -z $mem ]]; then
    cpus=$(nproc); boards=1; sockets=1; cores=$cpus; threads=1
    mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
  fi
  cat >"$CONF" <<EOF
# Written by tests/slurm/slurm_cluster.sh: a single-node test cluster, everything under $DIR.
ClusterName=posebatch
# NodeAddr/controller address 127.0.0.1: works even where the hostname does not resolve.
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$SOCKET,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# No cgroups: they need systemd (or a delegated cgroup tree) and fail in containers/VMs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_interval=2
MpiDefault=none
SwitchType=switch/none
# Quick: a lost slurmd is noticed in 30 s, a killed job gets SIGKILL 5 s after SIGTERM,
# finished jobs stay visible to scontrol/squeue for 5 minutes (no accounting, no sacct).
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=5
KillWait=5
MinJobAge=300
InactiveLimit=0
Waittime=0
JobRequeue=1
NodeName=$NODE NodeHostname=$NODE NodeAddr=127.0.0.1 CPUs=$cpus Boards=${boards:-1} SocketsPerBoard=${sockets:-1} CoresPerSocket=$cores ThreadsPerCore=${threads:-1} RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

# port_in_use PORT: something listens on TCP PORT (read from /proc: iproute2 may be missing)
port_in_use() {
  local hex
  hex=$(printf ':%04X' "$1")
  awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

cmd_start() {
  need_root
  set_paths "$1" create
  installed || skip "slurm-wlm/munge are not installed (run: $0 install)"
  local t0=$SECONDS limit=${SLURM_CLUSTER_TIMEOUT:-60} state=""

  if pid_alive "$CTLD_PID" slurmctld >/dev/null && pid_alive "$SLURMD_PID" slurmd >/dev/null \
     && pid_alive "$MUNGE_PID" munged >/dev/null; then
    log "already running in $DIR"
  else
    stop_daemons >/dev/null 2>&1  # leftovers of a half-started cluster in DIR
    local port
    for port in "$CTLD_PORT" "$SLURMD_PORT"; do
      # Another Slurm on the same ports would answer our sinfo and make a dead start look fine.
      port_in_use "$port" && fail_start "TCP port $port is in use (another slurmctld/slurmd?" \
        "set SLURM_CLUSTER_CTLD_PORT / SLURM_CLUSTER_SLURMD_PORT)"
    done
    # munged checks that everyone can traverse to its socket; DIR may come from mktemp (0700).
    chmod 0755 "$DIR"
    install -d -m 0755 "$MUNGE_DIR" "$RUN_DIR" "$LOG_DIR" || fail_start "cannot create dirs"
    install -d -m 0700 "$DIR/state" "$DIR/spool" || fail_start "cannot create dirs"
    choose_socket || fail_start "no directory for munged's socket"
    make_munge_key || fail_start "cannot create a munge key"
    write_conf || fail_start "cannot write $CONF"

    munged --socket="$SOCKET" --key-file="$MUNGE_DIR/munge.key" --pid-file="$MUNGE_PID" \
      --log-file="$MUNGE_DIR/munged.log" --seed-file="$MUNGE_DIR/munged.seed" \
      </dev/null >>"$LOG_DIR/start.log" 2>&1 || fail_start "munged did not start"
    timeout 10 munge -n -S "$SOCKET" </dev/null | timeout 10 unmunge -S "$SOCKET" >/dev/null 2>&1 \
      || fail_start "munge round trip failed"

    # Both daemonize; -f: our config (also exported as SLURM_CONF). -N: our node name.
    slurmctld -f "$CONF" </dev/null >>"$LOG_DIR/start.log" 2>&1 \
      || fail_start "slurmctld did not start"
    slurmd -f "$CONF" -N "$NODE" </dev/null >>"$LOG_DIR/start.log" 2>&1 \
      || fail_start "slurmd did not start"
  fi

  while (( SECONDS - t0 < limit )); do
    state=$(node_state)
    if ! pid_alive "$CTLD_PID" slurmctld >/dev/null; then
      state=""; (( SECONDS - t0 > 3 )) && fail_start "slurmctld exited"
    fi
    if ! pid_alive "$SLURMD_PID" slurmd >/dev/null; then
      state=""; (( SECONDS - t0 > 3 )) && fail_start "slurmd exited"
    fi
    [[ $state == idle ]] && break
    sleep 0.5
  done
  [[ $state == idle ]] || fail_start "node $NODE not idle after ${limit}s (state: ${state:-none})"

  echo "export SLURM_CONF=$CONF" >"$DIR/env.sh"
  log "node $NODE idle after $(( SECONDS - t0 ))s; logs in $LOG_DIR"
  echo "export SLURM_CONF=$CONF"
}

# ---- stop --------------------------------------------------------------------------------

# kill_pidfiles PIDFILE:NAME...: SIGTERM to all (each takes ~2 s to shut down, so in parallel),
# wait up to 10 s, then SIGKILL whatever is left.
kill_pidfiles() {
  local spec pid i left
  local -a pids=() names=()
  for spec in "$@"; do
    if pid=$(pid_alive "${spec%%:*}" "${spec#*:}"); then
      kill -TERM "$pid" 2>/dev/null
      pids+=("$pid"); names+=("${spec#*:}")
    fi
    rm -f "${spec%%:*}"
  done
  for ((i = 0; i < 100; i++)); do
    left=0
    for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && left=1; done
    (( left )) || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if [[ -d /proc/${pids[i]} ]]; then
      log "${names[i]} (${pids[i]}) ignored SIGTERM for 10 s; SIGKILL"
      kill -KILL "${pids[i]}" 2>/dev/null
    fi
    echo "stopped ${names[i]} (${pids[i]})"
  done
}

stop_daemons() {
  local i
  # Cancel whatever still runs, so that no slurmstepd outlives its slurmd.
  if pid_alive "$CTLD_PID" slurmctld >/dev/null; then
    timeout 10 scancel --full --quiet --user=root </dev/null 2>/dev/null
    for ((i = 0; i < 40; i++)); do
      [[ -z $(timeout 5 squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null) ]] && break
      sleep 0.25
    done
  fi
  kill_pidfiles "$SLURMD_PID:slurmd" "$CTLD_PID:slurmctld" "$MUNGE_PID:munged"
  if [[ -s $MUNGE_DIR/socket_dir ]]; then
    local sd; sd=$(cat "$MUNGE_DIR/socket_dir")
    [[ $sd == /run/slurm_cluster.* || $sd == /tmp/slurm_cluster.* ]] && rm -rf -- "$sd"
    rm -f "$MUNGE_DIR/socket_dir"
  fi
  return 0
}

cmd_stop() {
  set_paths "$1" || return 0  # nothing was started there
  stop_daemons
}

cmd_status() {
  set_paths "$1" || return 1
  local d
  for d in "$MUNGE_PID:munged" "$CTLD_PID:slurmctld" "$SLURMD_PID:slurmd"; do
    if pid=$(pid_alive "${d%%:*}" "${d#*:}"); then echo "${d#*:}: running ($pid)"
    else echo "${d#*:}: not running"; fi
  done
  echo "SLURM_CONF=$CONF"
  timeout 10 sinfo -N -o '%N %T %c %m %P' 2>&1
  timeout 10 squeue -o '%.12i %.10P %.12j %.8T %.8M %R' 2>&1
}

NODE=${SLURM_CLUSTER_NODENAME:-$(hostname -s)}
CTLD_PORT=${SLURM_CLUSTER_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_CLUSTER_SLURMD_PORT:-6818}

case ${1:-} in
  install) cmd_install ;;
  start)   [[ $# == 2 ]] || die_usage; cmd_start "$2" ;;
  stop)    [[ $# == 2 ]] || die_usage; cmd_stop "$2" ;;
  status)  [[ $# == 2 ]] || die_usage; cmd_status "$2" ;;
  *)       die_usage ;;
esac
