#!/usr/bin/env bash
# Installs the system packages tilerun needs, only those that are missing (Debian/Ubuntu, apt-get).
#   deploy/install-deps.sh          build and run dependencies
#   deploy/install-deps.sh --test   also the test references (GDAL tools, PoCL, Python tifffile/imagecodecs/
#                                   onnxruntime, kubernetes-validate)
set -euo pipefail

packages=(libtiff-dev libgeotiff-dev libdeflate-dev libpng-dev libssl-dev pkg-config ocl-icd-opencl-dev opencl-headers)
if [[ "${1:-}" == "--test" ]]; then
    packages+=(gdal-bin python3-gdal python3 python3-pip pocl-opencl-icd)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "tilerun: installing system packages: ${missing[*]}"
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--test" ]]; then
    # Independent references for the tests: decoders for the TIFF corpus, onnx/onnxruntime for the
    # model runtime, the Kubernetes schemas for deploy/k8s (test-time only, never used by tilerun itself).
    if ! python3 -c 'import tifffile, imagecodecs, numpy, onnx, onnxruntime, kubernetes_validate' 2>/dev/null; then
        echo "tilerun: installing Python test references: tifffile imagecodecs numpy onnx onnxruntime kubernetes-validate"
        python3 -m pip install -q --disable-pip-version-check tifffile imagecodecs numpy onnx onnxruntime kubernetes-validate 2>&1 \
            | grep -v -i "running pip as the 'root' user" || true
    fi
fi
