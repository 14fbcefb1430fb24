"""`augtrain evaluate RUN`: reload a run's checkpoint and measure it on the test data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("evaluate", help="test accuracy of a trained run", description=__doc__)
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--data", help="evaluate on this data instead of the run's own test split")
    p.add_argument(
        "--checkpoint", default="last.pt", help="last.pt (default, as metrics.json) or best.pt"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import load_data
    from ..errors import AugtrainError
    from ..report.metrics import classification_metrics, predict_logits
    from ..training import checkpoint
    from ..training.config import TrainConfig
    from ..training.loop import resolve_device

    model, ckpt = checkpoint.load_model(args.run, args.checkpoint)
    config = TrainConfig.from_dict(ckpt["config"])
    data = load_data(
        args.data or config.data,
        config.target_size,
        config.color_mode,
        config.interpolation,
        config.classes,
        config.validation_split,
        config.cache_dir,
    )
    split_name, split = ("test", data.test) if data.test is not None else ("val", data.val)
    if split is None:
        raise AugtrainError(
            f"{args.data or config.data}: no test or validation split to evaluate on"
        )
    if split.x.shape[1:] != (*ckpt["model"]["input_size"], ckpt["model"]["in_channels"]):
        raise AugtrainError(
            f"images are {split.x.shape[1:]} but the model takes {(*ckpt['model']['input_size'], ckpt['model']['in_channels'])}"
        )
    device = resolve_device(config.device)
    m = classification_metrics(
        predict_logits(model.to(device), split.x, device), split.y, ckpt["classes"]
    )
    print(
        f"{split_name}: loss {m['loss']:.4f} - accuracy {m['accuracy']:.4f} ({m['samples']} images)"
    )
    for name, acc in m["per_class_accuracy"].items():
        print(f"  {name:>16s} {acc:.4f}")
    return 0
