#!/usr/bin/env bash
# The test command: installs what is missing, builds, checks the real-world TIFF corpus with the
# release binary (the one users run), then runs the unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh --test
swift build -c release --product tilerun
python3 Tests/corpus/check_corpus.py --tilerun .build/release/tilerun
deploy/k8s/validate.sh
# A real single-node Slurm (it starts daemons, so root only) running a sharded batch over ../shared.
if [[ $(id -u) -eq 0 && -d ../shared/tiff-corpus ]]; then
    timeout 900 deploy/slurm/test-local-slurm.sh .build/release/tilerun
else
    echo "deploy/test.sh: the Slurm test is skipped: it needs root and ../shared/tiff-corpus"
fi
Tests/Tools/fetch-onnx-node-tests.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing
