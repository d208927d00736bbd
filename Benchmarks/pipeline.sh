#!/usr/bin/env bash
# End-to-end `tilerun run` against the model's own `tilerun bench`, and peak memory against scene size.
#   Benchmarks/pipeline.sh [MODEL.onnx] [SIZES...]     (default: models/landcover-demo.onnx, 4096 8192 16384)
#   ROUNDS=N (default 3): runs per size
#   BENCH_SECONDS=S (default 20): about how long each bench runs
# For each size, a 3-band uint8 scene (the shipped sample scene resampled with GDAL, tiled Deflate) is
# run with default settings, ROUNDS times. Benches (same tile, batch 1, same threads; tiles/s from the
# median as `tilerun bench` reports it) alternate with the runs — bench, run, bench, run, …, bench — and
# each run is compared with the mean of the benches just before and just after it: this machine's speed
# moves by up to ±30 % in phases of a few seconds, so a bench must be long enough to span several phases
# and close enough in time to the run. Printed per run: wall time, tiles/s, the bench before and after,
# the ratio to their mean, peak RSS and its ratio to the first size's peak; then the median ratio per size.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/landcover-demo.onnx}
shift || true
sizes=("${@:-4096 8192 16384}")
rounds=${ROUNDS:-3}
bench_seconds=${BENCH_SECONDS:-20}
SCRATCH=${SCRATCH:-.build}
swift build -c release --product tilerun --scratch-path "$SCRATCH" >/dev/null
tilerun=$SCRATCH/release/tilerun
work=${WORK:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT

info=$("$tilerun" model info "$model" --json)
tile=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tileSize"])' "$info")
threads=$(nproc)
bench() {
    "$tilerun" bench "$model" --tile "$tile" --threads "$threads" --repeat "$1" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["tilesPerSecond"])'
}
repeats=$(python3 -c "print(max(10, round($bench_seconds * $(bench 5))))")
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; model $model, tile $tile, batch 1, threads $threads; benches of $repeats repeats"
printf "%-7s %5s %6s %8s %8s %15s %8s %9s %7s\n" size round tiles seconds tiles/s "bench bef/aft" vs-bench peak-MiB vs-first
first_peak=""
after=$(bench "$repeats")
for n in ${sizes[@]}; do
    scene=$work/scene-$n.tif
    gdal_translate -q -outsize "$n" "$n" -r bilinear -co TILED=YES -co COMPRESS=DEFLATE sample-data/landcover-1.tif "$scene"
    ratios=""
    for round in $(seq 1 "$rounds"); do
        out=$work/out-$n
        before=$after
        start=$(date +%s.%N)
        /usr/bin/time -f "%M" -o "$work/rss" "$tilerun" run --model "$model" --input "$scene" --output "$out" \
            --threads "$threads" --progress none > "$work/run.txt"
        end=$(date +%s.%N)
        after=$(bench "$repeats")
        tiles=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scenes"][0]["tiles"])' "$out/summary.json")
        [ -n "$first_peak" ] || first_peak=$(python3 -c "print($(cat "$work/rss") / 1024)")
        ratio=$(python3 - "$n" "$round" "$tiles" "$start" "$end" "$(cat "$work/rss")" "$before" "$after" "$first_peak" <<'PY'
import sys
n, rnd, tiles, start, end, rss_kib, before, after, first = sys.argv[1:]
seconds = float(end) - float(start)
rate = int(tiles) / seconds
bench = (float(before) + float(after)) / 2
peak = int(rss_kib) / 1024
print(f"{n:<7} {rnd:>5} {tiles:>6} {seconds:>8.2f} {rate:>8.2f} {float(before):>7.2f}/{float(after):<7.2f} {rate / bench:>8.2f} {peak:>9.1f} {peak / float(first):>7.2f}", file=sys.stderr)
print(rate / bench)
PY
        )
        ratios="$ratios $ratio"
        rm -rf "$out"
    done
    python3 -c "import statistics,sys; r=[float(x) for x in sys.argv[2:]]; print(f'{sys.argv[1]}: median end-to-end ÷ bench {statistics.median(r):.2f} over {len(r)} runs (min {min(r):.2f}, max {max(r):.2f})')" "$n" $ratios
    rm -f "$scene"
done
