#!/usr/bin/env bash
# The larger held-out families of v8 and later (fresh seeds, never trained on): 40 scenes of
# `outside`, 24 randomised on the held-out Matese DEM, 24 of the fixed chain, 24 randomised.
# Usage: models/heldout-large.sh FRINGEWATCH DIR [SEED_OFFSET]   (the recipes of v8 and v9 call
# it without an offset). SEED_OFFSET (default 0) is added to every seed: fresh scenes of the same
# families, e.g. 1000 for the confirmation families of the model soups (model card).
set -euo pipefail
fw="${1:?usage: models/heldout-large.sh FRINGEWATCH DIR}"
h="${2:?usage: models/heldout-large.sh FRINGEWATCH DIR [SEED_OFFSET]}"
o="${3:-0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$root/../shared/data/real"
dems=("$data"/dems/*.tif "$data/dem_sangabriel_30m_utm11.tif")
[ -d "$h/outside" ] || "$fw" --quiet simulate --family outside --out "$h/outside" \
  --seed $((9001 + o)) --scenes 40
[ -d "$h/matese" ] || "$fw" --quiet simulate --family randomised --dem "$data/srtm3_matese/N41E014.hgt" \
  --out "$h/matese" --seed $((9101 + o)) --scenes 24
[ -d "$h/fixed" ] || "$fw" --quiet simulate --family fixed --out "$h/fixed" \
  --seed $((9201 + o)) --scenes 24
[ -d "$h/randomised" ] || "$fw" --quiet simulate --family randomised --dems "${dems[@]}" \
  --out "$h/randomised" --seed $((9301 + o)) --scenes 24
