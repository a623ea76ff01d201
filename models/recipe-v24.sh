#!/usr/bin/env bash
# Model v24 (models/README.md, v24): v10 trained further as v14 was, on v8's 400 scenes cut with
# every tile kept (`dataset --empty-fraction 1`: 62 % of the training tiles hold no label, v8's
# dataset 28 %), to test whether the detections on nothing come from too few negatives. Judged
# on v8's held-out families and their second draw against v10; detections on nothing by
# models/false_alarms.py at each model's best-F1 threshold.
# Usage: models/recipe-v24.sh WORKDIR [EPOCHS]   (V10 and WORKDIR_V8 as in recipe-v19.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v24.sh WORKDIR [EPOCHS]}"
epochs="${2:-8}"

# 1. v10, v8's scenes and held-out families ($h); their dataset with every tile kept.
v10_and_v8_data
[ -f "$work/empty/dataset/dataset.json" ] || "$fw" --quiet dataset --scenes "$v8work"/mixed/* \
  --out "$work/empty/dataset" --seed 3030 --empty-fraction 1

# 2. v24: v14's run (seed 1414) on that dataset.
train_dataset="$work/empty/dataset" train_like_v14 v24 1414

# 3. Both draws, v10 end to end and v24 on its stacks, against v10. Detections on nothing: per
#    family, /usr/bin/python3 models/false_alarms.py WORK/scores-v24 HELDOUT FAMILY CONFIDENCE
against_v10 v24
