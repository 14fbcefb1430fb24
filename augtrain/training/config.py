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
    # optimisation
    epochs: int = 10
    batch_size: int = 32
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
    # augmentation: a preset name or an explicit op list (Compose.config())
    augment: str | list[dict[str, Any]] = "crop-flip"
    # checkpoints and monitoring
    monitor: str = "auto"  # auto: val_accuracy when there is validation, else accuracy
    save_freq: str | int = "epoch"  # "epoch" or every N optimizer steps (last.pt)
    # machine
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto: bf16 autocast on CUDA, off on CPU; or "bf16", "fp16", "off"
    channels_last: str = "auto"
    compile: bool = False
    sync_bn: bool = False
    # run folder
    name: str | None = None
    runs_dir: str = "runs"
    overwrite: bool = False
    verbose: int = 1

    def validate(self) -> TrainConfig:
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
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise AugtrainError(f"--amp must be auto, bf16, fp16 or off, got {self.amp!r}")
        if self.save_freq != "epoch" and (
            not isinstance(self.save_freq, int) or self.save_freq < 1
        ):
            raise AugtrainError(
                f"--save-freq must be 'epoch' or an integer >= 1, got {self.save_freq!r}"
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
