#!/usr/bin/env bash
# What makes the held-out `outside` family hard, one factor at a time (model card, "What
# `outside` is made of"): two more families of 24 fresh scenes each, scored with MODEL end to end
# beside `outside` and the randomised family of models/heldout-large.sh:
# - outside-weather-in: `outside`'s processing (boxcar, 50–80 m source grids, 1–2 looks, large
#   coherence windows) under the training family's weather (models/training-weather.json);
# - synthetic-relief: the training family on synthetic relief only (no real DEMs), as `outside`
#   is made.
# `outside` against outside-weather-in is the weather beyond the training ranges;
# outside-weather-in against synthetic-relief the processing; synthetic-relief against the
# randomised family the relief.
# Usage: models/ablate-outside.sh FRINGEWATCH MODEL.onnx DIR
set -euo pipefail
fw="${1:?usage: models/ablate-outside.sh FRINGEWATCH MODEL.onnx DIR}"
model="${2:?usage: models/ablate-outside.sh FRINGEWATCH MODEL.onnx DIR}"
dir="${3:?usage: models/ablate-outside.sh FRINGEWATCH MODEL.onnx DIR}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$dir/scenes"
[ -d "$dir/scenes/outside-weather-in" ] || "$fw" --quiet simulate --family outside \
  --settings "$root/models/training-weather.json" --out "$dir/scenes/outside-weather-in" \
  --seed 9501 --scenes 24
[ -d "$dir/scenes/synthetic-relief" ] || "$fw" --quiet simulate --family randomised \
  --out "$dir/scenes/synthetic-relief" --seed 9601 --scenes 24
[ -f "$dir/scores.txt" ] || "$root/models/score_heldout.sh" "$fw" "$model" "$dir/scenes" \
  "$dir/scores" | tee "$dir/scores.txt"
