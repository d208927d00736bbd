#!/usr/bin/env python3
"""Builds whole segmentation networks with the onnx helper API and records onnxruntime's outputs on
random inputs, in the ONNX backend-test layout (NAME/model.onnx, NAME/test_data_set_0/{input,output}_0.pb),
so `tilerun model test` and the Swift tests compare tilerun's runtime with onnxruntime.

Networks (all float32, opset 17, seeded weights):
  unet           the reference U-Net: 16/32/64/128 channels, 256 bottleneck, two 3x3 Conv+ReLU per level,
                 MaxPool 2x2, ConvTranspose 2x2 stride 2, Concat skips, 1x1 Conv to 6 classes
  mobilenet_fpn  MobileNet-style depthwise-separable encoder (BatchNorm, ReLU6 as Clip, HardSwish) with an
                 FPN decoder (nearest Resize, Add) and a bilinear Resize back to the input size, Softmax
  deeplab        DeepLab-style dilated encoder with ASPP (dilations 6/12, a global-pooling branch resized
                 through a Shape/Slice/Concat size subgraph), bilinear upsampling
Test-time only: onnx, onnxruntime and numpy are never runtime dependencies of tilerun.
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, array, prefix="c"):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower() + "_")
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x, cin, cout, k=3, stride=1, dilation=1, groups=1, bias=True):
        fan_in = cin // groups * k * k
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in), (cout, cin // groups, k, k)).astype(np.float32)
        inputs = [x, self.const(w, "w")]
        if bias:
            inputs.append(self.const(self.rng.normal(0, 0.1, cout).astype(np.float32), "b"))
        pad = dilation * (k - 1) // 2
        return self.node("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4,
                         dilations=[dilation, dilation], group=groups)

    def bn(self, x, c):
        p = [self.rng.uniform(0.5, 1.5, c), self.rng.normal(0, 0.1, c), self.rng.normal(0, 0.1, c),
             self.rng.uniform(0.5, 1.5, c)]
        return self.node("BatchNormalization", [x] + [self.const(v.astype(np.float32)) for v in p], epsilon=1e-5)

    def relu(self, x):
        return self.node("Relu", [x])

    def relu6(self, x):
        return self.node("Clip", [x, self.const(np.float32(0)), self.const(np.float32(6))])

    def model(self, x_name, out, channels, classes, size):
        graph = helper.make_graph(
            self.nodes, "net",
            [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, ["N", channels, "H", "W"])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", classes, "H", "W"])],
            self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tilerun-tests")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def unet(seed=1):
    b = Builder(seed)
    x = "image"
    widths = [16, 32, 64, 128]
    skips, h, cin = [], x, 3
    for w in widths:
        h = b.relu(b.conv(h, cin, w))
        h = b.relu(b.conv(h, w, w))
        skips.append(h)
        h = b.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
        cin = w
    h = b.relu(b.conv(h, cin, 256))
    h = b.relu(b.conv(h, 256, 256))
    cin = 256
    for w, skip in zip(reversed(widths), reversed(skips)):
        wt = b.rng.normal(0, np.sqrt(1.0 / (cin * 4)), (cin, w, 2, 2)).astype(np.float32)
        h = b.node("ConvTranspose", [h, b.const(wt, "wt"), b.const(b.rng.normal(0, 0.1, w).astype(np.float32))],
                   kernel_shape=[2, 2], strides=[2, 2])
        h = b.node("Concat", [skip, h], axis=1)
        h = b.relu(b.conv(h, 2 * w, w))
        h = b.relu(b.conv(h, w, w))
        cin = w
    out = b.conv(h, cin, 6, k=1)
    return b.model(x, out, 3, 6, None)


def mobilenet_fpn(seed=2):
    b = Builder(seed)
    x = "image"
    h = b.relu6(b.bn(b.conv(x, 4, 16, stride=2, bias=False), 16))
    features = []
    cin = 16
    for cout, stride, act in [(24, 2, "relu6"), (32, 2, "hardswish"), (64, 2, "relu6"), (96, 1, "hardswish")]:
        h = b.bn(b.conv(h, cin, cin, stride=stride, groups=cin, bias=False), cin)
        h = b.relu6(h) if act == "relu6" else b.node("HardSwish", [h])
        h = b.bn(b.conv(h, cin, cout, k=1, bias=False), cout)
        h = b.relu6(h) if act == "relu6" else b.node("HardSwish", [h])
        features.append((h, cout))
        cin = cout
    # FPN: top-down with nearest upsampling and lateral 1x1 convs.
    top = b.conv(features[-1][0], features[-1][1], 32, k=1)
    for f, c in reversed(features[:-1]):
        lateral = b.conv(f, c, 32, k=1)
        if c == 64:  # same resolution as the stride-1 block above it
            top = b.node("Add", [lateral, top])
        else:
            up = b.node("Resize", [top, "", b.const(np.array([1, 1, 2, 2], np.float32))], mode="nearest",
                        coordinate_transformation_mode="asymmetric", nearest_mode="floor")
            top = b.node("Add", [lateral, up])
    h = b.relu(b.conv(top, 32, 32))
    h = b.conv(h, 32, 5, k=1)
    h = b.node("Resize", [h, "", b.const(np.array([1, 1, 4, 4], np.float32))], mode="linear",
               coordinate_transformation_mode="half_pixel")
    out = b.node("Softmax", [h], axis=1)
    return b.model(x, out, 4, 5, None)


def deeplab(seed=3):
    b = Builder(seed)
    x = "image"
    h = b.relu(b.bn(b.conv(x, 3, 32, stride=2, bias=False), 32))
    h = b.relu(b.bn(b.conv(h, 32, 64, stride=2, bias=False), 64))
    h = b.relu(b.bn(b.conv(h, 64, 64, dilation=2, bias=False), 64))
    branches = [b.relu(b.conv(h, 64, 32, k=1))]
    for d in (6, 12):
        branches.append(b.relu(b.bn(b.conv(h, 64, 32, dilation=d, bias=False), 32)))
    pooled = b.relu(b.conv(b.node("GlobalAveragePool", [h]), 64, 32, k=1))
    # Resize the pooled branch to the feature map's size, computed by a shape subgraph.
    shape = b.node("Shape", [h])
    hw = b.node("Slice", [shape, b.const(np.array([2], np.int64)), b.const(np.array([4], np.int64))])
    nc = b.node("Slice", [b.node("Shape", [pooled]), b.const(np.array([0], np.int64)), b.const(np.array([2], np.int64))])
    sizes = b.node("Concat", [nc, hw], axis=0)
    branches.append(b.node("Resize", [pooled, "", "", sizes], mode="linear",
                           coordinate_transformation_mode="pytorch_half_pixel"))
    h = b.node("Concat", branches, axis=1)
    h = b.relu(b.conv(h, 128, 64, k=1))
    h = b.conv(h, 64, 4, k=1)
    out = b.node("Resize", [h, "", b.const(np.array([1, 1, 4, 4], np.float32))], mode="linear",
                 coordinate_transformation_mode="half_pixel")
    return b.model(x, out, 3, 4, None)


NETWORKS = {"unet": (unet, 3, 64), "mobilenet_fpn": (mobilenet_fpn, 4, 64), "deeplab": (deeplab, 3, 64)}


def main():
    import onnxruntime as ort
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("--size", type=int, default=64, help="input height and width of the recorded data set")
    args = ap.parse_args()
    for name, (build, channels, _) in NETWORKS.items():
        d = os.path.join(args.output, name)
        os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
        model = build()
        onnx.save(model, os.path.join(d, "model.onnx"))
        x = np.random.default_rng(42).normal(0, 1, (1, channels, args.size, args.size)).astype(np.float32)
        sess = ort.InferenceSession(os.path.join(d, "model.onnx"), providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {"image": x})
        with open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(x, "image").SerializeToString())
        with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(y, sess.get_outputs()[0].name).SerializeToString())
        print(f"{name}: {d}/model.onnx, output {list(y.shape)}")


if __name__ == "__main__":
    main()
