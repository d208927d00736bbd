"""Runs the damage demo model on one real pre/post pair and reports what it predicts, per half.

    python3 training/pair_report.py ../shared/scenes/joplin-2011/pre.tif ../shared/scenes/joplin-2011/post.tif

Prints, for the whole scene and its north and south halves, the share of pixels the model calls
building (any class 1-4) and how those building pixels split over the damage classes. There are no
damage labels for real pairs here, so this describes the output; it does not score it.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_models as dm  # noqa: E402
import evaluate  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pre")
    parser.add_argument("post")
    parser.add_argument("--model", default=os.path.join(dm.REPO, dm.TASKS["damage"]["output"]))
    parser.add_argument("--tilerun", default=dm.DEFAULT_TILERUN)
    parser.add_argument("--runner", choices=["tilerun", "onnxruntime"], default="tilerun")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        # The pair under the names tilerun matches pairs by.
        for path, role in ((args.pre, "pre"), (args.post, "post")):
            os.symlink(os.path.abspath(path), os.path.join(directory, f"pair-{role}.tif"))
        run = evaluate.run_tilerun if args.runner == "tilerun" else evaluate.run_onnxruntime
        classes = run(args.tilerun, args.model, directory, ["pair"], "damage")["pair"]
    names = [name for _, name, _ in dm.DAMAGE_CLASSES]
    half = classes.shape[0] // 2
    print(f"{os.path.basename(args.model)} on {args.pre} / {args.post} ({classes.shape[1]}x{classes.shape[0]}), "
          f"run by {args.runner}")
    for part, rows in (("whole", classes), ("north half", classes[:half]), ("south half", classes[half:])):
        counts = np.bincount(rows.ravel(), minlength=len(names))[:len(names)]
        building = counts[1:].sum()
        shares = ", ".join(f"{names[c]} {counts[c] / max(building, 1):.1%}" for c in range(1, len(names)))
        print(f"  {part:10s}: building {building / rows.size:.1%} of pixels; of the building pixels: {shares}")


if __name__ == "__main__":
    main()
