#!/usr/bin/env bash
# Submits a tilerun batch to Slurm as N shards (a job array) and its summary job, which starts when every
# task has ended. Prints the two job ids. Resources: edit the #SBATCH lines of the two scripts, or pass
# sbatch options in SBATCH_ARGS (e.g. SBATCH_ARGS="--partition=gpu --gres=gpu:1").
#
#   deploy/slurm/submit.sh N PIPELINE.json INPUT OUTPUT [tilerun run options]
#
# INPUT and OUTPUT must be on storage every node mounts (at the same path, or give paths that resolve on
# each node); logs go to the folder this is run in (tilerun-ARRAYID_TASK.log, tilerun-summary-ID.log).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if (($# < 4)) || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 N PIPELINE.json INPUT OUTPUT [tilerun run options]" >&2
    exit 2
fi
shards=$1
shift
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of options
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array=0-$((shards - 1)) "$here/tilerun-array.sbatch" "$@")
array=${array%%;*}
# shellcheck disable=SC2086
summary=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency=afterany:"$array" "$here/tilerun-summary.sbatch" "$@")
summary=${summary%%;*}
echo "array job $array ($shards tasks), summary job $summary"
