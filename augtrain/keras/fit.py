"""`fit(model, ...)`: Keras' `model.fit` for a PyTorch model fed by Keras-style data.

    history = fit(model, datagen.flow(x, y, batch_size=32), epochs=80,
                  validation_data=(x_test, y_test), callbacks=[checkpoint])
    history.history["loss"], history.history["val_accuracy"]

The tutorials' call patterns run unchanged apart from the model: an iterator
from `ImageDataGenerator` (or any Keras Sequence-like object: `len` and
indexing), a plain Python generator of batches with `steps_per_epoch`, or
arrays `x, y` with `batch_size`, `shuffle` and `validation_split` (the last
fraction, before shuffling, as Keras). `validation_data` is a tuple of arrays
or another iterator (`validation_steps` batches of it).

This module only translates: Keras' arguments become augtrain's training loop
(`augtrain.training.loop.Trainer`) over a Keras batch source (`keras.sources`:
the batches arrive augmented and standardized, as NumPy), Keras' losses a loss
object (`KerasLoss`), and `evaluate` is the loop's own evaluation. So fit has the
Trainer's optimizers by name (`build_optimizer`), augtrain's `Callback`s (any of
them; `self.trainer` is the Trainer), its progress bar and its one-line epoch
summary (`format_logs`). A ModelCheckpoint with save_weights_only=False writes an
augtrain checkpoint: the weights are `torch.load(path)["trainer"]["model_state"]`.

Model and labels: the model returns logits (no softmax layer), NCHW input:
batches in channels_last are handed over as an NCHW view. With loss="auto"
(the default) the labels decide, as Keras' compile choices would: integer
labels -> sparse categorical cross-entropy; one-hot (or soft) rows of the
model's width -> categorical cross-entropy; a single-logit model -> binary
cross-entropy (sigmoid); image targets (class_mode="input") -> mean squared
error. `loss=` also takes those Keras names or a callable(logits, y) -> loss.
The `History` returned holds Keras' keys: loss, accuracy (when it has a
meaning), val_loss, val_accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import DevicePolicy, keeping_freed_memory
from ..errors import AugtrainError
from ..training.callbacks import Callback, History
from ..training.config import TrainConfig
from ..training.loop import Trainer, constant_schedule, resolve_device
from ..training.loop import evaluate as evaluate_source
from ..training.optim import build_optimizer
from ..training.sources import Batch
from .sources import ArrayBatches, KerasSource, loader, validation_loader

LOSSES = (
    "auto",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "mse",
    "mean_squared_error",
)


@keeping_freed_memory  # each step's activations reuse the last's pages (device.py)
def fit(
    model: nn.Module,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    epochs: int = 1,
    verbose: int = 1,
    callbacks: list[Callback] | None = None,
    validation_split: float = 0.0,
    validation_data: Any = None,
    shuffle: bool = True,
    class_weight: dict[int, float] | None = None,
    sample_weight: Any = None,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    validation_batch_size: int | None = None,
    validation_freq: int = 1,
    max_queue_size: int = 10,
    workers: int = 1,
    use_multiprocessing: bool = False,
    *,
    optimizer: str | torch.optim.Optimizer = "adam",
    loss: str | Callable = "auto",
    lr: float | None = None,
    device: str | torch.device | None = None,
    seed: int | None = None,
) -> History:
    """Train `model` as Keras' `model.fit` does; returns the History callback.

    Keras' arguments keep their order and meaning. `max_queue_size`, `workers`
    and `use_multiprocessing` are accepted and ignored: batches are made in the
    calling thread (the iterators already augment whole chunks at once).
    augtrain's own, keyword-only: `optimizer` (a name as in `augtrain train
    --optimizer`, or a torch optimizer), `loss` (see module doc), `lr` (the
    optimizer's usual default when None), `device` (CUDA when present), `seed`
    (shuffling of array input).
    """
    if epochs < 1 or initial_epoch < 0 or initial_epoch >= epochs:
        raise ValueError(f"epochs={epochs} must be >= 1 and above initial_epoch={initial_epoch}")
    if loss not in LOSSES and not callable(loss):
        raise ValueError(
            f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)} or a callable"
        )
    if validation_freq < 1:
        raise ValueError(f"validation_freq={validation_freq} must be >= 1")
    dev = torch.device(device) if device is not None else resolve_device("auto")
    model.to(dev)

    train = loader(x, y, sample_weight, batch_size, shuffle, seed, "x")
    if validation_split:
        if not 0.0 < validation_split < 1.0:
            raise ValueError(f"`validation_split` must be in (0, 1). Received: {validation_split}")
        if not isinstance(train, ArrayBatches):
            raise ValueError(
                "`validation_split` is only supported for Tensors or NumPy arrays, "
                f"found: {type(x).__name__}"
            )
        if validation_data is None:
            train, validation_data = train.split(validation_split)
    val = None
    if validation_data is not None:
        val_loader = validation_loader(validation_data, validation_batch_size or batch_size)
        val = KerasSource(val_loader, dev, validation_steps)

    cbs = list(callbacks or [])
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise TypeError(
                f"callbacks must be augtrain.training.callbacks.Callback instances, got {type(cb).__name__}"
            )
    history = History()
    # The engine's settings of a Keras fit: the model's own precision and memory format
    # (fp32, as given), no accumulation; the seed keys nothing (the source shuffles).
    config = TrainConfig(
        epochs=epochs,
        batch_size=train.batch_size or 1,
        verbose=verbose,
        amp="off",
        channels_last="off",
        seed=0 if seed is None else seed,
    )
    trainer = Trainer(
        model,
        KerasSource(train, dev, steps_per_epoch),
        val,
        config,
        callbacks=[*cbs, history],
        device=dev,
        optimizer=_optimizer(optimizer, model, lr),
        schedule=constant_schedule,  # the rate as set; callbacks scale or replace it
        criterion=KerasLoss(loss, class_weight),
        validation_freq=validation_freq,
        initial_epoch=initial_epoch,
        log_summary=False,  # Keras' logs: the metrics; epoch, lr and timings in the history
    )
    try:
        trainer.check_monitors()
    except AugtrainError as e:  # Keras raises ValueError for arguments
        raise ValueError(str(e)) from None
    trainer.fit()
    return history


def evaluate(
    model: nn.Module,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    verbose: int = 1,
    sample_weight: Any = None,
    steps: int | None = None,
    return_dict: bool = False,
    *,
    loss: str | Callable = "auto",
    device: str | torch.device | None = None,
) -> list[float] | dict[str, float]:
    """Keras' `model.evaluate`: [loss, accuracy] (or a dict with return_dict=True), by the
    training loop's own evaluation (`augtrain.training.loop.evaluate`)."""
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    dev = torch.device(device)
    source = KerasSource(loader(x, y, sample_weight, batch_size, False, None, "x"), dev, steps)
    policy = DevicePolicy.resolve(dev, "off", "off")
    result = evaluate_source(model, source, KerasLoss(loss, None), policy)
    if verbose:
        print(" - ".join(f"{k} {v:.4f}" for k, v in result.items()), flush=True)
    return result if return_dict else list(result.values())


# ---------------------------------------------------------------- the loss
class KerasLoss:
    """Keras' losses as the loop's loss object (`train` / `evaluate`, see
    `augtrain.training.losses.ClassifierLoss`): the mean over the batch with Keras' sample
    weighting, and the number correct where an accuracy has a meaning (not for mse)."""

    def __init__(self, loss: str | Callable, class_weight: dict[int, float] | None) -> None:
        self.loss = loss
        self.class_weight = class_weight

    def train(self, outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, Any, int]:
        loss, per_sample, correct = self(outputs, batch.targets, batch.weights)
        if correct is None:
            return loss, 0.0, 0
        return loss, correct.detach(), len(per_sample)

    def evaluate(self, outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, Any, int]:
        loss, per_sample, correct = self(outputs, batch.targets, batch.weights)
        n = len(per_sample)
        return (
            loss.double() * n,
            (0.0 if correct is None else correct),
            (0 if correct is None else n),
        )

    def __call__(self, logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None):
        logits = logits.float()
        if callable(self.loss):
            loss = self.loss(logits, y)
            return loss, logits, self._correct(logits, y, "auto")
        kind = self._kind(logits, y)
        if kind == "binary":
            z = logits.reshape(len(logits), -1)
            t = y.float().reshape(z.shape)
            per = F.binary_cross_entropy_with_logits(z, t, reduction="none").mean(1)
            correct = ((z > 0) == (t > 0.5)).float().mean(1)
        elif kind == "categorical":
            per = F.cross_entropy(logits, y.float(), reduction="none")
            correct = (logits.argmax(1) == y.argmax(1)).float()
        elif kind == "sparse":
            t = y.reshape(-1).long()
            per = F.cross_entropy(logits, t, reduction="none")
            correct = (logits.argmax(1) == t).float()
        else:  # mse
            per = ((logits - y.float()) ** 2).reshape(len(logits), -1).mean(1)
            correct = None
        if self.class_weight is not None and kind != "mse":
            labels = y.argmax(1) if kind == "categorical" else y.reshape(len(y), -1)[:, 0].long()
            cw = torch.as_tensor(
                [self.class_weight.get(int(c), 1.0) for c in labels.tolist()], device=per.device
            )
            w = cw if w is None else w * cw
        if w is not None:
            w = w.reshape(-1).to(per.dtype)
            loss = (per * w).sum() / len(per)  # Keras: sum over the batch / batch size
            if correct is not None:
                correct = correct * w * len(w) / w.sum().clamp_min(1e-12)
        else:
            loss = per.mean()
        return loss, per, None if correct is None else correct.sum()

    def _kind(self, logits: torch.Tensor, y: torch.Tensor) -> str:
        name = self.loss
        if name == "binary_crossentropy":
            return "binary"
        if name == "categorical_crossentropy":
            return "categorical"
        if name == "sparse_categorical_crossentropy":
            return "sparse"
        if name in ("mse", "mean_squared_error"):
            return "mse"
        if y.ndim >= 3:
            return "mse"  # image targets (class_mode="input")
        if logits.ndim == 1 or logits.shape[1] == 1:
            return "binary"
        if y.ndim == 2 and y.shape[1] == logits.shape[1] and y.shape[1] > 1:
            return "categorical"
        return "sparse"

    def _correct(self, logits, y, kind):
        try:
            k = self._kind(logits, y)
            if k == "sparse":
                return (logits.argmax(1) == y.reshape(-1).long()).sum()
            if k == "categorical":
                return (logits.argmax(1) == y.argmax(1)).sum()
            if k == "binary":
                z = logits.reshape(len(logits), -1)
                return ((z > 0) == (y.reshape(z.shape) > 0.5)).float().mean(1).sum()
        except (RuntimeError, IndexError):
            return None
        return None


def _optimizer(optimizer, model: nn.Module, lr: float | None) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        for g in optimizer.param_groups:
            g.setdefault("base_lr", g["lr"])
            g.setdefault("lr_mult", 1.0)
        return optimizer
    if not isinstance(optimizer, str):
        raise ValueError(
            f"optimizer must be a name or a torch optimizer, got {type(optimizer).__name__}"
        )
    params = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    try:
        return build_optimizer(optimizer, params, lr)
    except Exception as e:  # AugtrainError: unknown name
        raise ValueError(str(e)) from None
