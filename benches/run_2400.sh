#!/usr/bin/env bash
# End-to-end `fringewatch run` on a simulated 2400×2400 scene (≈ 1200 km² at 15 m) with the
# compact model: wall time and peak RSS (GNU time). Usage: bash benches/run_2400.sh [SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-2400}"
cargo build --release -q
bin=target/release/fringewatch
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
/usr/bin/time -f "simulate: %e s wall, %M KiB peak RSS" "$bin" simulate --out "$work/sim" --seed 1 --size "$size" --quiet
"$bin" model init --arch compact --out "$work/compact.onnx"
scene="$work/sim/scene_0000"
heading=$(python3 -c "import json;print(json.load(open('$scene/scene.json'))['heading_deg'])")
/usr/bin/time -f "run: %e s wall, %M KiB peak RSS" "$bin" run --phase "$scene/phase.tif" \
  --coherence "$scene/coherence.tif" --dem "$scene/dem.tif" --incidence "$scene/incidence.tif" \
  --heading "$heading" --model "$work/compact.onnx" --out "$work/detections.gpkg" --quiet
