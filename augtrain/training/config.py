"""TrainConfig: every setting of a run, with Keras' names where the meaning is the same.

The resolved config is written to config.json in the run folder; `TrainConfig.from_dict`
reads it back, which is how `--resume` and `evaluate` rebuild a run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import AugtrainError

# torch.manual_seed takes at most 64 bits; a seed beyond 63 is an error there or a wrap.
MAX_SEED = 2**63 - 1


def flag(key: str) -> str:
    """A TrainConfig field as the CLI flag that sets it."""
    return "--" + key.replace("_", "-")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_number(
    key: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> None:
    """One-line error unless `value` is a finite number (an integer if asked) in the range."""
    kind = "an integer" if integer else "a number"
    if not _is_number(value) or (integer and not isinstance(value, int)):
        raise AugtrainError(f"{flag(key)} {value!r}: must be {kind}")
    if not math.isfinite(value):
        raise AugtrainError(f"{flag(key)} {value}: must be a finite number")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        show = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
        lo = "" if low is None else f"{'>' if low_open else '>='} {show(low)}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {show(high)}"
        need = " and ".join(p for p in (lo, hi) if p)
        raise AugtrainError(f"{flag(key)} {value}: must be {kind} {need}")


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
    # data
    data: Any = "cifar10"
    target_size: tuple[int, int] | None = None
    # decode and cache folder images at this (larger) size; training crops them to
    # target_size on the device each batch, evaluation centre crops (fastai's presizing)
    cache_size: tuple[int, int] | None = None
    # a CSV of file and class name per image (fastai's from_csv): columns by header
    # name or 0-based position; files relative to --data DIR, else to the CSV's folder
    labels: str | None = None
    fn_col: str | int = 0
    label_col: str | int = 1
    color_mode: str = "rgb"
    interpolation: str = "bilinear"
    classes: list[str] | None = None
    validation_split: float = 0.0
    validation: str = (
        "auto"  # auto: the split if --validation-split, else the test set; or "test", "none"
    )
    cache_dir: str | None = None
    # model
    model: str = "cnn4"
    model_options: dict[str, Any] = field(default_factory=dict)
    input_norm: str = "standardize"  # standardize: per-channel train mean/std; rescale: x/255 only
    # categorical: softmax cross-entropy; binary (2 classes): one logit, sigmoid, binary
    # cross-entropy (Keras' class_mode="binary"; see report/metrics.py)
    label_mode: str = "categorical"
    # transfer learning (models/transfer.py)
    pretrained: bool = False  # the model's published ImageNet weights (models/pretrained.py)
    init_from: str | None = None  # run folder, augtrain checkpoint or state_dict file
    freeze: str | None = None  # "base": train only the head
    unfreeze_after: int | None = None  # epochs after which the base trains too
    base_lr_mult: float = 1.0  # lr multiplier of the base (optimizer group "lr_mult")
    head: str | None = None  # "logistic": scikit-learn on --features instead of a network
    features: str | None = None  # .npz written by `augtrain features`
    # optimisation
    epochs: int = 10
    batch_size: int = 32  # the global batch: under torchrun each rank gets batch_size / world_size
    # gradient accumulation: each optimizer step sums the gradients of `accumulate` batches of
    # batch_size (an effective batch of batch_size * accumulate, as fastai and timm mean it)
    accumulate: int = 1
    optimizer: str = "adam"
    # None: the optimizer's usual default (see optim.DEFAULT_LR); "auto": the learning-rate
    # finder's suggestion (training/lr_find.py), recorded here as a number once found
    lr: float | str | None = None
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    clip_grad_norm: float | None = None  # clip the gradients' total L2 norm to this
    label_smoothing: float = 0.0
    schedule: str = "constant"
    gamma: float = 0.1
    step_size: int = 30
    warmup_epochs: float = 0.0
    lr_start_factor: float = 0.0  # triangle: lr factor at step 0 (rises to 1 at warmup_epochs)
    lr_end_factor: float = 0.0  # triangle: lr factor at the last step
    # onecycle, torch's OneCycleLR: lr / div_factor up to lr over pct_start of training (fastai's
    # 0.25; torch's 0.3), down to lr / (div_factor * final_div_factor), cosine; meanwhile the
    # momentum (Adam's beta1) goes max_momentum -> base_momentum -> max_momentum if cycle_momentum
    pct_start: float = 0.25
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    cycle_momentum: bool = True
    max_momentum: float = 0.95
    base_momentum: float = 0.85
    lookahead: bool = False  # lookahead weight averaging (training/lookahead.py)
    # model EMA (training/ema.py): a moving average of the weights with this decay, evaluated
    # each epoch as val_*_ema; with use_ema it is the run's model (best.pt chosen by its
    # val_accuracy_ema, metrics.json, evaluate, export, predict)
    ema: float | None = None
    ema_warmup: bool = False  # timm's ema_warmup: the decay ramps up over the first updates
    use_ema: bool = True
    # augmentation: a preset name or an explicit op list (Compose.config())
    augment: str | list[dict[str, Any]] = "crop-flip"
    # named recipe whose values fill what was not given (training/presets.py); the resolved name
    preset: str | None = None
    tta: str = "none"  # test-time augmentation of the final evaluation: none, flip, flip-translate
    # checkpoints and monitoring
    # auto: val_accuracy (val_accuracy_ema with --ema) when a validation split is evaluated
    # each epoch, else accuracy; never a test_* figure (that would select on the test set)
    monitor: str = "auto"
    # "epoch", every N optimizer steps (last.pt), or "end": last.pt at the end (and on
    # interrupt) only, no best.pt - the speed presets, where a write per epoch costs seconds
    save_freq: str | int = "epoch"
    # callbacks from flags (training/callbacks.py), all on `monitor`
    early_stopping_patience: int | None = None  # EarlyStopping(patience=N)
    reduce_lr_patience: int | None = None  # ReduceLROnPlateau(patience=N, factor=...)
    reduce_lr_factor: float = 0.1
    tensorboard: bool = False  # TensorBoard logs in runs/<name>/tensorboard
    # experiment trackers (training/loggers/): tensorboard, csv, wandb, mlflow
    loggers: list[str] = field(default_factory=list)
    # machine
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto: bf16 on a GPU with native bf16, else off; "bf16", "fp16", "off"
    # (the device policy: augtrain/device.py)
    channels_last: str = "auto"
    compile: bool = False
    sync_bn: bool = False
    # run folder
    name: str | None = None
    runs_dir: str = "runs"
    overwrite: bool = False
    verbose: int = 1

    def validate(self) -> TrainConfig:
        """Every setting checked on its own, before any data is read: one-line errors."""
        self._check_types()
        for key in ("early_stopping_patience", "reduce_lr_patience"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 0):
                flag = "--" + key.replace("_", "-")
                raise AugtrainError(f"{flag} must be an integer >= 0, got {value!r}")
        if not 0.0 < self.reduce_lr_factor < 1.0:
            raise AugtrainError(
                f"--reduce-lr-factor must lie in (0, 1), got {self.reduce_lr_factor}"
            )
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise AugtrainError(f"--epochs must be an integer >= 1, got {self.epochs}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise AugtrainError(f"--batch-size must be an integer >= 1, got {self.batch_size}")
        check_number("accumulate", self.accumulate, 1, integer=True)
        if self.clip_grad_norm is not None:
            check_number("clip_grad_norm", self.clip_grad_norm, 0.0, low_open=True)
        if self.ema is not None:
            check_number("ema", self.ema, 0.0, 1.0, high_open=True)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise AugtrainError(f"--label-smoothing must lie in [0, 1), got {self.label_smoothing}")
        if self.validation not in ("auto", "split", "test", "none"):
            raise AugtrainError(
                f"--validation must be auto, split, test or none, got {self.validation!r}"
            )
        if self.input_norm not in ("standardize", "rescale"):
            raise AugtrainError(
                f"--input-norm must be standardize or rescale, got {self.input_norm!r}"
            )
        if self.tta not in ("none", "flip", "flip-translate"):
            raise AugtrainError(f"--tta must be none, flip or flip-translate, got {self.tta!r}")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise AugtrainError(f"--amp must be auto, bf16, fp16 or off, got {self.amp!r}")
        if self.save_freq not in ("epoch", "end") and (
            not isinstance(self.save_freq, int) or self.save_freq < 1
        ):
            raise AugtrainError(
                f"--save-freq must be 'epoch', 'end' or an integer >= 1, got {self.save_freq!r}"
            )
        if self.label_mode not in ("categorical", "binary"):
            raise AugtrainError(
                f"--label-mode must be categorical or binary, got {self.label_mode!r}"
            )
        if not isinstance(self.pretrained, bool):
            raise AugtrainError(f"--pretrained takes true or false, got {self.pretrained!r}")
        if self.pretrained and self.init_from:
            raise AugtrainError(
                "--pretrained and --init-from both give starting weights; pass one of them"
            )
        if self.freeze not in (None, "none", "base"):
            raise AugtrainError(f"--freeze must be base or none, got {self.freeze!r}")
        if self.unfreeze_after is not None:
            if self.freeze != "base":
                raise AugtrainError("--unfreeze-after needs --freeze base")
            if not isinstance(self.unfreeze_after, int) or self.unfreeze_after < 0:
                raise AugtrainError(
                    f"--unfreeze-after must be an integer >= 0, got {self.unfreeze_after}"
                )
        if not self.base_lr_mult > 0:
            raise AugtrainError(f"--base-lr-mult must be > 0, got {self.base_lr_mult}")
        if self.head not in (None, "logistic"):
            raise AugtrainError(f"--head must be logistic, got {self.head!r}")
        if self.head == "logistic" and not self.features:
            raise AugtrainError(
                "--head logistic needs --features FILE.npz (see `augtrain features`)"
            )
        self._check_numbers()
        self._check_optimizer()
        from .loggers import check_logger_names

        check_logger_names(self.loggers)
        return self

    def _check_types(self) -> None:
        """What only a Python caller can get wrong: the type of a keyword."""
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
        found = non_finite(self.model_options)
        if found:
            raise AugtrainError(f"--model-option {found} must be a finite number")
        for key in ("model", "optimizer", "schedule", "monitor", "color_mode", "interpolation"):
            if not isinstance(getattr(self, key), str):
                raise AugtrainError(f"{flag(key)} must be a name, got {getattr(self, key)!r}")
        for key in ("name", "init_from", "features", "cache_dir", "labels"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise AugtrainError(f"{flag(key)} must be a path or name, got {value!r}")
        if not isinstance(self.runs_dir, (str, os.PathLike)) or not str(self.runs_dir):
            raise AugtrainError(f"--runs-dir must be a folder path, got {self.runs_dir!r}")
        if not isinstance(self.model_options, dict):
            raise AugtrainError(f"model_options= takes a dict, got {self.model_options!r}")
        if self.classes is not None and (
            isinstance(self.classes, str) or not all(isinstance(c, str) for c in self.classes)
        ):
            raise AugtrainError(f"--classes takes a list of folder names, got {self.classes!r}")
        if self.verbose not in (0, 1, 2) or isinstance(self.verbose, bool):
            raise AugtrainError(f"--verbose must be 0, 1 or 2, got {self.verbose!r}")

    def _check_numbers(self) -> None:
        """Finite numbers in range: a NaN or infinity trains silently on NaN otherwise."""
        if self.target_size is not None:
            size = self.target_size
            if (
                not isinstance(size, (tuple, list))
                or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
                or min(size) < 1
            ):
                raise AugtrainError(f"--target-size takes two integers H W >= 1, got {size!r}")
        if self.cache_size is not None:
            size = self.cache_size
            if (
                not isinstance(size, (tuple, list))
                or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
                or min(size) < 1
            ):
                raise AugtrainError(f"--cache-size takes two integers H W >= 1, got {size!r}")
            if self.target_size is None:
                raise AugtrainError("--cache-size needs --target-size (the size the model takes)")
            if size[0] < self.target_size[0] or size[1] < self.target_size[1]:
                raise AugtrainError(
                    f"--cache-size {size[0]} {size[1]} must be at least --target-size "
                    f"{self.target_size[0]} {self.target_size[1]}"
                )
        check_number("seed", self.seed, 0, MAX_SEED, integer=True)
        check_number("validation_split", self.validation_split, 0.0, 1.0, high_open=True)
        if self.lr is not None and self.lr != "auto":
            if isinstance(self.lr, str):
                raise AugtrainError(f"--lr {self.lr!r}: must be a number > 0 or 'auto'")
            check_number("lr", self.lr, 0.0, low_open=True)
        check_number("momentum", self.momentum, 0.0, 1.0, high_open=True)
        check_number("weight_decay", self.weight_decay, 0.0)
        check_number("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        check_number("gamma", self.gamma, 0.0, low_open=True)
        check_number("step_size", self.step_size, 1, integer=True)
        check_number("warmup_epochs", self.warmup_epochs, 0.0)
        check_number("lr_start_factor", self.lr_start_factor, 0.0)
        check_number("lr_end_factor", self.lr_end_factor, 0.0)
        check_number("base_lr_mult", self.base_lr_mult, 0.0, low_open=True)
        check_number("reduce_lr_factor", self.reduce_lr_factor, 0.0, 1.0, True, True)

    def _check_optimizer(self) -> None:
        from .optim import OPTIMIZERS, SCHEDULES

        if self.optimizer.lower() not in OPTIMIZERS:
            raise AugtrainError(
                f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise AugtrainError(
                f"unknown --schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}"
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
        d = dict(d)
        for key in ("target_size", "cache_size"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
