#!/usr/bin/env bash
# Model v19 (tried; models/README.md, v19): v10 trained further as v14 was (v8's 400 scenes, the
# phase as given, 8,000 steps at peak lr 3e-5, v14's seed), with one change: half of the training
# tiles get another atmosphere (`train --weather 0.5 --weather-rms 2`), a fresh turbulent screen
# added to the wrapped phase each time a tile is drawn, so that the few screens of the training
# scenes cannot be learnt as part of what a slide looks like. v14 is the control.
# Judged on v8's larger held-out families and on their second draw (seeds + 1000), against v10
# and v14 by a paired bootstrap over scenes (models/compare_heldout.py).
# Usage: models/recipe-v19.sh WORKDIR [EPOCHS]   (V10=path, WORKDIR_V8=folder as in
# recipe-v14.sh; V14=path: v14, else trained here as recipe-v14.sh does)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v19.sh WORKDIR [EPOCHS]}"
epochs="${2:-8}"

# v10 and v8's data; v19: v14's run with `--weather 0.5 --weather-rms 2`; v14 the control; both draws of the
# held-out families, v19 against v10 and against v14 (models/lib.sh).
v14_variant v19 --weather 0.5 --weather-rms 2
