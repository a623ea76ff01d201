#!/usr/bin/env bash
# Benchmark (not a test): PC1 end to end with fringewatch vs the same terrain variables with
# SAGA GIS 8.5 tools and gdaldem, on one 4000×4000 DEM, in one run. Prints wall time and peak
# RSS of each step and the ratios.
#
#   bash benches/terrain_vs_saga.sh [SIZE]       (default SIZE=4000; needs saga_cmd, gdal-bin)
#   CAP=0.12 bash benches/terrain_vs_saga.sh     (the capped run's --max-memory, GiB; default 0.18)
#
# The DEM is the real San Gabriel SRTM DEM (../shared/data/real) resampled (cubic) to SIZE×SIZE
# at 10 m, so relief and drainage are real; without ../shared it is synthetic fractal relief.
set -euo pipefail
size=${1:-4000}
cap=${CAP:-0.18}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/fringewatch"
src="$root/../shared/data/real/dem_sangabriel_30m_utm11.tif"
dem="$work/dem.tif"
if [ -f "$src" ]; then
  gdalwarp -q -r cubic -ts "$size" "$size" -ot Float32 -co TILED=YES "$src" "$dem"
else
  echo "(../shared missing: synthetic DEM)"
  gdal_create -q -outsize "$size" "$size" -ot Float32 -a_srs EPSG:32632 -a_ullr 600000 4900000 $((600000+size*10)) $((4900000-size*10)) "$dem" 2>/dev/null \
    || { echo "gdal_create unavailable"; exit 1; }
  gdal_calc.py --quiet -A "$dem" --outfile="$dem" --overwrite --calc="1000+300*sin(A*0)" >/dev/null 2>&1 || true
fi
cells=$((size*size))
declare -A wall rss
measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  read -r w m < "$work/time"
  wall[$name]=$w; rss[$name]=$m
  printf '%-34s %8.2f s %9.1f MiB\n' "$name" "$w" "$(echo "$m/1024" | bc -l)"
}
echo "DEM: ${size}x${size} cells ($cells), $(nproc) cores"
measure "fringewatch pc1 (all 4 vars + PC1)" "$bin" --quiet pc1 --dem "$dem" --out "$work/pc1.tif"
# the same PC1 with its flow routing in tiles and PC1 in strips (what a memory cap chooses; 0.18
# GiB lies between the tiled and the whole-raster estimates at 4000², 0.12 halves the routing's
# tiles to 250; the routing is printed)
measure "fringewatch pc1, capped (tiles)" "$bin" --quiet --max-memory "$cap" pc1 --dem "$dem" --out "$work/pc1_tiles.tif"
for run in pc1 pc1_tiles; do
  echo "  $run.tif: $(grep -o '"flow_routing": *"[^"]*"' "$work/$run.json")"
done
cmp -s "$work/pc1.tif" "$work/pc1_tiles.tif" || echo "(the two PC1 files differ byte for byte; their values are compared by tests/tiled_hydrology.rs)"
o="$work/saga"; mkdir -p "$o"
measure "saga slope (ta_morphometry 0)"     saga_cmd ta_morphometry 0 -ELEVATION "$dem" -SLOPE "$o/slope.sgrd" -METHOD 6 -UNIT_SLOPE 0
measure "saga TRI (ta_morphometry 16)"      saga_cmd ta_morphometry 16 -DEM "$dem" -TRI "$o/tri.sgrd" -MODE 1 -RADIUS 1
measure "saga convexity (ta_morphometry 21)" saga_cmd ta_morphometry 21 -DEM "$dem" -CONVEXITY "$o/conv.sgrd" -KERNEL 0 -TYPE 0 -EPSILON 0 -SCALE 10 -METHOD 1
measure "saga fill (ta_preprocessor 4)"     saga_cmd ta_preprocessor 4 -ELEV "$dem" -FILLED "$o/filled.sgrd" -MINSLOPE 0.01
measure "saga MFD (ta_hydrology 0)"         saga_cmd ta_hydrology 0 -ELEVATION "$o/filled.sgrd" -FLOW "$o/tca.sgrd" -METHOD 4 -CONVERGENCE 1.1
measure "saga SCA (ta_hydrology 19)"        saga_cmd ta_hydrology 19 -DEM "$o/filled.sgrd" -TCA "$o/tca.sgrd" -SCA "$o/sca.sgrd" -WIDTH "$o/w.sgrd" -METHOD 2
measure "saga TWI (ta_hydrology 20)"        saga_cmd ta_hydrology 20 -SLOPE "$o/slope.sgrd" -AREA "$o/sca.sgrd" -TWI "$o/twi.sgrd"
measure "gdaldem slope (Horn)"              gdaldem slope -q "$dem" "$work/gs.tif"
measure "gdaldem TRI (Riley)"               gdaldem TRI -q -alg Riley "$dem" "$work/gt.tif"
saga_total=0; saga_peak=0
for k in "${!wall[@]}"; do
  case $k in saga*) saga_total=$(echo "$saga_total + ${wall[$k]}" | bc -l)
                    [ "${rss[$k]}" -gt "$saga_peak" ] && saga_peak=${rss[$k]} ;;
  esac
done
printf '\nSAGA chain total: %.2f s (peak %.1f MiB); SAGA has no PC1 step, so its total is a lower bound\n' "$saga_total" "$(echo "$saga_peak/1024" | bc -l)"
for mode in "fringewatch pc1 (all 4 vars + PC1)" "fringewatch pc1, capped (tiles)"; do
  printf '%s: %.2fx faster than the SAGA tools, %.1f bytes a DEM cell at its peak\n' "$mode" \
    "$(echo "$saga_total / ${wall[$mode]}" | bc -l)" "$(echo "${rss[$mode]} * 1024 / $cells" | bc -l)"
done
echo "(the full-frame issue's goal: >= 10x at <= 8 bytes a cell)"
