"""Copies of simulated scenes on a coarser grid, as a processor that multilooks further writes them.

Usage: /usr/bin/python3 models/coarsen_scenes.py SRC_FAMILY_DIR OUT_FAMILY_DIR FACTOR

Each SRC_FAMILY_DIR/scene_NNNN (phase.tif, coherence.tif, dem.tif, incidence.tif, truth.gpkg,
scene.json) is written to OUT_FAMILY_DIR/scene_NNNN with pixels FACTOR times larger: the phase as
the argument of the mean complex signal over FACTOR x FACTOR blocks (multilooking), the other
rasters as block means; the truth, the inventory and scene.json are copied (boxes are in map
units, so they hold on any grid). models/score_heldout.sh then scores a model on them.
"""

import os
import shutil
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()


def block_mean(values, factor):
    rows, cols = (values.shape[0] // factor) * factor, (values.shape[1] // factor) * factor
    v = values[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    return v.mean(axis=(1, 3))


def write_like(src, path, values, factor):
    driver = gdal.GetDriverByName("GTiff")
    out = driver.Create(path, values.shape[1], values.shape[0], 1, gdal.GDT_Float32)
    gt = list(src.GetGeoTransform())
    gt[1] *= factor
    gt[5] *= factor
    out.SetGeoTransform(gt)
    out.SetProjection(src.GetProjection())
    out.SetMetadata(src.GetMetadata())
    band = out.GetRasterBand(1)
    band.SetNoDataValue(float("nan"))
    band.WriteArray(values.astype(np.float32))
    out.FlushCache()


def coarsen(scene, out, factor):
    os.makedirs(out, exist_ok=True)
    for name in ("phase", "coherence", "dem", "incidence"):
        src = gdal.Open(os.path.join(scene, f"{name}.tif"))
        values = src.GetRasterBand(1).ReadAsArray().astype(np.float64)
        nodata = src.GetRasterBand(1).GetNoDataValue()
        if nodata is not None and not np.isnan(nodata):
            values[values == nodata] = np.nan
        if name == "phase":
            coarse = np.angle(block_mean(np.exp(1j * values), factor))
        else:
            coarse = block_mean(values, factor)
        write_like(src, os.path.join(out, f"{name}.tif"), coarse, factor)
    for name in ("truth.gpkg", "inventory.gpkg", "scene.json"):
        if os.path.exists(os.path.join(scene, name)):
            shutil.copy(os.path.join(scene, name), os.path.join(out, name))


def main():
    src, out, factor = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for name in sorted(os.listdir(src)):
        if name.startswith("scene_"):
            coarsen(os.path.join(src, name), os.path.join(out, name), factor)


if __name__ == "__main__":
    main()
