"""CLI flags for augmentation: a preset name (`--augment crop-flip`) or Keras-named flags."""

from __future__ import annotations

import argparse
from typing import Any

from .presets import PRESETS


def add_augment_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("augmentation (training data only)")
    g.add_argument(
        "--augment",
        default=None,
        metavar="PRESET",
        help=f"named pipeline: {', '.join(PRESETS)} (default crop-flip)",
    )


def augment_from_args(args: argparse.Namespace) -> str | list[dict[str, Any]] | None:
    """The `augment` config value the flags ask for, or None to keep the default."""
    return args.augment
