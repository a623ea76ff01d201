#!/usr/bin/env bash
# Model v5: v4 fine-tuned on more scenes (v3/v4's 180 randomised + 100 fixed-chain scenes, and
# 120 fresh randomised scenes of another seed), on random 128 px crops (a step costs 0.64 of a
# whole tile's), with a stronger class balance for the rare classes (FS, AR); then v4 and v5
# scored per held-out family (the model card's seeds) and against the baseline.
# Usage: models/recipe-v5.sh WORKDIR [EPOCHS]   (as run: see models/README.md, v5)
# Needs models/fringewatch-default.onnx to be v4 (commit e75056a) or V4=path.
set -euo pipefail
work="${1:?usage: models/recipe-v5.sh WORKDIR [EPOCHS]}"
epochs="${2:-12}"
root="$(cd "$(dirname "$0")/.." && pwd)"
fw="${FRINGEWATCH:-$root/target/release/fringewatch}"
v4="${V4:-$root/models/fringewatch-default.onnx}"
data="$root/../shared/data/real"
dems=("$data"/dems/*.tif "$data/dem_sangabriel_30m_utm11.tif")
mkdir -p "$work"

# 1. Held-out families (never trained on), the seeds of models/recipe-randomised.sh.
h="$work/heldout"
[ -d "$h/outside" ] || "$fw" --quiet simulate --family outside --out "$h/outside" --seed 8001 --scenes 12
[ -d "$h/matese" ] || "$fw" --quiet simulate --family randomised --dem "$data/srtm3_matese/N41E014.hgt" \
  --out "$h/matese" --seed 8101 --scenes 8
[ -d "$h/fixed" ] || "$fw" --quiet simulate --family fixed --out "$h/fixed" --seed 8201 --scenes 8
[ -d "$h/randomised" ] || "$fw" --quiet simulate --family randomised --dems "${dems[@]}" \
  --out "$h/randomised" --seed 8301 --scenes 8

# 2. Training scenes: the 400 of v5 (models/data-400.sh).
"$root/models/data-400.sh" "$fw" "$work"

# 3. Fine-tune v4 (it keeps v4's anchors, channel normalisation and cos/sin input).
[ -f "$work/v5.onnx" ] || "$fw" train --dataset "$work/dataset" --out "$work/v5.onnx" \
  --arch compact --init "$v4" --epochs "$epochs" --steps-per-epoch 200 --patience 30 \
  --batch 8 --lr 5e-4 --class-balance 0.5 --crop 128 --seed 5051 \
  --name fringewatch-default-sim-v5

# 4. Scores per held-out family.
for m in v4:"$v4" v5:"$work/v5.onnx"; do
  [ -f "$work/scores-${m%%:*}.txt" ] || "$root/models/score_heldout.sh" "$fw" "${m#*:}" \
    "$h" "$work/scores-${m%%:*}" | tee "$work/scores-${m%%:*}.txt"
done
