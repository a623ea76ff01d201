"""Time onnxruntime on a model: per-tile latency at batch 1 and throughput at batch B.

usage: ort_bench.py MODEL TILE BATCH THREADS ITERATIONS
Prints one JSON line: {"latency_ms": ..., "throughput_tiles_s": ...}.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def timed(session, x, iterations):
    name = session.get_inputs()[0].name
    session.run(None, {name: x})  # warm-up
    start = time.perf_counter()
    for _ in range(iterations):
        session.run(None, {name: x})
    return (time.perf_counter() - start) / iterations


def main() -> None:
    model, tile, batch, threads, iterations = sys.argv[1:6]
    tile, batch, threads, iterations = int(tile), int(batch), int(threads), int(iterations)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    one = rng.uniform(-2, 2, (1, 3, tile, tile)).astype(np.float32)
    many = rng.uniform(-2, 2, (batch, 3, tile, tile)).astype(np.float32)
    latency = timed(session, one, iterations)
    per_batch = timed(session, many, max(1, iterations // 4))
    print(json.dumps({"latency_ms": latency * 1e3, "throughput_tiles_s": batch / per_batch}))


if __name__ == "__main__":
    main()
