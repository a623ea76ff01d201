#!/usr/bin/env bash
# Model v6 (tried, not bundled): v4 fine-tuned on the 400 scenes of models/recipe-v5.sh (whole
# 160 px tiles, class balance 0.3 as v4, lr 3e-4 on a 16-epoch cosine schedule), cut every two
# epochs (`--stop-after`, then `--resume`) and each cut scored per held-out family, so that the
# run is judged by the held-out families, not by its training split.
# Usage: models/recipe-v6.sh V5_WORKDIR OUT   (V5_WORKDIR: the folder models/recipe-v5.sh made,
# with dataset/ and heldout/; as run: see models/README.md, v6)
set -euo pipefail
w="${1:?usage: models/recipe-v6.sh V5_WORKDIR OUT}"
o="${2:?usage: models/recipe-v6.sh V5_WORKDIR OUT}"
root="$(cd "$(dirname "$0")/.." && pwd)"
fw="${FRINGEWATCH:-$root/target/release/fringewatch}"
v4="${V4:-$root/models/fringewatch-default.onnx}"
mkdir -p "$o"
for k in 2 4 6 8 10 12 14 16; do
  [ -f "$o/v6-e$k.onnx" ] && continue
  if [ -f "$o/v6.onnx.train/state.json" ]; then start=(--resume); else start=(--init "$v4"); fi
  "$fw" --quiet train --dataset "$w/dataset" --out "$o/v6.onnx" --arch compact "${start[@]}" \
    --epochs 16 --stop-after "$k" --steps-per-epoch 200 --patience 30 --batch 8 --lr 3e-4 \
    --class-balance 0.3 --seed 6061 --name fringewatch-default-sim-v6
  cp "$o/v6.onnx" "$o/v6-e$k.onnx"
  "$root/models/score_heldout.sh" "$fw" "$o/v6-e$k.onnx" "$w/heldout" "$o/scores-e$k" \
    > "$o/scores-e$k.txt"
  echo "== epoch $k"; tail -4 "$o/scores-e$k.txt"
done
