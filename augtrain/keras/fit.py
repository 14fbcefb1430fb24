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

Why this loop is not `augtrain.training.loop.Trainer`: the Trainer trains from
the whole uint8 dataset resident on the device and augments there, keyed by
sample index; a Keras iterator hands over batches that are already augmented
and standardized, as NumPy, possibly from an arbitrary user generator with a
preprocessing_function. So this is a small plain loop over batches that keeps
the Trainer's parts: optimizers by name (`build_optimizer`), augtrain's
`Callback`s (any of them; they see `self.trainer` with `.model`,
`.optimizer`, `.history`, `.stop_training`, `.lr_scale`, `.epoch`), the same
tqdm progress bar and the same one-line epoch summary (`format_logs`).

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

import math
import time
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..io import save_torch
from ..progress import progress_bar
from ..training.callbacks import Callback, CallbackList, History
from ..training.distributed import DistInfo
from ..training.loop import format_logs, resolve_device
from ..training.optim import build_optimizer

LOSSES = (
    "auto",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "mse",
    "mean_squared_error",
)


class FitState:
    """What callbacks see as `self.trainer` during `fit` (the Trainer's attributes they use).

    `save_checkpoint(path)` (ModelCheckpoint with save_weights_only=False) writes a torch
    file with model_state, optimizer_state, epoch, global_step, history and lr_scale;
    `model.load_state_dict(torch.load(path)["model_state"])` reads the weights back.
    """

    def __init__(self, model, optimizer, device, epochs, steps, batch_size, samples, verbose):
        self.model = model
        self.optimizer = optimizer
        self.device = device
        self.dist = DistInfo()
        self.run_dir = None  # relative callback paths are taken as they are
        self.config = SimpleNamespace(epochs=epochs, batch_size=batch_size or 1, verbose=verbose)
        self.train = range(samples if samples is not None else (steps or 0) * (batch_size or 1))
        self.history: list[dict[str, Any]] = []  # full per-epoch records (seconds, lr, img/s too)
        self.stop_training = False
        self.lr_scale = 1.0  # ReduceLROnPlateau scales the rate
        self.lr_override: float | None = None  # LearningRateScheduler sets the rate
        self.epoch = 0
        self.global_step = 0
        self.partial = torch.zeros(4)  # loss * n, correct, n, n with accuracy: the epoch so far

    @property
    def current_lr(self) -> float:
        g = self.optimizer.param_groups[0]
        return float(g["lr"] / g.get("lr_mult", 1.0))

    def set_lr(self) -> None:
        for g in self.optimizer.param_groups:
            if self.lr_override is not None:
                g["lr"] = self.lr_override * g.get("lr_mult", 1.0)
            else:
                g["lr"] = g["base_lr"] * g.get("lr_mult", 1.0) * self.lr_scale

    def set_current_lr(self, lr: float) -> None:
        """Make `lr` the rate from now on (ReduceLROnPlateau, LearningRateScheduler)."""
        if self.lr_override is not None:
            self.lr_override = lr
        elif self.current_lr > 0:
            self.lr_scale *= lr / self.current_lr
        for g in self.optimizer.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)

    def running_logs(self) -> dict[str, float]:
        s = self.partial.tolist()
        out = {"loss": s[0] / max(s[2], 1)}
        if s[3]:
            out["accuracy"] = s[1] / s[3]
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "history": self.history,
            "lr_scale": self.lr_scale,
        }

    def save_checkpoint(self, path) -> None:
        save_torch(path, self.state_dict())

    def stop_requested(self) -> bool:
        if self.model.__dict__.pop("stop_training", False):  # Keras: model.stop_training = True
            self.stop_training = True
        return self.stop_training


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

    train = _source(x, y, sample_weight, batch_size, shuffle, seed, "x")
    if validation_split:
        if not 0.0 < validation_split < 1.0:
            raise ValueError(f"`validation_split` must be in (0, 1). Received: {validation_split}")
        if not isinstance(train, _Arrays):
            raise ValueError(
                "`validation_split` is only supported for Tensors or NumPy arrays, "
                f"found: {type(x).__name__}"
            )
        if validation_data is None:
            train, validation_data = train.split(validation_split)
    val = None
    if validation_data is not None:
        val = _validation_source(validation_data, validation_batch_size or batch_size)

    opt = _optimizer(optimizer, model, lr)
    steps = steps_per_epoch if steps_per_epoch is not None else train.steps()
    state = FitState(model, opt, dev, epochs, steps, train.batch_size, train.samples(), verbose)
    history = History()
    cbs = list(callbacks or [])
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise TypeError(
                f"callbacks must be augtrain.training.callbacks.Callback instances, got {type(cb).__name__}"
            )
    _check_monitors(cbs, val is not None)
    cb_list = CallbackList([*cbs, history], state)
    state.epoch = initial_epoch
    criterion = _Criterion(loss, class_weight)

    cb_list.train_begin({})
    try:
        for epoch in range(initial_epoch, epochs):
            state.epoch = epoch
            logs, extra = _train_epoch(state, cb_list, train, steps, epoch, criterion, verbose)
            if val is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                v = _run_eval(model, val, validation_steps, criterion, dev)
                logs["val_loss"] = v["loss"]
                if "accuracy" in v:
                    logs["val_accuracy"] = v["accuracy"]
            record = {**extra, **logs}
            state.history.append(record)
            cb_list.epoch_end(epoch, logs)
            if verbose:
                print(format_logs(record, epochs), flush=True)
            if state.stop_requested():
                break
    finally:
        cb_list.train_end({"history": state.history})
    return history


def _check_monitors(callbacks: list[Callback], has_val: bool) -> None:
    """A callback monitoring a metric that fit never logs is an error now (as augtrain's Trainer)."""
    logged = {"loss", "accuracy"} | ({"val_loss", "val_accuracy"} if has_val else set())
    for cb in callbacks:
        logged |= set(cb.provides())
    for cb in callbacks:
        for name in cb.monitors():
            if name not in logged:
                raise ValueError(
                    f"{type(cb).__name__}: monitor {name!r} is never logged by fit; "
                    f"available: {', '.join(sorted(logged))}"
                )


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
    """Keras' `model.evaluate`: [loss, accuracy] (or a dict with return_dict=True)."""
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    dev = torch.device(device)
    source = _source(x, y, sample_weight, batch_size, False, None, "x")
    result = _run_eval(model, source, steps, _Criterion(loss, None), dev)
    if verbose:
        print(" - ".join(f"{k} {v:.4f}" for k, v in result.items()), flush=True)
    return result if return_dict else list(result.values())


# ----------------------------------------------------------------- the loop
def _train_epoch(state: FitState, cbs: CallbackList, train, steps, epoch, criterion, verbose):
    model = state.model
    cbs.epoch_begin(epoch, {})
    model.train()
    bar = _progress(verbose, epoch, state.config.epochs, steps)
    # loss * n, correct, n, n with accuracy: on the device, read only for the bar and the logs
    sums = torch.zeros(4, dtype=torch.float64, device=state.device)
    state.partial = sums
    start = time.perf_counter()
    for b, batch in enumerate(train.epoch(steps)):
        xb, yb, wb = _unpack(batch)
        cbs.batch_begin(b, {"batch": b, "size": _batch_len(xb)})
        state.set_lr()
        inputs = _to_tensors(xb, state.device, train.data_format)
        logits = model(*inputs)
        target = _target(yb, state.device, train.data_format)
        weights = None if wb is None else _as_tensor(wb, state.device)
        loss, per_sample, correct = criterion(logits, target, weights)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        n = len(per_sample)
        sums[0] += loss.detach().double() * n
        sums[2] += n
        if correct is not None:
            sums[1] += correct.detach().double()
            sums[3] += n
        state.global_step += 1
        cbs.batch_end(b, {"batch": b, "size": n, "loss": loss.detach()})
        if bar is not None:
            bar.update(1)
            if b % 20 == 0 or b == steps - 1:
                s = sums.tolist()
                acc = f" acc {s[1] / s[3]:.4f}" if s[3] else ""
                rate = s[2] / (time.perf_counter() - start)
                bar.set_postfix_str(f"loss {s[0] / s[2]:.4f}{acc} {rate:.0f} img/s")
        if state.stop_requested():
            break
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    sums = sums.tolist()
    if sums[2] == 0:
        raise ValueError("the training data gave no batch in this epoch (an empty iterator?)")
    logs: dict[str, Any] = {"loss": sums[0] / sums[2]}
    if sums[3]:
        logs["accuracy"] = sums[1] / sums[3]
    # the summary line's fields: in trainer.history, not in the callbacks' logs or the History
    extra = {
        "epoch": epoch + 1,
        "seconds": seconds,
        "lr": state.current_lr,
        "images_per_s": sums[2] / max(seconds, 1e-9),
    }
    return logs, extra


@torch.no_grad()
def _run_eval(model: nn.Module, source, steps, criterion, device) -> dict[str, float]:
    was_training = model.training
    model.eval()
    sums = np.zeros(4)
    n_steps = steps if steps is not None else source.steps()
    for batch in source.epoch(n_steps, evaluation=True):
        xb, yb, wb = _unpack(batch)
        logits = model(*_to_tensors(xb, device, source.data_format))
        weights = None if wb is None else _as_tensor(wb, device)
        loss, per_sample, correct = criterion(
            logits, _target(yb, device, source.data_format), weights
        )
        n = len(per_sample)
        sums[0] += float(loss) * n
        sums[2] += n
        if correct is not None:
            sums[1] += float(correct)
            sums[3] += n
    model.train(was_training)
    if sums[2] == 0:
        raise ValueError("the validation data gave no batch")
    out = {"loss": sums[0] / sums[2]}
    if sums[3]:
        out["accuracy"] = sums[1] / sums[3]
    return out


# ---------------------------------------------------------------- the loss
class _Criterion:
    """Loss (mean over the batch, Keras' sample weighting) and number correct, from logits."""

    def __init__(self, loss: str | Callable, class_weight: dict[int, float] | None) -> None:
        self.loss = loss
        self.class_weight = class_weight

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


# ---------------------------------------------------------------- the data
class _Arrays:
    """x, y (and sample weights) as Keras' fit reads arrays: batches, shuffled per epoch."""

    def __init__(self, x, y, w, batch_size, shuffle, seed):
        self.x = x
        self.y = None if y is None else np.asarray(y)
        self.w = None if w is None else np.asarray(w)
        self.batch_size = int(batch_size or 32)
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        first = x[0] if isinstance(x, (list, tuple)) else x
        self.n = len(first)
        self.data_format = _guess_format(np.shape(first))

    def steps(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def samples(self) -> int:
        return self.n

    def split(self, fraction: float) -> tuple[_Arrays, _Arrays]:
        cut = int(math.floor(self.n * (1.0 - fraction)))

        def part(s: slice) -> _Arrays:
            take = lambda a: None if a is None else a[s]  # noqa: E731
            xs = [a[s] for a in self.x] if isinstance(self.x, (list, tuple)) else self.x[s]
            out = _Arrays(xs, take(self.y), take(self.w), self.batch_size, self.shuffle, None)
            out.rng = self.rng
            return out

        return part(slice(None, cut)), part(slice(cut, None))

    def epoch(self, steps: int, evaluation: bool = False):
        order = (
            self.rng.permutation(self.n) if self.shuffle and not evaluation else np.arange(self.n)
        )
        bs = self.batch_size
        for b in range(min(steps, self.steps())):
            idx = order[b * bs : (b + 1) * bs]
            xs = [a[idx] for a in self.x] if isinstance(self.x, (list, tuple)) else self.x[idx]
            yield (
                xs,
                None if self.y is None else self.y[idx],
                None if self.w is None else self.w[idx],
            )


class _Sequence:
    """A Keras Sequence (len + indexing, e.g. augtrain's iterators): one pass per epoch."""

    def __init__(self, seq):
        self.seq = seq
        self.data_format = getattr(seq, "data_format", None)
        self.batch_size = getattr(seq, "batch_size", None)
        self._cycle = None

    def steps(self) -> int:
        return len(self.seq)

    def samples(self) -> int | None:
        return getattr(self.seq, "n", None)

    def epoch(self, steps: int, evaluation: bool = False):
        n = len(self.seq)
        if steps is None or steps == n:
            for i in range(n):
                yield self.seq[i]
            if not evaluation and hasattr(self.seq, "on_epoch_end"):
                self.seq.on_epoch_end()
        else:  # another step count: go on where the last epoch stopped, wrapping around
            if self._cycle is None:
                self._cycle = _cycle(self.seq)
            for _ in range(steps):
                yield next(self._cycle)


class _Generator:
    """A Python iterator/generator of batches; `steps_per_epoch` batches per epoch."""

    def __init__(self, gen):
        self.gen = gen
        self.it = iter(gen)
        self.data_format = getattr(gen, "data_format", None)
        self.batch_size = None

    def steps(self) -> int | None:
        return len(self.gen) if hasattr(self.gen, "__len__") else None

    def samples(self) -> None:
        return None

    def epoch(self, steps: int | None, evaluation: bool = False):
        if steps is None:  # a finite iterable: one pass
            yield from self.it
            self.it = iter(self.gen)
            return
        produced = restarted = 0
        while produced < steps:
            try:
                batch = next(self.it)
            except StopIteration:  # a re-iterable (a DataLoader, a list) starts over
                fresh = iter(self.gen)
                if fresh is self.it or restarted:
                    return  # an exhausted generator, or an empty iterable
                self.it, restarted = fresh, 1
                continue
            produced, restarted = produced + 1, 0
            yield batch


def _cycle(seq):
    while True:
        for i in range(len(seq)):
            yield seq[i]
        if hasattr(seq, "on_epoch_end"):
            seq.on_epoch_end()


def _source(x, y, w, batch_size, shuffle, seed, name):
    if x is None:
        raise ValueError(f"fit: `{name}` (the training data) is required")
    if isinstance(x, (np.ndarray, torch.Tensor)) or (
        isinstance(x, (list, tuple)) and len(x) and isinstance(x[0], np.ndarray)
    ):
        if y is not None:
            first = x[0] if isinstance(x, (list, tuple)) else x
            if len(first) != len(y):
                raise ValueError(
                    f"Data cardinality is ambiguous: x sizes: {len(first)}, y sizes: {len(y)}"
                )
        xs = [np.asarray(a) for a in x] if isinstance(x, (list, tuple)) else np.asarray(x)
        return _Arrays(xs, y, w, batch_size, shuffle, seed)
    if y is not None:
        raise ValueError(
            "`y` argument is not supported when using an iterator or generator as input"
        )
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return _Sequence(x)
    if isinstance(x, Iterable) or hasattr(x, "__next__"):
        return _Generator(x)
    raise ValueError(f"unsupported training data of type {type(x).__name__}")


def _validation_source(data, batch_size):
    if isinstance(data, _Arrays):  # the held-out part of validation_split
        return data
    if isinstance(data, tuple):
        if len(data) not in (2, 3):
            raise ValueError(
                "`validation_data` should be a tuple `(val_x, val_y)` or "
                f"`(val_x, val_y, val_sample_weights)`; got a tuple of {len(data)}"
            )
        return _source(
            data[0],
            data[1],
            data[2] if len(data) == 3 else None,
            batch_size,
            False,
            None,
            "validation_data",
        )
    return _source(data, None, None, batch_size, False, None, "validation_data")


def _unpack(batch):
    """(x, y, sample_weight) of a batch: Keras' tuples; lists too (a DataLoader's [x, y])."""
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return batch[0], batch[1], batch[2] if len(batch) == 3 else None
    if isinstance(batch, tuple) and len(batch) == 1:
        return batch[0], None, None
    return batch, None, None


def _batch_len(xb) -> int:
    return len(xb[0]) if isinstance(xb, list) else len(xb)


def _guess_format(shape) -> str:
    """channels_last unless the batch is plainly NCHW (1, 3 or 4 channels first, not last)."""
    if len(shape) == 4 and shape[1] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
        return "channels_first"
    return "channels_last"


def _image_tensor(a, device, data_format) -> torch.Tensor:
    """A batch as a float32 tensor on `device`; rank-4 channels_last becomes an NCHW view."""
    t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    if t.dtype != torch.float32:
        t = t.float()
    if t.ndim == 4 and (data_format or _guess_format(t.shape)) == "channels_last":
        t = t.permute(0, 3, 1, 2)
    return t.to(device, non_blocking=True)


def _to_tensors(xb, device, data_format) -> list[torch.Tensor]:
    if isinstance(xb, list):
        return [_image_tensor(xb[0], device, data_format)] + [_as_tensor(a, device) for a in xb[1:]]
    return [_image_tensor(xb, device, data_format)]


def _target(yb, device, data_format) -> torch.Tensor:
    if yb is None:
        raise ValueError("the data gives no labels (class_mode=None?): fit needs targets")
    if isinstance(yb, np.ndarray) and yb.ndim == 4:
        return _image_tensor(yb, device, data_format)
    return _as_tensor(yb, device)


def _as_tensor(a, device) -> torch.Tensor:
    t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    return t.to(device)


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


def _progress(verbose: int, epoch: int, epochs: int, steps: int | None) -> Any:
    if verbose != 1:
        return None
    bar = progress_bar(steps, f"epoch {epoch + 1}/{epochs}", "batch")
    return None if bar.disable else bar
