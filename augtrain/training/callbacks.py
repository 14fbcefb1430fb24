"""Callbacks with Keras' names and hooks.

A callback gets `self.trainer` (with `.model`, `.optimizer`, `.history`,
`.stop_training`, `.lr_scale`) and `logs` dicts. State that must survive a
resume goes in `state_dict()` / `load_state_dict()`; the trainer stores it in
every checkpoint.
"""

from __future__ import annotations

from typing import Any


class Callback:
    trainer: Any = None

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer

    @property
    def model(self) -> Any:
        return None if self.trainer is None else self.trainer.model

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    # Keras also names these train_batch; both are called.
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def monitors(self) -> list[str]:
        """Metric names this callback needs in the epoch logs (checked at train start)."""
        return []

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class CallbackList:
    """Calls every hook on every callback, in order."""

    def __init__(self, callbacks: list[Callback], trainer: Any) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_trainer(trainer)

    def __iter__(self):
        return iter(self.callbacks)

    def train_begin(self, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def train_end(self, logs: dict) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

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

    def state_dict(self) -> list[dict[str, Any]]:
        return [cb.state_dict() for cb in self.callbacks]

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        for cb, state in zip(self.callbacks, states):
            cb.load_state_dict(state)


class History(Callback):
    """`history.history` maps each metric to its list of per-epoch values, as in Keras."""

    def __init__(self) -> None:
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: list(v) for k, v in state.get("history", {}).items()}
        self.epoch = list(state.get("epoch", []))
