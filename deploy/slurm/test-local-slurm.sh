#!/usr/bin/env bash
# Acceptance test of tilerun on Slurm: starts a real single-node Slurm (Debian's slurmctld, slurmd and
# munge, configured for localhost in a temporary folder), submits a 3-task array and its summary job
# with deploy/slurm/submit.sh over six RGB scenes of ../shared/tiff-corpus with the land-cover demo model,
# waits, and checks that the outputs are byte for byte those of one single-machine run and that
# `tilerun status` says every scene is done. Needs root (it installs slurm-wlm and munge when missing and
# runs the daemons); takes about a minute. Stops the daemons and removes the folder on exit.
#
#   deploy/slurm/test-local-slurm.sh [path/to/tilerun]     (default .build/release/tilerun)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tilerun=$(realpath "${1:-$root/.build/release/tilerun}")
corpus="$root/../shared/tiff-corpus"
[[ -x $tilerun ]] || { echo "test-local-slurm: no tilerun at $tilerun (swift build -c release --product tilerun)" >&2; exit 2; }
[[ -d $corpus ]] || { echo "test-local-slurm: $corpus is missing" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "test-local-slurm: run as root (it starts slurmctld, slurmd and munged)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "test-local-slurm: installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

work=$(mktemp -d /tmp/tilerun-slurm.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
step() { echo "test-local-slurm: $*"; }

# munge: its own key and socket in the folder, so a munged already running is left alone.
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/inbox" "$work/submit"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$work/munge"
chmod 400 "$work/munge/munge.key"
socket="$work/munge/munge.socket"
munged --force --foreground --key-file="$work/munge/munge.key" --socket="$socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" 2>/dev/null &
pids+=($!)

# Ports off the defaults, so that a Slurm already on the machine is not disturbed.
cat >"$work/slurm.conf" <<CONF
ClusterName=tilerun-test
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=localhost CPUs=$(nproc) RealMemory=1024 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
for _ in $(seq 50); do [[ -S $socket ]] && break; sleep 0.1; done
# In the foreground, so that they are this script's children to stop; their logs are in the folder.
slurmctld -D -c -i 2>/dev/null &
pids+=($!)
slurmd -D -N localhost 2>/dev/null &
pids+=($!)
for i in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && break
    ((i == 60)) && { echo "test-local-slurm: the node did not come up" >&2; tail -20 "$work/slurmctld.log" "$work/slurmd.log" >&2; exit 1; }
    sleep 1
done
step "Slurm $(sinfo -V | awk '{print $2}') up: $(sinfo -h -o '%P %D node %T, %c CPUs')"

# Six RGB uint8 scenes of the corpus, by their own names.
for f in image-tiff/images__planar-rgb-u8.tif image-tiff/images__tiled-rect-rgb-u8.tif image-tiff/images__tiled-jpeg-ycbcr.tif \
         libtiff/images__quad-lzw-compat.tiff libtiff/images__rgb-3c-8b.tiff pillow/hopper_lzma.tif; do
    ln -s "$corpus/$f" "$work/inbox/$(basename "$f")"
done
pipeline="$work/pipeline.json"
cat >"$pipeline" <<JSON
{"model": "$root/models/landcover-demo.onnx", "tileSize": 256, "overlap": 32, "batch": 1}
JSON

step "single-machine run"
"$tilerun" run "$pipeline" --input "$work/inbox" --output "$work/single" --progress none --threads 2

step "submitting 3 shards and the summary job"
cd "$work/submit"
TILERUN=$tilerun SBATCH_ARGS="--cpus-per-task=1 --mem=200M" \
    "$root/deploy/slurm/submit.sh" 3 "$pipeline" "$work/inbox" "$work/cluster"
start=$SECONDS
while [[ -n $(squeue -h -o %i) ]]; do
    ((SECONDS - start > 600)) && { echo "test-local-slurm: jobs still queued after 600 s" >&2; squeue >&2; exit 1; }
    sleep 2
done
step "jobs finished in $((SECONDS - start)) s; logs:"
for log in tilerun-*.log; do
    echo "--- $log"
    grep -v " info scene " "$log" | sed 's/^/    /'
done

step "comparing outputs"
fail=0
(cd "$work/single" && find . -path ./.tilerun -prune -o -type f -print | sort) >"$work/single.list"
(cd "$work/cluster" && find . -path ./.tilerun -prune -o -type f -print | sort) >"$work/cluster.list"
diff "$work/single.list" "$work/cluster.list" || fail=1
while read -r f; do
    cmp "$work/single/$f" "$work/cluster/$f" || fail=1
done <"$work/single.list"
echo "    $(wc -l <"$work/single.list") files compared, summary.json and report.html included"
ls "$work/cluster/.tilerun" | sed 's/^/    .tilerun\//'

step "tilerun status"
"$tilerun" status "$work/cluster" | tee "$work/status.txt" | sed 's/^/    /'
grep -q ": 6 done, 0 failed, 0 running, 0 pending" "$work/status.txt" || fail=1
grep -q "6 scenes done (6 before this run), 0 failed" tilerun-summary-*.log || fail=1

if ((fail)); then
    echo "test-local-slurm: FAILED" >&2
    exit 1
fi
step "PASSED: 3 Slurm array tasks + summary job gave the bytes of one single-machine run; status: all done"
