"""Callbacks with Keras' names, arguments, hooks and printed lines.

    Callback                base class: on_train_begin/end, on_epoch_begin/end, on_batch_begin/end
    History                 history.history[metric] -> per-epoch values
    ModelCheckpoint         "Epoch 00006: val_loss improved from 0.96208 to 0.91498, saving model to ..."
    EarlyStopping           stop when the monitored metric stops improving
    ReduceLROnPlateau       multiply the learning rate by `factor` on a plateau
    LearningRateScheduler   schedule(epoch, lr) -> lr, at the start of each epoch
    CSVLogger               one row per epoch
    TerminateOnNaN          stop at the first non-finite loss
    TensorBoard             scalars for TensorBoard (needs the optional `tensorboard` package)

Experiment trackers (W&B, MLflow) are in training/loggers/, chosen with --logger.

A callback sees `self.trainer` (`.model`, `.optimizer`, `.history`, `.epoch`,
`.global_step`, `.current_lr`, `.dist`) and `logs` dicts. It stops training with
`self.trainer.stop_training = True` (or, as in Keras, `self.model.stop_training = True`).

Where augtrain differs from Keras, on purpose:
- Relative file paths (ModelCheckpoint, CSVLogger, TensorBoard) are taken inside the run
  folder (`runs/<name>/`), so a run folder holds everything a run wrote; absolute paths
  are used as given. Every file except TensorBoard's event stream is written atomically.
- A monitored name that is never logged is an error when training starts, not a warning
  at every epoch: `monitors()` declares the names a callback reads.
- State that must survive a resume is in `state_dict()` / `load_state_dict()`; the trainer
  stores it in every checkpoint. After a resume `self.resumed` is True during
  `on_train_begin`, and the built-in callbacks keep their state instead of resetting it.
- Under torchrun every rank runs every callback on the same (all-reduced) logs; only
  rank 0 prints and writes files.
- In `on_batch_end` logs, `loss` is a 0-d tensor (reading it with float() syncs the device).
"""

from __future__ import annotations

import csv
import io
import math
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import AugtrainError, missing_package
from ..io import save_torch, write_text


class Callback:
    """Base class. Override the hooks you need; all receive a `logs` dict (or None)."""

    trainer: Any = None
    resumed: bool = False  # True during on_train_begin when state came from a checkpoint

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer

    @property
    def model(self) -> Any:
        return None if self.trainer is None else self.trainer.model

    @property
    def params(self) -> dict[str, Any]:
        """Keras' `params`: epochs, steps (per epoch), batch_size, verbose."""
        t = self.trainer
        if t is None:
            return {}
        return {
            "epochs": t.config.epochs,
            # optimizer steps (one per --accumulate batches)
            "steps": getattr(t, "steps_per_epoch", None)
            or math.ceil(len(t.train) / t.config.batch_size),
            "batch_size": t.config.batch_size,
            "verbose": t.config.verbose,
        }

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
        return self.trainer is None or self.trainer.dist.is_main

    def resolve_path(self, path: str | Path) -> Path:
        """Relative paths live in the run folder (when there is one)."""
        path = Path(path).expanduser()
        run_dir = getattr(self.trainer, "run_dir", None)
        return path if path.is_absolute() or run_dir is None else Path(run_dir) / path


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


# --------------------------------------------------------------------------- monitoring
def resolve_mode(mode: str, monitor: str, who: str) -> str:
    """Keras' 'auto': max for accuracy-like names, min for the rest (losses)."""
    if mode not in ("auto", "min", "max"):
        raise AugtrainError(f"{who}: mode must be auto, min or max, got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.lower()
    higher = ("acc", "auc", "precision", "recall", "f1", "fmeasure", "iou")
    return "max" if any(h in name for h in higher) else "min"


def _value(logs: dict | None, monitor: str) -> float | None:
    if not logs or logs.get(monitor) is None:
        return None
    value = logs[monitor]
    return float(value.item() if isinstance(value, torch.Tensor) else value)


def _f32(x: float) -> float:
    return float(np.float32(x))


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class ModelCheckpoint(Callback):
    """Save the model every epoch (or every `save_freq` steps), or only when `monitor` improves.

    filepath: a template such as "weights.{epoch:02d}-{val_loss:.2f}.pt", filled with the
        epoch (from 1), the batch (from 1, with an integer save_freq) and the logs; relative
        paths go in the run folder.
    save_weights_only: True writes `model.state_dict()` (load it with
        `model.load_state_dict(torch.load(path))`); False writes a full augtrain checkpoint
        (model, optimizer, schedule, callbacks, RNG) that `augtrain.training.checkpoint.load_model`
        and `augtrain evaluate` read.
    save_freq: "epoch", or an integer N: every N optimizer steps, judged on the running
        loss/accuracy of the epoch so far (as Keras does).
    initial_value_threshold: with save_best_only, the value the monitor must beat first.
    """

    def __init__(
        self,
        filepath: str | Path,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        self.filepath = str(filepath)
        self.monitor, self.verbose = monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = resolve_mode(mode, monitor, "ModelCheckpoint")
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq < 1):
            raise AugtrainError(
                f"ModelCheckpoint: save_freq must be 'epoch' or an integer >= 1, got {save_freq!r}"
            )
        self.save_freq = save_freq
        self.fields = _template_fields(self.filepath)
        if save_freq != "epoch":
            batch_logs = {"loss", "accuracy", "epoch", "batch"}
            needed = set(self.fields) | ({monitor} if save_best_only else set())
            if needed - batch_logs:
                raise AugtrainError(
                    f"ModelCheckpoint: with save_freq={save_freq} only loss and accuracy (of the "
                    f"epoch so far) are known; {', '.join(sorted(needed - batch_logs))} is per epoch"
                )
        self.initial = initial_value_threshold
        self.best = self._initial_best()

    def _initial_best(self) -> float:
        if self.initial is not None:
            return float(self.initial)
        return math.inf if self.mode == "min" else -math.inf

    def monitors(self) -> list[str]:
        names = [f for f in self.fields if f not in ("epoch", "batch")]
        return ([self.monitor] if self.save_best_only else []) + names

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.resumed:
            self.best = self._initial_best()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, dict(logs or {}))

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        t = self.trainer
        if self.save_freq != "epoch" and t.global_step % self.save_freq == 0:
            self._save(t.epoch, batch, {**t.running_logs(), "batch": batch + 1})

    def _save(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> None:
        try:
            path = self.resolve_path(self.filepath.format(**{**logs, "epoch": epoch + 1}))
        except (KeyError, IndexError, ValueError) as e:
            raise AugtrainError(f"ModelCheckpoint: cannot fill {self.filepath!r}: {e}") from None
        if self.save_best_only:
            current = _value(logs, self.monitor)
            if current is None:
                self._print(f"Can save best model only with {self.monitor} available, skipping.")
                return
            if not (current < self.best if self.mode == "min" else current > self.best):
                self._print(
                    f"Epoch {epoch + 1:05d}: {self.monitor} did not improve from {self.best:0.5f}"
                )
                return
            self._print(
                f"Epoch {epoch + 1:05d}: {self.monitor} improved from {self.best:0.5f} to "
                f"{current:0.5f}, saving model to {path}"
            )
            self.best = current
        else:
            self._print(f"Epoch {epoch + 1:05d}: saving model to {path}")
        if self.save_weights_only:
            if self.is_main:
                save_torch(path, _cpu_state(self.trainer.model))
        else:
            self.trainer.save_checkpoint(path)  # every rank calls it (collective under DDP)

    def _print(self, message: str) -> None:
        if self.verbose and self.is_main:
            print(message, flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best", self.best)


def _template_fields(template: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise AugtrainError(f"ModelCheckpoint: bad filepath template {template!r}: {e}") from None
    return [name.split(".")[0].split("[")[0] for _, name, _, _ in parsed if name]


class EarlyStopping(Callback):
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
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.mode = resolve_mode(mode, monitor, "EarlyStopping")
        self.min_delta = abs(min_delta) if self.mode == "max" else -abs(min_delta)
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.best_epoch = 0

    def monitors(self) -> list[str]:
        return [self.monitor]

    def _improves(self, value: float, reference: float) -> bool:
        shifted = value - self.min_delta
        return shifted < reference if self.mode == "min" else shifted > reference

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.resumed:
            self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = _value(logs, self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _cpu_state(self.trainer.model)  # if nothing ever improves
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _cpu_state(self.trainer.model)
            if self.baseline is None or self._improves(current, self.baseline):
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
                self.trainer.model.load_state_dict(self.best_weights)

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


class ReduceLROnPlateau(Callback):
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
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode = resolve_mode(mode, monitor, "ReduceLROnPlateau")
        self.min_delta, self.cooldown, self.min_lr = abs(min_delta), cooldown, min_lr
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def monitors(self) -> list[str]:
        return [self.monitor]

    def _improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.resumed:
            self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        current = _value(logs, self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
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
        self.trainer.lr_override = float(lr)
        self.trainer.set_current_lr(float(lr))
        if self.verbose and self.is_main:
            print(
                f"Epoch {epoch + 1:05d}: LearningRateScheduler setting learning rate to {lr}.",
                flush=True,
            )


class CSVLogger(Callback):
    """One row per epoch in a CSV file, as Keras: an `epoch` column counted from 0, then the
    logged metrics in sorted order. `append=True` keeps the rows of an earlier file.

    The whole file is rewritten atomically each epoch (rows are kept in the callback's
    state), so a killed and resumed run leaves exactly one row per epoch.
    """

    def __init__(self, filename: str | Path, separator: str = ",", append: bool = False) -> None:
        self.filename, self.sep, self.append = filename, separator, append
        self.prefix = ""
        self.keys: list[str] | None = None
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.resumed:
            return
        self.keys, self.rows, self.prefix = None, [], ""
        path = self.resolve_path(self.filename)
        if self.append and path.exists():
            text = path.read_text(encoding="utf-8")
            self.prefix = text if not text or text.endswith("\n") else text + "\n"
            header = next(csv.reader(io.StringIO(text), delimiter=self.sep), None)
            self.keys = [k for k in header[1:]] if header else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {k: v for k, v in (logs or {}).items() if k != "epoch"}
        if self.keys is None:
            self.keys = sorted(logs)
        self.rows.append({"epoch": epoch, **{k: _csv_value(logs.get(k, "NA")) for k in self.keys}})
        if not self.is_main:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf,
            ["epoch", *self.keys],
            delimiter=self.sep,
            lineterminator="\n",
            extrasaction="ignore",
        )
        if not self.prefix:
            writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.resolve_path(self.filename), self.prefix + buf.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "keys": self.keys, "rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prefix, self.keys = state["prefix"], state["keys"]
        self.rows = [dict(r) for r in state["rows"]]


def _csv_value(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        v = v.item() if v.numel() == 1 else v.tolist()
    if isinstance(v, (list, tuple)):
        return '"[' + ", ".join(map(str, v)) + ']"'
    return v


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite (syncs the device each batch)."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        finite = (
            bool(torch.isfinite(loss).all())
            if isinstance(loss, torch.Tensor)
            else math.isfinite(loss)
        )
        if not finite:
            if self.is_main:
                print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.trainer.stop_training = True


class TensorBoard(Callback):
    """Epoch scalars for TensorBoard in Keras' layout: `log_dir/train` and `log_dir/validation`
    (`log_dir/test` when the per-epoch evaluation is the test split's test_* figures),
    tags `epoch_loss`, `epoch_accuracy` (and `epoch_learning_rate`); with an integer
    `update_freq`, `batch_loss` every N steps too. Needs the `tensorboard` package
    (`pip install tensorboard`); view with `tensorboard --logdir runs/<name>/tensorboard`.
    On resume, events after the checkpoint are dropped (SummaryWriter's purge_step).
    """

    def __init__(
        self, log_dir: str | Path = "tensorboard", update_freq: str | int = "epoch"
    ) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise missing_package("TensorBoard logging", "tensorboard", "tensorboard") from None
        if update_freq != "epoch" and (not isinstance(update_freq, int) or update_freq < 1):
            raise AugtrainError(
                f"TensorBoard: update_freq must be 'epoch' or an integer >= 1, got {update_freq!r}"
            )
        self.log_dir, self.update_freq = log_dir, update_freq
        self.writers: dict[str, Any] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter

        root = self.resolve_path(self.log_dir)
        purge = self.trainer.epoch if self.update_freq == "epoch" else None
        for name in ("train", self._evaluation()):
            self.writers[name] = SummaryWriter(str(root / name), purge_step=purge)

    def _evaluation(self) -> str:
        """The writer of the per-epoch evaluation: `validation`, or `test` for the test split."""
        return "test" if getattr(self.trainer, "eval_name", "val") == "test" else "validation"

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self.trainer.global_step
        if self.writers and self.update_freq != "epoch" and step % self.update_freq == 0:
            self.writers["train"].add_scalar("batch_loss", float(logs["loss"]), step)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.writers:
            return
        for key, value in (logs or {}).items():
            if key in ("epoch", "seconds", "images_per_s") or not isinstance(value, (int, float)):
                continue
            if key == "lr":
                self.writers["train"].add_scalar("epoch_learning_rate", value, epoch)
            elif key.startswith(("val_", "test_")):
                tag = f"epoch_{key.split('_', 1)[1]}"
                self.writers[self._evaluation()].add_scalar(tag, value, epoch)
            else:
                self.writers["train"].add_scalar(f"epoch_{key}", value, epoch)
        for w in self.writers.values():
            w.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for w in self.writers.values():
            w.close()
        self.writers = {}


def from_config(config: Any, monitor: str, mode: str) -> list[Callback]:
    """The callbacks that CLI flags ask for (--early-stopping-patience, --reduce-lr-patience,
    --tensorboard, --logger), on the run's monitor. Rebuilt from config.json on --resume."""
    from .loggers import build_loggers

    verbose = 1 if config.verbose else 0
    out: list[Callback] = []
    if getattr(config, "reduce_lr_patience", None) is not None:
        out.append(
            ReduceLROnPlateau(
                monitor,
                factor=config.reduce_lr_factor,
                patience=config.reduce_lr_patience,
                mode=mode,
                verbose=verbose,
            )
        )
    if getattr(config, "early_stopping_patience", None) is not None:
        out.append(
            EarlyStopping(
                monitor, patience=config.early_stopping_patience, mode=mode, verbose=verbose
            )
        )
    out += build_loggers(config)
    return out
