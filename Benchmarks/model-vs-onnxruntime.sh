#!/usr/bin/env bash
# tilerun bench and onnxruntime on the same networks, tiles and threads, in one run; prints the ratio.
#   Benchmarks/model-vs-onnxruntime.sh [THREADS...]      (default: 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test >/dev/null
swift build -c release --product tilerun >/dev/null
nets=$(mktemp -d)
trap 'rm -rf "$nets"' EXIT
python3 Tests/Tools/make_reference_networks.py "$nets" >/dev/null
threads=("${@:-1 2}")
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
printf "%-14s %4s %5s %10s %10s %8s %10s\n" network thr tile tilerun/s ort/s ratio GFLOP/s
for net in unet mobilenet_fpn deeplab; do
    for t in ${threads[@]}; do
        ours=$(.build/release/tilerun bench "$nets/$net/model.onnx" --tile 512 --threads "$t" --repeat 5 --json)
        peer=$(python3 Benchmarks/ort_bench.py "$nets/$net/model.onnx" --tile 512 --threads "$t" --repeat 5)
        python3 - "$net" "$t" "$ours" "$peer" <<'PY'
import json, sys
net, t, ours, peer = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"{net:<14} {t:>4} {ours['tileSize']:>5} {ours['tilesPerSecond']:>10.3f} {peer['tilesPerSecond']:>10.3f} "
      f"{ours['tilesPerSecond'] / peer['tilesPerSecond']:>8.2f} {ours['gflopsPerSecond']:>10.1f}")
PY
    done
done
