"""onnxruntime's own profile of a model, summed by operator type (one thread).

usage: ort_profile.py MODEL TILE BATCH ITERATIONS
Prints the time a tile and a Markdown table of kernel time a tile by operator type.
"""
import json
import os
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np
import onnxruntime as ort


def main() -> None:
    model, tile, batch, iterations = sys.argv[1:5]
    tile, batch, iterations = int(tile), int(batch), int(iterations)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    folder = tempfile.mkdtemp()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(folder, "ort")
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 3, tile, tile)).astype(np.float32)
    session.run(None, {name: x})
    start = time.perf_counter()
    for _ in range(iterations):
        session.run(None, {name: x})
    total = (time.perf_counter() - start) / iterations
    with open(session.end_profiling()) as f:
        events = json.load(f)
    per_op = defaultdict(lambda: [0.0, set()])
    runs = iterations + 1
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"]["op_name"]
            per_op[op][0] += e["dur"] / 1e3 / runs / batch
            per_op[op][1].add(e["name"])
    print(
        f"onnxruntime {ort.__version__}: batch {batch}, 1 thread: {total * 1e3 / batch:.2f} ms "
        f"a tile ({batch / total:.0f} tiles/s)"
    )
    print("| onnxruntime op | nodes | ms a tile | share |")
    print("|---|---|---|---|")
    whole = sum(v[0] for v in per_op.values())
    for op, (ms, nodes) in sorted(per_op.items(), key=lambda kv: -kv[1][0]):
        print(f"| {op} | {len(nodes)} | {ms:.3f} | {100 * ms / whole:.1f} % |")


if __name__ == "__main__":
    main()
