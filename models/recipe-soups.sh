#!/usr/bin/env bash
# Model soups (tried; models/README.md, "Model soups"): v10 and three runs fine-tuned from it —
# v14 (rerun; v8's 400 scenes, the phase as given, lr 3e-5), v15 (1,040 scenes) and v18 (v8's
# 400 scenes, each tile referenced to its mean, lr 3e-5) — averaged with `fringewatch model
# soup`, scored on v8's held-out families and on a second, fresh draw of the same families
# (seeds + 1000, the confirmation families), each soup against v10 by a paired bootstrap over
# scenes (models/compare_heldout.py).
# Usage: models/recipe-soups.sh WORKDIR   (V15=path: v15 from models/recipe-v15.sh; made there
# in WORKDIR when missing, which makes its 1,040 scenes too)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
recipe_start "${1:?usage: models/recipe-soups.sh WORKDIR}"

# 1. v10, the 1,040 scenes and their dataset, v8's held-out families ($h); v15.
v10_and_v15_data
v15="${V15:-$work/v15.onnx}"
[ -f "$v15" ] || "$root/models/recipe-v15.sh" "$work"

# 2. The two new ingredients, 8 and 6 epochs of 1000 steps of batch 8 on v8's 400 scenes.
train_from_v10() { # NAME SEED EPOCHS REFERENCE
  [ -f "$work/$1.onnx" ] || "$fw" train --dataset "$v8work/dataset" --out "$work/$1.onnx" \
    --arch compact --init "$v10" --epochs "$3" --steps-per-epoch 1000 --patience 30 \
    --batch 8 --lr 3e-5 --class-balance 0.3 --seed "$2" --phase-reference "$4" \
    --name "fringewatch-default-sim-$1"
}
train_from_v10 v14 1414 8 as-given
train_from_v10 v18 1818 6 tile-mean

# 3. The soups, their thresholds on the 1,040 scenes' validation split.
soup() { # NAME MEMBER...
  local name="$1"; shift
  [ -f "$work/$name.onnx" ] || "$fw" --quiet model soup "$@" --dataset "$work/dataset" \
    --name "fringewatch-default-sim-$name" --out "$work/$name.onnx"
}
soup soup-10-15 "$v10" "$v15"
soup soup3 "$v10" "$work/v14.onnx" "$v15"
soup soup4 "$v10" "$work/v14.onnx" "$v15" "$work/v18.onnx"

# 4. Held-out families, then the confirmation families: v10 end to end, the others on its
#    stacks; each against v10.
"$root/models/heldout-large.sh" "$fw" "$work/confirm" 1000
score_once "$v10" v10 "$h"
score_once "$v10" c-v10 "$work/confirm"
for m in v14 v15 v18 soup-10-15 soup3 soup4; do
  file="$work/$m.onnx"
  [ "$m" = v15 ] && file="$v15"
  STACKS_FROM="$work/scores-v10" score_once "$file" "$m" "$h"
  /usr/bin/python3 "$root/models/compare_heldout.py" "$h" "$work/scores-v10" "$work/scores-$m" 2000
done
for m in soup-10-15 soup3 soup4; do
  STACKS_FROM="$work/scores-c-v10" score_once "$work/$m.onnx" "c-$m" "$work/confirm"
  /usr/bin/python3 "$root/models/compare_heldout.py" "$work/confirm" "$work/scores-c-v10" \
    "$work/scores-c-$m" 2000
done
