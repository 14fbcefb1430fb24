"""TrainConfig: every setting of a run, with Keras' names where the meaning is the same.

The resolved config is written to config.json in the run folder; `TrainConfig.from_dict`
reads it back, which is how `--resume` and `evaluate` rebuild a run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import AugtrainError


@dataclass
class TrainConfig:
    # data
    data: Any = "cifar10"
    target_size: tuple[int, int] | None = None
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
    # transfer learning (models/transfer.py)
    init_from: str | None = None  # run folder, augtrain checkpoint or state_dict file
    freeze: str | None = None  # "base": train only the head
    unfreeze_after: int | None = None  # epochs after which the base trains too
    base_lr_mult: float = 1.0  # lr multiplier of the base (optimizer group "lr_mult")
    head: str | None = None  # "logistic": scikit-learn on --features instead of a network
    features: str | None = None  # .npz written by `augtrain features`
    # optimisation
    epochs: int = 10
    batch_size: int = 32  # the global batch: under torchrun each rank gets batch_size / world_size
    optimizer: str = "adam"
    lr: float | None = None  # None: the optimizer's usual default (see optim.DEFAULT_LR)
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
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
    # augmentation: a preset name or an explicit op list (Compose.config())
    augment: str | list[dict[str, Any]] = "crop-flip"
    # named recipe whose values fill what was not given (training/presets.py); the resolved name
    preset: str | None = None
    tta: str = "none"  # test-time augmentation of the final evaluation: none, flip, flip-translate
    # checkpoints and monitoring
    monitor: str = "auto"  # auto: val_accuracy when there is validation, else accuracy
    # "epoch", every N optimizer steps (last.pt), or "end": last.pt at the end (and on
    # interrupt) only, no best.pt - the speed presets, where a write per epoch costs seconds
    save_freq: str | int = "epoch"
    # callbacks from flags (training/callbacks.py), all on `monitor`
    early_stopping_patience: int | None = None  # EarlyStopping(patience=N)
    reduce_lr_patience: int | None = None  # ReduceLROnPlateau(patience=N, factor=...)
    reduce_lr_factor: float = 0.1
    tensorboard: bool = False  # TensorBoard logs in runs/<name>/tensorboard
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
        for key in ("early_stopping_patience", "reduce_lr_patience"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 0):
                flag = "--" + key.replace("_", "-")
                raise AugtrainError(f"{flag} must be an integer >= 0, got {value!r}")
        if not 0.0 < self.reduce_lr_factor < 1.0:
            raise AugtrainError(
                f"--reduce-lr-factor must lie in (0, 1), got {self.reduce_lr_factor}"
            )
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise AugtrainError(f"--epochs must be an integer >= 1, got {self.epochs}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise AugtrainError(f"--batch-size must be an integer >= 1, got {self.batch_size}")
        if self.lr is not None and self.lr <= 0:
            raise AugtrainError(f"--lr must be > 0, got {self.lr}")
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
        return self

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
        if d.get("target_size") is not None:
            d["target_size"] = tuple(d["target_size"])
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)
