"""`augtrain export RUN --format torchscript|onnx`: ship the trained model.

The exported model includes the input normalisation: feed float32 NCHW images in
[0, 1] (pixels / 255, channels as in the sidecar, resized to its input_size) and
get logits. A sidecar FILE.json next to it holds the class names, input size,
channel order, value range, mean/std and how images were resized. The export is
checked against the PyTorch model on a batch (max abs difference printed; ONNX
through onnxruntime, when installed).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..runfolder import LAST

EXAMPLES = """examples:
  augtrain export runs/cnn4-20261123-120000 --format onnx            # -> RUN/model.onnx(.json)
  augtrain export runs/cnn4-20261123-120000 --format torchscript --out cnn4.pt
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="export a run's model to TorchScript or ONNX",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--format", required=True, metavar="FORMAT", help="torchscript or onnx")
    p.add_argument(
        "--out", type=Path, help="model file (default RUN/model.onnx or RUN/model.torchscript.pt)"
    )
    p.add_argument("--checkpoint", default=LAST, help="last.pt (default) or best.pt")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import AugtrainError
    from ..report.export import FORMATS, export_run

    if args.format not in FORMATS:
        raise AugtrainError(
            f"unknown export format {args.format!r}; choose from {', '.join(FORMATS)}"
        )
    result = export_run(args.run, args.format, args.out, args.checkpoint)
    print(f"model: {result['path']}")
    print(f"sidecar: {result['sidecar']}")
    if result["max_abs_diff"] is not None:
        print(f"max abs difference vs PyTorch: {result['max_abs_diff']:.2e}")
    else:
        print(
            "not checked: onnxruntime is not installed "
            "(pip install onnxruntime, or pip install 'augtrain[onnx]')"
        )
    return 0
