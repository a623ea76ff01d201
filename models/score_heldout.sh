#!/usr/bin/env bash
# Score a model and the non-learning baseline end to end on held-out simulated scenes.
# Usage: models/score_heldout.sh FRINGEWATCH MODEL.onnx HELDOUT_DIR OUT_DIR
# Every scene under HELDOUT_DIR/*/scene_* goes through `fringewatch run` (ISL, PC1, stack,
# detection at a low confidence so the PR curve is complete) and `fringewatch baseline`; both
# are then scored against the scenes' truth.gpkg with `fringewatch evaluate`.
set -euo pipefail
fw="$1"; model="$2"; heldout="$3"; out="$4"
mkdir -p "$out"
net_args=(); base_args=()
for scene in "$heldout"/*/scene_*; do
  name="$(basename "$(dirname "$scene")")_$(basename "$scene")"
  heading=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['heading_deg'])" "$scene/scene.json")
  rm -f "$out/$name.gpkg"
  "$fw" --quiet run --phase "$scene/phase.tif" --coherence "$scene/coherence.tif" --dem "$scene/dem.tif" \
    --incidence "$scene/incidence.tif" --heading="$heading" --model "$model" --backend cpu --confidence 0.01 \
    --keep-layers "$out/layers_$name" --out "$out/$name.gpkg" --layer detections > /dev/null
  "$fw" --quiet baseline --stack "$out/layers_$name/stack.tif" --out "$out/$name.gpkg" --layer baseline > /dev/null
  net_args+=(--pred "$out/$name.gpkg:detections" --truth "$scene/truth.gpkg:truth")
  base_args+=(--pred "$out/$name.gpkg:baseline" --truth "$scene/truth.gpkg:truth")
done
echo "== network, per class (confidence 0.5)"
"$fw" evaluate "${net_args[@]}" --confidence 0.5 --json "$out/network.json" --plot "$out/network_pr.png"
echo "== network, per class (confidence chosen for best F1)"
"$fw" evaluate "${net_args[@]}" --confidence best
echo "== network, class-agnostic (confidence chosen for best F1)"
"$fw" evaluate "${net_args[@]}" --confidence best --class-agnostic --json "$out/network_agnostic.json"
echo "== baseline, class-agnostic (confidence chosen for best F1)"
"$fw" evaluate "${base_args[@]}" --confidence best --class-agnostic --json "$out/baseline_agnostic.json"
