#!/usr/bin/env bash
# Model v7 (tried, not bundled): v4 fine-tuned with `train --backend gpu` for the time a lent GPU
# machine allows, as run on an NVIDIA H200 (models/README.md, v7). Fresh randomised scenes are
# simulated by PROCS processes side by side (one dataset each, merged), a short calibration run
# times an epoch, and the fine-tune gets as many whole epochs (one cosine schedule) as fit.
# Usage: models/recipe-v7-gpu.sh WORKDIR [BUDGET_S] [PROCS] [SCENES_PER_PROC]
#   (as run: 530 s, 14 processes × 20 scenes, on six of the training DEMs listed below)
# Needs a build with `--features train-gpu` (FRINGEWATCH=path) and models/fringewatch-default.onnx
# = v4 (or V4=path). Held-out scoring afterwards: models/score_heldout.sh (any machine).
set -euo pipefail
work="${1:?usage: models/recipe-v7-gpu.sh WORKDIR [BUDGET_S] [PROCS] [SCENES_PER_PROC]}"
budget="${2:-530}"; procs="${3:-14}"; per="${4:-20}"
batch=32; lr=4e-4; steps=150; cal_steps=20
start=$(date +%s)
root="$(cd "$(dirname "$0")/.." && pwd)"
fw="${FRINGEWATCH:-$root/target/release/fringewatch}"
v4="${V4:-$root/models/fringewatch-default.onnx}"
data="$root/../shared/data/real/dems"
dems=("$data"/alps_oetztal_srtm3.tif "$data"/karakoram_baltoro_srtm3.tif
  "$data"/rockies_frontrange_srtm3.tif "$data"/prealps_vercors_N44E005_srtm3.tif
  "$data"/andes_patagonia_exploradores_aster30.tif "$data"/anatolia_erzincan_srtm3.tif)
mkdir -p "$work/cal" "$work/v7"

# 1. Scenes 0 .. procs·per − 1 of seed 9100 (no earlier set used it), one dataset per process.
for k in $(seq 0 $((procs - 1))); do
  ( "$fw" --quiet simulate --family randomised --dems "${dems[@]}" --seed 9100 --scenes "$per" \
      --first $((k * per)) --out "$work/scenes_$k" &&
    "$fw" --quiet dataset --scenes "$work/scenes_$k"/scene_* --out "$work/ds_$k" \
      --seed $((9100 + k)) ) > "$work/data_$k.log" 2>&1 &
done
wait
# Merged: scene names differ, so tiles and labels are linked side by side and the splits and
# class counts added (anchors and normalisation come from --init when fine-tuning).
python3 - "$work/all" "$work"/ds_* <<'PY'
import json, os, sys
out, parts = sys.argv[1], sys.argv[2:]
merged = None
for sub in ("tiles", "labels"):
    os.makedirs(os.path.join(out, sub), exist_ok=True)
for p in parts:
    d = json.load(open(os.path.join(p, "dataset.json")))
    for sub in ("tiles", "labels"):
        for f in os.listdir(os.path.join(p, sub)):
            os.symlink(os.path.abspath(os.path.join(p, sub, f)), os.path.join(out, sub, f))
    if merged is None:
        merged = d
        continue
    for k in ("train", "validation", "test", "scenes"):
        merged[k] += d[k]
    merged["class_counts"] = [[a + b for a, b in zip(x, y)]
                              for x, y in zip(merged["class_counts"], d["class_counts"])]
with open(os.path.join(out, "dataset.json"), "w") as f:
    json.dump(merged, f)
PY

# 2. Calibration: two epochs of cal_steps steps; the second epoch's time gives a step's.
"$fw" --quiet train --dataset "$work/all" --out "$work/cal/m.onnx" --arch compact --backend gpu \
  --init "$v4" --epochs 2 --steps-per-epoch "$cal_steps" --batch "$batch" --lr "$lr" \
  --class-balance 0.3 --seed 1 > "$work/cal.log"
left=$(( budget - ($(date +%s) - start) - 45 ))
epochs=$(python3 - "$work/cal/m.onnx.train/losses.csv" "$work/all/dataset.json" <<PY
import csv, json, sys
e2 = float(list(csv.DictReader(open(sys.argv[1])))[-1]["seconds"])
val = len(json.load(open(sys.argv[2]))["validation"]) / (3.0 * $batch)  # in train-step units
t = e2 / ($cal_steps + val)
print(max(1, min(40, int($left / (t * ($steps + val))))))
PY
)

# 3. The fine-tune: one cosine schedule over the epochs that fit.
"$fw" --quiet train --dataset "$work/all" --out "$work/v7/v7.onnx" --arch compact --backend gpu \
  --init "$v4" --epochs "$epochs" --steps-per-epoch "$steps" --patience 100 --batch "$batch" \
  --lr "$lr" --class-balance 0.3 --seed 7071 --name fringewatch-default-sim-v7
