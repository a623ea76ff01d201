# Shared by the model recipes from v10 on (sourced, not run): the preamble every recipe repeated.
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
