#!/usr/bin/env bash
# `fringewatch batch` over simulated 2400×2400 pairs (≈ 1300 km² each at 15 m) with the bundled
# model on the CPU: pairs per minute, and the second call (everything done) as the resume cost;
# then the same pairs on Dask (a LocalCluster of 1, then 2 worker processes, the Python package
# installed with pip from python/): pairs per minute and the overhead per task.
# Usage: bash benches/batch_2400.sh [PAIRS] [SIZE]   (Dask from target/ci-venv: bash .ci/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="${1:-3}"; size="${2:-2400}"
cargo build --release -q
bin=target/release/fringewatch
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" --quiet simulate --out "$work/sim" --seed 7 --size "$size" --scenes "$pairs"
start=$(date +%s.%N)
/usr/bin/time -f "batch: %e s wall, %M KiB peak RSS" "$bin" --quiet batch --backend cpu \
  --products "$work"/sim/scene_* --out "$work/batch.gpkg"
end=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); print(f'{n} pairs of {sys.argv[4]} px in {s:.1f} s: {60*n/s:.2f} pairs per minute, {s/n:.1f} s per pair')" "$start" "$end" "$pairs" "$size"
/usr/bin/time -f "resume (all done): %e s wall" "$bin" --quiet batch --backend cpu \
  --products "$work"/sim/scene_* --out "$work/batch.gpkg"
python=target/ci-venv/bin/python
FRINGEWATCH_NO_CARGO=1 "$python" -m pip install -q --disable-pip-version-check --no-deps \
  --no-build-isolation --target "$work/site" ./python
for workers in 1 2; do
  PYTHONPATH="$work/site" "$python" benches/dask_bench.py "$workers" "$work/dask$workers.gpkg" \
    "$work"/sim/scene_*
done
