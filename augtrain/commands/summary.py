"""`augtrain summary MODEL|RUN`: per layer name, type, output shape, parameters and
multiply-adds, then the totals (trainable, non-trainable, Keras-style total, MACs, size).

Parameters are counted in PyTorch's convention and in Keras' (batch-norm moving mean and
variance as non-trainable parameters); multiply-adds per image count convolutions and
dense layers (batch norm, activations and pooling count 0). See augtrain/models/summary.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  augtrain summary lenet5                        # 62,998 params in Keras' count at 32x32
  augtrain summary vgg16 --input-size 224 --num-classes 1000 --model-option layout=imagenet
  augtrain summary runs/cnn4-20261123-120000      # a trained run's model
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "summary",
        help="layers, parameters and multiply-adds of a model or run",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a registered model name, a run folder or a checkpoint file")
    p.add_argument("--input-size", type=int, nargs="+", metavar="S", help="S or H W (default 32)")
    p.add_argument("--num-classes", type=int, help="default 10")
    p.add_argument("--in-channels", type=int, help="default 3")
    p.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="repeatable")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def spec_of(target: str) -> dict[str, Any] | None:
    """The model spec of a run folder (its config.json) or checkpoint file; None for a name."""
    from .. import runfolder
    from ..errors import AugtrainError

    path = Path(target).expanduser()
    if not path.exists():
        if "/" in target or target.endswith((".pt", ".pth")):
            raise AugtrainError(f"{target}: no such run folder or checkpoint")
        return None
    if path.is_dir() and runfolder.is_run_dir(path):
        config = runfolder.read_config(path)
        if "model" in config and isinstance(config["model"], dict):
            return config["model"]
        raise AugtrainError(f"{path}: this run has no network (a {config.get('head', '?')} head)")
    return runfolder.load_checkpoint(path)["model"]


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import AugtrainError
    from ..models import MODELS
    from ..models.registry import parse_options
    from ..models.summary import summarize_model
    from ..runfolder import check_rebuildable
    from .models import input_size

    spec = spec_of(args.model)
    if spec is None:
        if args.model not in MODELS and ":" not in args.model:  # or a module:function
            raise AugtrainError(
                f"{args.model}: not a run folder, checkpoint or model; models: {', '.join(sorted(MODELS))}"
            )
        spec = {"name": args.model, "options": {}, "num_classes": 10, "in_channels": 3}
        spec["input_size"] = [32, 32]
    check_rebuildable(spec)
    options = {**spec.get("options", {}), **parse_options(args.model_option)}
    size = input_size(args.input_size) if args.input_size else tuple(spec["input_size"])
    summary = summarize_model(
        spec["name"],
        args.num_classes or spec["num_classes"],
        args.in_channels or spec["in_channels"],
        size,
        **options,
    )
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.table())
    return 0
