#!/usr/bin/env bash
# tilerun bench beside onnxruntime on the reference networks, the same tiles and threads, in one run, with
# the machine's measured SGEMM (OpenBLAS 4096²) and AVX2 FMA limits for the same thread counts.
#   Benchmarks/model-vs-onnxruntime.sh [THREADS...]        (default: 1 2)
# ROUNDS (default 3) alternates the two engines that many times per case and keeps each one's best median,
# so a burst of load on the shared machine hits both; SCRATCH picks the SwiftPM scratch path (.build).
# Prints a Markdown table (the one in docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${SCRATCH:-.build}
rounds=${ROUNDS:-3}
deploy/install-deps.sh --test >/dev/null
swift build -c release --product tilerun --scratch-path "$scratch" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 Tests/Tools/make_reference_networks.py "$work" >/dev/null
cc -O2 -mavx2 -mfma -pthread Benchmarks/fma_peak.c -o "$work/fma_peak"
threads=("${@:-1 2}")
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tilerun $("$scratch/release/tilerun" --version), $(python3 -c 'import onnxruntime as o; print("onnxruntime", o.__version__)')"
echo
echo "| network | threads | tilerun tiles/s | onnxruntime tiles/s | ratio | tilerun GFLOP/s | onnxruntime GFLOP/s | tilerun % of SGEMM | tilerun % of FMA |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for t in ${threads[@]}; do
    fma=$("$work/fma_peak" "$t")
    sgemm=$(OPENBLAS_NUM_THREADS=$t python3 Benchmarks/sgemm_peak.py)
    for net in unet mobilenet_fpn deeplab; do
        : > "$work/ours" ; : > "$work/peer"
        for _ in $(seq "$rounds"); do
            "$scratch/release/tilerun" bench "$work/$net/model.onnx" --tile 512 --threads "$t" --repeat 5 --json \
                | python3 -c 'import json,sys; print(json.load(sys.stdin)["tilesPerSecond"], end=" ")' >> "$work/ours"
            python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tilesPerSecond"], end=" ")' \
                "$(python3 Benchmarks/ort_bench.py "$work/$net/model.onnx" --tile 512 --threads "$t" --repeat 5)" >> "$work/peer"
        done
        gflop=$("$scratch/release/tilerun" model info "$work/$net/model.onnx" --tile 512 --json \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["gflopsPerTile"])')
        python3 - "$net" "$t" "$(cat "$work/ours")" "$(cat "$work/peer")" "$gflop" "$sgemm" "$fma" <<'PY'
import sys
net, t, ours, peer, gflop, sgemm, fma = sys.argv[1:]
names = {"unet": "U-Net", "mobilenet_fpn": "MobileNet+FPN", "deeplab": "DeepLab ASPP"}
ours, peer = max(map(float, ours.split())), max(map(float, peer.split()))
gflop, sgemm, fma = float(gflop), float(sgemm), float(fma)
print(f"| {names[net]} | {t} | {ours:.2f} | {peer:.2f} | **{ours / peer:.2f}** | {ours * gflop:.1f} | {peer * gflop:.1f} "
      f"| {100 * ours * gflop / sgemm:.0f} % | {100 * ours * gflop / fma:.0f} % |")
PY
    done
    echo "| (limits) | $t | | | | SGEMM $sgemm | FMA $fma | | |"
done
