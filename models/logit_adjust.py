"""A model whose class scores are moved towards the rare classes by logit adjustment.

Usage: python3 models/logit_adjust.py MODEL.onnx OUT.onnx TAU COUNT_AR,COUNT_CF,COUNT_CS,COUNT_FS
(needs the onnx package: pip install onnx)

Every class logit c_k of the three heads gets + TAU * ln(n_max / n_k), n_k the class's training
labels (a dataset's dataset.json, class_counts[0]): the post-hoc logit adjustment of Menon et
al. 2021 (long-tail learning), done on the bias of each head's last convolution, so the model's
graph, size and contract are unchanged and every engine runs it. TAU 0 is the model itself. The
model card (*What the classes rest on*) scores it on a validation split with `fringewatch
evaluate --dataset D --model OUT.onnx --split validation --confidence best`.
"""

import math
import sys

import onnx
from onnx import numpy_helper

HEADS = ("head_s8", "head_s16", "head_s32")


def main():
    src, dst, tau, counts = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    counts = [int(c) for c in counts.split(",")]
    model = onnx.load(src)
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    initialisers = {i.name: i for i in graph.initializer}
    shift = [tau * math.log(max(counts) / n) for n in counts]
    per_anchor = 5 + len(counts)
    for head in HEADS:
        conv = producers[head]
        bias_name = conv.input[2]
        bias = numpy_helper.to_array(initialisers[bias_name]).copy()
        if bias.shape[0] != 3 * per_anchor:
            channels = bias.shape[0]
            sys.exit(f"{head}: {channels} output channels, expected 3 x (5 + {len(counts)})")
        for anchor in range(3):
            for k, d in enumerate(shift):
                bias[anchor * per_anchor + 5 + k] += d
        initialisers[bias_name].CopyFrom(numpy_helper.from_array(bias, bias_name))
    onnx.save(model, dst)
    print("{}: class logits + {}".format(dst, " / ".join(f"{d:.3f}" for d in shift)))


if __name__ == "__main__":
    main()
