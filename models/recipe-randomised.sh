#!/usr/bin/env bash
# The bundled model v3: domain-randomised training data, the held-out families, v2 fine-tuned on
# that data (stage 1) and then on it with the fixed chain added (stage 2), each scored per family
# against v2 and the non-learning baseline.
# Usage: INIT=v2.onnx models/recipe-randomised.sh WORKDIR [SCENES] [EPOCHS]   (as run: 180 20)
#   v2 is the model bundled before v3: git show 8ab3761:models/fringewatch-default.onnx > v2.onnx
# (on 2 CPU cores: scenes ≈ 3 s each at 960 px, dataset ≈ 1 s per scene, training ≈ 4 min per
#  200-step epoch of batch 8; the held-out scoring ≈ 10 min per model)
set -euo pipefail
work="${1:?usage: models/recipe-randomised.sh WORKDIR [SCENES] [EPOCHS]}"
scenes="${2:-180}"; epochs="${3:-20}"
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

# 3. Stage 1: fine-tune the previous bundled model (v2) on the randomised data (it keeps v2's
#    anchors and channel normalisation), class-balanced as v2 was, with the phase re-referencing
#    augmentation; a 20-epoch schedule cut after epoch 10 (as run: the held-out scores of the
#    epoch-7 export already showed the gain and the cost, below).
init="${INIT:-$root/models/fringewatch-default.onnx}"
[ -f "$work/stage1.onnx" ] || "$fw" train --dataset "$work/dataset" --out "$work/stage1.onnx" \
  --arch compact --init "$init" --epochs "$epochs" --stop-after 10 \
  --steps-per-epoch 200 --patience 30 --batch 8 --lr 1e-3 --class-balance 0.3 --seed 3031 \
  --name fringewatch-randomised-finetune

# 4. Stage 2: stage 1 lost ground on the single GMTSAR-like chain (`fixed`) that v2 was trained
#    on, so 100 scenes of that chain (v2's own training seed, none of the held-out seeds) join
#    the randomised ones; tiles are named after scene folders, so each set is linked under its
#    own prefix. Fine-tuned 6 epochs from stage 1 at half the learning rate.
[ -d "$work/scenes-fixed" ] || "$fw" --quiet simulate --family fixed --out "$work/scenes-fixed" \
  --seed 2026 --scenes 100
mkdir -p "$work/mixed"
for d in "$work"/scenes/scene_*; do ln -sfn "$d" "$work/mixed/rand_$(basename "$d")"; done
for d in "$work"/scenes-fixed/scene_*; do ln -sfn "$d" "$work/mixed/fixed_$(basename "$d")"; done
[ -f "$work/dataset-mixed/dataset.json" ] || "$fw" --quiet dataset --scenes "$work"/mixed/* \
  --out "$work/dataset-mixed" --seed 3030
[ -f "$work/v3.onnx" ] || "$fw" train --dataset "$work/dataset-mixed" --out "$work/v3.onnx" \
  --arch compact --init "$work/stage1.onnx" --epochs 6 --steps-per-epoch 200 --patience 30 \
  --batch 8 --lr 5e-4 --class-balance 0.3 --seed 3032 --name fringewatch-default-sim-v3

# 5. Scores per held-out family: the previous bundled model, both stages, and the baseline.
for m in bundled:"$init" stage1:"$work/stage1.onnx" v3:"$work/v3.onnx"; do
  "$root/models/score_heldout.sh" "$fw" "${m#*:}" "$h" "$work/scores-${m%%:*}" \
    | tee "$work/scores-${m%%:*}.txt"
done
