"""Trains a tilerun demo model on synthetic scenes and exports it to ONNX.

    python3 training/train.py landcover   # -> models/landcover-demo.onnx
    python3 training/train.py damage      # -> models/damage-demo.onnx

Needs the release build of tilerun (`swift build -c release --product tilerun --scratch-path
.build-models`) to generate the scenes, and the PyPI packages in training/requirements.txt. Training
scenes go to .build-models-data/ (git-ignored). Same seed, same scenes, same data order; XLA's CPU
convolutions may still differ in the last bits between machines.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_models as dm  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(dm.TASKS))
    parser.add_argument("--tilerun", default=dm.DEFAULT_TILERUN)
    parser.add_argument("--data", default=dm.DEFAULT_DATA)
    parser.add_argument("--steps", type=int, help="batches to train on (default: the task's, 1500 or 2000)")
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="ONNX file (default: the task's path under models/)")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    task = dm.TASKS[args.task]
    args.steps = args.steps or task["steps"]
    classes = task["classes"]
    started = time.time()
    directory = os.path.join(args.data, "train-" + args.task)
    names = dm.generate(args.tilerun, directory, task["kind"], task["train_seeds"])
    images = np.stack([dm.read_image(directory, n, task["kind"]) for n in names])
    labels = np.stack([dm.read_labels(directory, n, task["kind"]) for n in names])
    counts = np.bincount(labels.ravel(), minlength=len(classes))
    # Inverse square-root frequency weights, mean 1 over pixels: rare classes count for more.
    weights = (counts.sum() / np.maximum(counts, 1)) ** 0.5
    weights = (weights / (weights * counts).sum() * counts.sum()).astype(np.float32)
    print(f"{len(names)} scenes {images.shape[1]}x{images.shape[2]}, {time.time() - started:.0f} s; "
          f"class pixels {counts.tolist()}, weights {np.round(weights, 2).tolist()}", flush=True)

    rng = np.random.default_rng(args.seed)
    channels, widths = task["channels"], task["widths"]

    def batch():
        """Random crops, flipped and rotated, with per-acquisition colour jitter, normalized."""
        n, h, w, c = images.shape
        crop = args.crop
        xs = np.empty((args.batch, crop, crop, c), np.float32)
        ys = np.empty((args.batch, crop, crop), np.int32)
        for b in range(args.batch):
            k, y0, x0 = rng.integers(n), rng.integers(h - crop + 1), rng.integers(w - crop + 1)
            x = images[k, y0:y0 + crop, x0:x0 + crop].astype(np.float32)
            y = labels[k, y0:y0 + crop, x0:x0 + crop]
            for scene in range(c // 3):
                part = x[..., 3 * scene:3 * scene + 3]
                part *= rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, 3)
                part += rng.uniform(-12, 12)
            turns = rng.integers(4)
            x, y = np.rot90(x, turns), np.rot90(y, turns)
            if rng.integers(2):
                x, y = x[:, ::-1], y[:, ::-1]
            xs[b] = (np.clip(x, 0, 255) * dm.SCALE - dm.MEAN) / dm.STD
            ys[b] = y
        return xs, ys

    class_weights = jnp.asarray(weights)

    def loss_fn(params, x, y):
        logits = dm.forward(params, x)
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(logp, y[..., None], -1)[..., 0]
        return (nll * class_weights[y]).mean()

    # Adam with a cosine learning-rate decay after a short warm-up.
    def schedule(step):
        warm = jnp.minimum(1.0, (step + 1) / 100)
        return args.lr * warm * 0.5 * (1 + jnp.cos(jnp.pi * step / args.steps))

    @jax.jit
    def train_step(params, m, v, step, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        m = jax.tree_util.tree_map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        t = step + 1
        lr = schedule(step) * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        params = jax.tree_util.tree_map(lambda p, a, b: p - lr * a / (jnp.sqrt(b) + 1e-8), params, m, v)
        return params, m, v, loss

    params = dm.init_params(jax.random.PRNGKey(args.seed), channels, widths, len(classes))
    params = jax.tree_util.tree_map(jnp.asarray, params)
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    train_started = time.time()
    running = None
    for step in range(args.steps):
        x, y = batch()
        params, m, v, loss = train_step(params, m, v, step, x, y)
        running = float(loss) if running is None else 0.98 * running + 0.02 * float(loss)
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {running:.4f}  {time.time() - train_started:.0f} s", flush=True)

    output = args.output or os.path.join(dm.REPO, task["output"])
    os.makedirs(os.path.dirname(output), exist_ok=True)
    params = jax.tree_util.tree_map(np.asarray, params)
    dm.export_onnx(params, channels, widths, len(classes), output,
                   dm.tilerun_metadata(classes, "pre-post" if args.task == "damage" else "single"))
    check_export(output, params, images[0], jax)
    flops = dm.flops_per_tile(channels, widths, len(classes))
    print(f"wrote {output}: {os.path.getsize(output)} bytes, {flops / 1e9:.2f} GFLOP per "
          f"{dm.TILE_SIZE}x{dm.TILE_SIZE} tile; total {time.time() - started:.0f} s "
          f"(training {time.time() - train_started:.0f} s)")


def check_export(path, params, image, jax):
    """Runs the exported model with onnxruntime on one tile and compares it with the JAX forward pass."""
    import onnxruntime as ort
    tile = (image[:dm.TILE_SIZE, :dm.TILE_SIZE].astype(np.float32) * dm.SCALE - dm.MEAN) / dm.STD
    expected = np.asarray(dm.forward(params, tile[None])).transpose(0, 3, 1, 2)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": np.ascontiguousarray(tile.transpose(2, 0, 1)[None])})[0]
    diff = np.abs(got - expected).max()
    print(f"onnxruntime vs JAX on a {dm.TILE_SIZE}x{dm.TILE_SIZE} tile: max |diff| {diff:.2e} "
          f"(logit range {expected.min():.1f} to {expected.max():.1f}), "
          f"argmax agreement {(got.argmax(1) == expected.argmax(1)).mean():.6f}")
    assert diff < 1e-3 * max(1.0, np.abs(expected).max()), "exported model disagrees with the trained one"


if __name__ == "__main__":
    main()
