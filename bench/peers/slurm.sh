#!/usr/bin/env bash
# Slurm beside mesospy: N `true` jobs on a single-node Slurm from Debian's packages, as a
# job array and as separate submissions, and bench/throughput.py with the same N (first,
# before any Slurm daemon runs).
#
#   sudo bench/peers/slurm.sh            # N=1000
#   sudo bench/peers/slurm.sh --jobs 5000
#   sudo bench/peers/slurm.sh --jobs 5000 --work-dir DIR   # mesospy's agents' sandboxes in DIR
#
# Installs slurmctld + slurmd + munge (apt), configures them for short jobs the way a Slurm
# admin would (no accounting, batch_sched_delay=0, sched_min_interval=0, an Epilog so slurmd
# reports each completion at once, oversubscribed cores), everything on localhost, and stops
# the daemons on exit. Target: mesospy >= 15x Slurm's jobs/s.
set -euo pipefail

JOBS=1000
WORK_DIR_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jobs) JOBS="$2"; shift 2 ;;
    --work-dir) WORK_DIR_ARGS=(--work-dir "$2"); shift 2 ;;
    *) echo "usage: $0 [--jobs N] [--work-dir DIR]" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run as root (installs packages, starts daemons)" >&2; exit 2; }

HERE=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/slurm-bench.XXXXXX)
CPUS=$(nproc)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null
fi

# mesospy first, with nothing of Slurm's running. Not after Slurm: slurmd makes and deletes
# files for every job, and on ext4 without a journal (bench/README.md) inodes made within
# 30 s of thousands of deletions cost several times more, which would charge Slurm's
# clean-up to mesospy. For the same reason wait that long before each contender (for
# whatever was deleted before this script, then for mesospy's own clean-up).
echo "waiting 35 s for the file system to settle"
sleep 35
echo "running mesospy's bench/throughput.py with the same $JOBS tasks (best of 2)..."
out=$(cd "$HERE" && python bench/throughput.py --tasks "$JOBS" --runs 2 "${WORK_DIR_ARGS[@]}")
sleep 35

# munge: a key and a daemon of our own, on a private socket.
mkdir -p "$WORK/munge" "$WORK/spool/ctld" "$WORK/spool/d" "$WORK/log" "$WORK/out"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$WORK/munge"; chmod 400 "$WORK/munge/munge.key"
chown -R munge:munge "$WORK/munge" 2>/dev/null || true
SOCKET="$WORK/munge/munge.socket"
munged --force --key-file="$WORK/munge/munge.key" --socket="$SOCKET" \
  --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" \
  --seed-file="$WORK/munge/seed" --num-threads=4
sleep 0.5
PIDS+=("$(cat "$WORK/munge/munged.pid")")

cat > "$WORK/epilog.sh" <<'EPI'
#!/bin/sh
exit 0
EPI
chmod +x "$WORK/epilog.sh"

HOST=$(hostname -s)
cat > "$WORK/slurm.conf" <<CONF
ClusterName=bench
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$WORK/spool/ctld
SlurmdSpoolDir=$WORK/spool/d
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SlurmctldDebug=error
SlurmdDebug=error
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000
Epilog=$WORK/epilog.sh
MaxJobCount=100000
MaxArraySize=100001
MinJobAge=2
ReturnToService=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=bench Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:64
CONF
export SLURM_CONF="$WORK/slurm.conf"

slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
sleep 2
PIDS+=("$(cat "$WORK/slurmctld.pid")" "$(cat "$WORK/slurmd.pid")")
for _ in $(seq 50); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^idle' && break
  scontrol update nodename="$HOST" state=resume 2>/dev/null || true
  sleep 0.2
done
sinfo

wait_empty() {  # until no job of ours is queued or running
  while [[ -n $(squeue -h -o %i 2>/dev/null | head -1) ]]; do sleep 0.05; done
}

now() { date +%s.%N; }

# 1. One job array of N tasks.
start=$(now)
sbatch -Q --array=0-$((JOBS - 1)) -o /dev/null -e /dev/null --wrap=true >/dev/null
wait_empty
array_s=$(echo "$(now) - $start" | bc)

# 2. N separate submissions, after the array's job files have been deleted 35 s ago.
sleep 35
start=$(now)
for _ in $(seq "$JOBS"); do
  sbatch -Q -o /dev/null -e /dev/null --wrap=true >/dev/null
done
wait_empty
single_s=$(echo "$(now) - $start" | bc)

# Every job must have completed: the controller's counters say how many ended which way.
failed=$(sdiag | awk '/Jobs failed/ {print $3}')
array_rate=$(echo "scale=1; $JOBS / $array_s" | bc)
single_rate=$(echo "scale=1; $JOBS / $single_s" | bc)

mesospy_rate=$(echo "$out" | tail -1 | python -c 'import json,sys; print(round(json.load(sys.stdin)["tasks_per_s_best"],1))')
best_slurm=$(echo "if ($array_rate > $single_rate) $array_rate else $single_rate" | bc)
ratio=$(echo "scale=1; $mesospy_rate / $best_slurm" | bc)

echo
echo "machine: $(python -c "import sys; sys.path.insert(0, '$HERE/bench'); import machine; print(machine.describe())")"
echo "slurm: $(sinfo -V)"
printf '%-28s %10s %10s\n' "workload ($JOBS true jobs)" "seconds" "jobs/s"
printf '%-28s %10.2f %10.1f\n' "slurm job array" "$array_s" "$array_rate"
printf '%-28s %10.2f %10.1f\n' "slurm separate sbatch" "$single_s" "$single_rate"
printf '%-28s %10s %10.1f\n' "mesospy (bench/throughput)" "" "$mesospy_rate"
echo "mesospy / best slurm: ${ratio}x (target >= 15x); slurm failed jobs: ${failed:-0}"
echo "{\"bench\": \"slurm\", \"jobs\": $JOBS, \"slurm_array_jobs_per_s\": $array_rate, \"slurm_sbatch_jobs_per_s\": $single_rate, \"mesospy_tasks_per_s\": $mesospy_rate, \"ratio\": $ratio, \"slurm_failed\": ${failed:-0}}"
[[ "${failed:-0}" == 0 ]] || exit 1
echo "$out" | tail -1 | python -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["correct"] else 1)'
