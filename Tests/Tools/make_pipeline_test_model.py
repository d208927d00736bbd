#!/usr/bin/env python3
"""Writes the pipeline tests' model: a tiny random fully-convolutional net (seeded, opset 17).

  image [N, 3, H, W] -> Conv 3x3 (3->8) -> Relu -> Conv 3x3 (8->4) -> logits [N, 4, H, W]

Receptive field 5x5 (radius 2), so tiled inference with overlap >= 16 (blend margin 4) must match
whole-image inference exactly away from the scene border. Metadata: four classes with colours, values
10/20/30/40 (so the class map must map channels to values), normalization 1/255, mean 0.5, std 0.25.
Usage: make_pipeline_test_model.py OUT.onnx [--bands N] [--fixed-batch B] [--pre-post]
  (N input channels, default 3; B fixes the input's batch dimension, default symbolic; --pre-post makes
  a pre/post-event model: 2×N channels, metadata tilerun.input_kind = pre-post)
Test-time only: onnx and numpy are never runtime dependencies of tilerun.
"""
import argparse
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--bands", type=int, default=3)
    parser.add_argument("--fixed-batch", type=int)
    parser.add_argument("--pre-post", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(4)
    c = args.bands * (2 if args.pre_post else 1)
    w1 = rng.normal(0, 0.6, (8, c, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 0.6, (4, 8, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 4).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]]
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["h1"], name="conv1", **conv),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["logits"], name="conv2", **conv),
    ]
    if args.fixed_batch:
        # Adding zeros of shape [B, 1, 1, 1] broadcasts the output to batch B, so a caller that feeds a
        # shorter batch gets an output of the wrong shape instead of silently working.
        nodes[-1].output[0] = "conv2_out"
        inits.append(numpy_helper.from_array(np.zeros((args.fixed_batch, 1, 1, 1), np.float32), "batch_zeros"))
        nodes.append(helper.make_node("Add", ["conv2_out", "batch_zeros"], ["logits"], name="fix_batch"))
    graph = helper.make_graph(
        nodes, "pipeline_test",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [args.fixed_batch or "N", c, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [args.fixed_batch or "N", 4, "H", "W"])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tilerun-tests")
    model.ir_version = 8
    classes = [{"value": 10, "name": "water", "color": "#0064C8"}, {"value": 20, "name": "trees", "color": "#006400"},
               {"value": 30, "name": "built-up", "color": "#FA0000"}, {"value": 40, "name": "bare", "color": "#B4B4B4"}]
    props = {
        "tilerun.classes": json.dumps(classes),
        "tilerun.normalization.scale": "1/255",
        "tilerun.normalization.mean": "0.5",
        "tilerun.normalization.std": "0.25",
        "tilerun.output": "logits",
    }
    if args.pre_post:
        props["tilerun.input_kind"] = "pre-post"
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, args.out)


if __name__ == "__main__":
    main()
