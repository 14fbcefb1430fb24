"""Keras' data as batch sources of the training loop (`augtrain.training.sources.BatchSource`).

arrays `x, y` (and sample weights) with `batch_size` and `shuffle`; a Keras Sequence
(`len` and indexing: augtrain's ImageDataGenerator iterators); any Python iterator or
generator of batches (a DataLoader too), `steps_per_epoch` batches an epoch. Their
batches arrive augmented and standardized, as NumPy or tensors, channels_last or not;
`KerasSource` moves each to the device as the model's float NCHW input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from ..training.sources import Batch, BatchSource, Step


class KerasSource(BatchSource):
    """A Keras data loader (`ArrayBatches`, `SequenceBatches`, `GeneratorBatches`: `loader()`) as the loop's source:
    one step per Keras batch (no accumulation, no DDP), `steps` batches an epoch."""

    def __init__(self, loader: Any, device: torch.device, steps: int | None = None) -> None:
        self.loader, self.device = loader, device
        self.batch_size = loader.batch_size
        self._steps = steps if steps is not None else loader.steps()

    def samples(self) -> int | None:
        return self.loader.samples()

    def steps(self) -> int | None:
        return self._steps

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Step]:
        produced = 0
        for batch in self.loader.epoch(self._steps):
            part = _Part(batch)
            produced += 1
            yield Step([part], len(part), len(part))
        if not produced:
            raise ValueError("the training data gave no batch in this epoch (an empty iterator?)")

    def load(self, part: _Part, epoch: int) -> Batch:
        fmt = self.loader.data_format
        weights = None if part.w is None else _as_tensor(part.w, self.device)
        return Batch(
            _to_tensors(part.x, self.device, fmt), _target(part.y, self.device, fmt), None, weights
        )

    def evaluation(self, batch_size: int | None = None) -> Iterator[Batch]:
        produced = 0
        for batch in self.loader.epoch(self._steps, evaluation=True):
            produced += 1
            yield self.load(_Part(batch), 0)
        if not produced:
            raise ValueError("the validation data gave no batch")


class _Part:
    """One Keras batch, a step's only part: (x, y, sample_weight) and its length."""

    def __init__(self, batch: Any) -> None:
        self.x, self.y, self.w = _unpack(batch)
        self.n = _batch_len(self.x)

    def __len__(self) -> int:
        return self.n


class ArrayBatches:
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

    def split(self, fraction: float) -> tuple[ArrayBatches, ArrayBatches]:
        cut = int(math.floor(self.n * (1.0 - fraction)))

        def part(s: slice) -> ArrayBatches:
            take = lambda a: None if a is None else a[s]  # noqa: E731
            xs = [a[s] for a in self.x] if isinstance(self.x, (list, tuple)) else self.x[s]
            out = ArrayBatches(xs, take(self.y), take(self.w), self.batch_size, self.shuffle, None)
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


class SequenceBatches:
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


class GeneratorBatches:
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


def loader(x, y, w, batch_size, shuffle, seed, name):
    """The loader for Keras' `x` (and `y`, sample weights `w`): arrays, Sequence or iterator."""
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
        return ArrayBatches(xs, y, w, batch_size, shuffle, seed)
    if y is not None:
        raise ValueError(
            "`y` argument is not supported when using an iterator or generator as input"
        )
    if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        return SequenceBatches(x)
    if isinstance(x, Iterable) or hasattr(x, "__next__"):
        return GeneratorBatches(x)
    raise ValueError(f"unsupported training data of type {type(x).__name__}")


def validation_loader(data, batch_size):
    """The loader of `validation_data`: a tuple of arrays (and weights) or an iterator."""
    if isinstance(data, ArrayBatches):  # the held-out part of validation_split
        return data
    if isinstance(data, tuple):
        if len(data) not in (2, 3):
            raise ValueError(
                "`validation_data` should be a tuple `(val_x, val_y)` or "
                f"`(val_x, val_y, val_sample_weights)`; got a tuple of {len(data)}"
            )
        return loader(
            data[0],
            data[1],
            data[2] if len(data) == 3 else None,
            batch_size,
            False,
            None,
            "validation_data",
        )
    return loader(data, None, None, batch_size, False, None, "validation_data")


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
