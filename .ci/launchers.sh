#!/usr/bin/env bash
# Real launchers for the tests (RealLauncherTest): Open MPI and a one-node Slurm on loopback.
#
#   .ci/launchers.sh install          install openmpi-bin slurm-wlm munge libpmix-dev when missing (root
#                                     only; otherwise one line naming what is missing, exit 3)
#   .ci/launchers.sh slurm-start DIR  a one-node Slurm whose config, state, logs and pid files live in DIR;
#                                     waits until the node is idle, then prints `export SLURM_CONF=DIR/slurm.conf`
#   .ci/launchers.sh slurm-stop DIR   stops what slurm-start DIR started (jobs, slurmd, slurmctld, munge if it
#                                     started it); harmless when nothing runs
#
# The Slurm daemons listen on two free loopback ports picked at start (another Slurm on this machine
# keeps its own), and start with SLURM_CONF in their environment so that slurm-stop recognizes the
# step daemons (slurmstepd) of this Slurm among the machine's processes. Exit codes: 0 done, 2 usage,
# 3 the launchers are missing and cannot be installed, 1 a daemon failed to start (its log is printed).
set -euo pipefail

PACKAGES=(openmpi-bin slurm-wlm munge libpmix-dev)
WAIT_S=30 # every wait below ends after this many seconds

die() { printf 'launchers.sh: %s\n' "$1" >&2; exit "${2:-1}"; }

missing_packages() { # prints the names of the packages (or their commands) that are not here
  local missing=()
  command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
  { command -v srun && command -v slurmctld && command -v slurmd; } >/dev/null 2>&1 || missing+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  # Slurm's mpi_pmix plugin loads the unversioned libpmix.so, which only the -dev package installs.
  if ! compgen -G '/usr/lib/*/libpmix.so' >/dev/null && ! compgen -G '/usr/lib*/libpmix.so' >/dev/null; then
    missing+=(libpmix-dev)
  fi
  printf '%s\n' "${missing[@]+"${missing[@]}"}"
}

install() {
  local missing
  missing=$(missing_packages | tr '\n' ' ' | sed 's/ *$//')
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    printf 'launchers.sh: missing %s (install them as root: apt-get install -y %s)\n' "$missing" "${PACKAGES[*]}"
    exit 3
  fi
  echo "launchers.sh: installing ${PACKAGES[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${PACKAGES[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${PACKAGES[@]}" >/dev/null 2>&1; } \
    || { printf 'launchers.sh: apt-get could not install %s\n' "${PACKAGES[*]}"; exit 3; }
  missing=$(missing_packages | tr '\n' ' ' | sed 's/ *$//')
  [ -z "$missing" ] || { printf 'launchers.sh: still missing after apt-get: %s\n' "$missing"; exit 3; }
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() { # $1: DIR; records in DIR/munge.started that this script started munged
  munge_works && return 0
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  [ -f /etc/munge/munge.key ] || die "no /etc/munge/munge.key (reinstall munge, or create it with mungekey)"
  runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge/munged.log)"
  touch "$1/munge.started"
  local i
  for ((i = 0; i < WAIT_S * 10; i++)); do munge_works && return 0; sleep 0.1; done
  die "munged started but does not answer within ${WAIT_S}s"
}

port_free() { # no socket listens on TCP port $1 (IPv4 or IPv6), read from /proc
  ! grep -qE "^ *[0-9]+: [0-9A-F]+:$(printf '%04X' "$1") [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

free_port_pair() { # prints two consecutive free TCP ports, below the ports the sbatch example picks (20000+)
  local p
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % 9999))
    if port_free "$p" && port_free $((p + 1)); then printf '%s %s\n' "$p" $((p + 1)); return 0; fi
  done
  die "no two free consecutive TCP ports found"
}

write_conf() { # $1: DIR
  local dir=$1 cpus mem ports
  cpus=$(nproc)
  # slurmd drains a node whose RealMemory exceeds what it finds: the total, rounded down to MiB.
  mem=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024}' /proc/meminfo)
  read -r -a ports <<<"$(free_port_pair)"
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  cat >"$dir/slurm.conf" <<CONF
# Written by .ci/launchers.sh slurm-start: a one-node Slurm on loopback for the tests.
ClusterName=ringattn-ci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=10
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

read_pid() { [ -s "$1" ] && tr -dc '0-9' <"$1" || true; }

slurm_start() { # $1: DIR
  local dir
  mkdir -p "$1"
  dir=$(cd "$1" && pwd)
  if pid_alive "$(read_pid "$dir/slurmctld.pid")" && pid_alive "$(read_pid "$dir/slurmd.pid")"; then
    echo "export SLURM_CONF=$dir/slurm.conf"; return 0 # already running: idempotent
  fi
  slurm_stop "$dir" >/dev/null
  write_conf "$dir"
  start_munge "$dir"
  export SLURM_CONF="$dir/slurm.conf"
  # -i: ignore state from an earlier run of this DIR; the daemons fork and write their pid files.
  slurmctld -i -f "$SLURM_CONF" || { tail -20 "$dir/log/slurmctld.log" >&2; die "slurmctld did not start"; }
  slurmd -N localhost -f "$SLURM_CONF" || { tail -20 "$dir/log/slurmd.log" >&2; die "slurmd did not start"; }
  local i state=""
  for ((i = 0; i < WAIT_S * 5; i++)); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true)
    case "$state" in idle*) echo "export SLURM_CONF=$SLURM_CONF"; return 0 ;; esac
    sleep 0.2
  done
  tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  slurm_stop "$dir" >/dev/null
  die "the Slurm node is not idle after ${WAIT_S}s (state: ${state:-none})"
}

stop_pid() { # $1: pid; TERM, then KILL after the bound
  local pid=$1 i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < WAIT_S * 10; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

step_daemons() { # $1: the slurm.conf; prints the pids of slurmstepd processes of that Slurm
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null || true)" = slurmstepd ] || continue
    tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$1" && printf '%s\n' "${p#/proc/}"
  done
  return 0
}

descendants() { # $1: pid; prints the pids of its descendants
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    printf '%s\n' "$child"; descendants "$child"
  done
}

slurm_stop() { # $1: DIR
  [ -d "$1" ] || return 0
  local dir conf pid
  dir=$(cd "$1" && pwd)
  conf="$dir/slurm.conf"
  if [ -f "$conf" ] && pid_alive "$(read_pid "$dir/slurmctld.pid")"; then
    SLURM_CONF=$conf timeout 10 scancel --full --signal=KILL --user="$(id -un)" >/dev/null 2>&1 || true
  fi
  stop_pid "$(read_pid "$dir/slurmd.pid")"
  stop_pid "$(read_pid "$dir/slurmctld.pid")"
  for pid in $(step_daemons "$conf"); do
    kill -KILL $(descendants "$pid") "$pid" 2>/dev/null || true # the step's tasks and their daemon
  done
  rm -f "$dir/slurmd.pid" "$dir/slurmctld.pid"
  if [ -f "$dir/munge.started" ]; then
    stop_pid "$(read_pid /run/munge/munged.pid)"
    rm -f "$dir/munge.started"
  fi
  echo "launchers.sh: stopped the Slurm of $dir"
}

case "${1:-}" in
  install) install ;;
  slurm-start) [ $# -eq 2 ] || die "usage: $0 slurm-start DIR" 2; slurm_start "$2" ;;
  slurm-stop) [ $# -eq 2 ] || die "usage: $0 slurm-stop DIR" 2; slurm_stop "$2" ;;
  *) die "usage: $0 install | slurm-start DIR | slurm-stop DIR" 2 ;;
esac
