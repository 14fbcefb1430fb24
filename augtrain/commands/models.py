"""`augtrain models`: the registered models with their parameters and multiply-adds."""

from __future__ import annotations

import argparse
from typing import Any

# Layouts worth a row of their own besides the default one.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "resnet18": [{"stem": "imagenet"}],
    "resnet34": [{"stem": "imagenet"}],
    "resnet50": [{"stem": "imagenet"}],
    "vgg16": [{"layout": "imagenet"}],
    "googlenet": [{"layout": "imagenet"}],
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "models",
        help="list the models with parameters and multiply-adds",
        description=__doc__
        + "\n\nParameters in PyTorch's count (Keras' adds batch-norm moving statistics: see"
        " `augtrain summary MODEL`); multiply-adds per image, convolutions and dense layers.",
    )
    p.add_argument("--input-size", type=int, nargs="+", default=[32], metavar="S", help="S or H W")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--in-channels", type=int, default=3)
    p.set_defaults(func=run)


def input_size(values: list[int]) -> tuple[int, int]:
    from ..errors import AugtrainError

    if len(values) not in (1, 2) or min(values) < 1:
        raise AugtrainError(
            f"--input-size takes S or H W (positive), got {' '.join(map(str, values))}"
        )
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def run(args: argparse.Namespace) -> int:
    from ..errors import AugtrainError
    from ..models import MODELS
    from ..models.pretrained import PRETRAINED
    from ..models.summary import human, summarize_model

    h, w = input_size(args.input_size)
    rows = []
    for name in sorted(MODELS):
        for options in [{}, *VARIANTS.get(name, [])]:
            label = name + "".join(f" {k}={v}" for k, v in options.items())
            try:
                s = summarize_model(name, args.num_classes, args.in_channels, (h, w), **options)
                about = MODELS[name].description
                if not options and name in PRETRAINED:
                    about += " [--pretrained]"
                rows.append((label, f"{s.params:,}", human(s.macs), about))
            except AugtrainError as e:
                rows.append((label, "-", "-", f"(not at {h}x{w}: {str(e)[:70]})"))
    print(f"models at {h}x{w}x{args.in_channels}, {args.num_classes} classes")
    head = ("model", "params", "MACs", "description")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    for r in [head, *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    print(
        "options: augtrain train --model NAME --model-option KEY=VALUE; details: augtrain summary NAME"
    )
    print("[--pretrained]: published ImageNet weights, downloaded once into the cache")
    return 0
