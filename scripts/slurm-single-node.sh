#!/usr/bin/env bash
# A single-node Slurm on this (Debian) machine, for the Slurm tests: run as root.
#
#   scripts/slurm-single-node.sh start    # install slurm-wlm + munge if missing, write
#                                         # slurm.conf for this one node, start munged,
#                                         # slurmctld and slurmd; wait until the node is idle
#   scripts/slurm-single-node.sh status   # exit 0 when sinfo answers and the node is up
#   scripts/slurm-single-node.sh stop     # stop the three daemons this script started
#
# No cgroups (proctrack/linuxproc, task/none) and no accounting database: `sacct` has nothing;
# finished jobs' states go to a job completion log, /var/log/slurm/jobcomp.log.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE=/var/lib/slurm/cdsynth-single-node
LOGS=/var/log/slurm
RUN=/run/slurm-cdsynth

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "slurm-single-node.sh: must run as root (it installs packages and starts daemons)" >&2
        exit 2
    fi
}

install() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        echo "installing slurm-wlm and munge (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
    fi
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d" "$LOGS" "$RUN"
    cat > "$CONF" <<CONF
# written by cdsynth scripts/slurm-single-node.sh: one node, no cgroups, no accounting
ClusterName=cdsynth
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

running() {
    timeout 10 sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'
}

start() {
    need_root
    if running; then
        echo "slurm is running: $(sinfo -h -o '%N %T')"
        return
    fi
    install
    write_conf
    mkdir -p /run/munge /var/log/munge
    chown munge:munge /run/munge /var/log/munge 2>/dev/null || true
    if [ ! -s /etc/munge/munge.key ]; then
        (command -v mungekey >/dev/null && mungekey --create --force) \
            || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    pgrep -x munged >/dev/null || su -s /bin/sh munge -c "munged --force" \
        || munged --force
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    for _ in $(seq 60); do
        if running; then
            echo "slurm is running: $(sinfo -h -o '%N %T')"
            return
        fi
        scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    echo "slurm-single-node.sh: the node did not come up; see $LOGS/slurmctld.log and $LOGS/slurmd.log" >&2
    exit 1
}

stop() {
    need_root
    for pidfile in "$RUN/slurmd.pid" "$RUN/slurmctld.pid"; do
        if [ -s "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            rm -f "$pidfile"
        fi
    done
    echo "slurm stopped (munged left running)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) running ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
