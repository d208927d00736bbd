#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the corpus check and the unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh --test
swift build
python3 Tests/corpus/check_corpus.py --tilerun .build/debug/tilerun
swift test
