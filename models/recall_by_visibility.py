"""Which labelled signals a model finds, by how visible the simulator judged them.

Usage: /usr/bin/python3 models/recall_by_visibility.py SCORES_DIR HELDOUT_DIR FAMILY CONFIDENCE

SCORES_DIR is what models/score_heldout.sh wrote (FAMILY_scene_NNNN.gpkg, layer `detections`);
HELDOUT_DIR/FAMILY/scene_NNNN holds each scene's scene.json (every simulated signal, with the
numbers its label was decided on: fringe fidelity, visible peak phase, mean coherence, box) and
phase.tif (its grid). Per scene, detections are matched class-agnostically as `fringewatch
evaluate` matches (highest score first, each takes the unmatched labelled box it overlaps most
at IoU >= 0.5); a labelled signal is found at CONFIDENCE when a detection scored at least that
takes it, and found at all when one scored at least 0.01 (the lowest score score_heldout.sh
keeps) does. Recall is then given per bin of each visibility measure: if the signals near the
labelling thresholds (fringe fidelity 0.7, a visible peak of 1 rad) are the ones missed, the
labels' threshold, not the network, bounds recall. Last, class-agnostic AP@0.5 (VOC all-point)
with the labels as they are and with the signals whose visible peak lies below 1.5, 2 or 3 rad
taken as "don't care" (as COCO's crowd regions: a detection on one is neither true nor false,
and it is not counted as missed): what the figures would be under a stricter labeller.
Simulated data only: never a real-world figure.
"""

import glob
import json
import os
import sys

import numpy as np
from compare_heldout import ap_all_point
from false_alarms import iou, pixel_boxes
from osgeo import gdal

gdal.UseExceptions()

BINS = {
    "fringe fidelity R": ("fringe_fidelity", [0.7, 0.8, 0.9, 0.95, 1.01]),
    # wrapped, so at most pi: [3.14, pi] holds every signal reaching half a fringe or more
    "visible peak phase, rad": ("visible_peak_rad", [1.0, 1.5, 2.0, 3.0, 3.14, 3.2]),
    "mean true coherence": ("mean_coherence", [0.0, 0.2, 0.3, 0.5, 1.01]),
    "box side (sqrt of area), px": ("side", [0.0, 16.0, 24.0, 40.0, 1e9]),
}


def best_unmatched(box, signals, taken):
    """Index of the signal not in `taken` that `box` overlaps most at IoU >= 0.5, else None."""
    best, best_iou = None, 0.5
    for k, s in enumerate(signals):
        overlap = iou(box, s["box_px"])
        if k not in taken and overlap >= best_iou:
            best, best_iou = k, overlap
    return best


def matched(signals, detections, threshold):
    """Indices of the signals taken by detections scored >= threshold (greedy, by score)."""
    taken = set()
    for score, box in sorted(detections, key=lambda d: -d[0]):
        if score < threshold:
            break
        best = best_unmatched(box, signals, taken)
        if best is not None:
            taken.add(best)
    return taken


def average_precision(scenes, faint_below):
    """Class-agnostic VOC all-point AP@0.5 over (signals, detections) scenes, the signals whose
    visible peak lies below `faint_below` rad taken as don't care."""
    flags, wanted = [], 0
    for signals, detections in scenes:
        kept = [s for s in signals if s["visible_peak_rad"] >= faint_below]
        faint = [s for s in signals if s["visible_peak_rad"] < faint_below]
        wanted += len(kept)
        taken = set()
        for score, box in sorted(detections, key=lambda d: -d[0]):
            best = best_unmatched(box, kept, taken)
            if best is not None:
                taken.add(best)
                flags.append((score, True))
            elif not any(iou(box, s["box_px"]) >= 0.5 for s in faint):
                flags.append((score, False))
    scores = np.array([score for score, _ in flags])
    hits = np.array([hit for _, hit in flags], dtype=bool)
    return ap_all_point(scores, hits, wanted) or 0.0, wanted


def main():
    scores, heldout, family, confidence = sys.argv[1:5]
    confidence = float(confidence)
    rows, scenes = [], []
    for path in sorted(glob.glob(os.path.join(scores, f"{family}_scene_*.gpkg"))):
        scene = os.path.join(heldout, family, os.path.basename(path)[len(family) + 1 : -5])
        transform = gdal.Open(os.path.join(scene, "phase.tif")).GetGeoTransform()
        with open(os.path.join(scene, "scene.json")) as f:
            signals = [s for s in json.load(f)["signals"] if s["visible"]]
        for s in signals:
            c0, r0, c1, r1 = s["box_px"]
            s["side"] = ((c1 - c0) * (r1 - r0)) ** 0.5
        detections = pixel_boxes(path, "detections", transform, 0.0)
        scenes.append((signals, detections))
        at_threshold = matched(signals, detections, confidence)
        at_all = matched(signals, detections, 0.01)
        for k, s in enumerate(signals):
            rows.append((s, k in at_threshold, k in at_all))
    found = sum(r[1] for r in rows)
    print(f"{family}: {len(rows)} labelled signals, {found} found at confidence {confidence:.3f}")
    print("| measure | bin | signals | recall at the confidence | found at any score |")
    print("|---|---|---|---|---|")
    for name, (key, edges) in BINS.items():
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = [r for r in rows if lo <= r[0][key] < hi]
            if not inside:
                continue
            n = len(inside)
            label = f"[{lo:g}, {hi:g})" if hi < 1e8 else f">= {lo:g}"
            print(
                f"| {name} | {label} | {n} | {sum(r[1] for r in inside) / n:.2f} "
                f"| {sum(r[2] for r in inside) / n:.2f} |"
            )
    print("| labels kept | signals | class-agnostic AP@0.5 |")
    print("|---|---|---|")
    for below in (0.0, 1.5, 2.0, 3.0):
        ap, wanted = average_precision(scenes, below)
        kept = "all" if below == 0.0 else f"visible peak >= {below:g} rad"
        print(f"| {kept} | {wanted} | {ap:.3f} |")


if __name__ == "__main__":
    main()
