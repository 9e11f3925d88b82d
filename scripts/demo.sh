#!/usr/bin/env bash
# The demo: installs what is missing, builds, and analyzes the bundled sample video with the
# bundled sample model, then checks the result against the video's ground truth.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"$(nproc)" posebatch_cli
out=demo-output
mkdir -p "$out"
./build/posebatch analyze samples/synth/model samples/synth/video.mp4 --dest "$out" --csv --overwrite
h5=$(ls "$out"/*.h5 | head -n1)
/usr/bin/python3 scripts/eval_sample.py "$h5" samples/synth/ground_truth.csv
echo "results: $(ls "$out"/* | tr '\n' ' ')"
