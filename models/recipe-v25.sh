#!/usr/bin/env bash
# v25: v14's run (v10 trained further on v8's 400 scenes, seed 1414) with the class term weighed
# four times in the loss (`train --class-gain 4`): the stack tells rock/debris slides (FS) from
# earthslides (CS) (models/class_separability.py) but v10 does not (model card, *What the
# classes rest on*). Usage: models/recipe-v25.sh WORKDIR [EPOCHS]  (FRINGEWATCH= a binary built
# with --features train; V10= and WORKDIR_V8= as for recipe-v10.sh; EPOCHS default 8).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-v25.sh WORKDIR [EPOCHS]}"
epochs="${2:-8}"

# 1. v10, v8's scenes, dataset and held-out families.
v10_and_v8_data

# 2. v25: v14's run with the class gain.
train_like_v14 v25 1414 --class-gain 4

# 3. Both draws, v10 end to end and v25 on its stacks, against v10.
against_v10 v25
