#!/usr/bin/env bash
# Domain-randomised training data, the held-out families, and a model fine-tuned from the bundled
# one on that data, scored per family against the bundled model and the baseline.
# Usage: models/recipe-randomised.sh WORKDIR [SCENES] [EPOCHS]
# (on 2 CPU cores: scenes ≈ 6 s each at 960 px, dataset ≈ 1 s per scene, training ≈ 2 min per
#  200-step epoch; the held-out scoring ≈ 10 min)
set -euo pipefail
work="${1:?usage: models/recipe-randomised.sh WORKDIR [SCENES] [EPOCHS]}"
scenes="${2:-200}"; epochs="${3:-12}"
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/../shared/data/real"
fw="${FRINGEWATCH:-$root/target/release/fringewatch}"
mkdir -p "$work"

# Relief for training: the ten mountain DEMs and San Gabriel, with synthetic relief (40 %).
# The SRTM3 Matese tile (N41E014) is held out: the simulator refuses it in a training pool.
dems=("$data"/dems/*.tif "$data/dem_sangabriel_30m_utm11.tif")

# 1. Training scenes (family `randomised`) and their dataset (tiles, k-means anchors, 80/10/10).
[ -d "$work/scenes" ] || "$fw" --quiet simulate --family randomised --dems "${dems[@]}" \
  --out "$work/scenes" --seed 3030 --scenes "$scenes"
[ -f "$work/dataset/dataset.json" ] || "$fw" --quiet dataset --scenes "$work"/scenes/scene_* \
  --out "$work/dataset" --seed 3030

# 2. Held-out families, never trained on:
#    outside    processing choices outside the training ranges (boxcar, 50–80 m grids, 1–2 looks)
#    matese     the training ranges on the held-out Matese relief
#    fixed      the single GMTSAR-like chain the bundled model was trained on (other seeds)
#    randomised the training family itself, other seeds (in-domain reference)
h="$work/heldout"
[ -d "$h/outside" ] || "$fw" --quiet simulate --family outside --out "$h/outside" --seed 8001 --scenes 12
[ -d "$h/matese" ] || "$fw" --quiet simulate --family randomised --dem "$data/srtm3_matese/N41E014.hgt" \
  --out "$h/matese" --seed 8101 --scenes 8
[ -d "$h/fixed" ] || "$fw" --quiet simulate --family fixed --out "$h/fixed" --seed 8201 --scenes 8
[ -d "$h/randomised" ] || "$fw" --quiet simulate --family randomised --dems "${dems[@]}" \
  --out "$h/randomised" --seed 8301 --scenes 8

# 3. Fine-tune the bundled model on the randomised data (today's trainer; it keeps the bundled
#    model's anchors and channel normalisation), class-balanced as v2 was.
[ -f "$work/randomised.onnx" ] || "$fw" train --dataset "$work/dataset" --out "$work/randomised.onnx" \
  --arch compact --init "$root/models/fringewatch-default.onnx" --epochs "$epochs" \
  --steps-per-epoch 200 --patience 30 --batch 8 --lr 1e-3 --class-balance 0.3 --seed 3031 \
  --name fringewatch-randomised-finetune

# 4. Scores per held-out family: the bundled model, the fine-tuned one, and the baseline.
"$root/models/score_heldout.sh" "$fw" "$root/models/fringewatch-default.onnx" "$h" "$work/scores-bundled" \
  | tee "$work/scores-bundled.txt"
"$root/models/score_heldout.sh" "$fw" "$work/randomised.onnx" "$h" "$work/scores-randomised" \
  | tee "$work/scores-randomised.txt"
