#!/usr/bin/env bash
# A whole Sentinel-1 IW frame at 15 m (16,700 × 11,300 px, 189 million cells, ~250 × 170 km):
# wall time and peak RSS (GNU time) of each stage (isl, pc1, stack, detect) and of `run` end to
# end, and the same at smaller sizes to show how they grow with area. A benchmark, not a test.
#
#   bash benches/frame.sh [WIDTH HEIGHT]...     # default: 1000 1000  2400 2400  6000 6000  16700 11300
#   STAGES="run" bash benches/frame.sh 16700 11300   # only some stages (stack needs isl and pc1,
#                                                     # detect needs stack); MAX_MEMORY=1 caps
#                                                     # every stage at 1 GiB (--max-memory)
#   STAGES="product" bash benches/frame.sh 16700 11300   # `run --product` on the same frame as a
#                                                     # HyP3 INT40 product (40 m, resampled with
#                                                     # gdalwarp), product::prepare included
#   FRINGEWATCH=path/to/fringewatch …                 # another build (e.g. before a change)
#
# The terrain is real: the Cévennes DEM (SRTM 30 m, UTM 31N, shared/data/real/dems) resampled
# to 15 m and mirrored to the frame's size (mirroring keeps the relief continuous at the seams).
# Phase and coherence are synthetic: a stratified-troposphere phase (φ = 2π·h / 900 m, wrapped)
# with 40 deformation bowls, and a coherence falling with slope — enough for every stage to do
# its full work; the detections themselves mean nothing. Constant incidence 38°, heading −10.5°.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 1000 2400 2400 6000 6000 16700 11300)
[ -n "${FRINGEWATCH:-}" ] || cargo build --release -q
bin="${FRINGEWATCH:-$PWD/target/release/fringewatch}"
cap=()
[ -z "${MAX_MEMORY:-}" ] || cap=(--max-memory "$MAX_MEMORY")
dem_source="${DEM:-$PWD/../shared/data/real/dems/massifcentral_cevennes_srtm30_utm31.tif}"
work="${WORK:-$(mktemp -d)}"
[ -n "${WORK:-}" ] || trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
echo "| size | cells (M) | stage | wall (s) | peak RSS (MiB) | bytes per cell |"
echo "|---|---|---|---|---|---|"
while [ ${#sizes[@]} -ge 2 ]; do
  width="${sizes[0]}"; height="${sizes[1]}"; sizes=("${sizes[@]:2}")
  dir="$work/${width}x${height}"
  mkdir -p "$dir"
  /usr/bin/python3 - "$dem_source" "$dir" "$width" "$height" <<'EOF'
import sys
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
source, folder, width, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fine = gdal.Warp("", source, format="MEM", xRes=15, yRes=15, resampleAlg="bilinear")
dem = fine.ReadAsArray().astype(np.float32)
x0, _, _, y0, _, _ = fine.GetGeoTransform()
crs = fine.GetProjection()
# mirror the tile until it covers the frame, then cut
reps = (height // dem.shape[0] + 1, width // dem.shape[1] + 1)
rows = [np.flipud(dem) if i % 2 else dem for i in range(reps[0])]
column = np.concatenate(rows, axis=0)
cols = [np.fliplr(column) if j % 2 else column for j in range(reps[1])]
dem = np.ascontiguousarray(np.concatenate(cols, axis=1)[:height, :width])
del rows, column, cols
rng = np.random.default_rng(1)
gy, gx = np.gradient(dem, 15.0)
slope = np.hypot(gx, gy)
del gx, gy
coherence = np.clip(0.85 - 1.2 * slope + 0.05 * rng.standard_normal(dem.shape, np.float32), 0.05, 1.0)
del slope
phase = 2 * np.pi * dem / 900.0
yy, xx = np.ogrid[:height, :width]
for _ in range(40):
    r, c, s = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(8, 40)
    box = (slice(max(0, int(r - 4 * s)), int(r + 4 * s)), slice(max(0, int(c - 4 * s)), int(c + 4 * s)))
    phase[box] += 6.0 * np.exp(-((yy[box[0]] - r) ** 2 + (xx[:, box[1]] - c) ** 2) / (2 * s * s))
phase = np.angle(np.exp(1j * phase)).astype(np.float32)
def write(name, values, meta=None):
    out = gdal.GetDriverByName("GTiff").Create(f"{folder}/{name}.tif", width, height, 1, gdal.GDT_Float32,
                                                ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"])
    out.SetGeoTransform([x0, 15, 0, y0, 0, -15])
    out.SetProjection(crs)
    if meta:
        out.SetMetadata(meta)
    out.GetRasterBand(1).WriteArray(values)
    out.FlushCache()
write("dem", dem)
write("coherence", coherence)
write("phase", phase, {"FRINGEWATCH_HEADING_DEG": "-10.5", "FRINGEWATCH_ORBIT": "ascending"})
EOF
  cells=$(python3 -c "print(f'{$width * $height / 1e6:.1f}')")
  measure() { # measure STAGE COMMAND…: one table row from GNU time, for the stages asked for
    local stage="$1"; shift
    case " ${STAGES:-isl pc1 stack detect run} " in *" ${stage%% *} "*) ;; *) return 0;; esac
    /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" > /dev/null
    read -r wall kib < "$dir/time.txt"
    echo "| ${width}×${height} | $cells | $stage | $wall | $((kib / 1024)) | $(python3 -c "print(f'{$kib * 1024 / ($width * $height):.1f}')") |"
  }
  geometry=(--incidence-deg 38 --heading -10.5)
  measure isl "$bin" "${cap[@]}" --quiet isl --dem "$dir/dem.tif" --coherence "$dir/coherence.tif" \
    "${geometry[@]}" --like "$dir/phase.tif" --out "$dir/isl.tif"
  measure pc1 "$bin" "${cap[@]}" --quiet pc1 --dem "$dir/dem.tif" --like "$dir/phase.tif" --out "$dir/pc1.tif"
  measure stack "$bin" "${cap[@]}" --quiet stack --phase "$dir/phase.tif" --isl "$dir/isl.tif" \
    --pc1 "$dir/pc1.tif" --out "$dir/stack.tif"
  measure detect "$bin" "${cap[@]}" --quiet detect --stack "$dir/stack.tif" --backend cpu \
    --out "$dir/detect.gpkg"
  measure "run (end to end)" "$bin" "${cap[@]}" --quiet run --phase "$dir/phase.tif" \
    --coherence "$dir/coherence.tif" --dem "$dir/dem.tif" "${geometry[@]}" --backend cpu \
    --out "$dir/run.gpkg"
  case " ${STAGES:-} " in
  *" product "*)
    # the frame as a HyP3 INT40 product: 40 m rasters named as HyP3 names them, constant look
    # vectors (elevation 0.82 rad, azimuth −0.17 rad: incidence 43°, heading −170°), the
    # metadata file of the HyP3 fixture
    name=S1AA_20200103T135533_20200115T135532_VVP012_INT80_G_ueF_F1D0
    product="$dir/$name"
    mkdir -p "$product"
    gdalwarp -q -tr 40 40 -r near "$dir/phase.tif" "$product/${name}_wrapped_phase.tif"
    gdalwarp -q -tr 40 40 -r bilinear "$dir/coherence.tif" "$product/${name}_corr.tif"
    gdalwarp -q -tr 40 40 -r bilinear "$dir/dem.tif" "$product/${name}_dem.tif"
    gdal_calc.py --quiet -A "$product/${name}_corr.tif" --calc "A * 0 + 0.817972" \
      --outfile "$product/${name}_lv_theta.tif"
    gdal_calc.py --quiet -A "$product/${name}_corr.tif" --calc "A * 0 - 0.169069" \
      --outfile "$product/${name}_lv_phi.tif"
    cp "tests/data/hyp3/$name/$name.txt" "$product/"
    measure "product (end to end)" "$bin" "${cap[@]}" --quiet run --product "$product" \
      --backend cpu --out "$dir/product.gpkg"
    ;;
  esac
  rm -rf "$dir"
done
