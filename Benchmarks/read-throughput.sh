#!/usr/bin/env bash
# Window-reading throughput of `tilerun bench-read` against a plain C loop over libtiff's
# TIFFReadEncodedTile, on an 8192x8192 RGB uint8 file tiled 256x256 with Deflate, one thread each.
#
#   Benchmarks/read-throughput.sh
#
# Environment:
#   SCRATCH     SwiftPM scratch path for the release build (default .build)
#   BENCH_DIR   where the test file is made once and kept (default ${TMPDIR:-/tmp}/tilerun-bench)
#   SCENE_DIR   the 1024x1024 RGB scene mosaicked into the file (default ../shared/scenes/joplin-2011)
#   ROUNDS      interleaved rounds of each tool (default 5); REPEAT: repeats inside each run (default 3)
#
# Exits 0 whatever the ratio (a benchmark, not a test); prints whether tilerun reaches 0.9 of C.
set -euo pipefail

cd "$(dirname "$0")/.."
SCRATCH=${SCRATCH:-.build}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/tilerun-bench}
SCENE_DIR=${SCENE_DIR:-../shared/scenes/joplin-2011}
ROUNDS=${ROUNDS:-5}
REPEAT=${REPEAT:-3}
TARGET=0.9
FILE=$BENCH_DIR/rgb-8192-tiled256-deflate.tif

echo "== building tilerun (release, scratch $SCRATCH)"
if ! build_log=$(swift build -c release --scratch-path "$SCRATCH" 2>&1); then
    echo "$build_log" | tail -20 >&2
    exit 1
fi
TILERUN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/tilerun

echo "== building the C baseline"
mkdir -p "$SCRATCH/bench"
BASELINE=$SCRATCH/bench/read_baseline
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -O2 -o "$BASELINE" Benchmarks/read_baseline.c $(pkg-config --cflags --libs libtiff-4)

mkdir -p "$BENCH_DIR"
if [[ ! -s $FILE ]]; then
    for scene in pre post; do
        if [[ ! -f $SCENE_DIR/$scene.tif ]]; then
            echo "error: $SCENE_DIR/$scene.tif is missing; set SCENE_DIR to a folder holding pre.tif and" \
                 "post.tif (1024x1024, 3 bands, uint8), e.g. the shared joplin-2011 scene" >&2
            exit 1
        fi
    done
    echo "== making $FILE (8x8 mosaic of $SCENE_DIR/{pre,post}.tif)"
    pre=$(realpath "$SCENE_DIR/pre.tif")
    post=$(realpath "$SCENE_DIR/post.tif")
    vrt=$BENCH_DIR/mosaic.vrt
    # Pre and post alternate like a checkerboard, so neighbouring tiles differ as real imagery does.
    {
        echo '<VRTDataset rasterXSize="8192" rasterYSize="8192">'
        for band in 1 2 3; do
            colour=$(echo "Red Green Blue" | cut -d' ' -f"$band")
            echo "  <VRTRasterBand dataType=\"Byte\" band=\"$band\"><ColorInterp>$colour</ColorInterp>"
            for row in 0 1 2 3 4 5 6 7; do
                for col in 0 1 2 3 4 5 6 7; do
                    src=$pre; (( (row + col) % 2 )) && src=$post
                    echo "    <SimpleSource><SourceFilename relativeToVRT=\"0\">$src</SourceFilename>"
                    echo "      <SourceBand>$band</SourceBand>"
                    echo '      <SrcRect xOff="0" yOff="0" xSize="1024" ySize="1024"/>'
                    echo "      <DstRect xOff=\"$((col * 1024))\" yOff=\"$((row * 1024))\" xSize=\"1024\" ySize=\"1024\"/>"
                    echo '    </SimpleSource>'
                done
            done
            echo '  </VRTRasterBand>'
        done
        echo '</VRTDataset>'
    } >"$vrt"
    gdal_translate -q -co TILED=YES -co BLOCKXSIZE=256 -co BLOCKYSIZE=256 -co COMPRESS=DEFLATE \
        -of GTiff "$vrt" "$FILE.part"
    mv "$FILE.part" "$FILE"
fi

field() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p"; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "== machine: ${cpu:-unknown CPU}, $(nproc) cores available, libtiff $(pkg-config --modversion libtiff-4)"
echo "== file: $FILE ($(stat -c %s "$FILE") bytes)"
echo "== $ROUNDS interleaved rounds (C, tilerun --window 1024, tilerun --window 512), best of $REPEAT per run"

c_best="" t1024_best="" t512_best=""
best_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
for round in $(seq "$ROUNDS"); do
    c=$("$BASELINE" "$FILE" "$REPEAT" | field seconds)
    t1024=$("$TILERUN" bench-read "$FILE" --window 1024 --repeat "$REPEAT" --json | field seconds)
    t512=$("$TILERUN" bench-read "$FILE" --window 512 --repeat "$REPEAT" --json | field seconds)
    echo "   round $round: C $c s, tilerun/1024 $t1024 s, tilerun/512 $t512 s"
    c_best=$(best_of "$c_best" "$c")
    t1024_best=$(best_of "$t1024_best" "$t1024")
    t512_best=$(best_of "$t512_best" "$t512")
done

# Decoded bytes of the image area, as both tools count them.
bytes=$((8192 * 8192 * 3))
echo
awk -v bytes="$bytes" -v c="$c_best" -v t1="$t1024_best" -v t2="$t512_best" -v target="$TARGET" 'BEGIN {
    printf "%-33s %9s %9s %16s\n", "tool", "seconds", "MB/s", "ratio tilerun/C"
    printf "%-33s %9.3f %9.1f %16s\n", "C TIFFReadEncodedTile", c, bytes / c / 1e6, "-"
    printf "%-33s %9.3f %9.1f %16.3f\n", "tilerun bench-read --window 1024", t1, bytes / t1 / 1e6, c / t1
    printf "%-33s %9.3f %9.1f %16.3f\n", "tilerun bench-read --window 512", t2, bytes / t2 / 1e6, c / t2
    worst = (c / t1 < c / t2) ? c / t1 : c / t2
    printf "\nratio target %.2f: %s (lowest ratio %.3f)\n", target, (worst >= target ? "MET" : "NOT MET"), worst
}'
exit 0
