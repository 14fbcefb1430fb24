"""`augtrain train`: train a classifier and write its run folder."""

from __future__ import annotations

import argparse
import math
from typing import Any

from ..augment.flags import add_augment_arguments, augment_from_args
from ..training.config import TrainConfig, learning_rate
from ..training.optim import OPTIMIZERS, SCHEDULES

EXAMPLES = """examples:
  augtrain train                                   # CIFAR-10, downloaded once, default recipe
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
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        help="cifar10 (download), a CIFAR tarball or batches folder, an image folder, or .npz",
    )
    g.add_argument(
        "--target-size", type=int, nargs=2, metavar=("H", "W"), help="resize images to H x W"
    )
    g.add_argument(
        "--labels",
        metavar="FILE.csv",
        help="a CSV of image file and class name per row (fastai's from_csv); files relative "
        "to --data DIR, else to the CSV's folder",
    )
    g.add_argument(
        "--fn-col", help="the CSV's file column: header name or 0-based position (default 0)"
    )
    g.add_argument(
        "--label-col", help="the CSV's label column: header name or 0-based position (default 1)"
    )
    g.add_argument(
        "--cache-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="decode and cache folder images at H x W (larger than --target-size); training "
        "crops them to the target each batch (--random-resized-crop), evaluation centre crops",
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
    g.add_argument(
        "--model",
        help="registered model name (see `augtrain models`), or your own network factory "
        "module:function (called with num_classes, in_channels, input_size where it takes them)",
    )
    g.add_argument("--input-norm", choices=["standardize", "rescale"])
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument(
        "--accumulate",
        type=int,
        metavar="N",
        help="gradient accumulation: one optimizer step per N batches of --batch-size "
        "(an effective batch of N x --batch-size)",
    )
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument(
        "--lr",
        type=learning_rate,
        help="base learning rate, or auto: run the learning-rate finder first (see "
        "`augtrain lr-find`) and train with its suggestion (default: the optimizer's usual)",
    )
    g.add_argument("--momentum", type=float)
    g.add_argument("--nesterov", action="store_true", default=None)
    g.add_argument("--weight-decay", type=float)
    g.add_argument(
        "--clip-grad-norm",
        type=float,
        metavar="MAX",
        help="clip the gradients' total L2 norm to MAX before each optimizer step",
    )
    g.add_argument("--label-smoothing", type=float)
    g.add_argument(
        "--label-mode",
        choices=["categorical", "binary"],
        help="binary (2 classes): one sigmoid output and binary cross-entropy, as Keras' "
        "class_mode='binary'; categorical (default): softmax over the classes",
    )
    g.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="onecycle: torch's OneCycleLR (cosine, momentum cycled); triangle: linear "
        "warm-up and decay (the speed presets')",
    )
    g.add_argument("--gamma", type=float, help="decay factor of step/exponential schedules")
    g.add_argument("--step-size", type=int, help="epochs between decays of the step schedule")
    g.add_argument("--warmup-epochs", type=float)
    g.add_argument(
        "--pct-start", type=float, help="onecycle: share of training warming up (fastai's)"
    )
    g.add_argument("--div-factor", type=float, help="onecycle: start at lr / DIV")
    g.add_argument("--final-div-factor", type=float, help="onecycle: end at lr / (DIV * FINAL)")
    g.add_argument(
        "--cycle-momentum",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="onecycle: momentum (Adam's beta1) MAX -> BASE at the peak lr -> MAX",
    )
    g.add_argument("--max-momentum", type=float, help="onecycle: MAX momentum")
    g.add_argument("--base-momentum", type=float, help="onecycle: BASE momentum")
    g.add_argument(
        "--preset",
        metavar="NAME",
        help="named recipe filling in what is not given: speed (airbench94; speed-cpu without "
        "CUDA), speed-cpu, speed95, speed96",
    )
    g.add_argument(
        "--lookahead",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="lookahead weight averaging (on in the speed presets)",
    )
    g.add_argument(
        "--ema",
        type=float,
        metavar="DECAY",
        help="model EMA (timm's): average the weights with this decay (e.g. 0.999) after each "
        "optimizer step; logged as val_*_ema, best.pt by val_accuracy_ema",
    )
    g.add_argument(
        "--ema-warmup",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ramp the EMA decay up over the first updates (timm's ema_warmup)",
    )
    g.add_argument(
        "--use-ema",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --ema: the EMA is the run's model for best.pt, metrics.json, evaluate, "
        "export and predict (on); --no-use-ema keeps the trained weights for them",
    )
    g.add_argument(
        "--tta",
        choices=["none", "flip", "flip-translate"],
        help="test-time augmentation of the final evaluation (flip-translate in the speed presets)",
    )
    g.add_argument(
        "--model-option",
        action="append",
        metavar="KEY=VALUE",
        help="model option, repeatable: layout=imagenet (vgg16, googlenet), stem=imagenet (resnet18)",
    )
    add_augment_arguments(p)

    g = p.add_argument_group("transfer learning (see `augtrain features`)")
    g.add_argument(
        "--pretrained",
        action="store_true",
        default=None,
        help="start from the model's published ImageNet weights (downloaded once into the "
        "cache; `augtrain models` lists which have them); sets its input size and mean/std",
    )
    g.add_argument(
        "--init-from",
        metavar="PATH",
        help="start from these weights: a run folder, checkpoint, or state_dict .pth/.pt/.safetensors",
    )
    g.add_argument(
        "--freeze", choices=["base", "none"], help="base: train only the head (the last layers)"
    )
    g.add_argument(
        "--unfreeze-after",
        type=int,
        metavar="N",
        help="with --freeze base: train all after N epochs",
    )
    g.add_argument("--base-lr-mult", type=float, help="learning-rate multiplier of the base")
    g.add_argument(
        "--head",
        choices=["logistic"],
        help="logistic: scikit-learn logistic regression on --features",
    )
    g.add_argument("--features", metavar="NPZ", help="features written by `augtrain features`")

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
        help="metric for best.pt, early stopping and plateaus (default val_accuracy with a "
        "validation split, else accuracy; never test_*)",
    )
    g.add_argument(
        "--save-freq",
        help="'epoch', every N steps, or 'end' (last.pt at the end only): how often last.pt is written",
    )
    g.add_argument("--seed", type=int)
    g.add_argument(
        "--device", help="auto (default: CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps"
    )
    g.add_argument(
        "--amp",
        choices=["auto", "bf16", "fp16", "off"],
        help="autocast: auto = bf16 on a GPU with native bf16, else float32; fp16 scales the loss",
    )
    g.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile the training forward/backward (costs compile time up front)",
    )
    g.add_argument("--verbose", type=int, choices=[0, 1, 2])

    g = p.add_argument_group("callbacks (on --monitor)")
    g.add_argument(
        "--early-stopping-patience",
        type=int,
        metavar="N",
        help="stop when --monitor has not improved for N epochs (EarlyStopping)",
    )
    g.add_argument(
        "--reduce-lr-patience",
        type=int,
        metavar="N",
        help="multiply the lr by --reduce-lr-factor after N epochs without improvement",
    )
    g.add_argument("--reduce-lr-factor", type=float, metavar="F", help="default 0.1")
    g.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="TensorBoard logs in RUN/tensorboard, as --logger tensorboard "
        "(needs `pip install tensorboard`)",
    )
    g.add_argument(
        "--logger",
        action="append",
        metavar="NAME",
        help="experiment tracking, repeatable or comma-separated: tensorboard, csv "
        "(RUN/log.csv, Keras' CSVLogger), wandb (WANDB_* settings; offline files in RUN/wandb), "
        "mlflow (MLFLOW_TRACKING_URI); each needs its extra, e.g. pip install 'augtrain[wandb]'",
    )

    g = p.add_argument_group("several GPUs (torchrun; --batch-size is the global batch)")
    g.add_argument(
        "--gpus",
        type=int,
        metavar="N",
        help="train on N GPUs of this machine: starts torchrun for you "
        "(with --device cpu: N CPU processes, gloo)",
    )
    g.add_argument(
        "--sync-bn",
        action="store_true",
        default=None,
        help="synchronise batch-norm statistics across GPUs (SyncBatchNorm)",
    )
    p.set_defaults(func=run, parser=p)
    show_config_defaults(p)


# Flags whose TrainConfig field has another name.
FIELD_OF_FLAG = {"model_option": "model_options", "logger": "loggers"}


def show_config_defaults(parser: argparse.ArgumentParser) -> None:
    """--help shows TrainConfig's defaults: the flags default to None so that only what
    was given overrides a --preset or --config file."""
    defaults = TrainConfig()
    for action in parser._actions:
        field = FIELD_OF_FLAG.get(action.dest, action.dest)
        if action.default is None and field in TrainConfig.__dataclass_fields__:
            action.shown_default = getattr(defaults, field)


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
    """Every flag the user gave whose name is a TrainConfig field."""
    fields = TrainConfig.__dataclass_fields__
    out = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    for key in ("target_size", "cache_size"):
        if key in out:
            out[key] = tuple(out[key])
    for key in ("fn_col", "label_col"):  # a position, or a header name
        if isinstance(out.get(key), str) and out[key].isdigit():
            out[key] = int(out[key])
    if isinstance(out.get("save_freq"), str) and out["save_freq"].isdigit():
        out["save_freq"] = int(out["save_freq"])
    if getattr(args, "model_option", None):
        from ..models.transfer import parse_options

        out["model_options"] = parse_options(args.model_option)
    if getattr(args, "logger", None):
        out["loggers"] = logger_names(args.logger)
    augment = augment_from_args(args)
    if augment is not None:
        out["augment"] = augment
    return out


def logger_names(values: list[str]) -> list[str]:
    """--logger a,b --logger c -> [a, b, c], each once."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return list(dict.fromkeys(names))


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
    from ..training.run import train

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
