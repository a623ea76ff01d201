# Shared by the model recipes of v9 and from v10 on (sourced, not run): the preamble every recipe
# repeated, and the scenes several of them make.
# After `recipe_start WORKDIR`: $root (the checkout), $fw (FRINGEWATCH, else the checkout's
# release binary) and $work (created).
recipe_start() {
  work="$1"
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  fw="${FRINGEWATCH:-$root/target/release/fringewatch}"
  mkdir -p "$work"
}

# model_from_git COMMIT PATH: the bundled model as it was at COMMIT, written to PATH unless PATH
# exists (a model given by the caller is kept).
model_from_git() {
  [ -f "$2" ] || git -C "$root" show "$1:models/fringewatch-default.onnx" > "$2"
}

# score_once MODEL NAME HELDOUT: models/score_heldout.sh's table for MODEL in $work/scores-NAME.txt
# (kept when it exists), with its per-scene outputs in $work/scores-NAME/.
score_once() {
  [ -f "$work/scores-$2.txt" ] || "$root/models/score_heldout.sh" "$fw" "$1" "$3" \
    "$work/scores-$2" | tee "$work/scores-$2.txt"
}

# v8_data DIR: v8's 400 training scenes with their dataset (DIR/dataset) and its held-out
# families (DIR/heldout-large, then in $h), made in DIR when missing.
v8_data() {
  "$root/models/data-400.sh" "$fw" "$1"
  h="$1/heldout-large"
  "$root/models/heldout-large.sh" "$fw" "$h"
}

# v10_and_v8_data: $v10 (V10, else the bundled v10 from git, commit ab2af40, in $work) and v8's
# scenes, dataset and held-out families in $v8work (WORKDIR_V8, else $work/v8work; made when
# missing; $h the held-out families).
v10_and_v8_data() {
  v10="${V10:-$work/v10.onnx}"
  model_from_git ab2af40 "$v10"
  v8work="${WORKDIR_V8:-$work/v8work}"
  v8_data "$v8work"
}

# v9_scenes: the 560 scenes v9 added to v8's 400 (seeds 7070/7171/7272: 320 randomised over every
# real DEM, 80 of the fixed chain, 160 randomised in strong weather, models/strong-weather.json),
# made in $work when missing, and linked with v8's ($v8work/mixed) into $work/mixed (tiles are
# named after the linked folders).
v9_scenes() {
  local data="$root/../shared/data/real"
  local dems=("$data"/dems/*.tif "$data/dem_sangabriel_30m_utm11.tif")
  [ -d "$work/scenes-v9" ] || "$fw" --quiet simulate --family randomised --dems "${dems[@]}" \
    --out "$work/scenes-v9" --seed 7070 --scenes 320
  [ -d "$work/scenes-v9-fixed" ] || "$fw" --quiet simulate --family fixed \
    --out "$work/scenes-v9-fixed" --seed 7171 --scenes 80
  [ -d "$work/scenes-v9-weather" ] || "$fw" --quiet simulate --family randomised \
    --dems "${dems[@]}" --settings "$root/models/strong-weather.json" \
    --out "$work/scenes-v9-weather" --seed 7272 --scenes 160
  mkdir -p "$work/mixed"
  local d
  for d in "$v8work"/mixed/*; do ln -sfn "$(readlink -f "$d")" "$work/mixed/$(basename "$d")"; done
  for d in "$work"/scenes-v9/scene_*; do ln -sfn "$d" "$work/mixed/v9_$(basename "$d")"; done
  for d in "$work"/scenes-v9-fixed/scene_*; do ln -sfn "$d" "$work/mixed/v9fixed_$(basename "$d")"; done
  for d in "$work"/scenes-v9-weather/scene_*; do
    ln -sfn "$d" "$work/mixed/v9weather_$(basename "$d")"
  done
}

# v10_and_v15_data: v10_and_v8_data, v9_scenes and 80 more scenes of the fixed chain (seed 1515),
# so that chain keeps the quarter of the scenes it has in v8's data: v15's 1,040 scenes, in one
# dataset ($work/dataset, seed 1515); made when missing.
v10_and_v15_data() {
  v10_and_v8_data
  v9_scenes
  [ -d "$work/scenes-v15-fixed" ] || "$fw" --quiet simulate --family fixed \
    --out "$work/scenes-v15-fixed" --seed 1515 --scenes 80
  local d
  for d in "$work"/scenes-v15-fixed/scene_*; do
    ln -sfn "$d" "$work/mixed/v15fixed_$(basename "$d")"
  done
  [ -f "$work/dataset/dataset.json" ] || "$fw" --quiet dataset --scenes "$work"/mixed/* \
    --out "$work/dataset" --seed 1515
}

# train_like_v14 NAME SEED EXTRA...: v10 trained further as v14 was (v8's 400 scenes, the phase
# as given, $epochs epochs of 1000 steps of batch 8, peak lr 3e-5, class balance 0.3), with the
# extra `train` arguments, to $work/NAME.onnx (kept when it exists). After v10_and_v8_data.
# $train_dataset, when set, is trained on in place of v8's dataset.
train_like_v14() {
  local name="$1" seed="$2"; shift 2
  [ -f "$work/$name.onnx" ] || "$fw" train --dataset "${train_dataset:-$v8work/dataset}" \
    --out "$work/$name.onnx" \
    --arch compact --init "$v10" --epochs "$epochs" --steps-per-epoch 1000 --patience 30 \
    --batch 8 --lr 3e-5 --class-balance 0.3 --seed "$seed" --phase-reference as-given \
    --name "fringewatch-default-sim-$name" "$@"
}

# against_v10 NAME: $work/NAME.onnx scored on both draws of the held-out families ($h, and
# $work/confirm: every seed + 1000, made when missing), v10 end to end and NAME on its stacks,
# and NAME against v10 by a paired bootstrap over scenes (models/compare_heldout.py).
against_v10() {
  local name="$1" draw held
  "$root/models/heldout-large.sh" "$fw" "$work/confirm" 1000
  score_once "$v10" v10 "$h"
  score_once "$v10" c-v10 "$work/confirm"
  for draw in "" c-; do
    held="$h"
    [ -n "$draw" ] && held="$work/confirm"
    STACKS_FROM="$work/scores-${draw}v10" score_once "$work/$name.onnx" "$draw$name" "$held"
    /usr/bin/python3 "$root/models/compare_heldout.py" "$held" "$work/scores-${draw}v10" \
      "$work/scores-$draw$name" 2000
  done
}

# against_v10_and_v14 NAME V14: against_v10 NAME, then the control V14 scored likewise (on v10's
# stacks) and NAME against it.
against_v10_and_v14() {
  local name="$1" control="$2" draw held
  against_v10 "$name"
  for draw in "" c-; do
    held="$h"
    [ -n "$draw" ] && held="$work/confirm"
    STACKS_FROM="$work/scores-${draw}v10" score_once "$control" "${draw}v14" "$held"
    /usr/bin/python3 "$root/models/compare_heldout.py" "$held" "$work/scores-${draw}v14" \
      "$work/scores-$draw$name" 2000
  done
}

# v14_variant NAME EXTRA...: v10 and v8's data (v10_and_v8_data), NAME trained as v14 was with
# the extra `train` arguments (train_like_v14, v14's seed), v14 itself as its control (V14, else
# trained in $work), and both draws of the held-out families: NAME against v10 and against v14
# (against_v10_and_v14). The recipes of v19, v20 and v21, each one change to v14's run.
v14_variant() {
  local name="$1" v14
  shift
  v10_and_v8_data
  train_like_v14 "$name" 1414 "$@"
  v14="${V14:-$work/v14.onnx}"
  [ -f "$v14" ] || { train_like_v14 v14 1414; v14="$work/v14.onnx"; }
  against_v10_and_v14 "$name" "$v14"
}
