"""Where a model loses what tells rock/debris slides (FS) from earthslides (CS): linear probes.

Two steps, as GDAL and onnx live in different Pythons here:

  /usr/bin/python3 models/class_probe.py windows TRAIN_SCENES TRAIN_LAYERS HELDOUT_DIR SCORES_DIR \
      MODEL.onnx OUT_DIR
  python3 models/class_probe.py probe MODEL.onnx OUT_DIR      (needs onnx and onnxruntime)

`windows` cuts a 160 px window of the stack around every labelled FS and CS signal (training
scenes: every FS and half the CS, seed 0; held-out families: all) and writes them, normalised as
the model's metadata says, with the box and the class, to OUT_DIR/probe_SET.npz. TRAIN_SCENES,
TRAIN_LAYERS, HELDOUT_DIR and SCORES_DIR are as for models/class_separability.py. `probe` runs the
model on them with eight of its layers as extra outputs, averages each layer's activations over
the box (at that layer's stride), fits a class-balanced logistic regression FS against CS on the
training windows and prints its balanced accuracy on every set (0.5 = chance), beside the same
probe on the box's ISL and PC1 statistics. A layer where the accuracy falls to chance is where
the distinction is lost. The phase is referenced to each window's circular mean, as `detect`
does by default. Simulated data only: never a real-world figure.
"""

import glob
import json
import os
import sys

import numpy as np

TILE = 160
SETS = ("train", "outside", "randomised", "matese", "fixed")
# the layers probed: the backbone at strides 1 to 32, then the stride-16 and stride-8 heads'
# last convolutions before their outputs
LAYERS = {
    "conv001": 1,
    "conv004": 2,
    "conv007": 4,
    "conv014": 8,
    "conv021": 16,
    "conv030": 32,
    "conv038": 16,
    "conv046": 8,
}


def cut_windows(scene_json, stack_path, keep, statistics):
    """(window, box in the window, 1 for FS) of the FS and CS signals of one scene."""
    from class_separability import stack_layers  # GDAL's Python only

    scene = json.load(open(scene_json))
    layers = stack_layers(stack_path)
    rows, cols = layers[0].shape
    out = []
    for s in scene["signals"]:
        if not s["visible"] or s["class"] not in ("CS", "FS") or not keep(s):
            continue
        c0, r0, c1, r1 = s["box_px"]
        if c1 - c0 > TILE or r1 - r0 > TILE:
            continue
        x0 = min(max((c0 + c1) // 2 - TILE // 2, 0), cols - TILE)
        y0 = min(max((r0 + r1) // 2 - TILE // 2, 0), rows - TILE)
        window = np.zeros((3, TILE, TILE), np.float32)
        for k, values in enumerate(layers):
            v = values[y0 : y0 + TILE, x0 : x0 + TILE]
            if k > 0:
                mean, std = statistics[k - 1]
                v = (v - mean) / std
            window[k] = np.where(np.isfinite(v), v, 0)
        box = [c0 - x0, r0 - y0, c1 - x0, r1 - y0]
        out.append((window.astype(np.float16), box, 1 if s["class"] == "FS" else 0))
    return out


def windows(train_scenes, train_layers, heldout, scores, model_path, out_dir):
    statistics = channel_statistics(model_path)
    rng = np.random.default_rng(0)
    os.makedirs(out_dir, exist_ok=True)
    sets = {"train": []}
    for scene_dir in sorted(glob.glob(os.path.join(train_scenes, "*"))):
        stack = os.path.join(train_layers, os.path.basename(scene_dir), "stack.tif")
        if os.path.exists(stack):
            sets["train"] += cut_windows(
                os.path.join(scene_dir, "scene.json"),
                stack,
                lambda s: s["class"] == "FS" or rng.random() < 0.5,
                statistics,
            )
    for family in SETS[1:]:
        rows = []
        for scene_dir in sorted(glob.glob(os.path.join(heldout, family, "scene_*"))):
            name = f"layers_{family}_{os.path.basename(scene_dir)}"
            stack = os.path.join(scores, name, "stack.tif")
            if os.path.exists(stack):
                rows += cut_windows(
                    os.path.join(scene_dir, "scene.json"), stack, lambda s: True, statistics
                )
        sets[family] = rows
    for name, rows in sets.items():
        if rows:
            np.savez(
                os.path.join(out_dir, f"probe_{name}.npz"),
                x=np.stack([r[0] for r in rows]),
                box=np.array([r[1] for r in rows]),
                y=np.array([r[2] for r in rows]),
            )
        print(f"{name}: {len(rows)} windows, {sum(r[2] for r in rows)} FS")


def channel_statistics(model_path):
    """(mean, std) of the ISL and PC1 channels, from the fringewatch metadata JSON inside the ONNX
    file, found as text (GDAL's Python may lack the onnx package)."""
    blob = open(model_path, "rb").read()
    start = blob.index(b'{"format_version"')
    depth = 0
    for end in range(start, len(blob)):
        depth += {ord("{"): 1, ord("}"): -1}.get(blob[end], 0)
        if depth == 0:
            break
    channels = {
        c["name"]: (c["mean"], c["std"]) for c in json.loads(blob[start : end + 1])["channels"]
    }
    return channels["isl"], channels["pc1"]


def fit(x, y, l2=1e-2, steps=2000, lr=0.5):
    """Class-balanced logistic regression by full-batch gradient descent."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    weight = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        w -= lr * (xb.T @ ((p - y) * weight) + l2 * np.r_[w[:-1], 0])
    return w


def balanced(w, x, y):
    fs = (np.hstack([x, np.ones((len(x), 1))]) @ w) > 0
    return 0.5 * (np.mean(fs[y == 1]) + np.mean(~fs[y == 0]))


def probe(model_path, out_dir):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.load(model_path)
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = []
    for layer in LAYERS:
        conv = next(n for n in graph.node if n.name == layer)
        after = [n for n in consumers.get(conv.output[0], []) if n.op_type == "LeakyRelu"]
        outputs.append(after[0].output[0] if after else conv.output[0])
        graph.output.append(helper.make_tensor_value_info(outputs[-1], TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def pooled(name):
        data = np.load(os.path.join(out_dir, f"probe_{name}.npz"))
        x, boxes, y = data["x"].astype(np.float32), data["box"], data["y"]
        phase = x[:, 0]
        mean = np.angle(np.exp(1j * phase).mean(axis=(1, 2)))
        x[:, 0] = np.angle(np.exp(1j * (phase - mean[:, None, None])))
        features = {layer: [] for layer in LAYERS}
        for k in range(0, len(x), 32):
            results = session.run(outputs, {input_name: x[k : k + 32]})
            for (layer, stride), r in zip(LAYERS.items(), results):
                for j in range(r.shape[0]):
                    c0, r0, c1, r1 = boxes[k + j]
                    a0, b0 = int(c0 // stride), int(r0 // stride)
                    a1 = max(int(np.ceil(c1 / stride)), a0 + 1)
                    b1 = max(int(np.ceil(r1 / stride)), b0 + 1)
                    features[layer].append(r[j, :, b0:b1, a0:a1].mean(axis=(1, 2)))
        stack = []
        for j, (c0, r0, c1, r1) in enumerate(boxes):
            isl, pc1 = x[j, 1, r0:r1, c0:c1], x[j, 2, r0:r1, c0:c1]
            stack.append([isl.mean(), pc1.mean(), pc1.std()])
        features = {layer: np.array(v) for layer, v in features.items()}
        features["input"] = np.array(stack)
        return features, y

    data = {
        name: pooled(name)
        for name in SETS
        if os.path.exists(os.path.join(out_dir, f"probe_{name}.npz"))
    }
    train, y_train = data["train"]
    print(f"training windows {len(y_train)}, FS {int(y_train.sum())}")
    print("| features averaged over the box | " + " | ".join(data) + " |")
    print("|---|" + "---|" * len(data))
    for layer in ["input", *LAYERS]:
        mean, std = train[layer].mean(0), train[layer].std(0) + 1e-6
        w = fit((train[layer] - mean) / std, y_train)
        label = (
            "the stack: ISL mean, PC1 mean and spread"
            if layer == "input"
            else (f"{layer} (stride {LAYERS[layer]}, {train[layer].shape[1]} channels)")
        )
        scores = [balanced(w, (f[layer] - mean) / std, y) for f, y in data.values()]
        print(f"| {label} | " + " | ".join(f"{s:.2f}" for s in scores) + " |")


if __name__ == "__main__":
    if sys.argv[1] == "windows":
        windows(*sys.argv[2:8])
    elif sys.argv[1] == "probe":
        probe(*sys.argv[2:4])
    else:
        sys.exit(__doc__)
