"""Whether one model is better than another on held-out simulated scene families, beyond chance.

Usage: /usr/bin/python3 models/compare_heldout.py HELDOUT_DIR SCORES_A SCORES_B [RESAMPLES] [SEED]

SCORES_A and SCORES_B are what models/score_heldout.sh wrote for two models on the same scenes
(FAMILY_scene_NNNN.gpkg, layer `detections`); HELDOUT_DIR/FAMILY/scene_NNNN/truth.gpkg holds the
truth. For each family: per-class mAP@0.5 and class-agnostic AP@0.5 (VOC all-point, matched as
`fringewatch evaluate` matches: per scene, highest score first, each prediction takes the
unmatched truth box it overlaps most at IoU >= 0.5) of A and B, their difference B - A, and a
95 % interval of that difference from a paired bootstrap over scenes (RESAMPLES draws of the
family's scenes with replacement, 1000 by default; both models scored on the same draw), with
the share of draws in which B is ahead. A difference whose interval holds 0 is one the family's
scenes do not resolve. The full-family figures equal `fringewatch evaluate`'s (checked against
models/score_heldout.sh's tables). Simulated data only: never a real-world figure.
"""

import glob
import os
import sys

import numpy as np
from false_alarms import iou
from osgeo import ogr

ogr.UseExceptions()

CLASSES = ["AR", "CF", "CS", "FS"]


def boxes(path, layer, scored):
    """(class, score, (x0, y0, x1, y1)) of a layer's features, map coordinates."""
    ds = ogr.Open(path)
    out = []
    for f in ds.GetLayerByName(layer):
        x0, x1, y0, y1 = f.GetGeometryRef().GetEnvelope()
        score = f.GetField("score") if scored else 1.0
        out.append((f.GetField("class"), score, (x0, y0, x1, y1)))
    return out


def match(predictions, truths, threshold=0.5):
    """Scores and true-positive flags of one scene's predictions of one class (score order)."""
    predictions = sorted(predictions, key=lambda p: -p[1])
    used = [False] * len(truths)
    flags = []
    for p in predictions:
        best, best_iou = None, None
        for k, t in enumerate(truths):
            if used[k]:
                continue
            o = iou(p[2], t[2])
            if o >= threshold and (best_iou is None or o > best_iou):
                best, best_iou = k, o
        if best is not None:
            used[best] = True
        flags.append(best is not None)
    return np.array([p[1] for p in predictions]), np.array(flags, dtype=bool)


def ap_all_point(scores, flags, n_truth):
    """VOC all-point AP of predictions (any order) against n_truth boxes."""
    if n_truth == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(flags[order])
    precision = tp / np.arange(1, len(tp) + 1)
    recall = tp / n_truth
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    previous = np.concatenate([[0.0], recall[:-1]])
    return float(np.sum((recall - previous) * envelope))


def scene_tables(scores_dir, heldout, family):
    """Per scene: for each class and for 'any', (scores, flags, n_truth)."""
    tables = []
    for scene in sorted(glob.glob(os.path.join(heldout, family, "scene_*"))):
        name = f"{family}_{os.path.basename(scene)}.gpkg"
        predictions = boxes(os.path.join(scores_dir, name), "detections", True)
        truths = boxes(os.path.join(scene, "truth.gpkg"), "truth", False)
        table = {}
        for c in CLASSES:
            table[c] = match(
                [p for p in predictions if p[0] == c], [t for t in truths if t[0] == c]
            ) + (sum(t[0] == c for t in truths),)
        table["any"] = match(predictions, truths) + (len(truths),)
        tables.append(table)
    return tables


def scores_of(tables, draw):
    """Per-class mAP@0.5 (mean over classes with truth) and class-agnostic AP@0.5 on a draw."""
    def ap(key):
        chosen = [tables[i][key] for i in draw]
        n = sum(t[2] for t in chosen)
        if n == 0:
            return None
        return ap_all_point(
            np.concatenate([t[0] for t in chosen]), np.concatenate([t[1] for t in chosen]), n
        )

    per_class = [a for a in (ap(c) for c in CLASSES) if a is not None]
    return float(np.mean(per_class)), ap("any")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    heldout, a_dir, b_dir = sys.argv[1:4]
    resamples = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    rng = np.random.default_rng(int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    print(f"A = {a_dir}, B = {b_dir}; paired bootstrap over scenes, {resamples} draws")
    print("| family | scenes | mAP@0.5 per class A → B | B − A [95 %] | B ahead | "
          "AP@0.5 agnostic A → B | B − A [95 %] | B ahead |")
    print("|---|---|---|---|---|---|---|---|")
    for family in sorted(os.listdir(heldout)):
        if not os.path.isdir(os.path.join(heldout, family)):
            continue
        a, b = scene_tables(a_dir, heldout, family), scene_tables(b_dir, heldout, family)
        n = len(a)
        if n == 0:
            continue
        full = np.arange(n)
        (pa, ga), (pb, gb) = scores_of(a, full), scores_of(b, full)
        diffs = []
        for _ in range(resamples):
            draw = rng.integers(0, n, n)
            (xa, ya), (xb, yb) = scores_of(a, draw), scores_of(b, draw)
            diffs.append((xb - xa, yb - ya))
        d = np.array(diffs)
        cells = []
        for k, (x, y) in enumerate([(pa, pb), (ga, gb)]):
            lo, hi = np.percentile(d[:, k], [2.5, 97.5])
            cells.append(f"{x:.3f} → {y:.3f} | {y - x:+.3f} [{lo:+.3f}, {hi:+.3f}] | "
                         f"{np.mean(d[:, k] > 0):.0%}")
        print(f"| {family} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
