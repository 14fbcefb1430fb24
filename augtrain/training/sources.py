"""What the Trainer trains and validates on: a `BatchSource` yields each epoch's steps and
loads each (micro-)batch onto the device as a `Batch`. `DeviceSource` is augtrain's own (the
split on the device, augmented there, keyed by (seed, epoch, sample)); Keras' arrays,
Sequences and generators are adapted in `augtrain.keras.sources`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..augment import Compose, cpu_kernels, epoch_order
from ..data.placement import DeviceSplit
from ..device import DevicePolicy
from . import distributed


# ------------------------------------------------------------------ batch sources
@dataclass
class Batch:
    """One (micro-)batch on the device, as the model and the loss take it."""

    inputs: list[torch.Tensor]  # the model's positional inputs: model(*inputs)
    targets: torch.Tensor  # what the loss compares the outputs with
    labels: torch.Tensor | None = None  # hard labels for accuracy where targets are soft
    weights: torch.Tensor | None = None  # per-sample loss weights (Keras' sample_weight)

    @property
    def size(self) -> int:
        return len(self.inputs[0])


@dataclass
class Step:
    """One optimizer step of an epoch: its micro-batches as the source's `load` takes them."""

    parts: list[Any]
    size: int  # this rank's samples in the step
    global_size: int  # the step's samples over all ranks


class BatchSource:
    """What the Trainer trains or validates on: an epoch is a sequence of `Step`s, each
    `load`ed into `Batch`es on the device inside the step (after `on_batch_begin`), one
    micro-batch at a time. A step's parts have a `len`: their number of samples.

    `DeviceSource` is augtrain's own (the split on the device, augmented there, keyed by
    sample index); `augtrain.keras.sources` adapts Keras' arrays, Sequences and generators.
    """

    batch_size: int | None = None
    # Dropout of a batch keyed by (seed, epoch, batch): exact resume for keyed sources.
    seeds_batches: bool = False

    def samples(self) -> int | None:
        """Training samples per epoch, where known."""
        return None

    def steps(self) -> int | None:
        """Optimizer steps per epoch; None: until the source is exhausted."""
        raise NotImplementedError

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Step]:
        """The steps of `epoch` from step `start` on (a resumed epoch's first untrained one)."""
        raise NotImplementedError

    def load(self, part: Any, epoch: int) -> Batch:
        raise NotImplementedError

    def evaluation(self, batch_size: int | None = None) -> Iterator[Batch]:
        """Every batch of one evaluation pass (this rank's share under DDP)."""
        raise NotImplementedError

    def running(self) -> AbstractContextManager:
        """Held while the loop runs (the device source keeps the CPU kernels on one thread)."""
        return nullcontext()


class DeviceSource(BatchSource):
    """A `DeviceSplit` augmented by `pipeline` on the device, in the keyed order of
    (seed, epoch); each rank takes its shard of every global batch."""

    seeds_batches = True

    def __init__(
        self,
        split: DeviceSplit,
        pipeline: Compose,
        seed: int,
        batch_size: int,
        accumulate: int = 1,
        dist: distributed.DistInfo | None = None,
        precision: DevicePolicy | None = None,
        num_classes: int | None = None,
    ) -> None:
        self.split, self.pipeline, self.seed = split, pipeline, seed
        self.batch_size, self.accumulate = batch_size, accumulate
        self.dist = dist or distributed.DistInfo()
        self.precision = precision or DevicePolicy.resolve(split.y.device, "off", "off")
        self.device = self.precision.device
        self.num_classes = num_classes or int(split.y.max()) + 1

    def __len__(self) -> int:
        return len(self.split)

    def samples(self) -> int:
        return len(self.split)

    def steps(self) -> int:
        return math.ceil(len(self.split) / (self.batch_size * self.accumulate))

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Step]:
        n, batch = len(self.split), self.batch_size
        step_size = batch * self.accumulate
        order = epoch_order(self.seed, epoch, n)
        for b in range(start, self.steps()):
            global_index = order[b * step_size : (b + 1) * step_size]
            micro = [  # this rank's shard of each micro-batch
                distributed.shard(global_index[i : i + batch], self.dist).to(self.device)
                for i in range(0, len(global_index), batch)
            ]
            yield Step(micro, sum(len(i) for i in micro), len(global_index))

    def load(self, index: torch.Tensor, epoch: int) -> Batch:
        images, labels = self.split.batch(index)
        if self.pipeline.mixes_labels:
            # multi-label data comes multi-hot already (report/multilabel.py)
            multi = labels.ndim == 2
            targets = labels.float() if multi else F.one_hot(labels, self.num_classes).float()
            images, targets = self.pipeline(images, index, epoch, targets)
            hard = targets.argmax(1)
        else:
            images, targets = self.pipeline(images, index, epoch), labels
            hard = labels
        return Batch([self.precision.model_input(images)], targets, hard)

    def evaluation(self, batch_size: int | None = None) -> Iterator[Batch]:
        bs = batch_size or max(256, self.batch_size)
        index = distributed.shard(torch.arange(len(self.split)), self.dist)
        for i in range(0, len(index), bs):
            images, labels = self.split.batch(index[i : i + bs].to(self.device))
            yield Batch([self.precision.model_input(images)], labels, labels)

    def running(self) -> AbstractContextManager:
        # CPU augmentation kernels on this thread only: torch's workers own the other cores
        return cpu_kernels.limit_threads(1)
