"""`augtrain train`: train a classifier and write its run folder.

With no --model and no --preset it runs the default job (--preset general: the speed
recipe; on a CPU fitted to 10 minutes, or to --time-budget, on this machine). The defaults
shown below are TrainConfig's own: the tutorials' recipe (--preset tutorial), which a
preset or --model replaces or fills in."""

from __future__ import annotations

import argparse
import math
from typing import Any

from ..training.config import GPUS, GROUPS, MODEL, RUN, TrainConfig, argparse_options, settings
from ._augment_flags import add_augment_arguments, augment_from_args

EXAMPLES = """examples:
  augtrain train                                   # CIFAR-10, downloaded once, the default job
  augtrain train --data photos/ --time-budget 30m  # the best recipe that ends within 30 minutes
  augtrain train --preset tutorial                 # the tutorials' cnn4, Adam, batch 32
  augtrain train --data ~/cifar-10-python.tar.gz   # local copy of the official tarball
  augtrain train --data photos/ --target-size 64 64 --validation-split 0.2
  augtrain train --model cnn4 --optimizer adamax --lr 5e-3 --schedule exponential --gamma 0.9 \\
                 --batch-size 32 --epochs 10 --augment none
  augtrain train --resume runs/cnn4-20261123-120000 --epochs 20
  augtrain train --gpus 4 --model resnet18 --batch-size 512      # 4 GPUs, global batch 512
  augtrain train --preset speed --data ../shared/data/cifar10-jpeg   # airbench94 recipe (speed-cpu on CPU)
  augtrain train --model resnet18 --model-option stem=imagenet --target-size 224 224 \\
                 --init-from resnet18-f37072fd.pth --freeze base --unfreeze-after 3 --base-lr-mult 0.1
  augtrain train --head logistic --features features.npz   # see `augtrain features`
  augtrain train --config recipe.yaml --epochs 5      # settings from a file; flags win
  augtrain train --config runs/cnn4-20261123-120000/config.json   # train that run again
  augtrain train --logger wandb,mlflow --logger csv   # experiment trackers beside the run folder
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="settings from a .yaml, .toml or .json file (TrainConfig's names), or a run's "
        "config.json to train it again; flags given here win",
    )
    defaults = TrainConfig()
    for title in GROUPS:  # the help's sections, in order
        g = p.add_argument_group(title)
        if title == RUN:
            g.add_argument(
                "--resume", metavar="RUN", help="continue the run in this folder from its last.pt"
            )
        if title == GPUS:
            g.add_argument(
                "--gpus",
                type=int,
                metavar="N",
                help="train on N GPUs of this machine: starts torchrun for you "
                "(with --device cpu: N CPU processes, gloo)",
            )
        add_setting_arguments(g, title, defaults)
        if title == MODEL:
            add_augment_arguments(p)
    for action in p._actions:  # --augment: a setting whose flag commands/_augment_flags.py adds
        if action.dest in TrainConfig.__dataclass_fields__ and action.default is None:
            action.shown_default = getattr(defaults, action.dest)
    p.set_defaults(func=run, parser=p)


def add_setting_arguments(group: Any, title: str, defaults: TrainConfig) -> None:
    """A flag for each TrainConfig setting of section `title`, from its declaration
    (training/config.py). --help shows TrainConfig's default; the flag's own is None, so
    only what was given overrides a --preset or --config file."""
    for key, meta in settings():
        if meta.cli and meta.group == title:
            flags, kwargs = argparse_options(key)
            action = group.add_argument(*flags, **kwargs)
            action.shown_default = getattr(defaults, key)


def check_finite(args: argparse.Namespace) -> None:
    """No NaN or infinity in any number flag: argparse's float() takes 'nan' and 'inf',
    and they would train on NaN losses or black images without a word."""
    from ..errors import AugtrainError

    for key, value in vars(args).items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and key.endswith("_shift_range"):  # parsed later, as text
                try:
                    v = float(v)
                except ValueError:
                    continue
            if isinstance(v, float) and not math.isfinite(v):
                raise AugtrainError(f"--{key.replace('_', '-')} {v}: must be a finite number")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting the user gave a flag for, as TrainConfig holds it."""
    out = {}
    for key, meta in settings():
        value = getattr(args, key, None) if meta.cli else None
        if value is not None:
            out[key] = meta.value_from_flag(value)
    augment = augment_from_args(args)
    if augment is not None:
        out["augment"] = augment
    return out


def given_only(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with every option the command line did not give set to None: a --config
    file's settings lose only to typed flags, never to an argparse default."""
    argv = getattr(args, "argv", None)
    if argv is None:  # called from Python: whatever is set counts as given
        return args
    from ..cli import given_dests

    rest = argv[argv.index(args.command) + 1 :] if args.command in argv else argv
    given = given_dests(args.parser, rest)
    return argparse.Namespace(
        **{
            k: (v if k in given or k in ("func", "parser", "command") else None)
            for k, v in vars(args).items()
        }
    )


def overrides_with_file(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of `--config FILE`, then the flags given on the command line."""
    from ..errors import AugtrainError
    from ..training.config_file import load_config_file

    if args.resume:
        raise AugtrainError(
            "--config and --resume: a resumed run takes its settings from its own config.json"
        )
    settings = load_config_file(args.config)
    flags = overrides_from_args(given_only(args))
    if "model_options" in flags and isinstance(settings.get("model_options"), dict):
        flags["model_options"] = {**settings["model_options"], **flags["model_options"]}
    settings.update(flags)
    if settings.get("data") == "<arrays>":
        raise AugtrainError(
            f"--config {args.config}: that run was trained on in-memory arrays; pass --data"
        )
    return settings


def run(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from ..training.budget import mark_command_start
    from ..training.run import train

    mark_command_start()  # --time-budget counts the whole command, imports included
    if args.device is not None:
        resolve_device(args.device)  # unknown / unavailable: one line before anything starts
    if getattr(args, "gpus", None) is not None:
        from ..training.launch import relaunch_if_needed

        code = relaunch_if_needed(args.gpus, args.parser, args)
        if code is not None:
            return code
    check_finite(args)
    overrides = overrides_with_file(args) if args.config else overrides_from_args(args)
    # Keyword overrides, not a TrainConfig: a --preset fills in only what was not given.
    run = train(resume=args.resume, **overrides) if args.resume else train(**overrides)
    from ..training.distributed import from_env

    if run.path is not None and from_env().is_main:  # under torchrun, rank 0 speaks
        print(f"run folder: {run.path}")
    return 0
