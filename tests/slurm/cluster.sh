#!/usr/bin/env bash
# A one-host Slurm cluster for the test suite: munged, slurmctld and slurmd started by hand (no
# systemd) from a slurm.conf generated under a fresh temporary directory, stopped by their PID files.
#
#   cluster.sh up STATE_FILE     start the cluster; write its environment (SLURM_CONF, ...) to STATE_FILE
#   cluster.sh down STATE_FILE   stop whatever `up` started (also after a half-finished `up`), remove it
#
# Needs root and Debian's slurmctld, slurmd, slurm-client and munge (exit 77 without). Refuses to start when a Slurm
# controller already answers on this host, so it never takes over a real cluster's daemons.
# Environment: TESSERA_SLURM_CTLD_PORT (default 6817), TESSERA_SLURM_D_PORT (6818),
# TESSERA_SLURM_CPUS (CPUs the node advertises, default max(4, nproc)), TESSERA_SLURM_TMP (parent
# of the temporary directory, default /tmp: munge's socket path must stay short).
set -euo pipefail

ctld_port=${TESSERA_SLURM_CTLD_PORT:-6817}
d_port=${TESSERA_SLURM_D_PORT:-6818}
up_timeout=${TESSERA_SLURM_UP_TIMEOUT:-30}

log() { printf '[slurm-cluster] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Polls `test_cmd` every 0.2 s for at most $1 seconds.
wait_for() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

stop_pid_file() {
  local name=$1 pid_file=$2 pid
  [ -s "$pid_file" ] || return 0
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for 15 bash -c "! kill -0 $pid" ; then
      log "$name ($pid) ignored SIGTERM for 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pid_file"
}

up() {
  local state_file=$1
  # Without root or the packages, exit 77: ctest's "skipped" (SKIP_RETURN_CODE).
  if [ "$(id -u)" -ne 0 ]; then
    log "skipped: needs root (slurmd starts job steps as their users)"
    exit 77
  fi
  local bin
  for bin in munged slurmctld slurmd sbatch scontrol sinfo; do
    if ! command -v "$bin" >/dev/null; then
      log "skipped: $bin not found (apt-get install slurmctld slurmd slurm-client munge)"
      exit 77
    fi
  done
  if [ -e "$state_file" ]; then
    # Left by a run that ended without `down` (killed): stop what it started, unless it still
    # answers, which means another run is using it.
    # shellcheck disable=SC1090
    if (. "$state_file" && timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'); then
      die "the cluster of $state_file is up and answers; not starting another (or run '$0 down $state_file')"
    fi
    log "cleaning up after an earlier run ($state_file)"
    down "$state_file"
  fi
  # Refuse if the system's own controller answers (a real cluster on this host).
  if [ -e /etc/slurm/slurm.conf ] && timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; then
    die "a Slurm controller already answers (scontrol ping with /etc/slurm/slurm.conf); not starting another"
  fi
  local dir host cpus
  dir=$(mktemp -d "${TESSERA_SLURM_TMP:-/tmp}/tessera-slurm.XXXXXX")
  chmod 0755 "$dir"
  host=$(hostname -s)
  cpus=${TESSERA_SLURM_CPUS:-$(($(nproc) > 4 ? $(nproc) : 4))}
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
  chmod 0700 "$dir/munge"
  # The state file is written first, so `down` can clean up after a failure half-way.
  cat >"$state_file" <<ENV
export TESSERA_SLURM_DIR=$dir
export SLURM_CONF=$dir/slurm.conf
ENV

  # Facts from running this on a 2-core VM: with CPUs = the real cores a 4-task job pends forever,
  # so the node advertises more (config_overrides lets slurmd accept a count it does not have);
  # MinJobAge=4 keeps `sbatch --wait` polling every 2 s (it backs off to 8 s and 32 s otherwise)
  # while the job record stays long enough for that poll to see the exit code.
  cat >"$dir/slurm.conf" <<CONF
ClusterName=tessera-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
MinJobAge=4
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf

  # Something already listening on our ports (another run's cluster, a real slurmctld or slurmd,
  # any other program): refuse, and leave nothing behind. A TCP connection is the test: a
  # controller with another munge key would not answer `scontrol ping` from us.
  local p
  for p in "$ctld_port" "$d_port"; do
    if port_busy "$p" || timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; then
      rm -rf "$dir" "$state_file"
      die "port $p already answers ($(ss -Hltnp "sport = :$p" | grep -o 'users:.*' | head -1)): a Slurm daemon is running; not starting another (or set TESSERA_SLURM_CTLD_PORT/TESSERA_SLURM_D_PORT)"
    fi
  done

  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/run/munged.pid" --seed-file="$dir/munge/munged.seed" \
    --log-file="$dir/log/munged.log" ||
    die "munged did not start (see $dir/log/munged.log)"
  wait_for 10 test -S "$dir/munge/munge.socket" || die "munged socket did not appear"

  slurmctld -i || die "slurmctld did not start (see $dir/log/slurmctld.log)"
  wait_for "$up_timeout" bash -c "scontrol ping | grep -q 'is UP'" ||
    die "slurmctld does not answer after ${up_timeout}s (see $dir/log/slurmctld.log)"
  slurmd || die "slurmd did not start (see $dir/log/slurmd.log)"
  wait_for "$up_timeout" bash -c "sinfo -h -N -o '%t' | grep -qE '^(idle|mix|alloc)'" ||
    die "node $host not idle after ${up_timeout}s: $(sinfo -h -N -o '%t %E' 2>&1) (see $dir/log/)"
  log "up: $dir ($host, $cpus CPUs, controller port $ctld_port)"
}

down() {
  local state_file=$1
  [ -e "$state_file" ] || {
    log "no $state_file: nothing to stop"
    return 0
  }
  # shellcheck disable=SC1090
  . "$state_file"
  local dir=$TESSERA_SLURM_DIR
  case "$dir" in
    */tessera-slurm.*) ;;
    *) die "refusing to remove '$dir' (not a directory this script made)" ;;
  esac
  if [ -d "$dir" ]; then
    # Jobs first, so that no step outlives its slurmd.
    timeout 10 scancel --quiet --user=root >/dev/null 2>&1 || true
    stop_pid_file slurmd "$dir/run/slurmd.pid"
    stop_pid_file slurmctld "$dir/run/slurmctld.pid"
    stop_pid_file munged "$dir/run/munged.pid"
    if [ -n "${TESSERA_SLURM_KEEP:-}" ]; then
      log "kept $dir (TESSERA_SLURM_KEEP)"
    else
      rm -rf "$dir"
    fi
  fi
  rm -f "$state_file"
  log "down"
}

case "${1:-}" in
  up) up "${2:?state file}" ;;
  down) down "${2:?state file}" ;;
  *)
    sed -n '2,13p' "$0"
    exit 2
    ;;
esac
