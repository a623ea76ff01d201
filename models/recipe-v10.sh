#!/usr/bin/env bash
# Model v10: v8 fine-tuned again on v8's own 400 scenes at a lower peak learning rate (5e-5,
# a third of v8's) and for longer (16,000 steps), the first of the model card's "what we would
# try next" after v9: v8's validation loss was still falling when its learning rate ran out,
# and v9's warm restart at 1e-4 on new data moved the model away from v8's optimum.
# Judged on v8's larger held-out families (never trained on).
# Usage: models/recipe-v10.sh WORKDIR [EPOCHS]   (as run: see models/README.md, v10)
# Starts from v8: V8=path, by default v8 taken from git (models/fringewatch-default.onnx at
# commit ec87a60). WORKDIR_V8 (default WORKDIR/v8work) holds recipe-v8.sh's scenes, dataset and
# held-out families; they are made there when missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v10.sh WORKDIR [EPOCHS]}"
epochs="${2:-16}"
v8="${V8:-$work/v8.onnx}"
model_from_git ec87a60 "$v8"
v8work="${WORKDIR_V8:-$work/v8work}"

# 1. v8's 400 training scenes with their dataset, and its held-out families (made when missing).
v8_data "$v8work"

# 2. Fine-tune v8 on the same dataset: same balance and batch, a third of v8's peak, longer.
[ -f "$work/v10.onnx" ] || "$fw" train --dataset "$v8work/dataset" --out "$work/v10.onnx" \
  --arch compact --init "$v8" --epochs "$epochs" --steps-per-epoch 1000 --patience 30 \
  --batch 8 --lr 5e-5 --class-balance 0.3 --seed 1010 --name fringewatch-default-sim-v10

# 3. Scores per held-out family (v8's are made too when missing, on the same scenes).
score_once "$v8" v8 "$h"
score_once "$work/v10.onnx" v10 "$h"
