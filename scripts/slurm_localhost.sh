#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, from Debian's packages, for testing regrun's Slurm launcher:
#
#   scripts/slurm_localhost.sh start    # install slurm-wlm + munge if missing (apt-get), start munged, slurmctld, slurmd
#   scripts/slurm_localhost.sh stop     # stop the three daemons this script started
#   scripts/slurm_localhost.sh status   # sinfo
#
# No systemd, no cgroups, no accounting: proctrack/linuxproc, task/none, select/cons_tres, accounting_storage/none
# (so regrun must notice dead jobs without sacct). Runs as root (CI containers; a sandbox). The config goes to
# /etc/slurm/slurm.conf (where sbatch looks without SLURM_CONF); state, logs and pids under $REGRUN_SLURM_DIR
# (default /tmp/regrun-slurm). `start` exits 0 once `sinfo` shows the node idle, 1 with the reason otherwise.
set -uo pipefail

DIR="${REGRUN_SLURM_DIR:-/tmp/regrun-slurm}"
CONF=/etc/slurm/slurm.conf
NODE="$(hostname -s)"

say() { echo "slurm_localhost: $*" >&2; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
     && command -v sbatch >/dev/null; then
    return 0
  fi
  if ! command -v apt-get >/dev/null; then
    say "slurm-wlm is not installed and there is no apt-get to install it"; return 1
  fi
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$DIR/apt.log" 2>&1 && apt-get install -y -qq slurm-wlm munge >>"$DIR/apt.log" 2>&1 \
    || { say "apt-get install failed (last lines of $DIR/apt.log follow)"; tail -5 "$DIR/apt.log" >&2; return 1; }
}

write_config() {
  local cpus mem
  if [ -f "$CONF" ] && ! grep -q "regrun's scripts/slurm_localhost.sh" "$CONF"; then
    say "$CONF exists and was not written by this script (a real cluster?); leaving it alone"; return 1
  fi
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"
  mkdir -p /etc/slurm "$DIR/ctld" "$DIR/d" "$DIR/log"
  cat >"$CONF" <<EOF
# written by regrun's scripts/slurm_localhost.sh: a one-node test cluster
ClusterName=regrun
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# quick turnaround for tests: kill 5 s after SIGTERM, forget finished jobs after 5 min, check limits often
KillWait=5
MinJobAge=300
OverTimeLimit=0
InactiveLimit=0
SchedulerParameters=sched_interval=2
MaxArraySize=1001
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

start_munge() {
  if pgrep -x munged >/dev/null; then return 0; fi
  mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chmod 0400 /etc/munge/munge.key
  chown -R root:root /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
  munged --force >"$DIR/log/munged.out" 2>&1 || { say "munged did not start: $(tail -2 "$DIR/log/munged.out")"; return 1; }
}

start() {
  mkdir -p "$DIR/log" "$DIR/ctld" "$DIR/d" || { say "cannot create $DIR"; return 1; }
  install_packages || return 1
  write_config || return 1
  start_munge || return 1
  if [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
    say "slurmctld already running (pid $(cat "$DIR/slurmctld.pid"))"
  else
    slurmctld -c -i >"$DIR/log/slurmctld.out" 2>&1 || { say "slurmctld did not start: $(tail -3 "$DIR/log/slurmctld.log")"; return 1; }
  fi
  if ! { [ -f "$DIR/slurmd.pid" ] && kill -0 "$(cat "$DIR/slurmd.pid")" 2>/dev/null; }; then
    slurmd >"$DIR/log/slurmd.out" 2>&1 || { say "slurmd did not start: $(tail -3 "$DIR/log/slurmd.log")"; return 1; }
  fi
  for _ in $(seq 1 60); do
    state="$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1)"
    case "$state" in
      idle*|mixed*|allocated*)
        # a node that looks idle may still refuse jobs (munge, spool folder): run one to be sure
        if timeout 120 srun --time=1 --quiet true >"$DIR/log/smoke.out" 2>&1; then
          say "up: node $NODE $state ($(nproc) CPUs), a test job ran; config $CONF"; return 0
        fi
        say "the node is $state but a test job failed: $(tail -2 "$DIR/log/smoke.out")"; return 1 ;;
      down*|drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 ;;
    esac
    sleep 1
  done
  say "the node did not come up within 60 s (state: ${state:-none}); logs in $DIR/log"
  tail -3 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 2>/dev/null
  return 1
}

stop() {
  for daemon in slurmd slurmctld; do
    if [ -f "$DIR/$daemon.pid" ]; then
      pid="$(cat "$DIR/$daemon.pid")"
      kill "$pid" 2>/dev/null && say "stopped $daemon (pid $pid)"
      rm -f "$DIR/$daemon.pid"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
