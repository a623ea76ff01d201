#!/usr/bin/env bash
# How much a model reads one layer of the stack: the held-out scenes detected with that band set
# to a constant where it holds data (its normalisation mean, so the network sees 0 there) and
# scored as models/score_heldout.sh scores them.
# Usage: models/ablate_layer.sh FRINGEWATCH MODEL.onnx HELDOUT_DIR STACKS_FROM BAND VALUE OUT_DIR
#   [FAMILY...]
# STACKS_FROM is an earlier OUT_DIR of models/score_heldout.sh on HELDOUT_DIR (its kept
# layers_FAMILY_scene_NNNN/stack.tif); BAND 1 phase, 2 ISL, 3 PC1; VALUE the constant (the
# model's channel mean: `fringewatch` writes it in the model's metadata, e.g. PC1 0.0223 and
# ISL 0.1792 for v10). FAMILY defaults to every family folder of HELDOUT_DIR. Per family, OUT_DIR
# gets FAMILY.network.json (per class) and FAMILY.agnostic50.json (class-agnostic), as
# score_heldout.sh writes them; the stacks with the band replaced are removed after detection.
set -euo pipefail
fw="$1"; model="$2"; heldout="$3"; stacks="$4"; band="$5"; value="$6"; out="$7"
shift 7
families=("$@")
if [ ${#families[@]} -eq 0 ]; then
  for d in "$heldout"/*/; do families+=("$(basename "$d")"); done
fi
mkdir -p "$out"
for family in "${families[@]}"; do
  args=()
  for scene in "$heldout/$family"/scene_*; do
    name="${family}_$(basename "$scene")"
    /usr/bin/python3 - "$stacks/layers_$name/stack.tif" "$out/$name.tif" "$band" "$value" <<'PY'
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()
src, dst, band, value = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
copy = gdal.Translate(dst, src)
layer = copy.GetRasterBand(band)
values = layer.ReadAsArray()
nodata = layer.GetNoDataValue()
valid = np.isfinite(values) if nodata is None else np.isfinite(values) & (values != nodata)
values[valid] = value
layer.WriteArray(values)
copy.FlushCache()
PY
    rm -f "$out/$name.gpkg"
    "$fw" --quiet detect --stack "$out/$name.tif" --model "$model" --backend cpu --confidence 0.01 \
      --out "$out/$name.gpkg" --layer detections > /dev/null
    rm -f "$out/$name.tif"
    args+=(--pred "$out/$name.gpkg:detections" --truth "$scene/truth.gpkg:truth")
  done
  "$fw" evaluate "${args[@]}" --confidence best --json "$out/$family.network.json" \
    > "$out/$family.network.txt"
  "$fw" evaluate "${args[@]}" --confidence best --class-agnostic \
    --json "$out/$family.agnostic50.json" > /dev/null
  echo "$family: $(grep '^mAP' "$out/$family.network.txt")"
done
