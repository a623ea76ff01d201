#!/usr/bin/env bash
# Model v23 (models/README.md, v23): v10 trained further as v14 was, on v8's 400 scenes with the
# signals fainter than a third of a fringe (visible peak phase under 2 rad) as don't-care boxes
# (`dataset --dont-care-below-rad 2`): the network is neither taught to find them (as v10 and
# v14 were) nor to call them background (as v22 was). The same interferograms, tiles and boxes
# as v14's; only the faint labels' role changes. Judged on v8's held-out families and their
# second draw, with every label and with the faint ones as don't-care
# (models/recall_by_visibility.py), against v10.
# Usage: models/recipe-v23.sh WORKDIR [EPOCHS]   (V10 and WORKDIR_V8 as in recipe-v19.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v23.sh WORKDIR [EPOCHS]}"
epochs="${2:-8}"

# 1. v10, v8's held-out families ($h); v8's 400 scenes again (the simulator now writes each
#    label's visible peak phase; the same seeds give the same interferograms and boxes), in a
#    dataset with the faint labels as don't-care.
v10_and_v8_data
"$root/models/data-400.sh" "$fw" "$work/faint" "" --dont-care-below-rad 2

# 2. v23: v14's run (seed 1414) on that dataset.
train_dataset="$work/faint/dataset" train_like_v14 v23 1414

# 3. Both draws, v10 end to end and v23 on its stacks, against v10 with every label. With the
#    faint signals as don't-care: per family, at each model's best-F1 threshold,
#    /usr/bin/python3 models/recall_by_visibility.py WORK/scores-v23 HELDOUT FAMILY CONFIDENCE
against_v10 v23
