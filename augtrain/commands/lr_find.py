"""`augtrain lr-find`: the learning-rate range test on the model and data `augtrain train`
would train with the same flags. The rate rises exponentially from --start-lr to --end-lr
over --steps optimizer steps (stopping early when the loss diverges), the suggestion
(--rule: by default a third of the rate at the smoothed loss's lowest point) is printed in
one line, and the curve is written to OUT/lr_find.png and OUT/lr_find.csv. No run folder,
checkpoint or history is made: train afterwards with --lr NUMBER, or let
`augtrain train --lr auto` do both."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import AugtrainError
from ..training.lr_find import END_LR, RULE, RULES, START_LR

EXAMPLES = """examples:
  augtrain lr-find --data ../shared/data/cifar10-jpeg --model cnn4
  augtrain lr-find --model resnet18 --optimizer sgd --momentum 0.9 --batch-size 128 --out lr/
  augtrain lr-find --config recipe.yaml --steps 200
  augtrain train --lr auto ...            # the same test, then training with its suggestion

Flags that only concern a run folder, training's length or its rate (--lr, --epochs,
--name, --schedule, --ema, --logger, ...) are accepted, so a train command line can be
reused as it is, and change nothing here.
"""


def register(sub: Any) -> None:
    from .train import register as register_train

    # train's parser, built on its own, lends this command every flag it has
    scratch = argparse.ArgumentParser(add_help=False).add_subparsers()
    register_train(scratch)
    train_parser = scratch.choices["train"]
    p = sub.add_parser(
        "lr-find",
        help="find a learning rate (the range test): suggest one and plot loss against lr",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[train_parser],
        add_help=False,
        conflict_handler="resolve",
    )
    g = p.add_argument_group("range test")
    g.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="optimizer steps from --start-lr to --end-lr (default 40 a decade, 280; on a "
        "small training set at most 8 passes over it, and at least 20 steps)",
    )
    g.add_argument("--start-lr", type=float, default=START_LR, metavar="LR")
    g.add_argument("--end-lr", type=float, default=END_LR, metavar="LR")
    g.add_argument(
        "--rule",
        choices=RULES,
        default=RULE,
        help="minimum/3: a third of the rate at the smoothed loss's lowest point (the "
        "default); valley: the middle of its longest fall (fastai's default); steepest: where "
        "it falls fastest; minimum/10: a tenth of the rate at its lowest",
    )
    g.add_argument(
        "--out",
        metavar="DIR",
        default=".",
        help="where lr_find.png and lr_find.csv go (default: the current folder)",
    )
    p.set_defaults(func=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from ..training.lr_find import check_range, lr_find
    from .train import check_finite, overrides_from_args, overrides_with_file

    if args.resume:
        raise AugtrainError(
            "--resume: lr-find starts from the model's initial weights; "
            "use --init-from RUN to test from a trained run's"
        )
    if getattr(args, "gpus", None) is not None:
        raise AugtrainError("--gpus: lr-find runs in one process on one device")
    check_range(args.steps, args.start_lr, args.end_lr, args.rule)
    if args.device is not None:
        resolve_device(args.device)
    check_finite(args)
    overrides = overrides_with_file(args) if args.config else overrides_from_args(args)
    result = lr_find(
        steps=args.steps, start_lr=args.start_lr, end_lr=args.end_lr, rule=args.rule, **overrides
    )
    png, table = result.save(Path(args.out))
    print(result.describe())
    print(f"wrote {png} and {table}")
    return 0
