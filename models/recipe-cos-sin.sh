#!/usr/bin/env bash
# Model v4: v3 carried over to the cos/sin phase input and fine-tuned on v3's data (the
# randomised family with the fixed chain added), then scored per held-out family against v3.
# Usage: models/recipe-cos-sin.sh WORKDIR [EPOCHS]   (as run: 10)
#   WORKDIR is models/recipe-randomised.sh's: it needs dataset-mixed/, heldout/ and v3.onnx
#   (v3 is models/fringewatch-default.onnx of commit 377a863).
# (on 2 CPU cores: ≈ 3.5–4.5 min per 200-step epoch of batch 8; the held-out scoring ≈ 10 min)
set -euo pipefail
work="${1:?usage: models/recipe-cos-sin.sh WORKDIR [EPOCHS]}"
epochs="${2:-10}"
root="$(cd "$(dirname "$0")/.." && pwd)"
fw="${FRINGEWATCH:-$root/target/release/fringewatch}"
v3="${V3:-$work/v3.onnx}"

# The first conv's phase kernel w_φ (which saw φ/π) becomes the sin φ kernel w_φ/π, the cos φ
# kernel starts at 0, everything else is v3's: the heads start as v3's for phases near the
# reference, and the run teaches the network the cos channel and the rest of the circle.
[ -f "$work/v4.onnx" ] || "$fw" train --dataset "$work/dataset-mixed" --out "$work/v4.onnx" \
  --arch compact --init "$v3" --phase-input cos-sin --epochs "$epochs" --steps-per-epoch 200 \
  --patience 30 --batch 8 --lr 1e-3 --class-balance 0.3 --seed 3040 \
  --name fringewatch-default-sim-v4

for m in v3:"$v3" v4:"$work/v4.onnx"; do
  [ -f "$work/scores-${m%%:*}.txt" ] || "$root/models/score_heldout.sh" "$fw" "${m#*:}" \
    "$work/heldout" "$work/scores-${m%%:*}" | tee "$work/scores-${m%%:*}.txt"
done
