#!/usr/bin/env bash
# Score a model and the non-learning baseline end to end on held-out simulated scene families.
# Usage: models/score_heldout.sh FRINGEWATCH MODEL.onnx HELDOUT_DIR OUT_DIR
# RUN_ARGS (optional) is added to every `run`, e.g. RUN_ARGS="--augment sign-and-mirrors".
# STACKS_FROM (optional): an earlier OUT_DIR of this script on the same HELDOUT_DIR; its kept
# stacks (layers_*/stack.tif) are detected on with `detect` instead of rebuilding every scene's
# layers with `run` (the layers do not depend on the model: minutes instead of a quarter hour).
# Each folder HELDOUT_DIR/FAMILY holds scenes (scene_*) of one family. Every scene goes through
# `fringewatch run` (ISL, PC1, stack, detection at a low confidence so the PR curve is complete)
# and `fringewatch baseline`; both are scored against the scenes' truth.gpkg with
# `fringewatch evaluate`, per family and over all families. The last lines are a Markdown table,
# one row per family (the model card's form):
#   | family | scenes | labels | mAP@0.5 per class | AP@0.5 agnostic | AP@0.3 agnostic |
#   | recall at best F1 (agnostic) | baseline AP@0.5 | baseline AP@0.3 |
set -euo pipefail
fw="$1"; model="$2"; heldout="$3"; out="$4"
mkdir -p "$out"
py=python3

field() { # field JSON KEY: a number from an evaluation JSON
  "$py" -c "import json,sys; print('%.3f' % json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

rows=()
all_net=(); all_base=()
for family_dir in "$heldout"/*/; do
  family="$(basename "$family_dir")"
  net_args=(); base_args=(); scenes=0; labels=0
  for scene in "$family_dir"scene_*; do
    [ -d "$scene" ] || continue
    name="${family}_$(basename "$scene")"
    heading=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['heading_deg'])" "$scene/scene.json")
    n=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['labelled_signals'])" "$scene/scene.json")
    rm -f "$out/$name.gpkg"
    if [ -n "${STACKS_FROM:-}" ]; then
      stack="$STACKS_FROM/layers_$name/stack.tif"
      "$fw" --quiet detect --stack "$stack" --model "$model" --backend cpu --confidence 0.01 \
        --out "$out/$name.gpkg" --layer detections ${RUN_ARGS:-} > /dev/null
    else
      stack="$out/layers_$name/stack.tif"
      "$fw" --quiet run --phase "$scene/phase.tif" --coherence "$scene/coherence.tif" --dem "$scene/dem.tif" \
        --incidence "$scene/incidence.tif" --heading="$heading" --model "$model" --backend cpu --confidence 0.01 \
        --keep-layers "$out/layers_$name" --out "$out/$name.gpkg" --layer detections ${RUN_ARGS:-} > /dev/null
    fi
    "$fw" --quiet baseline --stack "$stack" --out "$out/$name.gpkg" --layer baseline > /dev/null
    net_args+=(--pred "$out/$name.gpkg:detections" --truth "$scene/truth.gpkg:truth")
    base_args+=(--pred "$out/$name.gpkg:baseline" --truth "$scene/truth.gpkg:truth")
    scenes=$((scenes + 1)); labels=$((labels + n))
  done
  [ "$scenes" -gt 0 ] || continue
  all_net+=("${net_args[@]}"); all_base+=("${base_args[@]}")
  j="$out/$family"
  echo "== $family: network, per class (confidence chosen for best F1)"
  "$fw" evaluate "${net_args[@]}" --confidence best --json "$j.network.json" --plot "$j.network_pr.png"
  echo "== $family: network, class-agnostic, IoU 0.5 and 0.3 (best F1)"
  "$fw" evaluate "${net_args[@]}" --confidence best --class-agnostic --json "$j.agnostic50.json"
  "$fw" evaluate "${net_args[@]}" --confidence best --class-agnostic --iou 0.3 --json "$j.agnostic30.json" > /dev/null
  echo "== $family: baseline, class-agnostic, IoU 0.5 and 0.3 (best F1)"
  "$fw" evaluate "${base_args[@]}" --confidence best --class-agnostic --json "$j.baseline50.json"
  "$fw" evaluate "${base_args[@]}" --confidence best --class-agnostic --iou 0.3 --json "$j.baseline30.json" > /dev/null
  rows+=("| $family | $scenes | $labels | $(field "$j.network.json" map_voc) | $(field "$j.agnostic50.json" map_voc) | $(field "$j.agnostic30.json" map_voc) | $(field "$j.agnostic50.json" recall) | $(field "$j.baseline50.json" map_voc) | $(field "$j.baseline30.json" map_voc) |")
done
if [ ${#rows[@]} -eq 0 ]; then
  echo "error: no scene folders under $heldout/FAMILY/scene_*" >&2
  exit 1
fi
echo "== all families: network, per class (confidence chosen for best F1)"
"$fw" evaluate "${all_net[@]}" --confidence best --json "$out/all.network.json" > /dev/null
"$fw" evaluate "${all_base[@]}" --confidence best --class-agnostic --json "$out/all.baseline50.json" > /dev/null
echo
echo "| family | scenes | labels | mAP@0.5 per class | AP@0.5 agnostic | AP@0.3 agnostic | recall at best F1 (agnostic) | baseline AP@0.5 | baseline AP@0.3 |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
