"""Run an ONNX model with onnxruntime on a raw float32 input; used by the Rust tests and the
inference benchmark to compare tract with onnxruntime on the same file.

usage: ort_run.py MODEL INPUT.f32 N TILE OUT_PREFIX [THREADS]
Writes OUT_PREFIX.<output name>.f32 for every model output.
"""
import sys

import numpy as np
import onnxruntime as ort


def main() -> None:
    model, input_path, n, tile, prefix = sys.argv[1:6]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    shape = (int(n), 3, int(tile), int(tile))
    x = np.fromfile(input_path, dtype="<f4").reshape(shape)
    name = session.get_inputs()[0].name
    outputs = session.run(None, {name: x})
    for meta, value in zip(session.get_outputs(), outputs):
        np.ascontiguousarray(value, dtype="<f4").tofile(f"{prefix}.{meta.name}.f32")
        print(meta.name, value.shape)


if __name__ == "__main__":
    main()
