#!/usr/bin/env bash
# Model v22 (models/README.md, v22): v10 trained further as v14 was, on v8's 400 scenes simulated
# again with a stricter labeller (models/strict-labels.json: a signal is labelled only when its
# visible peak phase reaches 2 rad, a third of a fringe, instead of 1 rad; the same seeds give
# the same interferograms, only fewer labels). Signals fainter than that become background.
# Judged on v8's held-out families and their second draw, with every label and with the faint
# ones as don't-care (models/recall_by_visibility.py), against v10.
# Usage: models/recipe-v22.sh WORKDIR [EPOCHS]   (V10 and WORKDIR_V8 as in recipe-v19.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v22.sh WORKDIR [EPOCHS]}"
epochs="${2:-8}"

# 1. v10, v8's held-out families ($h); v8's 400 scenes again under the stricter labeller (the
#    seeds of models/data-400.sh), with their dataset.
v10_and_v8_data
"$root/models/data-400.sh" "$fw" "$work/strict" "$root/models/strict-labels.json"

# 2. v22: v14's run on the strictly labelled scenes.
train_dataset="$work/strict/dataset" train_like_v14 v22 1414

# 3. Both draws, v10 end to end and v22 on its stacks, against v10 with every label. With the
#    faint signals as don't-care: per family, at each model's best-F1 threshold,
#    /usr/bin/python3 models/recall_by_visibility.py WORK/scores-v22 HELDOUT FAMILY CONFIDENCE
against_v10 v22
