#!/usr/bin/env bash
# Model v16 (tried): v10 widened to width 0.33 (`train --width`: its channels keep their weights,
# the new ones start with random input weights and a zero weight into every later conv, so the
# run starts from v10's function), then trained as v15 was: the same 1,040 scenes and dataset,
# batch, peak learning rate, balance and seed. v10–v15 train as much as they validate (training
# and validation losses level), and four runs from v10 at width 0.25 (v11, v13, v14, v15) lowered
# the validation loss without a held-out gain: this asks whether capacity is what limits.
# Width 0.33 keeps the file under 20 MB (4.1 M parameters, 16.4 MB).
# Usage: models/recipe-v16.sh WORKDIR [EPOCHS] [PEAK_LR] [NAME]   (as run: see models/README.md,
# v16: `WORKDIR 6`; v16b: `WORKDIR 4 1.5e-4 v16b`, v8's peak learning rate, after v16's new
# channels had hardly grown)
# Starts from v10 (V10=path, by default taken from git, commit ab2af40); the scenes are made in
# WORKDIR when missing, as recipe-v15.sh makes them (the same WORKDIR reuses them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v16.sh WORKDIR [EPOCHS] [PEAK_LR] [NAME]}"
epochs="${2:-6}"
lr="${3:-5e-5}"
name="${4:-v16}"

# 1. v10, v15's 1,040 scenes and dataset, v8's held-out families ($h).
v10_and_v15_data

# 2. v10 widened, then trained as v15 (the phase as given).
[ -f "$work/$name.onnx" ] || "$fw" train --dataset "$work/dataset" --out "$work/$name.onnx" \
  --arch compact --width 0.33 --init "$v10" --epochs "$epochs" --steps-per-epoch 1000 \
  --patience 30 --batch 8 --lr "$lr" --class-balance 0.3 --seed 1515 \
  --phase-reference as-given --name "fringewatch-default-sim-$name"

# 3. Scores per held-out family, v10 and the run on the same scenes and binary (the run detected
#    on the stacks v10's scoring kept).
score_once "$v10" v10 "$h"
STACKS_FROM="$work/scores-v10" score_once "$work/$name.onnx" "$name" "$h"
