"""The callback base classes: `Callback` (hooks), `CallbackList` (calls them in order) and
`MonitorCallback` (monitor, mode, best, min_delta: what every "best so far" shares)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ...errors import AugtrainError


class Callback:
    """Base class. Override the hooks you need; all receive a `logs` dict (or None).

    Context comes Keras' way: `set_params(params)` (epochs, steps, batch_size, samples,
    verbose) and `set_model(model)`, before training starts. `self.trainer` is the loop's
    small public surface (see `augtrain.training.loop.Trainer`): `stop_training`,
    `current_lr` / `set_current_lr(lr)` / `override_lr(lr)`, `save_checkpoint(path)`,
    `is_main`, `epoch`, `global_step`, `optimizer`, `history`, `run_dir`.
    """

    trainer: Any = None
    resumed: bool = False  # True during on_train_begin when state came from a checkpoint

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer

    def set_params(self, params: dict[str, Any]) -> None:
        self._params = dict(params)

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def params(self) -> dict[str, Any]:
        """Keras' `params`: epochs, steps (optimizer steps per epoch), batch_size, samples,
        verbose; {} before `set_params`."""
        return getattr(self, "_params", {})

    @params.setter
    def params(self, params: dict[str, Any]) -> None:
        self._params = dict(params)

    @property
    def model(self) -> Any:
        """The model being trained: the one `set_model` gave (else the trainer's)."""
        model = getattr(self, "_model", None)
        if model is None and self.trainer is not None:
            return getattr(self.trainer, "model", None)
        return model

    @model.setter
    def model(self, model: Any) -> None:
        self._model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    # Keras also names these train_batch; both are called.
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    # augtrain's own: after augtrain.train()'s final evaluation, with its metrics (those of
    # metrics.json; {} without test data), or None when the run stopped on an error or
    # interrupt. The last hook of a run: experiment trackers close their run here.
    def on_run_end(self, metrics: dict | None = None) -> None: ...

    def monitors(self) -> list[str]:
        """Metric names this callback reads from the epoch logs (checked at train start)."""
        return []

    def provides(self) -> list[str]:
        """Metric names this callback adds to the epoch logs (so others may monitor them)."""
        return []

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    # helpers for subclasses
    @property
    def is_main(self) -> bool:
        """False on ranks other than 0 under torchrun: those neither print nor write."""
        t = self.trainer
        if t is None:
            return True
        main = getattr(t, "is_main", None)
        return bool(main) if main is not None else t.dist.is_main

    def resolve_path(self, path: str | Path) -> Path:
        """Relative paths live in the run folder (when there is one)."""
        path = Path(path).expanduser()
        run_dir = getattr(self.trainer, "run_dir", None)
        return path if path.is_absolute() or run_dir is None else Path(run_dir) / path


class CallbackList:
    """Calls every hook on every callback, in order; gives each the trainer, the model and
    the params first (Keras' CallbackList)."""

    def __init__(
        self,
        callbacks: list[Callback],
        trainer: Any = None,
        model: Any = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_trainer(trainer)
            if model is not None:
                cb.set_model(model)
            if params is not None:
                cb.set_params(params)

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)

    def train_begin(self, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)
        for cb in self.callbacks:
            cb.resumed = False

    def train_end(self, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def run_end(self, metrics: dict | None) -> None:
        for cb in self.callbacks:
            cb.on_run_end(metrics)

    def epoch_begin(self, epoch: int, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def epoch_end(self, epoch: int, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def batch_begin(self, batch: int, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs)
            cb.on_train_batch_begin(batch, logs)

    def batch_end(self, batch: int, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs)
            cb.on_train_batch_end(batch, logs)

    def keys(self) -> list[str]:
        """A stable name per callback: class name and its occurrence, e.g. 'EarlyStopping#0'."""
        seen: dict[str, int] = {}
        out = []
        for cb in self.callbacks:
            name = type(cb).__name__
            out.append(f"{name}#{seen.get(name, 0)}")
            seen[name] = seen.get(name, 0) + 1
        return out

    def state_dict(self) -> dict[str, dict[str, Any]]:
        return {key: cb.state_dict() for key, cb in zip(self.keys(), self.callbacks)}

    def load_state_dict(self, states: dict[str, dict[str, Any]] | list[dict[str, Any]]) -> None:
        """States are matched by key, so adding a callback on resume leaves the others intact."""
        if isinstance(states, list):  # checkpoints of augtrain 0.1.0 stored a list
            states = dict(zip(self.keys(), states))
        for key, cb in zip(self.keys(), self.callbacks):
            if key in states:
                cb.load_state_dict(states[key])
                cb.resumed = True


# --------------------------------------------------------------------------- monitoring
# Keras' 'auto' rule: a name holding one of these is a score (higher is better); any other
# name (a loss, an error, mae) is minimised.
HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "fmeasure", "iou")


def resolve_mode(mode: str, monitor: str, who: str = "monitor") -> str:
    """'min' or 'max' for `mode`; 'auto' is Keras' rule: max for accuracy-like names
    (acc, accuracy, auc, precision, recall, f1, fmeasure, iou), min for the rest (losses)."""
    if mode not in ("auto", "min", "max"):
        raise AugtrainError(f"{who}: mode must be auto, min or max, got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.lower()
    return "max" if any(h in name for h in HIGHER_IS_BETTER) else "min"


def metric_value(logs: dict | None, monitor: str) -> float | None:
    """The monitored figure of a logs dict as a float (None when it is not there)."""
    if not logs or logs.get(monitor) is None:
        return None
    value = logs[monitor]
    return float(value.item() if isinstance(value, torch.Tensor) else value)


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class MonitorCallback(Callback):
    """A callback that watches one logged metric, as Keras 3's MonitorCallback: `monitor`,
    `mode` ('auto' by `resolve_mode`), `best` (the best value so far), `min_delta` (by how
    much a value must beat the best to count, signed towards better) and `improves()`.

    ModelCheckpoint, EarlyStopping, ReduceLROnPlateau and the run folder's best.pt share it.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        initial_best: float | None = None,
    ) -> None:
        self.monitor = monitor
        self.mode = resolve_mode(mode, monitor, type(self).__name__)
        self.min_delta = abs(min_delta) if self.mode == "max" else -abs(min_delta)
        self.initial_best = initial_best
        self.reset_best()

    @property
    def worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def reset_best(self) -> None:
        self.best = self.worst if self.initial_best is None else float(self.initial_best)

    def improves(self, value: float, reference: float | None = None) -> bool:
        """Does `value` beat `reference` (the best so far) by more than min_delta?"""
        reference = self.best if reference is None else reference
        shifted = value - self.min_delta
        return shifted < reference if self.mode == "min" else shifted > reference

    def current(self, logs: dict | None) -> float | None:
        """The monitored value in `logs` (None when it is not there)."""
        return metric_value(logs, self.monitor)

    def monitors(self) -> list[str]:
        return [self.monitor]
