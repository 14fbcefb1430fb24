"""`augtrain evaluate RUN`: reload a run's checkpoint and measure it on the test data.

Prints loss, accuracy, top-5 accuracy (more than 5 classes) and per-class
precision / recall / F1, and writes evaluation.json, confusion_matrix[_normalized]
.png/.csv, per_class.csv, predictions.csv, sample_predictions.png and
wrong_predictions.png. The default evaluation (last.pt, the run's own data and TTA setting, which is
none unless it was trained with --tta) reproduces metrics.json and writes into the
run folder; other settings write into RUN/eval-<checkpoint>-<tta>[-<data>]/ (or
--out-dir).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..report.tta import TTA_MODES
from ..runfolder import LAST

EXAMPLES = """examples:
  augtrain evaluate runs/cnn4-20261123-120000                 # same accuracy as metrics.json
  augtrain evaluate runs/cnn4-20261123-120000 --tta flip-translate --checkpoint best.pt
  augtrain evaluate runs/cnn4-20261123-120000 --data other_photos/
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="test metrics, confusion matrix and prediction grids of a trained run",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--data", help="evaluate on this data instead of the run's own test split")
    p.add_argument(
        "--checkpoint", default=LAST, help="last.pt (default, as metrics.json) or best.pt"
    )
    p.add_argument(
        "--tta",
        metavar="MODE",
        help=f"test-time augmentation: {', '.join(TTA_MODES)} (default: the run's own, none "
        "unless trained with --tta); flip averages the softmax (multi-label: each label's "
        "sigmoid) of image and mirror, "
        "flip-translate adds 1-pixel shifts (6 views)",
    )
    p.add_argument("--out-dir", type=Path, help="where the files go (default: see above)")
    p.add_argument("--grid-size", type=int, default=32, help="images per prediction grid")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import AugtrainError
    from ..report.evaluation import default_out_dir, format_metrics, write_evaluation
    from ..report.tta import tta_views
    from ..training.evaluate import evaluate_run

    if args.tta is not None:
        tta_views(args.tta)  # an unknown mode fails before any loading
    if args.grid_size < 0 or args.batch_size < 1:
        raise AugtrainError("--grid-size must be >= 0 and --batch-size >= 1")
    ev = evaluate_run(args.run, args.data, args.tta, args.checkpoint, args.device, args.batch_size)
    print(format_metrics(ev))
    if ev.run is not None or args.out_dir is not None:
        out_dir = args.out_dir or default_out_dir(ev, args.data)
        write_evaluation(ev, out_dir, args.grid_size)
        print(f"written to {out_dir}")
    return 0
