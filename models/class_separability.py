"""How far the four classes can be told apart from what the stack shows inside a label's box.

Usage:
  /usr/bin/python3 models/class_separability.py TRAIN_SCENES TRAIN_LAYERS HELDOUT_DIR SCORES_DIR

TRAIN_SCENES holds the training scenes (FOLDER/NAME/scene.json, e.g. recipe-v8.sh's `mixed`),
TRAIN_LAYERS their stacks (TRAIN_LAYERS/NAME/stack.tif, the dataset's `layers`); HELDOUT_DIR the
held-out families (FAMILY/scene_NNNN/scene.json) and SCORES_DIR what models/score_heldout.sh
wrote for them (layers_FAMILY_scene_NNNN/stack.tif). Each labelled signal becomes one example:
its class and statistics of the stack's three layers inside its box (PC1 and ISL mean, spread
and extremes, the wrapped phase's fringe rate, the box's size and shape). A multinomial logistic
regression on these, with their squares and pairwise products, is fitted on the training scenes
and scored on each held-out family: its accuracy, the rock/debris slides (FS) it names FS, and
how often FS and earthslides (CS) are told apart when the question is only which of the two.
The box is given (the truth's own): this is what a classifier reading the stack's statistics in
the right place can do, a reference for the network's class confusion, not a bound on it (the
network sees every pixel, not only these statistics). A second fit adds each body's true slope
(from scene.json, not in the stack) to show what the simulator's class rule rests on.
Simulated data only: never a real-world figure.
"""

import glob
import json
import os
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()

CLASSES = ["AR", "CF", "CS", "FS"]
# columns of `examples`' features, by what they read
GROUPS = {
    "box size and shape": [0, 1],
    "PC1": [2, 3, 4],
    "ISL": [5, 6, 7],
    "phase (fringe rate)": [8],
}


def fringe_rate(phase):
    """Mean |wrapped phase step| between neighbours, rad per pixel."""
    dx = np.angle(np.exp(1j * np.diff(phase, axis=1)))
    dy = np.angle(np.exp(1j * np.diff(phase, axis=0)))
    steps = np.concatenate([np.abs(dx).ravel(), np.abs(dy).ravel()])
    steps = steps[np.isfinite(steps)]
    return float(np.mean(steps)) if steps.size else 0.0


def stack_layers(stack_path):
    """The stack's phase, ISL and PC1 as float64 arrays, NaN where a band has no data."""
    stack = gdal.Open(stack_path)
    layers = []
    for k in (1, 2, 3):
        band = stack.GetRasterBand(k)
        values = band.ReadAsArray().astype(np.float64)
        if band.GetNoDataValue() is not None:
            values[values == band.GetNoDataValue()] = np.nan
        layers.append(values)
    return layers


def examples(scene_json, stack_path):
    """(features, oracle slope, class index) of every labelled signal of one scene."""
    scene = json.load(open(scene_json))
    bodies = {b["id"]: b for b in scene["bodies_detail"]}
    layers = stack_layers(stack_path)
    out = []
    for s in scene["signals"]:
        if not s["visible"]:
            continue
        c0, r0, c1, r1 = s["box_px"]
        if c1 - c0 < 2 or r1 - r0 < 2:
            continue
        phase, isl, pc1 = (layer[r0:r1, c0:c1] for layer in layers)
        if not (np.isfinite(isl).any() and np.isfinite(pc1).any()):
            continue  # no data in the box
        w, h = c1 - c0, r1 - r0
        features = [
            np.log(w * h),
            np.log(max(w, h) / min(w, h)),
            np.nanmean(pc1),
            np.nanstd(pc1),
            np.nanpercentile(pc1, 90),
            np.nanmean(isl),
            np.nanstd(isl),
            np.nanpercentile(isl, 10),
            fringe_rate(phase),
        ]
        slope = bodies[s["body_id"]]["slope"] if s.get("body_id") in bodies else np.nan
        out.append((features, slope, CLASSES.index(s["class"])))
    return out


def expand(x):
    """The features, their squares and pairwise products."""
    n = x.shape[1]
    cols = [x] + [x[:, [i]] * x[:, [j]] for i in range(n) for j in range(i, n)]
    return np.hstack(cols)


def fit(x, y, l2=1e-2, steps=3000, lr=0.5):
    """Multinomial logistic regression by full-batch gradient descent, classes weighted equally."""
    k = len(CLASSES)
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros((xb.shape[1], k))
    onehot = np.eye(k)[y]
    weight = 1.0 / np.maximum(np.bincount(y, minlength=k), 1)[y]
    weight /= weight.sum()
    for _ in range(steps):
        z = xb @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = xb.T @ ((p - onehot) * weight[:, None]) + l2 * np.vstack([w[:-1], np.zeros((1, k))])
        w -= lr * grad
    return w


def predict(w, x):
    xb = np.hstack([x, np.ones((len(x), 1))])
    return np.argmax(xb @ w, axis=1), xb @ w


def report(name, w, x, y):
    pred, logits = predict(w, x)
    fs, cs = CLASSES.index("FS"), CLASSES.index("CS")
    n_fs = int(np.sum(y == fs))
    fs_named_fs = int(np.sum((y == fs) & (pred == fs)))
    fs_named_cs = int(np.sum((y == fs) & (pred == cs)))
    pair = (y == fs) | (y == cs)
    pair_pred = np.where(logits[pair, fs] > logits[pair, cs], fs, cs)
    balanced = 0.5 * (
        np.mean(pair_pred[y[pair] == fs] == fs) + np.mean(pair_pred[y[pair] == cs] == cs)
    )
    per_class = " / ".join(
        f"{np.mean(pred[y == k] == k):.2f}" if np.any(y == k) else "-" for k in range(len(CLASSES))
    )
    accuracy = np.mean(pred == y)
    print(
        f"| {name} | {len(y)} | {accuracy:.2f} | {per_class} | "
        f"{fs_named_fs} of {n_fs} ({fs_named_cs} as CS) | {balanced:.2f} |"
    )


def main():
    train_scenes, train_layers, heldout, scores = sys.argv[1:5]
    train = []
    for scene_dir in sorted(glob.glob(os.path.join(train_scenes, "*"))):
        name = os.path.basename(scene_dir)
        stack = os.path.join(train_layers, name, "stack.tif")
        if os.path.exists(stack):
            train += examples(os.path.join(scene_dir, "scene.json"), stack)
    families = {}
    for family_dir in sorted(glob.glob(os.path.join(heldout, "*"))):
        family = os.path.basename(family_dir)
        rows = []
        for scene_dir in sorted(glob.glob(os.path.join(family_dir, "scene_*"))):
            stack = os.path.join(
                scores, f"layers_{family}_{os.path.basename(scene_dir)}", "stack.tif"
            )
            if os.path.exists(stack):
                rows += examples(os.path.join(scene_dir, "scene.json"), stack)
        if rows:
            families[family] = rows

    # artefacts have no body and so no slope: they get the training bodies' mean slope
    mean_slope = float(np.nanmean([r[1] for r in train]))

    def arrays(rows, oracle):
        slope = [[mean_slope if np.isnan(r[1]) else r[1]] if oracle else [] for r in rows]
        x = np.array([r[0] + s for r, s in zip(rows, slope)], dtype=np.float64)
        return x, np.array([r[2] for r in rows])

    counts = " / ".join(str(int(np.sum(np.array([r[2] for r in train]) == k))) for k in range(4))
    print(f"classes AR / CF / CS / FS; training labels {len(train)} ({counts})")
    runs = [("stack statistics in the box", None, False)]
    runs += [(f"{g} alone", cols, False) for g, cols in GROUPS.items()]
    runs += [("stack statistics + the body's true slope (oracle, not in the stack)", None, True)]
    for title, cols, oracle in runs:
        x, y = arrays(train, oracle)
        if cols is not None:
            x = x[:, cols]
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
        xe = expand((x - mean) / std)
        emean, estd = xe.mean(axis=0), xe.std(axis=0) + 1e-9
        w = fit((xe - emean) / estd, y)
        print()
        print(title)
        print(
            "| family | labels | accuracy | named right AR / CF / CS / FS | FS named FS "
            "| FS vs CS balanced |"
        )
        print("|---|---|---|---|---|---|")
        report("training scenes", w, (xe - emean) / estd, y)
        for family, rows in families.items():
            xf, yf = arrays(rows, oracle)
            if cols is not None:
                xf = xf[:, cols]
            xf = (expand((xf - mean) / std) - emean) / estd
            report(family, w, xf, yf)


if __name__ == "__main__":
    main()
