#!/usr/bin/env python3
"""onnxruntime's throughput on the same model, tile, batch and threads as `tilerun bench` (the peer figure)."""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--tile", type=int, default=512)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeat", type=int, default=5)
a = ap.parse_args()
options = ort.SessionOptions()
options.intra_op_num_threads = a.threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(a.model, options, providers=["CPUExecutionProvider"])
inp = session.get_inputs()[0]
channels = inp.shape[1] if isinstance(inp.shape[1], int) else 3
x = np.random.default_rng(1).uniform(-1, 1, (a.batch, channels, a.tile, a.tile)).astype(np.float32)
session.run(None, {inp.name: x})
times = []
for _ in range(a.repeat):
    t = time.perf_counter()
    session.run(None, {inp.name: x})
    times.append(time.perf_counter() - t)
median = sorted(times)[len(times) // 2]
print(json.dumps({"engine": f"onnxruntime {ort.__version__}", "medianSeconds": median, "tilesPerSecond": a.batch / median}))
