#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost (munged, slurmctld, slurmd; no accounting database),
# for tests/test_slurm_workflow.py. Needs Debian's slurm-wlm and munge, and root. The pid files of
# the daemons this script starts are listed in $STATE, and .ci/slurm-down.sh stops exactly those.
# A daemon that is already running is left alone (and not listed). No slurmdbd: sacct does not
# work, so the profile is used with `--slurm-status-command squeue` (MinJobAge=300 keeps finished
# jobs visible to squeue for 5 minutes). Memory is enforced with cgroups as on most real clusters (a
# job above its mem_mb ends OUT_OF_MEMORY); MEMORY_LIMITS=none turns that off where cgroups are missing.
set -euo pipefail
MEMORY_LIMITS=${MEMORY_LIMITS:-cgroup}
STATE=${SLURM_CI_STATE:-/run/slurm/ci-started}
CONF=/etc/slurm/slurm.conf
MARK="# written by nasbench-store .ci/slurm-up.sh"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 - 512 ))

wait_for() { local i; for i in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "slurm-up: timed out waiting for: $*" >&2; return 1; }
started() { echo "$1" >>"$STATE"; }

install -d -m 0755 /run/slurm /var/log/slurm /var/spool/slurmctld /var/spool/slurmd
if scontrol ping 2>/dev/null | grep -q UP; then
  echo "slurm-up: a SLURM controller is already running; using it as it is" >&2
  exit 0
fi
for f in "$CONF" /etc/slurm/cgroup.conf; do
  if [ -e "$f" ] && ! grep -qxF "$MARK" "$f"; then
    echo "slurm-up: $f exists and was not written by this script; refusing to replace it" >&2
    exit 1
  fi
done

# munge: /run/munge is on tmpfs; munged must run as the owner of the key (the munge user)
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
fi
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  started /run/munge/munged.pid
fi
wait_for bash -c 'munge -n | unmunge'

if [ "$MEMORY_LIMITS" = cgroup ]; then
  TRACKING="ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity"
  printf '%s\nCgroupPlugin=autodetect\nConstrainCores=yes\nConstrainRAMSpace=yes\n' "$MARK" >/etc/slurm/cgroup.conf
else
  TRACKING="ProctrackType=proctrack/linuxproc
TaskPlugin=task/none"
fi

cat >"$CONF" <<CONF
$MARK
ClusterName=localcluster
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
${TRACKING}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job that gives no --mem gets the whole node
DefMemPerCPU=1000
SchedulerType=sched/backfill
ReturnToService=2
# finished jobs stay visible to squeue this long (the status command without accounting)
MinJobAge=300
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld                    # daemonizes and writes its pid file
started /run/slurm/slurmctld.pid
slurmd -N "$HOST"
started /run/slurm/slurmd.pid
wait_for bash -c "sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)'"
sinfo
