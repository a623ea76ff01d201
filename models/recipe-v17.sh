#!/usr/bin/env bash
# Model v17 (tried): v10 widened to width 0.33 as v16 was, but with what v10's channels read from
# the new ones starting at a share of a fresh random draw (`train --widen-outgoing`) instead of 0.
# v16 and v16b started at exactly v10's function and their new channels hardly grew: with zero
# weights out of them their input weights get almost no gradient, and Adam's weight decay (an L2
# term in the gradient, which Adam turns into steps of about the learning rate) shrank them.
# Otherwise v16's data and settings: v15's 1,040 scenes and dataset, batch 8, balance 0.3, seed
# 1515, the phase as given.
# Usage: models/recipe-v17.sh WORKDIR [EPOCHS] [PEAK_LR] [OUTGOING] [NAME]
#   (as run: see models/README.md, `WORKDIR 9 1e-4 0.1`; 0.1 from four starts: the validation loss
#   at the start, v10 widened, was 27.32 at 0, 28.07 at 0.05, 29.94 at 0.1, 39.03 at 0.25)
# Starts from v10 (V10=path, by default taken from git, commit ab2af40); the scenes are made in
# WORKDIR when missing, as recipe-v15.sh makes them (the same WORKDIR reuses them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v17.sh WORKDIR [EPOCHS] [PEAK_LR] [OUTGOING] [NAME]}"
epochs="${2:-9}"
lr="${3:-1e-4}"
outgoing="${4:-0.1}"
name="${5:-v17}"

# 1. v10, v15's 1,040 scenes and dataset, v8's held-out families ($h).
v10_and_v15_data

# 2. v10 widened with non-zero weights out of the new channels, then trained as v16.
[ -f "$work/$name.onnx" ] || "$fw" train --dataset "$work/dataset" --out "$work/$name.onnx" \
  --arch compact --width 0.33 --widen-outgoing "$outgoing" --init "$v10" --epochs "$epochs" \
  --steps-per-epoch 1000 --patience 30 --batch 8 --lr "$lr" --class-balance 0.3 --seed 1515 \
  --phase-reference as-given --name "fringewatch-default-sim-$name"

# 3. Scores per held-out family, v10 and the run on the same scenes and binary (the run detected
#    on the stacks v10's scoring kept).
score_once "$v10" v10 "$h"
STACKS_FROM="$work/scores-v10" score_once "$work/$name.onnx" "$name" "$h"
