#!/usr/bin/env bash
# The 400 training scenes of v5, v6, v8 and v9 and their dataset: v3/v4's 180 randomised scenes
# and 100 of the fixed chain (the same seeds) and 120 fresh randomised ones; tiles are named after
# scene folders, so each set is linked under its own prefix. Makes WORKDIR/dataset.
# Usage: models/data-400.sh FRINGEWATCH WORKDIR [SETTINGS [DATASET_OPTION...]]   (the recipes of
# v5, v8 and v9 call it without SETTINGS; v22 with models/strict-labels.json: the same
# interferograms, other labels; v23 with no settings ("") and `--dont-care-below-rad 2`).
# SETTINGS (optional, "" for none): a `simulate --settings` file applied to every scene;
# DATASET_OPTIONs: further `dataset` options.
set -euo pipefail
fw="${1:?usage: models/data-400.sh FRINGEWATCH WORKDIR [SETTINGS]}"
work="${2:?usage: models/data-400.sh FRINGEWATCH WORKDIR [SETTINGS]}"
settings=()
[ -n "${3:-}" ] && settings=(--settings "$3")
dataset_options=("${@:4}")
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/../shared/data/real"
dems=("$data"/dems/*.tif "$data/dem_sangabriel_30m_utm11.tif")
mkdir -p "$work"
[ -d "$work/scenes" ] || "$fw" --quiet simulate --family randomised --dems "${dems[@]}" \
  "${settings[@]}" --out "$work/scenes" --seed 3030 --scenes 180
[ -d "$work/scenes-new" ] || "$fw" --quiet simulate --family randomised --dems "${dems[@]}" \
  "${settings[@]}" --out "$work/scenes-new" --seed 5050 --scenes 120
[ -d "$work/scenes-fixed" ] || "$fw" --quiet simulate --family fixed "${settings[@]}" \
  --out "$work/scenes-fixed" --seed 2026 --scenes 100
mkdir -p "$work/mixed"
for d in "$work"/scenes/scene_*; do ln -sfn "$d" "$work/mixed/rand_$(basename "$d")"; done
for d in "$work"/scenes-new/scene_*; do ln -sfn "$d" "$work/mixed/new_$(basename "$d")"; done
for d in "$work"/scenes-fixed/scene_*; do ln -sfn "$d" "$work/mixed/fixed_$(basename "$d")"; done
[ -f "$work/dataset/dataset.json" ] || "$fw" --quiet dataset --scenes "$work"/mixed/* \
  --out "$work/dataset" --seed 3030 "${dataset_options[@]}"
