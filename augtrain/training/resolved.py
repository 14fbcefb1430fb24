"""What a run's settings resolve to, for training and for reading a run back later: its
augmentation pipeline, the metric it monitors, and the check on its data's class names.

training/run.py builds a run with them; training/evaluate.py and training/results.py use
them on a finished run (which is why they are not in run.py: those two would otherwise
import the module that imports them).
"""

from __future__ import annotations

import os
from typing import Any

from ..augment import Compose, build_pipeline, preset
from ..data import Dataset
from ..errors import AugtrainError
from .callbacks.base import resolve_mode
from .config import TrainConfig


def make_pipeline(config: TrainConfig) -> Compose:
    if isinstance(config.augment, str):
        pipeline = preset(config.augment, seed=config.seed)
    else:
        pipeline = build_pipeline(config.augment, seed=config.seed)
    if config.cache_size is not None and tuple(config.cache_size) != tuple(config.target_size):
        to_target(pipeline, tuple(config.target_size))
    return pipeline


def to_target(pipeline: Compose, target: tuple[int, int]) -> Compose:
    """Training images cached larger than the model's input (--cache-size) leave the
    pipeline at `target`: a RandomResizedCrop without a size crops to it, and a final
    CenterCrop (a no-op at that size) brings whatever else the pipeline gives there."""
    from ..augment.ops import CenterCrop, RandomResizedCrop

    for op in pipeline.ops:
        if isinstance(op, RandomResizedCrop) and op.size is None:
            op.size = list(target)
    pipeline.ops.append(CenterCrop(list(target)))
    return pipeline


def resolve_monitor(config: TrainConfig, val_name: str | None) -> tuple[str, str]:
    """The metric of best.pt and the flags' callbacks, and its mode (Keras' 'auto' rule,
    `callbacks.resolve_mode`, as every monitoring callback's). "auto" is the validation
    split's accuracy (its EMA's with --ema, as timm), else the training
    accuracy: never the test split's, which is shown each epoch but chooses nothing."""
    monitor = config.monitor
    if monitor == "auto":
        ema = config.ema is not None and config.use_ema
        monitor = (
            ("val_accuracy_ema" if ema else "val_accuracy") if val_name == "val" else "accuracy"
        )
    return monitor, resolve_mode("auto", monitor)


def check_class_names(data: Dataset, source: Any) -> Dataset:
    """Class names are written to CSV, JSON and plots as UTF-8: a folder name that is not
    (undecodable bytes, kept by Python as surrogates) fails there, after training."""
    for name in data.classes:
        try:
            str(name).encode("utf-8")
        except UnicodeEncodeError:
            shown = str(name).encode("utf-8", "surrogateescape")
            where = source if isinstance(source, (str, os.PathLike)) else "data"
            raise AugtrainError(
                f"{where}: class name {shown!r} is not valid UTF-8; rename that folder"
            ) from None
    return data
