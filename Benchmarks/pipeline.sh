#!/usr/bin/env bash
# End-to-end `tilerun run` against the model's own `tilerun bench`, and peak memory against scene size.
#   Benchmarks/pipeline.sh [MODEL.onnx] [SIZES...]     (default: models/landcover-demo.onnx, 4096 8192 16384)
# For each size, a 3-band uint8 scene (the shipped sample scene resampled with GDAL, tiled Deflate) is
# run with default settings; the script prints wall time, tiles/s, peak RSS, and the ratios the
# pipeline issue asks for: end-to-end tiles/s ÷ bench tiles/s (same tiles, batch and threads), and
# peak RSS ÷ the peak of the smallest scene.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/landcover-demo.onnx}
shift || true
sizes=("${@:-4096 8192 16384}")
SCRATCH=${SCRATCH:-.build}
swift build -c release --product tilerun --scratch-path "$SCRATCH" >/dev/null
tilerun=$SCRATCH/release/tilerun
work=${WORK:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT

info=$("$tilerun" model info "$model" --json)
tile=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tileSize"])' "$info")
threads=$(nproc)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; model $model, tile $tile, threads $threads"
bench=$("$tilerun" bench "$model" --tile "$tile" --threads "$threads" --repeat 5 --json)
bench_rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tilesPerSecond"])' "$bench")
printf "bench: %.3f tiles/s (%s×%s tiles, batch 1)\n" "$bench_rate" "$tile" "$tile"
printf "%-8s %7s %9s %9s %8s %10s %7s\n" size tiles seconds tiles/s vs-bench peak-MiB vs-first
first_peak=""
for n in ${sizes[@]}; do
    scene=$work/scene-$n.tif
    gdal_translate -q -outsize "$n" "$n" -r bilinear -co TILED=YES -co COMPRESS=DEFLATE sample-data/landcover-1.tif "$scene"
    out=$work/out-$n
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/rss" "$tilerun" run --model "$model" --input "$scene" --output "$out" \
        --threads "$threads" --progress none > "$work/run.txt"
    end=$(date +%s.%N)
    tiles=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scenes"][0]["tiles"])' "$out/summary.json")
    python3 - "$n" "$tiles" "$start" "$end" "$(cat "$work/rss")" "$bench_rate" "${first_peak:-0}" <<'PY'
import sys
n, tiles, start, end, rss_kib, bench, first = sys.argv[1:]
seconds = float(end) - float(start)
rate = int(tiles) / seconds
peak = int(rss_kib) / 1024
first = float(first) or peak
print(f"{n:<8} {tiles:>7} {seconds:>9.2f} {rate:>9.3f} {rate / float(bench):>8.2f} {peak:>10.1f} {peak / first:>7.2f}")
PY
    [ -n "$first_peak" ] || first_peak=$(python3 -c "print($(cat "$work/rss") / 1024)")
    rm -rf "$out" "$scene"
done
