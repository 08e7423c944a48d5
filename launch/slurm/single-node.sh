#!/bin/bash
# (The project's verified single-node set-up for tests, kept with the Slurm batch script.)
# Single-node Slurm for CI on Debian bookworm, as root, no systemd. Everything except the munge socket lives in $SLURM_DIR.
set -euo pipefail
SLURM_DIR=${SLURM_DIR:-${TMPDIR:-/tmp}/slurm-ci}
export DEBIAN_FRONTEND=noninteractive
command -v slurmctld >/dev/null || apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool"
HOST=$(hostname -s)
read -r CPUS SOCK CORES THREADS MEM < <(slurmd -C | awk '/^NodeName/{for(i=1;i<=NF;i++){split($i,a,"=");v[a[1]]=a[2]}; print v["CPUs"],v["SocketsPerBoard"],v["CoresPerSocket"],v["ThreadsPerCore"],v["RealMemory"]}')
cat > "$SLURM_DIR/slurm.conf" <<CONF
ClusterName=ci
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=10
NodeName=$HOST CPUs=$CPUS Boards=1 SocketsPerBoard=$SOCK CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$((MEM*9/10)) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# munge: the package already generated /etc/munge/munge.key; only the socket dir is missing without systemd
install -d -o munge -g munge -m 755 /run/munge
munge -n >/dev/null 2>&1 || runuser -u munge -- /usr/sbin/munged
export SLURM_CONF="$SLURM_DIR/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for i in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -qx idle && break; sleep 1; done
sinfo
echo "export SLURM_CONF=$SLURM_CONF"
