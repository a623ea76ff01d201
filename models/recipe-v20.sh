#!/usr/bin/env bash
# Model v20 (tried, run cut short; models/README.md, v20): v10 trained further as v14 was (v8's
# 400 scenes, the phase as given, 8,000 steps at peak lr 3e-5, v14's seed), with one change: no
# weight decay (`train --weight-decay 0`). burn's Adam adds the L2 term λθ to the gradient, which
# Adam normalises into steps of up to the learning rate towards 0 on weights the loss barely
# moves, so a fine-tuning run also erodes what its data do not exercise. v14 is the control.
# Judged on v8's larger held-out families and on their second draw (seeds + 1000), against v10
# and v14 by a paired bootstrap over scenes (models/compare_heldout.py).
# Usage: models/recipe-v20.sh WORKDIR [EPOCHS]   (V10, WORKDIR_V8 and V14 as in recipe-v19.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v20.sh WORKDIR [EPOCHS]}"
epochs="${2:-8}"

# 1. v10, and v8's 400 training scenes with their dataset and held-out families ($h).
v10_and_v8_data

# 2. v20: v14's run without weight decay; v14, the control.
train_like_v14 v20 1414 --weight-decay 0
v14="${V14:-$work/v14.onnx}"
[ -f "$v14" ] || { train_like_v14 v14 1414; v14="$work/v14.onnx"; }

# 3. Both draws of the held-out families; v20 against v10 and against v14.
against_v10_and_v14 v20 "$v14"
