#!/usr/bin/env bash
# Reproduce the bundled model fringewatch-default.onnx and its model-card figures.
# Usage: models/recipe.sh WORKDIR   (about 4 hours on 2 CPU cores; most of it is training)
set -euo pipefail
work="${1:?usage: models/recipe.sh WORKDIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --features train --manifest-path "$root/Cargo.toml"
fw="$root/target/release/fringewatch"
mkdir -p "$work"

# 1. Training scenes: 320 synthetic 960×960 scenes (15 m), both orbits, 6–30 day baselines,
#    labelled by the current visibility rule (fringe fidelity ≥ 0.7 on coherence ≥ 0.1).
[ -d "$work/scenes" ] || "$fw" --quiet simulate --out "$work/scenes" --seed 2026 --scenes 320
# 2. Dataset: 160 px tiles, labelled tiles + 25 % of the empty ones, 80/10/10 split, k-means anchors.
[ -f "$work/dataset/dataset.json" ] || "$fw" --quiet dataset --scenes "$work"/scenes/scene_* --out "$work/dataset" --seed 2026
# 3. Stage 1 (model v1): compact YOLOv3 on the CPU from scratch, on the same scenes labelled by
#    the earlier rule (mean true coherence ≥ 0.35: labels-v1.json), as v1 was trained.
[ -d "$work/scenes-v1" ] || "$fw" --quiet simulate --out "$work/scenes-v1" --seed 2026 --scenes 320 --settings "$root/models/labels-v1.json"
[ -f "$work/dataset-v1/dataset.json" ] || "$fw" --quiet dataset --scenes "$work"/scenes-v1/scene_* --out "$work/dataset-v1" --seed 2026
[ -f "$work/stage1.onnx" ] || "$fw" train --dataset "$work/dataset-v1" --out "$work/stage1.onnx" --arch compact \
  --epochs 20 --steps-per-epoch 260 --patience 30 --batch 8 --lr 2e-3 --seed 2026 \
  --name fringewatch-default-sim-v1
# 3b. Stage 2 (model v2, bundled): fine-tune stage 1 on the current labels with class-balanced
#     sampling (it keeps stage 1's anchors and channel normalisation).
#     Run as the bundled model was: 16 epochs, then resumed to 22.
[ -f "$work/fringewatch-default.onnx.train/state.json" ] || "$fw" train --dataset "$work/dataset" \
  --out "$work/fringewatch-default.onnx" --arch compact --init "$work/stage1.onnx" --epochs 16 \
  --steps-per-epoch 260 --patience 30 --batch 8 --lr 1e-3 --class-balance 0.3 --seed 2027 \
  --name fringewatch-default-sim-v2
"$fw" train --dataset "$work/dataset" --out "$work/fringewatch-default.onnx" --resume --epochs 22
# 4. Held-out scenes: other seeds and other terrain (steeper synthetic relief; real DEMs).
[ -d "$work/heldout/synthetic" ] || "$fw" --quiet simulate --out "$work/heldout/synthetic" --seed 7001 --scenes 30 --settings "$root/models/heldout-terrain.json"
[ -d "$work/heldout/sangabriel" ] || "$fw" --quiet simulate --out "$work/heldout/sangabriel" --seed 7101 --scenes 4 --dem "$root/../shared/data/real/dem_sangabriel_30m_utm11.tif"
[ -d "$work/heldout/matese" ] || "$fw" --quiet simulate --out "$work/heldout/matese" --seed 7201 --scenes 4 --dem "$root/../shared/data/real/srtm3_matese/N41E014.hgt"
# 5. Scores: the dataset's test split from tiles; the held-out scenes end to end.
"$fw" evaluate --dataset "$work/dataset" --model "$work/fringewatch-default.onnx" --split test --confidence best
"$root/models/score_heldout.sh" "$fw" "$work/fringewatch-default.onnx" "$work/heldout" "$work/scores"
