"""`augtrain predict RUN IMAGE_OR_FOLDER...`: class probabilities for image files.

Images of any size are resized to the model's input size with the run's
interpolation and read in its colour mode (a grayscale file given to an RGB model
is converted, as training would have), in the order given; folders are expanded
to their image files, recursively, in sorted order.

Exit status: 0 when every file was predicted; 1 when some files could not be read
(each is named on stderr, all the others are still predicted and printed); 2 for
bad input (not a run folder, no checkpoint, a missing path, a folder without
images, no file readable at all).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from ..runfolder import LAST

EXAMPLES = """examples:
  augtrain predict runs/cnn4-20261123-120000 cat.jpg dog.png
  augtrain predict runs/cnn4-20261123-120000 photos/ --top-k 5 --format csv > predictions.csv
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="classify image files with a trained run",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files or folders")
    p.add_argument("--top-k", type=int, default=3, help="classes shown per image (default 3)")
    p.add_argument(
        "--threshold",
        type=float,
        help="multi-label runs: list every label whose probability exceeds this (default: "
        "the run's --threshold)",
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--checkpoint", default=LAST, help="last.pt (default) or best.pt")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..device import DevicePolicy, resolve_device
    from ..errors import AugtrainError
    from ..models.saved import load_run_model
    from ..report.evaluation import color_mode_for
    from ..report.multilabel import is_multilabel, labels_above
    from ..report.predict import decode_options, expand_inputs, predict_files

    if args.top_k < 1:
        raise AugtrainError(f"--top-k must be >= 1, got {args.top_k}")
    if args.batch_size < 1:
        raise AugtrainError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        raise AugtrainError(f"--threshold must lie in (0, 1), got {args.threshold}")
    device = resolve_device(args.device)  # an unusable device fails before any loading
    model, ckpt = load_run_model(args.run, args.checkpoint)
    multi = is_multilabel(ckpt["model"])  # every label above the threshold, not a top k
    threshold = args.threshold or float(ckpt["config"].get("threshold", 0.5))
    classes = list(ckpt["classes"])
    size = tuple(ckpt["model"]["input_size"])
    color_mode = color_mode_for(ckpt["config"], ckpt["model"]["in_channels"])
    interpolation = ckpt["config"].get("interpolation", "bilinear")
    files = expand_inputs(args.inputs)
    policy = DevicePolicy.for_run(device, ckpt["config"])  # the run's amp
    k = min(args.top_k, len(classes))
    out = Writer(args.format, k, max(len(str(f)) for f in files), multi)
    failed = done = 0
    for pred in predict_files(
        model.to(device),
        files,
        size,
        color_mode,
        interpolation,
        device,
        args.batch_size,
        args.workers,
        policy,
        **decode_options(ckpt["config"]),
    ):
        if pred.probs is None:
            failed += 1
            print(f"augtrain predict: {pred.error}", file=sys.stderr, flush=True)
            continue
        if multi:
            out.row(pred.file, labels_above(pred.probs, classes, threshold))
        else:
            top = pred.probs.argsort()[::-1][:k]
            out.row(pred.file, [(classes[i], float(pred.probs[i])) for i in top])
        done += 1
    out.close()
    if done == 0:
        raise AugtrainError(f"none of the {len(files)} file(s) could be read as an image")
    if failed:
        print(
            f"augtrain predict: {failed} of {len(files)} file(s) could not be read; "
            f"{done} predicted",
            file=sys.stderr,
        )
        return 1
    return 0


class Writer:
    """Streams rows to stdout as a table, CSV or one JSON array; nothing if no rows.
    `multi` (multi-label): each row lists the labels above the threshold, however many:
    CSV columns file, labels, probabilities (space-separated, most probable first)."""

    def __init__(self, fmt: str, k: int, file_width: int, multi: bool = False) -> None:
        self.fmt, self.k, self.width, self.rows = fmt, k, min(file_width, 60), 0
        self.multi = multi
        self.csv = csv.writer(sys.stdout, lineterminator="\n")

    def header(self) -> None:
        if self.multi and self.fmt != "json":
            if self.fmt == "csv":
                self.csv.writerow(["file", "labels", "probabilities"])
            else:
                print(f"{'file':<{self.width}s}  labels above the threshold")
        elif self.fmt == "csv":
            cells = ["file"]
            for r in range(1, self.k + 1):
                cells += [f"class_{r}", f"probability_{r}"]
            self.csv.writerow(cells)
        elif self.fmt == "table":
            cols = "  ".join(f"{'top-' + str(r):<22s}" for r in range(1, self.k + 1))
            print(f"{'file':<{self.width}s}  {cols}".rstrip())
        else:
            sys.stdout.write("[")

    def row(self, file: str, top: list[tuple[str, float]]) -> None:
        if not self.rows:
            self.header()
        if self.multi and self.fmt == "csv":
            names = " ".join(name for name, _ in top)
            self.csv.writerow([file, names, " ".join(f"{p:.6f}" for _, p in top)])
        elif self.multi and self.fmt == "table":
            cols = "  ".join(f"{name[:14]} {p:.2%}" for name, p in top) or "-"
            print(f"{file:<{self.width}s}  {cols}")
        elif self.fmt == "csv":
            cells = [file]
            for name, p in top:
                cells += [name, f"{p:.6f}"]
            self.csv.writerow(cells)
        elif self.fmt == "table":
            cols = "  ".join(f"{name[:14]:<14s} {p:7.2%}" for name, p in top)
            print(f"{file:<{self.width}s}  {cols}")
        else:
            key = "labels" if self.multi else "top"
            item = {"file": file, key: [{"class": n, "probability": p} for n, p in top]}
            sys.stdout.write(("\n  " if not self.rows else ",\n  ") + json.dumps(item))
        self.rows += 1

    def close(self) -> None:
        if self.fmt == "json" and self.rows:
            sys.stdout.write("\n]\n")
        sys.stdout.flush()
