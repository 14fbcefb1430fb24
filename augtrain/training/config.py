"""TrainConfig: every setting of a run, with Keras' names where the meaning is the same.

The resolved config is written to config.json in the run folder; `TrainConfig.from_dict`
reads it back, which is how `--resume` and `evaluate` rebuild a run.

Adding a setting: declare it once, as a TrainConfig field made with `setting()`, e.g.

    warmup_epochs: float = setting(0.0, MODEL, "epochs of warm-up", minimum=0.0)

and nothing else: `augtrain train` gets `--warmup-epochs` (in the help's MODEL section,
argparse's type from the default, TrainConfig's default shown in --help), --config files
and `augtrain.train(warmup_epochs=...)` take the key, and `validate` checks type, range
and choices with one-line errors naming the flag. `setting(default, group, help, ...)`:

    type              int, float, str or bool, where the default (None) does not say
    choices           the allowed values: argparse's choices, and checked in validate
    minimum, maximum  an inclusive range; above, below: an exclusive one
    also              words taken beside a number: `--lr auto` would be
                      setting(None, MODEL, "...", type=float, above=0.0, also=("auto",))
    nargs, metavar    as argparse's; a fixed nargs makes a tuple (target_size)
    flag, aliases     the flag where it is not --field-name; other spellings of it
    negatable         a bool as --x / --no-x (else --x alone sets True)
    repeatable        the flag may be given again (argparse's action="append")
    path              a str or os.PathLike; else a str setting must be a str
    fold_case         choices compared in lower case (Python's optimizer="Adam")
    parse             argparse's type for a form of its own (a CSV column: name or number)
    from_flag         the parsed flag -> the field's value (--logger a,b -> ["a", "b"])
    cli=False         the flag comes from elsewhere (--augment: commands/_augment_flags.py)
    by_hand=True      not checked generically: `_check_by_hand` does it (data, augment)
    recorded=True     what a run resolved, kept in config.json for an exact rerun (the
                      budget's choice): no flag, checked by hand

A check that relates settings to one another (--unfreeze-after needs --freeze base) goes
in `_check_relations`.

Porting a setting written the old way (a bare field, a `g.add_argument` in
commands/train.py, a check in `validate`): move the add_argument's help, metavar, choices
and nargs and the check's range into the field's `setting(...)`, then delete the other two.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..data import check_cache_size
from ..errors import AugtrainError
from .optim import OPTIMIZERS, SCHEDULES

# torch.manual_seed takes at most 64 bits; a seed beyond 63 is an error there or a wrap.
MAX_SEED = 2**63 - 1

# The sections of `augtrain train --help`, in their order there.
DATA = "data"
MODEL = "model and optimisation"
TRANSFER = "transfer learning (see `augtrain features`)"
RUN = "run"
CALLBACKS = "callbacks (on --monitor)"
GPUS = "several GPUs (torchrun; --batch-size is the global batch)"
GROUPS = (DATA, MODEL, TRANSFER, RUN, CALLBACKS, GPUS)


@dataclass(frozen=True)
class Setting:
    """What `setting()` declares about one TrainConfig field (its `metadata["setting"]`)."""

    help: str
    group: str
    type: type | None = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    also: tuple[str, ...] = ()
    nargs: int | str | None = None
    metavar: str | tuple[str, ...] | None = None
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    negatable: bool = False
    repeatable: bool = False
    path: bool = False
    fold_case: bool = False
    parse: Callable[[str], Any] | None = None
    from_flag: Callable[[Any], Any] | None = None
    cli: bool = True
    by_hand: bool = False
    recorded: bool = False  # written by augtrain into config.json, never given: no flag
    optional: bool = False  # None is allowed: the default is None

    def is_list(self) -> bool:
        return self.repeatable or self.nargs in ("+", "*")

    def argparse_type(self) -> Callable[[str], Any] | None:
        if self.parse is not None:
            return self.parse
        if self.also:
            return _word_or(self.type, self.also)
        return None if self.type in (str, bool, None) else self.type

    def value_from_flag(self, value: Any) -> Any:
        """What argparse parsed -> the field's value."""
        if self.from_flag is not None:
            return self.from_flag(value)
        if isinstance(self.nargs, int):
            return tuple(value)
        return value


def setting(
    default: Any,
    group: str,
    help: str,
    *,
    type: type | None = None,
    choices: Sequence[Any] | None = None,
    **options: Any,
) -> Any:
    """A TrainConfig field with everything the CLI and `validate` need to know about it
    (the keywords: this module's docstring)."""
    if type is None and default is not None and not isinstance(default, (list, dict)):
        type = default.__class__
    if options.get("recorded"):
        options.update(cli=False, by_hand=True)
    meta = Setting(
        help=help,
        group=group,
        type=type,
        choices=tuple(choices) if choices is not None else None,
        optional=default is None,
        **options,
    )
    if isinstance(default, (list, dict)):
        empty = default.__class__
        return dataclasses.field(default_factory=empty, metadata={"setting": meta})
    return dataclasses.field(default=default, metadata={"setting": meta})


def _word_or(kind: type | None, words: tuple[str, ...]) -> Callable[[str], Any]:
    """argparse's type for a number or one of `words`: anything else is kept as text for
    `validate` to refuse with the whole story ('epoch', 'end' or an integer >= 1)."""

    def parse(text: str) -> Any:
        if text in words or kind is None:
            return text
        try:
            return kind(text)
        except ValueError:
            return text

    parse.__name__ = getattr(kind, "__name__", "value")
    return parse


DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m)?(?:(\d+(?:\.\d*)?)s)?$")


def parse_duration(text: str | float | int) -> float:
    """Seconds of '90s', '10m', '1h', '1h30m', '2.5m'; a number is seconds already."""
    if isinstance(text, bool):
        raise AugtrainError(f"--time-budget {text!r}: give a duration such as 90s, 10m or 1h")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = DURATION.match(str(text).strip().lower())
        if not str(text).strip() or match is None or not any(match.groups()):
            raise AugtrainError(
                f"--time-budget {text!r}: give a duration with its unit, such as 90s, 10m, "
                "1h or 1h30m"
            )
        hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not math.isfinite(seconds) or seconds <= 0:
        raise AugtrainError(f"--time-budget {text!r}: must be a positive duration")
    return seconds


def column(text: str) -> str | int:
    """A CSV column: a 0-based position, or a header name."""
    return int(text) if text.isdigit() else text


def _model_options(items: list[str]) -> dict[str, Any]:
    from ..models.transfer import parse_options

    return parse_options(items)


def split_names(values: list[str]) -> list[str]:
    """--logger a,b --logger c -> [a, b, c], each once."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return list(dict.fromkeys(names))


def settings() -> list[tuple[str, Setting]]:
    """(field name, Setting) of every TrainConfig field, in their order."""
    return [(f.name, f.metadata["setting"]) for f in dataclasses.fields(TrainConfig)]


def setting_of(key: str) -> Setting | None:
    f = TrainConfig.__dataclass_fields__.get(key)
    return f.metadata.get("setting") if f is not None else None


def flag(key: str) -> str:
    """A TrainConfig field as the CLI flag that sets it."""
    meta = setting_of(key)
    if meta is not None and meta.flag:
        return meta.flag
    return "--" + key.replace("_", "-")


def argparse_options(key: str, meta: Setting | None = None) -> tuple[list[str], dict[str, Any]]:
    """The option strings and `add_argument` keywords of a setting's flag (`meta`, else
    TrainConfig's `key`). Every flag defaults to None so that only what was typed overrides
    a --preset or --config file; --help shows TrainConfig's default (cli.ShowDefaults)."""
    meta = meta or setting_of(key)
    if meta is None or not meta.cli:
        raise ValueError(f"{key} is no TrainConfig setting with a flag")
    kwargs: dict[str, Any] = {"dest": key, "default": None, "help": meta.help}
    if meta.type is bool:
        kwargs["action"] = argparse_bool(meta.negatable)
    else:
        if meta.repeatable:
            kwargs["action"] = "append"
        kind = meta.argparse_type()
        if kind is not None:
            kwargs["type"] = kind
        for name in ("nargs", "metavar", "choices"):
            if getattr(meta, name) is not None:
                kwargs[name] = getattr(meta, name)
    return [meta.flag or flag(key), *meta.aliases], kwargs


def argparse_bool(negatable: bool) -> Any:
    import argparse

    return argparse.BooleanOptionalAction if negatable else "store_true"


def from_plain(key: str, value: Any) -> Any:
    """A value read from JSON, YAML or TOML as the field holds it: lists for a fixed
    number of values (target_size) become tuples."""
    meta = setting_of(key)
    if meta is not None and isinstance(meta.nargs, int) and isinstance(value, list):
        return tuple(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def check_number(
    key: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    also: tuple[str, ...] = (),
) -> None:
    """One-line error unless `value` is a finite number (an integer if asked) in the range,
    or one of the words `also`."""
    if value in also and isinstance(value, str):
        return
    kind = "an integer" if integer else "a number"
    if also:
        kind = f"{', '.join(repr(w) for w in also)} or {kind}"
    lo = "" if low is None else f"{'>' if low_open else '>='} {_show(low)}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {_show(high)}"
    need = " ".join(p for p in (kind, " and ".join(p for p in (lo, hi) if p)) if p)
    if not _is_number(value) or (integer and not isinstance(value, int)):
        raise AugtrainError(f"{flag(key)} {value!r}: must be {need if also else kind}")
    if not math.isfinite(value):
        raise AugtrainError(f"{flag(key)} {value}: must be a finite number")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        raise AugtrainError(f"{flag(key)} {value}: must be {need}")


def check_setting(key: str, value: Any, meta: Setting | None = None) -> None:
    """The checks `key`'s declaration (`meta`, else TrainConfig's) asks for: type, range,
    choices; one-line errors naming the flag."""
    meta = meta or setting_of(key)
    if meta is None or meta.by_hand or (value is None and meta.optional):
        return
    name = flag(key)
    if isinstance(meta.nargs, int):
        _check_fixed(key, meta, value)
        return
    if meta.is_list():
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise AugtrainError(f"{name} takes a list of names, got {value!r}")
        return
    if meta.type is bool:
        if not isinstance(value, bool):
            raise AugtrainError(f"{name} takes true or false, got {value!r}")
    elif meta.type in (int, float):
        low, low_open = (meta.above, True) if meta.above is not None else (meta.minimum, False)
        high, high_open = (meta.below, True) if meta.below is not None else (meta.maximum, False)
        check_number(key, value, low, high, low_open, high_open, meta.type is int, meta.also)
    elif meta.path:
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise AugtrainError(f"{name} must be a path or name, got {value!r}")
    elif meta.type is str and not isinstance(value, str):
        raise AugtrainError(f"{name} must be a name, got {value!r}")
    if meta.choices is not None:
        _check_choice(name, meta, value)


def _check_fixed(key: str, meta: Setting, value: Any) -> None:
    """A fixed number of integers (target_size: H W)."""
    n = meta.nargs
    assert isinstance(n, int)
    low = meta.minimum if meta.minimum is not None else -math.inf
    if (
        not isinstance(value, (tuple, list))
        or len(value) != n
        or not all(_is_number(v) and isinstance(v, meta.type or int) for v in value)
        or min(value) < low
    ):
        count = {1: "one", 2: "two", 3: "three"}.get(n, str(n))
        names = " ".join(meta.metavar) if isinstance(meta.metavar, tuple) else ""
        kind = "integers" if meta.type is int else "numbers"
        need = f" >= {_show(meta.minimum)}" if meta.minimum is not None else ""
        words = " ".join(p for p in (count, kind, names) if p)
        raise AugtrainError(f"{flag(key)} takes {words}{need}, got {value!r}")


def _check_choice(name: str, meta: Setting, value: Any) -> None:
    assert meta.choices is not None
    seen = value.lower() if meta.fold_case and isinstance(value, str) else value
    if seen in meta.choices:
        return
    choices = [str(c) for c in meta.choices]
    near = difflib.get_close_matches(str(value), choices, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise AugtrainError(f"{name} {value!r}: must be one of {', '.join(choices)}{hint}")


def non_finite(value: Any, where: str = "") -> str | None:
    """Where in a nested structure (op lists, model options) a NaN or infinity sits."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "value"
    if isinstance(value, dict):
        for k, v in value.items():
            found = non_finite(v, f"{where}.{k}" if where else str(k))
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = non_finite(v, f"{where}[{i}]")
            if found:
                return found
    return None


def learning_rate(text: str) -> float | str:
    """--lr: a number, or "auto" (the learning-rate finder's suggestion)."""
    if text.strip().lower() == "auto":
        return "auto"
    return float(text)  # argparse reports a ValueError as "invalid learning_rate value"


def unknown_keywords(names: Any, what: str = "augtrain.train()") -> None:
    """One-line error for keywords that are no TrainConfig field, naming the nearest one."""
    known = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = [n for n in names if n not in known]
    if not unknown:
        return
    name = unknown[0]
    near = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else "; see augtrain.TrainConfig for the settings"
    raise AugtrainError(f"{what}: unknown keyword {name!r}{hint}")


@dataclass
class TrainConfig:
    """Every setting of a run; each field is declared once, with its flag, help and checks
    (`setting()`; this module's docstring says how to add one)."""

    # ------------------------------------------------------------------ data
    data: Any = setting(
        "cifar10",
        DATA,
        "cifar10 (download), a CIFAR tarball or batches folder, an image folder, or .npz",
        by_hand=True,  # also (x, y) arrays, a dict of arrays or a Dataset from Python
    )
    target_size: tuple[int, int] | None = setting(
        None, DATA, "resize images to H x W", type=int, nargs=2, metavar=("H", "W"), minimum=1
    )
    # fastai's presizing: decode and cache large, crop to target_size on the device
    cache_size: tuple[int, int] | None = setting(
        None,
        DATA,
        "decode and cache folder images at H x W (larger than --target-size); training "
        "crops them to the target each batch (--random-resized-crop), evaluation centre crops",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        minimum=1,
    )
    labels: str | None = setting(
        None,
        DATA,
        "a CSV of image file and class name per row (fastai's from_csv); files relative "
        "to --data DIR, else to the CSV's folder",
        type=str,
        path=True,
        metavar="FILE.csv",
    )
    fn_col: str | int = setting(
        0,
        DATA,
        "the CSV's file column: header name or 0-based position (default 0)",
        parse=column,
        by_hand=True,
    )
    label_col: str | int = setting(
        1,
        DATA,
        "the CSV's label column: header name or 0-based position (default 1)",
        parse=column,
        by_hand=True,
    )
    color_mode: str = setting(
        "rgb", DATA, "the channels images are read as", choices=("rgb", "grayscale", "rgba")
    )
    interpolation: str = setting(
        "bilinear",
        DATA,
        "the resampling filter of --target-size and --cache-size",
        choices=("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"),
    )
    classes: list[str] | None = setting(
        None, DATA, "class folder names, in label order (default: sorted)", type=str, nargs="+"
    )
    validation_split: float = setting(
        0.0, DATA, "hold out this fraction of the training data", minimum=0.0, below=1.0
    )
    validation: str = setting(
        "auto",
        DATA,
        "what validates each epoch: auto = the split with --validation-split, else the test set",
        choices=("auto", "split", "test", "none"),
    )
    cache_dir: str | None = setting(
        None,
        DATA,
        "decoded-image cache (default $AUGTRAIN_CACHE or ~/.cache/augtrain)",
        type=str,
        path=True,
    )
    # data as users have it (data/placement.py, data/labels_csv.py)
    placement: str = setting(
        "auto",
        DATA,
        "where each split lives while training: auto = on the device when it fits its free "
        "memory, else host memory (batches copied over), else memory-mapped from the cache "
        "file on disk (batches read by index)",
        choices=("auto", "device", "host", "mmap"),
    )
    keep_aspect_ratio: bool = setting(
        False,
        DATA,
        "crop each file's centre to the --target-size (or --cache-size) aspect ratio "
        "before resizing, instead of stretching it (Keras' crop_to_aspect_ratio)",
    )
    # such rows make the run multi-label (report/multilabel.py)
    label_delim: str | None = setting(
        " ",
        DATA,
        "what separates several labels in a --labels cell (default a space, fastai's "
        "label_delim); '' reads each cell whole",
        type=str,
        metavar="DELIM",
    )
    # ------------------------------------------------------------------ model
    model: str = setting(
        "cnn4",
        MODEL,
        "registered model name (see `augtrain models`), or your own network factory "
        "module:function (called with num_classes, in_channels, input_size where it takes "
        "them); given neither a model nor a preset, the default job runs (preset general)",
    )
    model_options: dict[str, Any] = setting(
        {},
        MODEL,
        "model option, repeatable: layout=imagenet (vgg16, googlenet), stem=imagenet (resnet18)",
        flag="--model-option",
        repeatable=True,
        metavar="KEY=VALUE",
        from_flag=_model_options,
        by_hand=True,
    )
    input_norm: str = setting(
        "standardize",
        MODEL,
        "standardize: per-channel mean/std of the training data; rescale: x/255 only",
        choices=("standardize", "rescale"),
    )
    # binary is Keras' class_mode="binary" (report/metrics.py); multi: report/multilabel.py
    label_mode: str = setting(
        "categorical",
        MODEL,
        "binary (2 classes): one sigmoid output and binary cross-entropy, as Keras' "
        "class_mode='binary'; multi: several labels per image, a sigmoid per label (a "
        "--labels CSV's cells split at --label-delim; without --label-mode, cells whose "
        "labels combine choose it themselves); categorical (default): softmax over the "
        "classes, each --labels cell one class",
        choices=("categorical", "binary", "multi"),
    )
    threshold: float = setting(
        0.5,
        MODEL,
        "multi-label: a label is predicted when its probability exceeds this",
        above=0.0,
        below=1.0,
    )
    # ------------------------------------------------------------------ transfer learning
    # (models/transfer.py, models/pretrained.py)
    pretrained: bool = setting(
        False,
        TRANSFER,
        "start from the model's published ImageNet weights (downloaded once into the "
        "cache; `augtrain models` lists which have them); sets its input size and mean/std",
    )
    init_from: str | None = setting(
        None,
        TRANSFER,
        "start from these weights: a run folder, checkpoint, or state_dict .pth/.pt/.safetensors",
        type=str,
        path=True,
        metavar="PATH",
    )
    freeze: str | None = setting(
        None, TRANSFER, "base: train only the head (the last layers)", choices=("base", "none")
    )
    unfreeze_after: int | None = setting(
        None,
        TRANSFER,
        "with --freeze base: train all after N epochs",
        type=int,
        minimum=0,
        metavar="N",
    )
    # the base's optimizer groups carry it as "lr_mult"
    base_lr_mult: float = setting(1.0, TRANSFER, "learning-rate multiplier of the base", above=0.0)
    head: str | None = setting(
        None,
        TRANSFER,
        "logistic: scikit-learn logistic regression on --features",
        choices=("logistic",),
    )
    features: str | None = setting(
        None,
        TRANSFER,
        "features written by `augtrain features`",
        type=str,
        path=True,
        metavar="NPZ",
    )
    # ------------------------------------------------------------------ optimisation
    epochs: int = setting(10, MODEL, "passes over the training data", minimum=1)
    # under torchrun each rank gets batch_size / world_size
    batch_size: int = setting(
        32, MODEL, "images per optimizer step (the global batch under torchrun)", minimum=1
    )
    # the effective batch as fastai and timm mean it: batch_size * accumulate
    accumulate: int = setting(
        1,
        MODEL,
        "gradient accumulation: one optimizer step per N batches of --batch-size "
        "(an effective batch of N x --batch-size)",
        minimum=1,
        metavar="N",
    )
    optimizer: str = setting(
        "adam", MODEL, "the torch.optim optimizer", choices=OPTIMIZERS, fold_case=True
    )
    # None: optim.DEFAULT_LR of the optimizer
    # "auto": the learning-rate finder's suggestion (training/lr_find.py), recorded here
    # as a number once found
    lr: float | str | None = setting(
        None,
        MODEL,
        "base learning rate, or auto: run the learning-rate finder first (see "
        "`augtrain lr-find`) and train with its suggestion (default: the optimizer's usual)",
        type=float,
        above=0.0,
        also=("auto",),
    )
    momentum: float = setting(0.0, MODEL, "momentum of sgd and rmsprop", minimum=0.0, below=1.0)
    nesterov: bool = setting(False, MODEL, "Nesterov momentum (sgd, with --momentum > 0)")
    weight_decay: float = setting(
        0.0, MODEL, "weight decay (L2; decoupled with adamw)", minimum=0.0
    )
    clip_grad_norm: float | None = setting(
        None,
        MODEL,
        "clip the gradients' total L2 norm to MAX before each optimizer step",
        type=float,
        above=0.0,
        metavar="MAX",
    )
    label_smoothing: float = setting(
        0.0, MODEL, "label smoothing of the cross-entropy", minimum=0.0, below=1.0
    )
    schedule: str = setting(
        "constant",
        MODEL,
        "onecycle: torch's OneCycleLR (cosine, momentum cycled); triangle: linear "
        "warm-up and decay (the speed presets')",
        choices=SCHEDULES,
    )
    gamma: float = setting(0.1, MODEL, "decay factor of step/exponential schedules", above=0.0)
    step_size: int = setting(30, MODEL, "epochs between decays of the step schedule", minimum=1)
    warmup_epochs: float = setting(
        0.0,
        MODEL,
        "epochs of learning-rate warm-up (triangle: 0.3 x --epochs when 0; onecycle: "
        "instead of --pct-start)",
        minimum=0.0,
    )
    lr_start_factor: float = setting(
        0.0, MODEL, "triangle: lr factor at step 0 (rising to 1 at --warmup-epochs)", minimum=0.0
    )
    lr_end_factor: float = setting(0.0, MODEL, "triangle: lr factor at the last step", minimum=0.0)
    # onecycle is torch's OneCycleLR: lr / div_factor up to lr over pct_start of training
    # (fastai's 0.25; torch's 0.3), down to lr / (div_factor * final_div_factor), cosine
    pct_start: float = setting(
        0.25,
        MODEL,
        "onecycle: share of training warming up (fastai's)",
        above=0.0,
        below=1.0,
    )
    div_factor: float = setting(25.0, MODEL, "onecycle: start at lr / DIV", above=0.0)
    final_div_factor: float = setting(1e4, MODEL, "onecycle: end at lr / (DIV * FINAL)", above=0.0)
    cycle_momentum: bool = setting(
        True,
        MODEL,
        "onecycle: momentum (Adam's beta1) MAX -> BASE at the peak lr -> MAX",
        negatable=True,
    )
    max_momentum: float = setting(0.95, MODEL, "onecycle: MAX momentum", minimum=0.0, below=1.0)
    base_momentum: float = setting(0.85, MODEL, "onecycle: BASE momentum", minimum=0.0, below=1.0)
    lookahead: bool = setting(
        False,
        MODEL,
        "lookahead weight averaging (on in the speed presets)",
        negatable=True,  # training/lookahead.py
    )
    # model EMA (training/ema.py), evaluated each epoch as val_*_ema
    ema: float | None = setting(
        None,
        MODEL,
        "model EMA (timm's): average the weights with this decay (e.g. 0.999) after each "
        "optimizer step; logged as val_*_ema, best.pt by val_accuracy_ema",
        type=float,
        minimum=0.0,
        below=1.0,
        metavar="DECAY",
    )
    ema_warmup: bool = setting(
        False,
        MODEL,
        "ramp the EMA decay up over the first updates (timm's ema_warmup)",
        negatable=True,
    )
    use_ema: bool = setting(
        True,
        MODEL,
        "with --ema: the EMA is the run's model for best.pt, metrics.json, evaluate, "
        "export and predict (on); --no-use-ema keeps the trained weights for them",
        negatable=True,
    )
    augment: str | list[dict[str, Any]] = setting(
        "crop-flip",
        MODEL,
        "a preset name or an explicit op list (Compose.config())",
        flag="--augment",
        cli=False,  # --augment and the Keras-style flags: commands/_augment_flags.py
        by_hand=True,
    )
    # the resolved name is kept: config.json says which recipe filled what (presets.py)
    preset: str | None = setting(
        None,
        MODEL,
        "named recipe filling in what is not given: speed (airbench94; speed-cpu without "
        "CUDA), speed-cpu, speed95, speed96, general (the default job without --model: "
        "speed, on a CPU fitted to 10m), tutorial (cnn4, Adam, batch 32)",
        type=str,
        metavar="NAME",
    )
    tta: str = setting(
        "none",
        MODEL,
        "test-time augmentation of the final evaluation (flip-translate in the speed presets)",
        choices=("none", "flip", "flip-translate"),
    )
    # training/budget.py: a calibration fits the recipe's scale to the budget and records
    # itself in budget_choice; a config with a budget_choice (--resume, --config) is never
    # calibrated again
    time_budget: float | None = setting(
        None,
        MODEL,
        "the whole command's wall time (90s, 10m, 1h): a short calibration on this machine "
        "fits the recipe's scale to it; on a CPU the default job and --preset speed have 10m",
        type=str,  # parsed by validate: '10m' -> 600.0, a bad one a one-line error
        metavar="DURATION",
        by_hand=True,
    )
    budget_choice: dict[str, Any] | None = setting(
        None, MODEL, "the recipe --time-budget chose and the rates it measured", recorded=True
    )
    # [after_epoch, from_epochs, to_epochs] each time the --time-budget guard changed the
    # run's length (the rest of the schedule stretched to the new end: optim.replanned_progress)
    replans: list[list[int]] = setting(
        [], MODEL, "where the --time-budget guard changed the run's length", recorded=True
    )
    # ------------------------------------------------------------------ checkpoints
    # auto never picks a test_* figure: that would select on the test set
    monitor: str = setting(
        "auto",
        RUN,
        "metric for best.pt, early stopping and plateaus (default val_accuracy with a "
        "validation split, else accuracy; never test_*)",
    )
    # "end" is for the speed presets, where a write per epoch costs much of the run
    save_freq: str | int = setting(
        "epoch",
        RUN,
        "'epoch', every N steps, or 'end' (last.pt at the end only): how often last.pt is written",
        type=int,
        minimum=1,
        also=("epoch", "end"),
    )
    # ------------------------------------------------------------------ callbacks
    # (training/callbacks.py), all on `monitor`
    early_stopping_patience: int | None = setting(
        None,
        CALLBACKS,
        "stop when --monitor has not improved for N epochs (EarlyStopping)",
        type=int,
        minimum=0,
        metavar="N",
    )
    reduce_lr_patience: int | None = setting(
        None,
        CALLBACKS,
        "multiply the lr by --reduce-lr-factor after N epochs without improvement",
        type=int,
        minimum=0,
        metavar="N",
    )
    reduce_lr_factor: float = setting(
        0.1,
        CALLBACKS,
        "the lr factor of --reduce-lr-patience",
        above=0.0,
        below=1.0,
        metavar="F",
    )
    tensorboard: bool = setting(
        False,
        CALLBACKS,
        "TensorBoard logs in RUN/tensorboard, as --logger tensorboard "
        "(needs `pip install tensorboard`)",
    )
    loggers: list[str] = setting(
        [],
        CALLBACKS,
        "experiment tracking, repeatable or comma-separated: tensorboard, csv "
        "(RUN/log.csv, Keras' CSVLogger), wandb (WANDB_* settings; offline files in RUN/wandb), "
        "mlflow (MLFLOW_TRACKING_URI); each needs its extra, e.g. pip install 'augtrain[wandb]'",
        flag="--logger",
        repeatable=True,
        metavar="NAME",
        from_flag=split_names,
        by_hand=True,  # training/loggers: check_logger_names
    )
    # ------------------------------------------------------------------ machine
    # (the device policy: augtrain/device.py)
    seed: int = setting(
        0,
        RUN,
        "random seed of the weights, the shuffling and the augmentation",
        minimum=0,
        maximum=MAX_SEED,
    )
    device: str = setting(
        "auto", RUN, "auto (default: CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps"
    )
    amp: str = setting(
        "auto",
        RUN,
        "autocast: auto = bf16 on a GPU with native bf16, else float32; fp16 scales the loss",
        choices=("auto", "bf16", "fp16", "off"),
    )
    channels_last: str = setting(
        "auto",
        RUN,
        "NHWC memory layout: auto = on for CUDA, off elsewhere",
        choices=("auto", "on", "off"),
    )
    compile: bool = setting(
        False,
        RUN,
        "torch.compile the training forward/backward (costs compile time up front)",
    )
    sync_bn: bool = setting(
        False, GPUS, "synchronise batch-norm statistics across GPUs (SyncBatchNorm)"
    )
    # ------------------------------------------------------------------ run folder
    name: str | None = setting(
        None, RUN, "run folder name (default MODEL-DATE-TIME)", type=str, path=True
    )
    runs_dir: str = setting("runs", RUN, "where run folders go (default runs/)", path=True)
    overwrite: bool = setting(False, RUN, "replace an existing run folder")
    verbose: int = setting(
        1, RUN, "0: silent, 1: a progress bar, 2: one line per epoch", choices=(0, 1, 2)
    )

    def validate(self) -> TrainConfig:
        """Every setting checked on its own, then together, before any data is read:
        one-line errors naming the flag."""
        self._check_by_hand()
        for key, _ in settings():
            check_setting(key, getattr(self, key))
        self._check_relations()
        return self

    def _check_by_hand(self) -> None:
        """What the declarations cannot say: the forms only a Python caller can pass."""
        if self.time_budget is not None:
            self.time_budget = parse_duration(self.time_budget)  # '10m' from Python too
        if self.budget_choice is not None and not isinstance(self.budget_choice, dict):
            raise AugtrainError(
                f"budget_choice must be a dict (as config.json has it), got {self.budget_choice!r}"
            )
        replans = self.replans
        ok = isinstance(replans, list) and all(
            isinstance(r, (list, tuple))
            and len(r) == 3
            and all(isinstance(v, int) for v in r)
            and 0 <= r[0] <= min(r[1], r[2])
            for r in replans
        )
        if not ok:
            raise AugtrainError(
                f"replans must be a list of [after_epoch, from_epochs, to_epochs] (as "
                f"config.json has it), got {replans!r}"
            )
        self.replans = [list(r) for r in replans]
        from ..data.arrays import Dataset

        data = self.data
        if data is None or not isinstance(data, (str, os.PathLike, tuple, dict, Dataset)):
            raise AugtrainError(
                f"data= takes 'cifar10', a path, (x, y) arrays or a dict of arrays; "
                f"got {type(data).__name__}"
            )
        if isinstance(data, str) and not data.strip():
            raise AugtrainError("--data is empty: give 'cifar10', a folder, a .npz or a tarball")
        augment = self.augment
        if not isinstance(augment, str) and not (
            isinstance(augment, list) and all(isinstance(op, dict) for op in augment)
        ):
            raise AugtrainError(
                f"augment= takes a preset name or a list of op dicts, got {augment!r}"
            )
        found = non_finite(augment)
        if found:
            raise AugtrainError(f"augment: {found} must be a finite number")
        if not isinstance(self.model_options, dict):
            raise AugtrainError(f"model_options= takes a dict, got {self.model_options!r}")
        found = non_finite(self.model_options)
        if found:
            raise AugtrainError(f"--model-option {found} must be a finite number")
        for key in ("fn_col", "label_col"):
            value = getattr(self, key)
            if not isinstance(value, str) and not (_is_number(value) and isinstance(value, int)):
                raise AugtrainError(
                    f"{flag(key)} takes a header name or a 0-based position, got {value!r}"
                )
        from .loggers import check_logger_names

        check_logger_names(self.loggers)

    def _check_relations(self) -> None:
        """Settings that are fine alone but not together."""
        if self.cache_size is not None:
            check_cache_size(self.cache_size, self.target_size)
        if self.keep_aspect_ratio and self.target_size is None:
            raise AugtrainError("--keep-aspect-ratio needs --target-size (the shape to crop to)")
        if self.pretrained and self.init_from:
            raise AugtrainError(
                "--pretrained and --init-from both give starting weights; pass one of them"
            )
        if self.unfreeze_after is not None and self.freeze != "base":
            raise AugtrainError("--unfreeze-after needs --freeze base")
        if self.head == "logistic" and not self.features:
            raise AugtrainError(
                "--head logistic needs --features FILE.npz (see `augtrain features`)"
            )
        if self.nesterov and self.optimizer.lower() != "sgd":
            raise AugtrainError(
                f"--nesterov needs --optimizer sgd (it is {self.optimizer}, which has no "
                "Nesterov momentum here)"
            )
        if self.nesterov and self.momentum <= 0:
            raise AugtrainError("--nesterov needs --momentum > 0")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not isinstance(d["data"], (str, type(None))):
            d["data"] = "<arrays>"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise AugtrainError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        return cls(**{k: from_plain(k, v) for k, v in d.items()})

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
