"""EarlyStopping: stop when the monitored metric stops improving."""

from __future__ import annotations

from typing import Any

import torch

from .base import MonitorCallback, cpu_state


class EarlyStopping(MonitorCallback):
    """Stop training when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    As Keras: `baseline` is a value the monitor must beat before waiting restarts;
    epochs before `start_from_epoch` are not counted; with `restore_best_weights`, the
    model gets the weights of its best epoch back when training is stopped.
    Prints "Epoch 00012: early stopping" at the end with verbose=1.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose = patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.reset_best()
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.resumed:
            self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = self.current(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = cpu_state(self.model)  # if nothing ever improves
        self.wait += 1
        if self.improves(current):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = cpu_state(self.model)
            if self.baseline is None or self.improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                if self.verbose and self.is_main:
                    print(
                        "Restoring model weights from the end of the best epoch: "
                        f"{self.best_epoch + 1}.",
                        flush=True,
                    )
                self.model.load_state_dict(self.best_weights)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose and self.is_main:
            print(f"Epoch {self.stopped_epoch + 1:05d}: early stopping", flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.best_weights = state.get("best_weights")
