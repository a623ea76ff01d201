#!/usr/bin/env bash
# Model v21 (models/README.md, v21): v10 trained further as v14 was (v8's 400 scenes, the phase
# as given, 8,000 steps at peak lr 3e-5, v14's seed), with one change: IoU-aware objectness
# (`train --objectness-iou 1`: a responsible anchor's objectness is pushed towards the IoU of its
# decoded box with the labelled box instead of 1), so that a poorly placed box scores below a
# well placed one. v8's analysis found 18 % of `outside`'s detections at the best-F1 threshold
# to be poor boxes (0.1 ≤ IoU < 0.5), each a false positive at AP@0.5. Judged on v8's larger
# held-out families and on their second draw (seeds + 1000), against v10 and v14 by a paired
# bootstrap over scenes (models/compare_heldout.py).
# Usage: models/recipe-v21.sh WORKDIR [EPOCHS]   (V10, WORKDIR_V8 and V14 as in recipe-v19.sh)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v21.sh WORKDIR [EPOCHS]}"
epochs="${2:-8}"

# v10 and v8's data; v21: v14's run with `--objectness-iou 1`; v14 the control; both draws of the
# held-out families, v21 against v10 and against v14 (models/lib.sh).
v14_variant v21 --objectness-iou 1
