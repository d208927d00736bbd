#!/usr/bin/env bash
# Unpacks the ONNX project's backend node tests (model.onnx + test_data_set_*/{input,output}_*.pb per
# case) into .build/onnx-node-tests. Newer `onnx` wheels no longer ship them, so the data comes from
# the onnx 1.16.2 wheel on PyPI, used as data only (never imported, never a runtime dependency).
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.build/onnx-node-tests
[[ -d "$dest/node" ]] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux2014_x86_64 -d "$tmp" onnx==1.16.2
mkdir -p "$dest"
python3 - "$tmp"/onnx-1.16.2-*.whl "$dest" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "onnx/backend/test/data/node/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(dest, "node", name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as out:
                out.write(src.read())
PY
echo "ONNX node tests: $(ls "$dest/node" | wc -l) cases in $dest/node"
