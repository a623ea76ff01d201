"""Copy kept stacks with their phase band Goldstein-filtered, to test filtering at detection.

Usage: /usr/bin/python3 models/filter_stacks.py SCORES_DIR OUT_DIR [ALPHA]

SCORES_DIR is a folder of models/score_heldout.sh (its layers_*/stack.tif); OUT_DIR gets the same
layers_*/stack.tif with band 1, the wrapped phase, passed through the Goldstein & Werner (1998)
filter: 32 px patches every 8 px, each patch's spectrum Z weighted by |S(Z)|^ALPHA (S: 3 x 3
mean; ALPHA default 0.5), overlapped with a triangular window; unit amplitude (a stack holds no
amplitude). ISL, PC1 and nodata (-9999) are copied as they are. Then
`STACKS_FROM=OUT_DIR models/score_heldout.sh ...` detects on the filtered stacks (model card,
v19: filtering at detection lost on every held-out family). A stack already in OUT_DIR is kept;
each is written under a temporary name first, so a killed run leaves no partial stack.
"""

import glob
import os
import sys

import numpy as np
from osgeo import gdal

PATCH, STEP, NODATA = 32, 8, -9999.0


def smooth3(spectra):
    """3 x 3 mean of each patch's spectrum, periodic as the FFT is."""
    out = np.zeros_like(spectra)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out += np.roll(np.roll(spectra, dy, -2), dx, -1)
    return out / 9.0


def goldstein(phase, alpha):
    """The wrapped phase (radians) Goldstein-filtered; nodata and NaN kept where they were."""
    valid = np.isfinite(phase) & (phase != NODATA)
    signal = np.where(valid, np.exp(1j * np.where(valid, phase, 0.0)), 0.0)
    rows, cols = signal.shape
    half = PATCH // 2
    padded = np.pad(signal, ((half, (-(rows - PATCH)) % STEP + PATCH),
                             (half, (-(cols - PATCH)) % STEP + PATCH)))
    ramp = 1.0 - np.abs(np.arange(PATCH) - (PATCH - 1) / 2) / half
    window = np.outer(ramp, ramp)
    out = np.zeros(padded.shape, complex)
    starts = range(0, padded.shape[1] - PATCH + 1, STEP)
    for r in range(0, padded.shape[0] - PATCH + 1, STEP):
        spectra = np.fft.fft2(np.stack([padded[r:r + PATCH, c:c + PATCH] for c in starts]))
        filtered = np.fft.ifft2(spectra * smooth3(np.abs(spectra)) ** alpha)
        for patch, c in zip(filtered, starts):
            out[r:r + PATCH, c:c + PATCH] += patch * window
    result = np.angle(out[half:half + rows, half:half + cols]).astype(np.float32)
    result[~valid] = phase[~valid]
    return result


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: filter_stacks.py SCORES_DIR OUT_DIR [ALPHA]")
    source, target = sys.argv[1], sys.argv[2]
    alpha = float(sys.argv[3]) if len(sys.argv) == 4 else 0.5
    stacks = sorted(glob.glob(os.path.join(source, "layers_*", "stack.tif")))
    if not stacks:
        sys.exit(f"error: no layers_*/stack.tif under {source}")
    for path in stacks:
        name = os.path.basename(os.path.dirname(path))
        folder = os.path.join(target, name)
        out = os.path.join(folder, "stack.tif")
        if os.path.exists(out):
            continue
        os.makedirs(folder, exist_ok=True)
        partial = os.path.join(folder, f".stack.partial-{os.getpid()}.tif")
        copy = gdal.GetDriverByName("GTiff").CreateCopy(partial, gdal.Open(path))
        band = copy.GetRasterBand(1)
        band.WriteArray(goldstein(band.ReadAsArray(), alpha))
        copy = None
        os.replace(partial, out)
        print(name, flush=True)


if __name__ == "__main__":
    main()
