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

# v10 and v8's data; v20: v14's run with `--weight-decay 0`; v14 the control; both draws of the
# held-out families, v20 against v10 and against v14 (models/lib.sh).
v14_variant v20 --weight-decay 0
