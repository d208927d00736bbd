"""Shared parts of the demo-model training: scene generation through `tilerun sample-scene`, the
small U-Net (forward pass in JAX, NHWC), its ONNX export (NCHW) with tilerun's metadata, and the
class tables.

Everything is seeded; the scene seeds of training, evaluation and the shipped samples are disjoint:

- shipped sample-data: seed 1 (landcover-1, landcover-nir-1, damage-1)
- training: land cover 1001-1024, damage 2001-2024
- evaluation: land cover 9001-9008, damage 9101-9108
"""
import json
import os
import subprocess

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TILERUN = os.path.join(REPO, ".build-models", "release", "tilerun")
DEFAULT_DATA = os.path.join(REPO, ".build-models-data")

# ESA WorldCover codes and official colours of the classes the scene generator draws
# (Sources/TileRun/SampleData/SceneGenerator.swift, LandCoverClass).
LANDCOVER_CLASSES = [
    (10, "Tree cover", "#006400"),
    (30, "Grassland", "#FFFF4C"),
    (40, "Cropland", "#F096FF"),
    (50, "Built-up", "#FA0000"),
    (60, "Bare / sparse vegetation", "#B4B4B4"),
    (80, "Permanent water bodies", "#0064C8"),
]
# xBD joint damage scale (DamageClass in DamageSceneGenerator.swift).
DAMAGE_CLASSES = [
    (0, "background", "#000000"),
    (1, "no-damage", "#1A9850"),
    (2, "minor-damage", "#FEE08B"),
    (3, "major-damage", "#FC8D59"),
    (4, "destroyed", "#D73027"),
]

TASKS = {
    "landcover": dict(kind="landcover", classes=LANDCOVER_CLASSES, channels=3, widths=(8, 16, 24, 32),
                      train_seeds=range(1001, 1025), eval_seeds=range(9001, 9009), steps=1500,
                      output="models/landcover-demo.onnx"),
    "damage": dict(kind="damage", classes=DAMAGE_CLASSES, channels=6, widths=(8, 16, 32, 48),
                   train_seeds=range(2001, 2025), eval_seeds=range(9101, 9109), steps=2000,
                   output="models/damage-demo.onnx"),
}

# Inputs are the stored 0-255 values; the model sees (v / 255 - 0.5) / 0.25.
SCALE, MEAN, STD = 1 / 255, 0.5, 0.25
TILE_SIZE, TILE_OVERLAP, RESOLUTION_M = 512, 64, 0.5


def generate(tilerun, directory, kind, seeds, size=1024):
    """Writes one scene (or pre/post pair) per seed with `tilerun sample-scene`; returns the names."""
    os.makedirs(directory, exist_ok=True)
    names = []
    for seed in seeds:
        name = f"{kind}-{seed}"
        first = os.path.join(directory, name + ("-pre.tif" if kind == "damage" else ".tif"))
        if not os.path.exists(first):
            subprocess.run([tilerun, "sample-scene", directory, "--kind", kind, "--name", name,
                            "--size", str(size), "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
        names.append(name)
    return names


def read_rgb(path):
    """An RGB GeoTIFF as uint8 [H, W, 3]."""
    import tifffile
    a = tifffile.imread(path)
    return a if a.shape[-1] == 3 else np.moveaxis(a, 0, -1)


def read_image(directory, name, kind):
    """The model input of one generated scene as uint8 [H, W, C]: RGB, or pre RGB then post RGB."""
    if kind == "damage":
        return np.concatenate([read_rgb(os.path.join(directory, f"{name}-{s}.tif")) for s in ("pre", "post")], -1)
    return read_rgb(os.path.join(directory, name + ".tif"))


def read_labels(directory, name, kind):
    """The label raster of one generated scene as output-channel indices [H, W] int32."""
    import tifffile
    codes = tifffile.imread(os.path.join(directory, name + "-labels.tif"))
    return class_indices(codes, TASKS[kind]["classes"])


def class_indices(codes, classes):
    """Maps class values (e.g. WorldCover codes) to output-channel indices."""
    lut = np.full(256, -1, np.int32)
    for i, (value, _, _) in enumerate(classes):
        lut[value] = i
    indices = lut[codes]
    assert (indices >= 0).all(), "label raster holds a value outside the class table"
    return indices


# --- The network ------------------------------------------------------------------------------
# A four-level U-Net: two 3x3 convolutions per encoder level, 2x2 max pooling, nearest 2x upsampling
# and concatenation with the skip connection, one 3x3 convolution per decoder level except at full
# resolution, where a 1x1 convolution keeps the cost low, then a 1x1 head. Receptive field ~80 px.

def layer_shapes(channels, widths, classes):
    """(name, kernel, in, out) of every convolution, in execution order."""
    c0, c1, c2, c3 = widths
    return [("enc0a", 3, channels, c0), ("enc0b", 3, c0, c0),
            ("enc1a", 3, c0, c1), ("enc1b", 3, c1, c1),
            ("enc2a", 3, c1, c2), ("enc2b", 3, c2, c2),
            ("mida", 3, c2, c3), ("midb", 3, c3, c3),
            ("dec2", 3, c3 + c2, c2), ("dec1", 3, c2 + c1, c1), ("dec0", 1, c1 + c0, c0),
            ("head", 1, c0, classes)]


def init_params(key, channels, widths, classes):
    import jax
    params = {}
    for name, k, cin, cout in layer_shapes(channels, widths, classes):
        key, sub = jax.random.split(key)
        w = jax.random.normal(sub, (k, k, cin, cout)) * np.sqrt(2.0 / (k * k * cin))
        params[name] = (w, np.zeros(cout, np.float32))
    return params


def forward(params, x):
    """Logits [N, H, W, classes] for normalized input x [N, H, W, C] (H, W multiples of 8)."""
    import jax
    import jax.numpy as jnp

    def conv(name, h, relu=True):
        w, b = params[name]
        y = jax.lax.conv_general_dilated(h, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + b
        return jax.nn.relu(y) if relu else y

    def pool(h):
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def up(h):
        return jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)

    e0 = conv("enc0b", conv("enc0a", x))
    e1 = conv("enc1b", conv("enc1a", pool(e0)))
    e2 = conv("enc2b", conv("enc2a", pool(e1)))
    m = conv("midb", conv("mida", pool(e2)))
    d2 = conv("dec2", jnp.concatenate([up(m), e2], -1))
    d1 = conv("dec1", jnp.concatenate([up(d2), e1], -1))
    d0 = conv("dec0", jnp.concatenate([up(d1), e0], -1))
    return conv("head", d0, relu=False)


def flops_per_tile(channels, widths, classes, tile=TILE_SIZE):
    """Multiply-adds x 2 of the convolutions for one tile (pooling, resizing and ReLU left out)."""
    level = {"enc0": 0, "enc1": 1, "enc2": 2, "mid": 3, "dec2": 2, "dec1": 1, "dec0": 0, "head": 0}
    total = 0
    for name, k, cin, cout in layer_shapes(channels, widths, classes):
        side = tile >> level[name.rstrip("ab")]
        total += 2 * side * side * k * k * cin * cout
    return total


def export_onnx(params, channels, widths, classes, path, metadata):
    """Writes the network as an opset-17 ONNX graph, input `image` [N, C, H, W] float32, output
    `logits` [N, classes, H, W], with `metadata` as metadata_props."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def conv(name, inp, relu=True, out=None):
        w, b = (np.asarray(a, np.float32) for a in params[name])
        k = w.shape[0]
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w.transpose(3, 2, 0, 1)), name + ".weight"))
        inits.append(numpy_helper.from_array(b, name + ".bias"))
        out = out or (name + ".conv" if relu else name)
        nodes.append(helper.make_node("Conv", [inp, name + ".weight", name + ".bias"], [out], name=name,
                                      kernel_shape=[k, k], pads=[k // 2] * 4, strides=[1, 1]))
        if relu:
            nodes.append(helper.make_node("Relu", [out], [name], name=name + ".relu"))
        return name

    def pool(inp, name):
        nodes.append(helper.make_node("MaxPool", [inp], [name], name=name, kernel_shape=[2, 2], strides=[2, 2]))
        return name

    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up.scales"))

    def up(inp, name):
        nodes.append(helper.make_node("Resize", [inp, "", "up.scales"], [name], name=name, mode="nearest",
                                      coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
        return name

    def cat(a, b, name):
        nodes.append(helper.make_node("Concat", [a, b], [name], name=name, axis=1))
        return name

    e0 = conv("enc0b", conv("enc0a", "image"))
    e1 = conv("enc1b", conv("enc1a", pool(e0, "pool0")))
    e2 = conv("enc2b", conv("enc2a", pool(e1, "pool1")))
    m = conv("midb", conv("mida", pool(e2, "pool2")))
    d2 = conv("dec2", cat(up(m, "up2"), e2, "cat2"))
    d1 = conv("dec1", cat(up(d2, "up1"), e1, "cat1"))
    d0 = conv("dec0", cat(up(d1, "up0"), e0, "cat0"))
    conv("head", d0, relu=False, out="logits")
    graph = helper.make_graph(
        nodes, "tilerun-demo-unet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes, "H", "W"])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tilerun training")
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def tilerun_metadata(classes, input_kind):
    """tilerun's metadata_props (docs/model-metadata.md) for a demo model."""
    return {
        "tilerun.classes": json.dumps([{"value": v, "name": n, "color": c} for v, n, c in classes]),
        "tilerun.bands": "1,2,3",
        "tilerun.normalization.scale": "1/255",
        "tilerun.normalization.mean": str(MEAN),
        "tilerun.normalization.std": str(STD),
        "tilerun.tile_size": str(TILE_SIZE),
        "tilerun.tile_overlap": str(TILE_OVERLAP),
        "tilerun.resolution_m": str(RESOLUTION_M),
        "tilerun.input_kind": input_kind,
    }
