"""ReduceLROnPlateau: multiply the learning rate by `factor` on a plateau."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import AugtrainError
from .base import MonitorCallback


def _f32(x: float) -> float:
    return float(np.float32(x))


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience` epochs.

    As Keras: improvement means by more than `min_delta`; after a reduction, `cooldown`
    epochs pass before waiting starts again; the rate never goes below `min_lr`. It acts
    on `trainer.lr_scale`, a factor on top of the --schedule (or on the rate a
    LearningRateScheduler set), so a decaying schedule keeps decaying from the reduced rate.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if not 0.0 < factor < 1.0:
            raise AugtrainError(f"ReduceLROnPlateau: factor must lie in (0, 1), got {factor}")
        super().__init__(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self._reset()

    def _reset(self) -> None:
        self.reset_best()
        self.cooldown_counter = 0
        self.wait = 0

    def improves(self, value: float, reference: float | None = None) -> bool:
        # As Keras' ReduceLROnPlateau: compared with best -/+ min_delta (EarlyStopping
        # shifts the value instead; the two differ in float rounding only)
        reference = self.best if reference is None else reference
        if self.mode == "min":
            return value < reference + self.min_delta  # min_delta is signed: -abs here
        return value > reference + self.min_delta

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.resumed:
            self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = self.current(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improves(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.trainer.current_lr
                if _f32(old) > _f32(self.min_lr):  # compared in float32, as Keras does
                    new = max(old * self.factor, self.min_lr)
                    self.trainer.set_current_lr(new)
                    if self.verbose and self.is_main:
                        print(
                            f"Epoch {epoch + 1:05d}: ReduceLROnPlateau reducing learning rate to {new}.",
                            flush=True,
                        )
                    self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "cooldown_counter": self.cooldown_counter, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait = state["best"], state["wait"]
        self.cooldown_counter = state["cooldown_counter"]
