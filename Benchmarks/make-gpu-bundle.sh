#!/usr/bin/env bash
# Packs what Benchmarks/gpu-check.sh needs on a bare NVIDIA machine (no Swift toolchain, no network) into
# .gpu/bundle.tar.gz (.gpu/ is git-ignored through .git/info/exclude; ~50 MiB):
#   tilerun          built with a static Swift standard library
#   lib/             every shared library it links except the glibc family ...
#   lib/glibc/       ... which is kept for the bundled loader, used only where the machine's glibc is older
#   networks/        the reference networks with onnxruntime's outputs at 64² (unet, mobilenet_fpn, deeplab)
#                    and the U-Net's at 512² (unet512: the data set only; gpu-check.sh adds the model)
# Needs python3 with onnx and onnxruntime (Tests/Tools/make_reference_networks.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-opencl
swift build -c release --product tilerun --scratch-path "$scratch" -Xswiftc -static-stdlib
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib/glibc" "$stage/networks/unet512"
cp "$scratch/release/tilerun" "$stage/tilerun"
strip --strip-unneeded "$stage/tilerun"
ldd "$scratch/release/tilerun" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*) cp -L "$lib" "$stage/lib/glibc/" ;;
        *) cp -L "$lib" "$stage/lib/" ;;
    esac
done
python3 Tests/Tools/make_reference_networks.py "$stage/64" >/dev/null
python3 Tests/Tools/make_reference_networks.py --size 512 "$stage/512" >/dev/null
mv "$stage/64/unet" "$stage/64/mobilenet_fpn" "$stage/64/deeplab" "$stage/networks/"
mv "$stage/512/unet/test_data_set_0" "$stage/networks/unet512/"
mkdir -p .gpu
tar -C "$stage" -czf .gpu/bundle.tar.gz tilerun lib networks
size=$(stat -c %s .gpu/bundle.tar.gz)
echo ".gpu/bundle.tar.gz: $((size >> 20)) MiB ($(ls "$stage/lib" | wc -l) libraries); carry '.gpu' and run Benchmarks/gpu-check.sh"
((size <= 60 << 20)) || echo "warning: over the 60 MiB a device run can carry" >&2
