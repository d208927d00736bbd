#!/usr/bin/env bash
# The main job on the shipped sample data: builds tilerun (release) and runs the land-cover demo pipeline
# (pipelines/landcover-demo.json: sample-data/landcover-1.tif through models/landcover-demo.onnx).
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
swift build -c release --product tilerun
tilerun=.build/release/tilerun
out=out/landcover-demo

"$tilerun" validate pipelines/landcover-demo.json
"$tilerun" run pipelines/landcover-demo.json --progress lines
echo
echo "Results are in $out/:"
echo "  landcover-1-classes.tif     the land-cover map (Cloud-Optimized GeoTIFF, ESA WorldCover codes and colours)"
echo "  landcover-1-quicklook.png   the map over the imagery, with a legend"
echo "  landcover-1-statistics.csv  pixels, m² and ha per class (also .json)"
echo "  report.html                 the batch report (open it in a browser); summary.json for programs"
echo "The building-damage demo on the sample pre/post pair: $tilerun run pipelines/damage-demo.json"
