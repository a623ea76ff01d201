#!/usr/bin/env bash
# Model v11 (tried): v10 fine-tuned from a calibrated start on v9's 960 scenes (v8's 400 and
# 560 more, a sixth in strong weather; models/recipe-v9.sh), a short run of 8,000 steps at v10's
# peak of 5e-5: v9 lost to v8 when its start was not v8 itself (models/README.md, "Fine-tuning
# started from another network"); this asks whether the wider data helps from a true start.
# Judged on v8's larger held-out families (never trained on).
# Usage: models/recipe-v11.sh WORKDIR [EPOCHS]   (as run: see models/README.md, v11)
# Starts from v10: V10=path, by default v10 taken from git (models/fringewatch-default.onnx at
# commit ab2af40). WORKDIR_V9 (default WORKDIR/v9work) holds recipe-v9.sh's scenes and dataset,
# and its v8work/ the held-out families; they are made there when missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v11.sh WORKDIR [EPOCHS]}"
epochs="${2:-8}"
v10="${V10:-$work/v10.onnx}"
model_from_git ab2af40 "$v10"
v9work="${WORKDIR_V9:-$work/v9work}"

# 1. v9's 960 scenes with their dataset, and v8's held-out families (made when missing; v9's
#    recipe stops after its own training when these exist, else it trains v9 too).
[ -f "$v9work/dataset/dataset.json" ] || "$root/models/recipe-v9.sh" "$v9work"
h="${HELDOUT:-$v9work/v8work/heldout-large}"

# 2. Fine-tune v10 on the 960 scenes: v10's balance, batch and peak, 8 epochs.
[ -f "$work/v11.onnx" ] || "$fw" train --dataset "$v9work/dataset" --out "$work/v11.onnx" \
  --arch compact --init "$v10" --epochs "$epochs" --steps-per-epoch 1000 --patience 30 \
  --batch 8 --lr 5e-5 --class-balance 0.3 --seed 1111 --name fringewatch-default-sim-v11

# 3. Scores per held-out family.
score_once "$work/v11.onnx" v11 "$h"
