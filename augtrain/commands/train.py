"""`augtrain train`: train a classifier and write its run folder."""

from __future__ import annotations

import argparse
from typing import Any

from ..augment.flags import add_augment_arguments, augment_from_args
from ..training.config import TrainConfig
from ..training.optim import OPTIMIZERS, SCHEDULES

EXAMPLES = """examples:
  augtrain train                                   # CIFAR-10, downloaded once, default recipe
  augtrain train --data ~/cifar-10-python.tar.gz   # local copy of the official tarball
  augtrain train --data photos/ --target-size 64 64 --validation-split 0.2
  augtrain train --model cnn4 --optimizer adamax --lr 5e-3 --schedule exponential --gamma 0.9 \\
                 --batch-size 32 --epochs 10 --augment none
  augtrain train --resume runs/cnn4-20261123-120000 --epochs 20
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        help="cifar10 (download), a CIFAR tarball or batches folder, an image folder, or .npz",
    )
    g.add_argument(
        "--target-size", type=int, nargs=2, metavar=("H", "W"), help="resize images to H x W"
    )
    g.add_argument("--color-mode", choices=["rgb", "grayscale", "rgba"])
    g.add_argument(
        "--interpolation", choices=["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"]
    )
    g.add_argument(
        "--classes", nargs="+", help="class folder names, in label order (default: sorted)"
    )
    g.add_argument(
        "--validation-split", type=float, help="hold out this fraction of the training data"
    )
    g.add_argument(
        "--validation", choices=["auto", "split", "test", "none"], help="what validates each epoch"
    )
    g.add_argument(
        "--cache-dir", help="decoded-image cache (default $AUGTRAIN_CACHE or ~/.cache/augtrain)"
    )

    g = p.add_argument_group("model and optimisation")
    g.add_argument("--model", help="registered model name (see `augtrain models`)")
    g.add_argument("--input-norm", choices=["standardize", "rescale"])
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--lr", type=float, help="base learning rate (default: the optimizer's usual)")
    g.add_argument("--momentum", type=float)
    g.add_argument("--nesterov", action="store_true", default=None)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--schedule", choices=SCHEDULES)
    g.add_argument("--gamma", type=float, help="decay factor of step/exponential schedules")
    g.add_argument("--step-size", type=int, help="epochs between decays of the step schedule")
    g.add_argument("--warmup-epochs", type=float)
    add_augment_arguments(p)

    g = p.add_argument_group("run")
    g.add_argument("--name", help="run folder name (default MODEL-DATE-TIME)")
    g.add_argument("--runs-dir", help="where run folders go (default runs/)")
    g.add_argument(
        "--overwrite", action="store_true", default=None, help="replace an existing run folder"
    )
    g.add_argument(
        "--resume", metavar="RUN", help="continue the run in this folder from its last.pt"
    )
    g.add_argument(
        "--monitor",
        help="metric for best.pt (default val_accuracy, or accuracy without validation)",
    )
    g.add_argument("--save-freq", help="'epoch' or every N steps: how often last.pt is written")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    g.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"])
    g.add_argument("--verbose", type=int, choices=[0, 1, 2])
    p.set_defaults(func=run)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Every flag the user gave whose name is a TrainConfig field."""
    fields = TrainConfig.__dataclass_fields__
    out = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "target_size" in out:
        out["target_size"] = tuple(out["target_size"])
    if isinstance(out.get("save_freq"), str) and out["save_freq"].isdigit():
        out["save_freq"] = int(out["save_freq"])
    augment = augment_from_args(args)
    if augment is not None:
        out["augment"] = augment
    return out


def run(args: argparse.Namespace) -> int:
    from ..training.run import train

    overrides = overrides_from_args(args)
    run = train(resume=args.resume, **overrides) if args.resume else train(TrainConfig(**overrides))
    if run.path is not None:
        print(f"run folder: {run.path}")
    return 0
