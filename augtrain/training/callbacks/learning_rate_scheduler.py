"""LearningRateScheduler: schedule(epoch, lr) -> lr, at the start of each epoch."""

from __future__ import annotations

import math
from collections.abc import Callable

from ...errors import AugtrainError
from .base import Callback


class LearningRateScheduler(Callback):
    """At the start of each epoch, set the learning rate to `schedule(epoch, lr)`.

    `epoch` counts from 0 and `lr` is the rate in use (as in Keras; a one-argument
    `schedule(epoch)` works too). The returned rate holds for the whole epoch and replaces
    the --schedule (and any lr_scale) while this callback is in use.
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        lr = self.trainer.current_lr
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # Keras accepts schedule(epoch) too
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int)) or not math.isfinite(lr):
            raise AugtrainError(
                f"LearningRateScheduler: the schedule must return a finite number, got {lr!r}"
            )
        self.trainer.override_lr(float(lr))
        if self.verbose and self.is_main:
            print(
                f"Epoch {epoch + 1:05d}: LearningRateScheduler setting learning rate to {lr}.",
                flush=True,
            )
