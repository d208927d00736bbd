#!/usr/bin/env bash
# The OpenCL backend on an NVIDIA GPU machine, in a few minutes: lists the devices, checks the
# reference networks against onnxruntime's outputs through OpenCL (and the CPU kernels), benchmarks
# the reference U-Net on 512² tiles through OpenCL and on the CPU, and runs the pipeline end to end on a
# synthetic 8192² scene through both, each beside its bench. Writes everything to $OUT/gpu-check.log.
#
# Needs .gpu/bundle.tar.gz from Benchmarks/make-gpu-bundle.sh (tilerun, its libraries, the networks); with
# no bundle but a Swift toolchain it builds one. The NVIDIA driver provides libnvidia-opencl.so.1; when no
# ICD file names it (/etc/OpenCL/vendors/nvidia.icd), the script points the bundled ICD loader at it.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OUT=${OUT:-$root/gpu-check-out}
mkdir -p "$OUT"
log="$OUT/gpu-check.log"
: >"$log"
say() { echo "$*" | tee -a "$log"; }
# Runs a command with a time limit, its output into the log; never stops the script.
step() {
    local limit=$1
    shift
    say ""
    say "\$ $*"
    timeout "$limit" "$@" 2>&1 | tee -a "$log"
    local status=${PIPESTATUS[0]}
    [[ $status -eq 0 ]] || say "(exit status $status)"
    return 0
}

say "gpu-check: $(date -u +%FT%TZ) on $(hostname), $(uname -srm)"
say "glibc: $(ldd --version 2>&1 | head -1)"
step 15 nvidia-smi -L
step 15 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv

archive=$root/.gpu/bundle.tar.gz
if [[ ! -f $archive ]] && command -v swift >/dev/null; then
    say "no $archive: building it"
    step 900 Benchmarks/make-gpu-bundle.sh
fi
[[ -f $archive ]] || { say "no $archive and no Swift toolchain to build it: run Benchmarks/make-gpu-bundle.sh and carry .gpu"; exit 1; }
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
tar -C "$bundle" -xzf "$archive" || { say "cannot unpack $archive"; exit 1; }
cp "$bundle/networks/unet/model.onnx" "$bundle/networks/unet512/"
say "bundle: $archive unpacked in $bundle"

# NVIDIA's OpenCL driver, wherever the image put it.
nvidia_dirs=(/usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /lib/x86_64-linux-gnu)
icd_lib=""
for d in "${nvidia_dirs[@]}"; do
    [[ -e $d/libnvidia-opencl.so.1 ]] && { icd_lib=$d/libnvidia-opencl.so.1; break; }
done
[[ -n $icd_lib ]] || icd_lib=$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl.so.1/ { print $NF; exit }')
[[ -n $icd_lib ]] || icd_lib=$(timeout 30 find / -xdev -name 'libnvidia-opencl.so.1*' 2>/dev/null | head -1)
say "NVIDIA OpenCL driver: ${icd_lib:-not found}"
if [[ -f /etc/OpenCL/vendors/nvidia.icd ]]; then
    say "ICD file: /etc/OpenCL/vendors/nvidia.icd ($(cat /etc/OpenCL/vendors/nvidia.icd))"
elif [[ -n $icd_lib ]]; then
    vendors=$(mktemp -d)
    echo "$icd_lib" >"$vendors/nvidia.icd"
    export OCL_ICD_VENDORS=$vendors
    say "ICD file: none in /etc/OpenCL/vendors; OCL_ICD_VENDORS=$vendors (nvidia.icd -> $icd_lib)"
fi

libs=$bundle/lib
for d in "${nvidia_dirs[@]:0:2}" "$(dirname "${icd_lib:-/nonexistent/x}")"; do [[ -d $d ]] && libs=$libs:$d; done
export XDG_CACHE_HOME=$(mktemp -d)
tilerun=("$bundle/tilerun")
if ! LD_LIBRARY_PATH=$libs "${tilerun[@]}" --version >/dev/null 2>&1; then
    # The machine's glibc is older than the build machine's: run through the bundled loader and glibc.
    tilerun=("$bundle/lib/glibc/ld-linux-x86-64.so.2" --library-path "$libs:$bundle/lib/glibc" "$bundle/tilerun")
    say "tilerun does not start with the system glibc; using the bundled loader"
    LD_LIBRARY_PATH=$libs "$bundle/tilerun" --version 2>&1 | head -3 | tee -a "$log"
fi
export LD_LIBRARY_PATH=$libs
net=$bundle/networks

step 15 "${tilerun[@]}" --version
step 30 "${tilerun[@]}" devices
step 30 "${tilerun[@]}" devices --json

# Correctness through OpenCL, with the CPU backend's tolerance (first use builds the kernels).
step 90 "${tilerun[@]}" model test "$net/unet" "$net/mobilenet_fpn" "$net/deeplab" "$net/unet512" --normalized-tolerance 1e-4 --device opencl
step 60 "${tilerun[@]}" model test "$net/unet512" --normalized-tolerance 1e-4 --device cpu

# Throughput on 512² tiles: OpenCL at batch 1 and 8, then the CPU kernels.
step 60 "${tilerun[@]}" bench "$net/unet/model.onnx" --tile 512 --repeat 10 --device opencl
step 60 "${tilerun[@]}" bench "$net/unet/model.onnx" --tile 512 --batch 8 --repeat 5 --device opencl
# The CPU-device GEMM kernel on the GPU, for comparison with the tiled one.
step 45 env TILERUN_OPENCL_GEMM=blocked "${tilerun[@]}" bench "$net/unet/model.onnx" --tile 512 --repeat 5 --device opencl
step 60 "${tilerun[@]}" bench "$net/unet/model.onnx" --tile 512 --repeat 3 --device cpu

# End to end on a synthetic 8192² scene: `tilerun run` through OpenCL and through the CPU kernels, each
# model's run beside its own bench on the same device (tiles/s of the run ÷ tiles/s of the bench).
scenes=$(mktemp -d)
step 120 "${tilerun[@]}" sample-scene "$scenes" --size 8192
for model in "$net/unet/model.onnx" "$root/models/landcover-demo.onnx"; do
    tile=$("${tilerun[@]}" model info "$model" --json | awk -F'[:,]' '/"tileSize"/ { gsub(/ /, "", $2); print $2 }')
    for device in opencl cpu; do
        out=$scenes/out-$device
        start=$(date +%s.%N)
        step 300 "${tilerun[@]}" run --model "$model" --input "$scenes/scene-1.tif" --output "$out" --device "$device" --progress none
        end=$(date +%s.%N)
        tiles=$(awk -F'[:,]' '/"tiles"/ { gsub(/ /, "", $2); print $2; exit }' "$out/summary.json" 2>/dev/null)
        bench=$("${tilerun[@]}" bench "$model" --tile "$tile" --repeat 20 --device "$device" --json |
            awk -F'[:,]' '/"tilesPerSecond"/ { gsub(/ /, "", $2); print $2 }')
        say "$(basename "$(dirname "$model")")/$(basename "$model") on $device: ${tiles:-?} tiles in $(awk "BEGIN { printf \"%.2f\", $end - $start }") s," \
            "$(awk "BEGIN { printf \"%.2f\", ${tiles:-0} / ($end - $start) }") tiles/s; bench ${bench:-?} tiles/s;" \
            "ratio $(awk "BEGIN { b = ${bench:-0}; printf \"%.2f\", (b > 0 ? ${tiles:-0} / ($end - $start) / b : 0) }")"
    done
    cmp "$scenes/out-opencl/scene-1-classes.tif" "$scenes/out-cpu/scene-1-classes.tif" >/dev/null &&
        say "class maps through OpenCL and the CPU kernels: identical" ||
        say "class maps through OpenCL and the CPU kernels: differ (per-class pixel counts differ for $(diff <(grep '"pixels"' "$scenes/out-opencl/scene-1-statistics.json") <(grep '"pixels"' "$scenes/out-cpu/scene-1-statistics.json") | grep -c '^<') classes)"
    rm -rf "$scenes"/out-*
done
rm -rf "$scenes"

say ""
say "program cache: $(ls "$XDG_CACHE_HOME/tilerun/opencl" 2>/dev/null | tr '\n' ' ')"
say "gpu-check: done $(date -u +%FT%TZ)"
