"""Measures the demo models on synthetic scenes that training never saw (seeds in demo_models.TASKS).

    python3 training/evaluate.py                      # both models, through `tilerun run`
    python3 training/evaluate.py --task landcover
    python3 training/evaluate.py --task damage --runner onnxruntime

Each evaluation scene (or pre/post pair) is generated with `tilerun sample-scene`, run through the
built `tilerun run` (the class maps it writes are what is scored), and compared with the label raster:
land cover by per-class IoU and their mean, damage by per-class F1 over all pixels, building-vs-
background F1 (xView2's localization F1) and xView2's damage F1 (harmonic mean of the four per-class
F1s on ground-truth building pixels). `--runner onnxruntime` runs the ONNX model with onnxruntime in
the same 512-pixel tiles with 64 pixels of overlap instead, for checking tilerun against it (or for
when `tilerun run` cannot run a model). Exit status 1 when a target is missed.
"""
import argparse
import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_models as dm  # noqa: E402

TARGETS = {"landcover": [("mIoU", 0.75)], "damage": [("F1 destroyed", 0.6), ("F1 building vs background", 0.8)]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["all", *sorted(dm.TASKS)], default="all")
    parser.add_argument("--tilerun", default=dm.DEFAULT_TILERUN)
    parser.add_argument("--data", default=dm.DEFAULT_DATA)
    parser.add_argument("--runner", choices=["tilerun", "onnxruntime"], default="tilerun")
    parser.add_argument("--model", help="ONNX file (default: the task's model under models/; only with one --task)")
    args = parser.parse_args()
    tasks = sorted(dm.TASKS) if args.task == "all" else [args.task]
    missed = []
    for name in tasks:
        task = dm.TASKS[name]
        model = args.model or os.path.join(dm.REPO, task["output"])
        directory = os.path.join(args.data, "eval-" + name)
        scenes = dm.generate(args.tilerun, directory, task["kind"], task["eval_seeds"])
        predictions = (run_tilerun if args.runner == "tilerun" else run_onnxruntime)(
            args.tilerun, model, directory, scenes, task["kind"])
        classes = task["classes"]
        confusion = np.zeros((len(classes), len(classes)), np.int64)
        for scene in scenes:
            truth = dm.read_labels(directory, scene, task["kind"])
            predicted = dm.class_indices(predictions[scene], classes)
            confusion += np.bincount(truth.ravel() * len(classes) + predicted.ravel(),
                                     minlength=len(classes) ** 2).reshape(len(classes), len(classes))
        print(f"{name}: {len(scenes)} scenes ({scenes[0]} .. {scenes[-1]}), model {os.path.relpath(model, dm.REPO)}, "
              f"run by {args.runner}")
        scores = (landcover_scores if name == "landcover" else damage_scores)(confusion, classes)
        for metric, target in TARGETS[name]:
            ok = scores[metric] >= target
            print(f"  target {metric} >= {target}: {scores[metric]:.3f} {'met' if ok else 'MISSED'}")
            if not ok:
                missed.append(f"{name} {metric}")
    return 1 if missed else 0


def run_tilerun(tilerun, model, directory, scenes, kind):
    """Class maps (class values) written by `tilerun run` for each scene."""
    output = os.path.join(directory, "tilerun-output")
    shutil.rmtree(output, ignore_errors=True)
    inputs = []
    for scene in scenes:
        files = [f"{scene}-pre.tif", f"{scene}-post.tif"] if kind == "damage" else [f"{scene}.tif"]
        for f in files:
            inputs += ["--input", os.path.join(directory, f)]
    run = subprocess.run([tilerun, "run", "--model", model, *inputs, "--output", output], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"tilerun run failed with status {run.returncode}:\n{run.stderr}")
    import tifffile
    return {scene: tifffile.imread(os.path.join(output, f"{scene}-classes.tif")) for scene in scenes}


def run_onnxruntime(tilerun, model, directory, scenes, kind):
    """Class maps from onnxruntime over 512-pixel tiles stepping by 448, the last row and column flush
    with the scene's edges as tilerun lays them, softmax probabilities blended with linear ramps.
    Takes `tilerun` only to share run_tilerun's signature."""
    import onnxruntime as ort
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    values = np.array([v for v, _, _ in dm.TASKS[kind]["classes"]], np.uint8)
    tile, overlap = dm.TILE_SIZE, dm.TILE_OVERLAP
    ramp = np.minimum(1, (np.arange(tile) + 0.5) / overlap)
    weight = np.outer(np.minimum(ramp, ramp[::-1]), np.minimum(ramp, ramp[::-1]))

    def starts(length):
        return sorted(set(list(range(0, length - tile, tile - overlap)) + [length - tile]))

    maps = {}
    for scene in scenes:
        image = dm.read_image(directory, scene, kind)
        h, w, _ = image.shape
        x = ((image.astype(np.float32) * dm.SCALE - dm.MEAN) / dm.STD).transpose(2, 0, 1)
        total = np.zeros((len(values), h, w), np.float32)
        weights = np.zeros((h, w), np.float32)
        for y0 in starts(h):
            for x0 in starts(w):
                logits = session.run(None, {"image": np.ascontiguousarray(x[None, :, y0:y0 + tile, x0:x0 + tile])})[0][0]
                p = np.exp(logits - logits.max(0))
                total[:, y0:y0 + tile, x0:x0 + tile] += p / p.sum(0) * weight
                weights[y0:y0 + tile, x0:x0 + tile] += weight
        maps[scene] = values[(total / weights).argmax(0)]
    return maps


def landcover_scores(confusion, classes):
    tp = np.diag(confusion).astype(np.float64)
    iou = tp / np.maximum(confusion.sum(0) + confusion.sum(1) - tp, 1)
    for (value, name, _), v in zip(classes, iou):
        print(f"  IoU {value:3d} {name:26s} {v:.3f}")
    scores = {"mIoU": iou.mean(), "pixel accuracy": tp.sum() / confusion.sum()}
    print(f"  mIoU {scores['mIoU']:.3f}, pixel accuracy {scores['pixel accuracy']:.3f}")
    return scores


def f1(tp, fp, fn):
    return 2 * tp / max(2 * tp + fp + fn, 1)


def damage_scores(confusion, classes):
    scores = {}
    for i, (value, name, _) in enumerate(classes):
        tp = confusion[i, i]
        scores[f"F1 {name}"] = f1(tp, confusion[:, i].sum() - tp, confusion[i, :].sum() - tp)
        print(f"  F1 {value} {name:13s} {scores[f'F1 {name}']:.3f} (all pixels)")
    building_tp = confusion[1:, 1:].sum()
    scores["F1 building vs background"] = f1(building_tp, confusion[0, 1:].sum(), confusion[1:, 0].sum())
    # xView2: damage F1 per class on ground-truth building pixels only, then their harmonic mean.
    on_buildings = confusion[1:, 1:]
    per_class = [f1(on_buildings[i, i], on_buildings[:, i].sum() - on_buildings[i, i],
                    on_buildings[i, :].sum() - on_buildings[i, i]) for i in range(len(on_buildings))]
    damage = len(per_class) / sum(1 / max(v, 1e-9) for v in per_class)
    scores["xView2 damage F1"] = damage
    localization = scores["F1 building vs background"]
    print(f"  F1 building vs background {localization:.3f}")
    print("  xView2 damage F1 (on building pixels) " + ", ".join(f"{v:.3f}" for v in per_class)
          + f" -> harmonic mean {damage:.3f}; xView2 score 0.3*loc + 0.7*dmg = {0.3 * localization + 0.7 * damage:.3f}")
    return scores


if __name__ == "__main__":
    sys.exit(main())
