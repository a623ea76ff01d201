"""Where a model's detections on held-out simulated scenes go, and how their boxes fit.

Usage: /usr/bin/python3 models/false_alarms.py SCORES_DIR HELDOUT_DIR FAMILY CONFIDENCE

SCORES_DIR is what models/score_heldout.sh wrote (FAMILY_scene_NNNN.gpkg, layer `detections`);
HELDOUT_DIR/FAMILY/scene_NNNN holds each scene's truth.gpkg, phase.tif and scene.json. Every
detection with score >= CONFIDENCE is taken highest score first and put in one kind: a true
positive (IoU >= 0.5 with a truth box not yet found, whatever the class), a duplicate (IoU >= 0.5
with a truth box already found), a poor box (0.1 <= IoU < 0.5), on a signal the simulator left
unlabelled because too faint or decorrelated to see (`visible: false` in scene.json; more than
30 % of the box on it), or on nothing labelled. Then, for each truth box, the width and height
ratios of the detection that overlaps it most (IoU >= 0.1), as quantiles: a model whose boxes
are too large shows ratios above 1. Simulated data only: never a real-world figure.
"""

import glob
import json
import os
import sys

from osgeo import gdal, ogr

gdal.UseExceptions()
ogr.UseExceptions()


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def covered(a, b):
    """Share of box a inside box b."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / ((a[2] - a[0]) * (a[3] - a[1]))


def pixel_boxes(path, layer, transform, min_score=None):
    """Boxes of a layer in pixel (col, row) coordinates of the scene, with their scores."""
    ds = ogr.Open(path)
    out = []
    for f in ds.GetLayerByName(layer):
        score = f.GetField("score") if min_score is not None else 1.0
        if min_score is not None and score < min_score:
            continue
        x0, x1, y0, y1 = f.GetGeometryRef().GetEnvelope()
        c0 = (x0 - transform[0]) / transform[1]
        c1 = (x1 - transform[0]) / transform[1]
        r0 = (y1 - transform[3]) / transform[5]
        r1 = (y0 - transform[3]) / transform[5]
        out.append((score, (c0, r0, c1, r1)))
    return out


def quantiles(values):
    values = sorted(values)
    if not values:
        return "-"
    picks = [values[int(q * (len(values) - 1))] for q in (0.1, 0.25, 0.5, 0.75, 0.9)]
    return " / ".join(f"{v:.2f}" for v in picks)


def main():
    scores, heldout, family, confidence = sys.argv[1:5]
    confidence = float(confidence)
    kinds = dict.fromkeys(
        ["true positive", "duplicate", "poor box", "on an unlabelled signal", "on nothing"], 0
    )
    widths, heights = [], []
    for path in sorted(glob.glob(os.path.join(scores, f"{family}_scene_*.gpkg"))):
        scene = os.path.join(heldout, family, os.path.basename(path)[len(family) + 1 : -5])
        transform = gdal.Open(os.path.join(scene, "phase.tif")).GetGeoTransform()
        truth = [b for _, b in pixel_boxes(os.path.join(scene, "truth.gpkg"), "truth", transform)]
        with open(os.path.join(scene, "scene.json")) as f:
            hidden = [s["box_px"] for s in json.load(f)["signals"] if not s["visible"]]
        detections = pixel_boxes(path, "detections", transform, confidence)
        detections.sort(key=lambda d: -d[0])
        found = set()
        for _, box in detections:
            overlaps = [iou(box, t) for t in truth]
            best = max(range(len(truth)), key=overlaps.__getitem__, default=None)
            best_iou = overlaps[best] if best is not None else 0.0
            if best_iou >= 0.5 and best not in found:
                found.add(best)
                kinds["true positive"] += 1
            elif best_iou >= 0.5:
                kinds["duplicate"] += 1
            elif best_iou >= 0.1:
                kinds["poor box"] += 1
            elif any(covered(box, h) > 0.3 for h in hidden):
                kinds["on an unlabelled signal"] += 1
            else:
                kinds["on nothing"] += 1
        for t in truth:
            best = max((d[1] for d in detections), key=lambda b: iou(b, t), default=None)
            if best is not None and iou(best, t) >= 0.1:
                widths.append((best[2] - best[0]) / (t[2] - t[0]))
                heights.append((best[3] - best[1]) / (t[3] - t[1]))
    total = sum(kinds.values())
    print(f"{family}: {total} detections at confidence {confidence}")
    for kind, n in kinds.items():
        print(f"  {kind}: {n} ({n / max(total, 1):.0%})")
    print(f"  width ratio, quantiles 10/25/50/75/90 %: {quantiles(widths)}")
    print(f"  height ratio, quantiles 10/25/50/75/90 %: {quantiles(heights)}")


if __name__ == "__main__":
    main()
