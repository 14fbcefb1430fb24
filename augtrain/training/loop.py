"""The training loop. Read it top to bottom:

    for epoch:                          (Trainer.fit)
        for step in source.epoch(epoch):    (Trainer.train_epoch; DeviceSource:)
            x = uint8 images on the device, gathered by index (this rank's shard)
                in the order permutation(seed, epoch)
            x = augment(x, index, epoch)    keyed randomness: no generator state
            loss = criterion(model(x / 255), y); backward; step
        validate; callbacks; save last.pt (and best.pt)

The loop runs over a batch source (`BatchSource`): augtrain's own is `DeviceSource`, the
split on the device and the augmentation pipeline; Keras' arrays, Sequences and
generators are another (`augtrain.keras.sources`), so `augtrain.keras.fit` is this loop.

One step (a "batch" to callbacks, --save-freq, the schedule and lookahead) is one
optimizer step: with `accumulate` N it sums the gradients of N micro-batches of
`batch_size`, each weighted by its share of the step's N x batch_size samples, so the
update is that of one batch N times larger (to float rounding). The micro-batches of a
step run inside `train_step`: a checkpoint, a signal's stop and a callback's stop all
happen between optimizer steps, never in the middle of an accumulation.

Everything needed to continue exactly (model, optimizer, epoch, batch within
the epoch, partial epoch sums, lr scale, callback state) is in `state_dict()`;
data order, augmentation and dropout are keyed by (seed, epoch, batch) and need
no state, so a run killed at any moment and resumed from last.pt ends with the
same weights and history as one that was never stopped.

Under torchrun (see `distributed`) the same loop runs once per rank:
`batch_size` is the GLOBAL batch; each rank trains on its slice of every global
batch and DDP averages the gradients, so the update is that of one process with
the same global batch and the same learning rate (no LR scaling rule needed:
to train with a bigger global batch, raise --batch-size and --lr yourself).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..augment import Compose
from ..augment.random import hash_ints
from ..data import ImageArrays, cache
from ..data.placement import DeviceSplit, place_splits  # noqa: F401  (their old home)
from ..device import DevicePolicy
from ..device import resolve_device as resolve_device  # re-exported: its old home
from ..errors import AugtrainError
from ..progress import progress_bar
from . import checkpoint, distributed
from .callbacks import Callback, CallbackList
from .config import TrainConfig
from .ema import ModelEma
from .losses import ClassifierLoss, MultiLabelLoss, default_loss  # noqa: F401
from .optim import (
    build_momentum_schedule,
    build_optimizer,
    build_schedule,
    replanned_progress,
)
from .sources import Batch, BatchSource, DeviceSource, Step  # noqa: F401


def channel_stats(
    images: ImageArrays | np.ndarray, cache_root: str | Path | None = None
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 NHWC images, in [0, 1] units.

    Exact, from a 256-bin histogram per channel: much faster than a float copy of
    the dataset (0.3 s instead of 2 s for CIFAR-10 on 2 cores). A split read from the
    data cache has its figures kept beside it, so a warm start skips even that (a third
    of what a warm CIFAR-10 start spends above importing torch).
    """
    if isinstance(images, ImageArrays):
        x, fingerprint = images.x, images.fingerprint
        key = None if fingerprint is None else cache.content_key([fingerprint, list(x.shape)])
        return tuple(cache.remember("stats", key, lambda: channel_stats(x), cache_root))
    flat = torch.from_numpy(np.ascontiguousarray(images)).view(-1, images.shape[-1])
    levels = torch.arange(256, dtype=torch.float64)
    mean, std = [], []
    for c in range(images.shape[-1]):
        hist = torch.bincount(flat[:, c].contiguous(), minlength=256).double()
        m = float((hist * levels).sum() / hist.sum())
        var = float((hist * (levels - m) ** 2).sum() / hist.sum())
        mean.append(m / 255)
        std.append(max(var, 1e-12) ** 0.5 / 255)
    return mean, std


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training at a batch boundary, after last.pt was saved."""


@torch.no_grad()
def evaluate(
    model: nn.Module,
    source: BatchSource,
    criterion: Any,
    precision: DevicePolicy | None = None,
    dist_info: distributed.DistInfo | None = None,
    batch_size: int | None = None,
) -> dict[str, float]:
    """Loss (and accuracy, where the loss gives one) of `model` over one evaluation pass of
    `source`, summed over ranks: the Trainer's validation and Keras' `evaluate`."""
    dist_info = dist_info or distributed.DistInfo()
    device = precision.device if precision is not None else torch.device("cpu")
    autocast = precision.autocast() if precision is not None else nullcontext()
    was_training = model.training
    model.eval()
    # summed loss, correct, seen, seen with an accuracy
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    for batch in source.evaluation(batch_size):
        with autocast:
            outputs = model(*batch.inputs)
        loss, correct, counted = criterion.evaluate(outputs, batch)
        sums[0] += loss.double()
        sums[1] += correct
        sums[2] += batch.size
        sums[3] += counted
    loss, correct, seen, counted = distributed.all_reduce_sum(sums, dist_info).tolist()
    model.train(was_training)
    out = {"loss": loss / max(seen, 1)}
    if counted:
        out["accuracy"] = correct / counted
    return out


def constant_schedule(progress: float) -> float:
    """The rate as set: the schedule of Keras' fit (callbacks still scale or replace it)."""
    return 1.0


# -------------------------------------------------------------------------- the loop
class Trainer:
    """Holds the training state; `fit()` is the whole loop.

    Built whole here: the batch source (`train`: a `DeviceSplit`, augmented by `pipeline`,
    or any `BatchSource`), optimizer, schedule, loss, --compile, checkpointing; nothing is
    set afterwards. Defaults come from `config`; a dialect (Keras' fit) passes its own.

    What callbacks may use (besides `set_params` / `set_model`, which they are given):
        stop_training           set True to stop after this batch (or model.stop_training)
        current_lr, set_current_lr(lr), override_lr(lr), lr_scale
        save_checkpoint(path)   a full checkpoint (collective under DDP)
        is_main                 False on ranks other than 0 (they neither print nor write)
        model, optimizer, epoch, global_step, history, run_dir, eval_name,
        running_logs()          loss/accuracy of the epoch so far
    """

    def __init__(
        self,
        model: nn.Module,
        train: DeviceSplit | BatchSource,
        val: DeviceSplit | BatchSource | None,
        config: TrainConfig,
        pipeline: Compose | None = None,
        callbacks: list[Callback] | None = None,
        device: torch.device | None = None,
        param_groups: list[dict] | None = None,
        dist_info: distributed.DistInfo | None = None,
        num_classes: int | None = None,
        eval_name: str = "val",
        *,
        optimizer: torch.optim.Optimizer | None = None,
        schedule: Callable[[float], float] | None = None,
        momentum_schedule: Callable[[float], float] | None = None,
        criterion: Any = None,
        checkpoint: Callable[[Trainer, str], None] | None = None,
        checkpoint_meta: dict[str, Any] | None = None,
        run_end_follows: bool = False,
        run_dir: str | Path | None = None,
        validation_freq: int = 1,
        initial_epoch: int = 0,
        log_summary: bool = True,
    ) -> None:
        self.config = config  # the settings it was built from (loggers record them)
        # The per-epoch evaluation's log prefix: "val" for a validation split, "test" when it
        # is the test split (test_* figures are shown, never used to choose or stop).
        self.eval_name = eval_name
        self.device = device or torch.device("cpu")
        self.dist = dist_info or distributed.DistInfo()
        self.model = model
        # One policy for the training step and validation (device.DevicePolicy): autocast,
        # memory format, uint8 -> float input; fp16 scales the loss (GradScaler).
        self.precision = DevicePolicy.resolve(self.device, config.amp, config.channels_last)
        self.autocast = self.precision.autocast()
        self.channels_last = self.precision.channels_last
        self.scaler = self.precision.grad_scaler()
        self.train, self.val = train, val  # as given (a DeviceSplit: .on_host, len)
        if isinstance(train, DeviceSplit):
            self.num_classes = num_classes or int(train.y.max()) + 1
        else:
            self.num_classes = num_classes
        self.source = self._as_source(train, pipeline)
        self.val_source = None if val is None else self._as_source(val, pipeline)
        self.optimizer = optimizer or build_optimizer(
            config.optimizer,
            param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}],
            config.lr,
            config.momentum,
            config.nesterov,
            config.weight_decay,
        )
        for group in self.optimizer.param_groups:  # a torch optimizer built elsewhere
            group.setdefault("base_lr", group["lr"])
            group.setdefault("lr_mult", 1.0)
        self.steps_per_epoch = self.source.steps()  # optimizer steps; None: until exhausted
        # Where the --time-budget guard changed the run's length (`replan`): the schedules
        # are built over the length first planned and read through `planned`. A resume that
        # set another --epochs plans the whole run over that, as without re-plans.
        ends = bool(config.replans) and config.replans[-1][2] == config.epochs
        self.replans = [list(r) for r in config.replans] if ends else []
        self.planned_epochs = self.replans[0][1] if self.replans else config.epochs
        self.planned = replanned_progress(self.replans)
        if schedule is None:
            schedule, momentum_schedule = self._config_schedules(
                config, self.steps_per_epoch, self.planned_epochs
            )
        self.schedule, self.momentum_schedule = schedule, momentum_schedule
        # --label-mode binary: one logit, as two-class logits whose cross-entropy is the
        # binary cross-entropy (report.metrics.class_logits)
        self.binary = config.label_mode == "binary"
        self.criterion = criterion or default_loss(config)
        self.forward_model: nn.Module = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if config.preset and self.device.type == "cuda":
            # Every batch has the same shape (but the last): let cuDNN time its algorithms once.
            torch.backends.cudnn.benchmark = True
        if config.compile:
            # Only the training forward/backward is compiled: evaluation runs a few batches
            # and would pay a second compilation for little. dynamic=False: the last, partial
            # batch of an epoch compiles once more, then every shape is cached.
            self.forward_model = torch.compile(self.forward_model, dynamic=False)
        # --ema: a moving average of the weights, updated after each optimizer step
        self.ema = None if config.ema is None else ModelEma(model, config.ema, config.ema_warmup)
        self.grad_norm: torch.Tensor | None = None  # the last step's norm before clipping
        self.validation_freq = validation_freq
        self.log_summary = log_summary  # False: callbacks' epoch logs hold the metrics alone
        # Called with (trainer, reason) when a checkpoint is due (the run folder); what a
        # checkpoint says about the model; whether on_run_end follows training (augtrain.train).
        self.checkpoint_hook = checkpoint
        self.checkpoint_meta: dict[str, Any] = checkpoint_meta or {"model": None, "classes": None}
        self.run_end_follows = run_end_follows
        self._run_dir = None if run_dir is None else Path(run_dir)
        # State, all saved in checkpoints:
        self.epoch = initial_epoch  # the epoch in progress (0-based); == epochs when done
        self.first_epoch = initial_epoch  # validation_freq counts from here
        self.batch_in_epoch = 0  # batches of `epoch` already trained
        self.global_step = 0
        # this rank's loss sum, correct, seen, seen with an accuracy, of this epoch so far
        self.partial = torch.zeros(4, dtype=torch.float64)
        self.history: list[dict[str, Any]] = []
        self.lr_scale = 1.0  # set by ReduceLROnPlateau: a factor on the schedule
        self.lr_override: float | None = None  # set by LearningRateScheduler: replaces it
        self.stop_training = False
        self.interrupted: str | None = None  # name of the signal that asked to stop
        self.stopping_for: str | None = None  # the same, once every rank has agreed on it
        self.callbacks = CallbackList(callbacks or [], self, model, self.params())

    def _as_source(self, data: DeviceSplit | BatchSource, pipeline: Compose | None) -> BatchSource:
        if isinstance(data, BatchSource):
            return data
        cfg = self.config
        return DeviceSource(
            data,
            pipeline if pipeline is not None else Compose([]),
            cfg.seed,
            cfg.batch_size,
            cfg.accumulate,
            self.dist,
            self.precision,
            self.num_classes,
        )

    @staticmethod
    def _config_schedules(
        config: TrainConfig, steps_per_epoch: int | None, epochs: int
    ) -> tuple[Any, Any]:
        """--schedule's lr factor over `epochs`, and onecycle's momentum (Adam's beta1)."""
        schedule = build_schedule(
            config.schedule,
            epochs,
            config.gamma,
            config.step_size,
            config.warmup_epochs,
            config.lr_start_factor,
            config.lr_end_factor,
            steps_per_epoch=steps_per_epoch,
            pct_start=config.pct_start,
            div_factor=config.div_factor,
            final_div_factor=config.final_div_factor,
        )
        momentum = (
            build_momentum_schedule(
                config.schedule,
                epochs,
                config.warmup_epochs,
                steps_per_epoch=steps_per_epoch,
                pct_start=config.pct_start,
                max_momentum=config.max_momentum,
                base_momentum=config.base_momentum,
            )
            if config.cycle_momentum
            else None
        )
        return schedule, momentum

    def params(self) -> dict[str, Any]:
        """What callbacks are told by `set_params` (Keras' `params`)."""
        return {
            "epochs": self.config.epochs,
            "steps": self.steps_per_epoch,  # optimizer steps (one per --accumulate batches)
            "batch_size": self.source.batch_size,
            "samples": self.source.samples(),
            "verbose": self.config.verbose,
        }

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def run_dir(self) -> Path | None:
        """Where relative callback paths go: `run_dir` as given, else the checkpointer's
        folder once claimed (augtrain.train's RunFolder), else None (the cwd)."""
        return self._run_dir or getattr(self.checkpoint_hook, "path", None)

    # ----------------------------------------------------------------- the loop
    def fit(self) -> list[dict[str, Any]]:
        self.check_monitors()
        self.callbacks.train_begin({})
        try:
            with self._stop_on_signals(), self.source.running():
                while self.epoch < self.config.epochs and not self.stop_training:
                    self.train_epoch()
                    if self.stopping_for:  # a signal during the epoch's end; last.pt is saved
                        raise TrainingInterrupted(self.stopping_for)
        finally:
            self.callbacks.train_end({"history": self.history})
        return self.history

    def train_epoch(self) -> dict[str, Any]:
        epoch, cfg = self.epoch, self.config
        steps = self.steps_per_epoch
        if self.batch_in_epoch == 0:
            self.callbacks.epoch_begin(epoch, {})
            self.partial.zero_()
        # samples a resumed epoch had trained before (rank 0 carries them): not timed now
        carried = torch.tensor([float(self.partial[2])], dtype=torch.float64)
        sums = self.partial = self.partial.to(self.device)
        self.model.train()
        bar = self._progress(epoch, steps)
        start = time.perf_counter()
        first = self.batch_in_epoch
        for b, step in enumerate(self.source.epoch(epoch, first), first):
            self.callbacks.batch_begin(b, {"batch": b, "size": step.size})
            self.set_lr(epoch + b / steps if steps else epoch)
            loss, correct, counted = self.train_step(step.parts, epoch, step.global_size, b)
            sums[0] += loss.detach().double() * step.size
            sums[1] += correct
            sums[2] += step.size
            sums[3] += counted
            self.batch_in_epoch, self.global_step = b + 1, self.global_step + 1
            if self.ema is not None:
                self.ema.update(self.model)
            self.callbacks.batch_end(b, {"batch": b, "size": step.size, "loss": loss.detach()})
            if bar is not None:
                bar.update(1)
                if b % 20 == 0 or b == (steps or 0) - 1:
                    s = sums.tolist()
                    acc = f" acc {s[1] / s[3]:.4f}" if s[3] else ""
                    rate = s[2] * self.dist.world_size / (time.perf_counter() - start)
                    bar.set_postfix_str(f"loss {s[0] / s[2]:.4f}{acc} {rate:.0f} img/s")
            if isinstance(cfg.save_freq, int) and self.global_step % cfg.save_freq == 0:
                self._checkpoint("step")
            if self._stop_requested():
                break
        if bar is not None:
            bar.close()
        if self.stopping_for:  # Ctrl-C / SIGTERM: save this point of the epoch and stop
            self._checkpoint("interrupt")
            raise TrainingInterrupted(self.stopping_for)
        seconds = time.perf_counter() - start
        both = torch.cat([sums, carried.to(self.device)])
        totals = distributed.all_reduce_sum(both, self.dist).tolist()
        metrics: dict[str, Any] = {"loss": totals[0] / max(totals[2], 1)}
        if totals[3]:
            metrics["accuracy"] = totals[1] / totals[3]
        validate = (epoch + 1 - self.first_epoch) % self.validation_freq == 0
        if self.val_source is not None and validate:
            name = self.eval_name
            val = self.evaluate(self.val_source)
            metrics.update({f"{name}_{k}": v for k, v in val.items()})
            if self.ema is not None:
                val = self.evaluate(self.val_source, model=self.ema.module)
                metrics.update({f"{name}_{k}_ema": v for k, v in val.items()})
        logs: dict[str, Any] = {"epoch": epoch + 1, **metrics}
        logs.update(
            lr=self.current_lr,
            seconds=seconds,
            images_per_s=(totals[2] - totals[4]) / max(seconds, 1e-9),
        )
        self.history.append(logs)
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        self.partial.zero_()
        self._print_epoch(logs)
        if self.log_summary:
            self.callbacks.epoch_end(epoch, logs)
        else:  # Keras: the callbacks see the metrics; what they add goes in the history too
            self.callbacks.epoch_end(epoch, metrics)
            logs.update(metrics)
        self._stop_requested()
        self._checkpoint("epoch")
        return logs

    def train_step(
        self,
        parts: Any,
        epoch: int,
        global_size: int | None = None,
        batch: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """One optimizer step on one micro-batch (an index tensor of the device source), or
        on a list of them (gradient accumulation); returns (mean loss, number correct,
        samples with an accuracy).

        Under DDP each part is this rank's shard and `global_size` is the step's number of
        samples over all ranks. With `batch` (the step within the epoch) a keyed source's
        micro-batches have their dropout seeded first (`seed_batch`).
        """
        micro = list(parts) if isinstance(parts, list) else [parts]
        local = sum(len(part) for part in micro)
        world = self.dist.world_size if self.dist.enabled else 1
        total = global_size or local * world or 1
        self.optimizer.zero_grad(set_to_none=True)
        losses = []
        correct = torch.zeros((), dtype=torch.float64, device=self.device)
        counted = 0
        for m, part in enumerate(micro):
            if batch is not None and self.source.seeds_batches:
                # for accumulate 1 the key is the step's, as it always was
                self.seed_batch(epoch, batch * self.config.accumulate + m)
            # A micro-batch's mean loss weighted by its share of the step: the summed
            # gradients are those of the mean over the step's samples (also for an uneven
            # last step, and under DDP, which averages over ranks, for uneven shards).
            share = None if len(micro) == 1 and world == 1 else len(part) * world / total
            # DDP: all-reduce the gradients once, after the step's last micro-batch
            sync = m == len(micro) - 1 or not self.dist.enabled
            no_sync = getattr(self.forward_model, "no_sync", None)
            with nullcontext() if sync or no_sync is None else no_sync():
                # loaded (gathered, augmented) one micro-batch at a time: accumulation
                # holds one micro-batch's activations, not the step's
                loss, c, n = self._backward(self.source.load(part, epoch), share)
            losses.append(loss * len(part))
            correct += c
            counted += n
        if self.config.clip_grad_norm is not None:
            if self.scaler is not None:  # clip the true gradients, not the scaled ones
                self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            self.grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.clip_grad_norm)
        if self.scaler is not None:  # fp16: a step with inf/NaN grads is skipped
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if len(micro) == 1:
            return loss, correct, counted
        return torch.stack(losses).sum() / max(local, 1), correct, counted

    def _backward(self, batch: Batch, share: float | None) -> tuple[torch.Tensor, Any, int]:
        """Forward and backward of one (micro-)batch, its loss weighted by `share` (None:
        the whole step); returns (mean loss, number correct, samples with an accuracy)."""
        with self.autocast:
            outputs = self.forward_model(*batch.inputs)
        loss, correct, counted = self.criterion.train(outputs, batch)
        objective = loss if share is None else loss * share
        if not batch.size:  # an empty DDP shard still joins the gradient all-reduce
            objective = outputs.sum() * 0.0
            loss = outputs.sum().detach() * 0.0
        if self.scaler is not None:  # fp16: scale the loss
            self.scaler.scale(objective).backward()
        else:
            objective.backward()
        return loss, correct, counted

    def seed_batch(self, epoch: int, batch: int) -> None:
        """Dropout (and any torch randomness in the model) of a batch: keyed by (seed, epoch,
        batch, rank), so resume reproduces it without generator state and ranks differ."""
        key = (self.config.seed, epoch, batch, self.dist.rank)
        seed = (hash_ints(*key, "torch") << 32) | hash_ints(*key, "torch-low")
        torch.default_generator.manual_seed(seed)
        if self.device.type == "cuda":  # this rank's device only
            with torch.cuda.device(self.device):
                torch.cuda.manual_seed(seed)

    # --------------------------------------------------------------- evaluation
    def evaluate(
        self,
        split: DeviceSplit | BatchSource,
        batch_size: int | None = None,
        model: nn.Module | None = None,
    ) -> dict[str, float]:
        """Loss and accuracy of the model (or `model`: the EMA's) over a split or source,
        sharded across ranks and summed (the module-level `evaluate`)."""
        source = split if isinstance(split, BatchSource) else self._as_source(split, None)
        model = model or self.model
        return evaluate(model, source, self.criterion, self.precision, self.dist, batch_size)

    def running_logs(self) -> dict[str, float]:
        """Loss and accuracy of the epoch so far, over all ranks (collective under DDP)."""
        s = distributed.all_reduce_sum(self.partial.to(self.device).clone(), self.dist).tolist()
        out = {"loss": s[0] / max(s[2], 1)}
        if s[3]:
            out["accuracy"] = s[1] / s[3]
        return out

    # --------------------------------------------------------------- lr + state
    def set_lr(self, progress: float) -> None:
        """The rate of every group: base lr x schedule(progress) x lr_scale, unless a
        LearningRateScheduler set `lr_override`, which then is the rate; and onecycle's
        momentum."""
        progress = self.planned(progress)
        factor = self.schedule(progress) * self.lr_scale
        momentum = None if self.momentum_schedule is None else self.momentum_schedule(progress)
        for group in self.optimizer.param_groups:
            if self.lr_override is not None:
                group["lr"] = self.lr_override * group["lr_mult"]
            else:
                group["lr"] = group["base_lr"] * group["lr_mult"] * factor
            if momentum is not None:  # as torch's OneCycleLR: beta1 where there are betas
                if "betas" in group:
                    group["betas"] = (momentum, *group["betas"][1:])
                elif "momentum" in group:
                    group["momentum"] = momentum

    def schedule_fraction(self, step: int) -> float:
        """How far optimizer step `step` is through the run's schedule, 0 to 1 (re-plans
        included: Lookahead's ramp ends where the lr's does)."""
        steps = self.steps_per_epoch or 1
        return min(self.planned(step / steps) / max(self.planned_epochs, 1), 1.0)

    def replan(self, epochs: int) -> None:
        """Make the run `epochs` long from the end of the epoch just trained: the rest of
        the schedule is stretched or squeezed to end there (optim.replanned_progress) and
        the change is kept in the config (`replans`), so that a rerun from config.json, or
        --resume, trains the same steps at the same rates. `epochs` == the epochs done
        ends the run now."""
        done = self.epoch
        if self.batch_in_epoch or epochs < done:
            raise AugtrainError(f"replan({epochs}): only between epochs, after {done} done")
        if epochs == self.config.epochs:
            return
        self.replans.append([done, self.config.epochs, epochs])
        self.planned = replanned_progress(self.replans)
        self.config = self.config.replace(epochs=epochs, replans=[list(r) for r in self.replans])
        if self.checkpoint_meta.get("config") is not None:
            self.checkpoint_meta["config"] = self.config.to_dict()
        for cb in self.callbacks:  # Keras' params: the epochs now planned
            cb.set_params(self.params())

    @property
    def current_lr(self) -> float:
        g = self.optimizer.param_groups[0]
        return float(g["lr"] / g["lr_mult"])

    def set_current_lr(self, lr: float) -> None:
        """Make `lr` the rate from now on (ReduceLROnPlateau, LearningRateScheduler)."""
        if self.lr_override is not None:
            self.lr_override = lr
        elif self.current_lr > 0:
            self.lr_scale *= lr / self.current_lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_mult"]

    def override_lr(self, lr: float) -> None:
        """Make `lr` the rate, replacing the schedule from now on (LearningRateScheduler)."""
        self.lr_override = float(lr)
        self.set_current_lr(float(lr))

    def logged_metrics(self) -> set[str]:
        """The names every epoch's logs hold (for checking what callbacks monitor)."""
        names = {"loss", "accuracy"}
        if self.log_summary:
            names |= {"epoch", "lr", "seconds", "images_per_s"}
        if self.val_source is not None:
            names |= set(evaluation_metrics(self.eval_name, self.ema is not None))
        for cb in self.callbacks:
            names |= set(cb.provides())
        return names

    def check_monitors(self) -> None:
        """A callback monitoring a metric that is never logged is an error now, not a silent no-op."""
        logged = self.logged_metrics()
        for cb in self.callbacks:
            who = type(cb).__name__
            for name in cb.monitors():
                if name == getattr(cb, "monitor", None):  # a metric it chooses or stops on
                    check_not_test(name, f"{who}: monitor")
                if name not in logged:
                    hint = ""
                    if name.startswith("val_") and self.val is not None and self.eval_name != "val":
                        hint = f"; {NO_VALIDATION_HINT}"
                    raise AugtrainError(
                        f"{who}: monitor {name!r} is never logged; "
                        f"available: {', '.join(sorted(logged))}{hint}"
                    )

    def state_dict(self) -> dict[str, Any]:
        """This rank's state; see `checkpoint_state` for what a checkpoint holds."""
        return {
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "global_step": self.global_step,
            "partial": self.partial.cpu().clone(),
            "history": self.history,
            "lr_scale": self.lr_scale,
            "lr_override": self.lr_override,
            "stop_training": self.stop_training,
            "callbacks": self.callbacks.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        self.epoch, self.batch_in_epoch = state["epoch"], state["batch_in_epoch"]
        self.global_step = state["global_step"]
        # The epoch's partial sums are over all ranks: rank 0 carries them on.
        partial = state["partial"].to(torch.float64)
        if len(partial) == 3:  # older checkpoints: every sample seen had an accuracy
            partial = torch.cat([partial, partial[2:3]])
        self.partial = partial if self.dist.is_main else torch.zeros_like(partial)
        self.history = list(state["history"])
        self.lr_scale = state["lr_scale"]
        self.lr_override = state.get("lr_override")
        self.stop_training = state.get("stop_training", False)
        self.callbacks.load_state_dict(state["callbacks"])
        if self.scaler is not None and state.get("scaler"):  # fp16's loss scale carries on
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state.get("ema"):
                self.ema.load_state_dict(state["ema"])
            else:  # --ema added on resume: the average starts from the weights of now
                self.ema = ModelEma(self.model, self.config.ema, self.config.ema_warmup)
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])

    def checkpoint_state(self) -> dict[str, Any]:
        """`state_dict()` with the epoch's partial sums over all ranks.
        Collective under DDP: every rank calls it at the same point."""
        state = self.state_dict()
        partial = self.partial.to(self.device).clone()
        state["partial"] = distributed.all_reduce_sum(partial, self.dist).cpu()
        return state

    def save_checkpoint(self, path: str | Path) -> None:
        """Write a full checkpoint (`--resume`, `checkpoint.load_model`, `augtrain evaluate`),
        atomically. Every rank calls it (collective under DDP); rank 0 writes."""
        state = self.checkpoint_state()
        if self.dist.is_main:
            meta = self.checkpoint_meta
            config = meta.get("config") or self.config.to_dict()
            checkpoint.save(Path(path), meta.get("model"), meta.get("classes"), config, state)

    def _checkpoint(self, reason: str) -> None:
        if self.checkpoint_hook is not None:
            self.checkpoint_hook(self, reason)

    # ------------------------------------------------------------ stopping early
    def _stop_requested(self) -> bool:
        """Did a callback, Ctrl-C or SIGTERM ask to stop? Under DDP a request on any rank
        stops every rank at the same batch (one tiny all-reduce per batch)."""
        if self.model.__dict__.pop("stop_training", False):  # Keras: model.stop_training = True
            self.stop_training = True
        self.stopping_for = self.interrupted
        if self.dist.enabled:
            flags = [self.stop_training, self.interrupted is not None]
            self.stop_training, interrupted = distributed.any_flags(flags, self.dist, self.device)
            self.stopping_for = (
                (self.interrupted or "a signal on another rank") if interrupted else None
            )
        return self.stop_training or self.stopping_for is not None

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """Ctrl-C (SIGINT) and SIGTERM stop training after the current batch, with last.pt
        saved; a second Ctrl-C stops at once (without saving). Without checkpointing there
        is nothing to save: Ctrl-C stops at once, as in Keras."""
        if threading.current_thread() is not threading.main_thread() or not self.checkpoint_hook:
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.interrupted is not None:
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt
                return
            self.interrupted = signal.Signals(signum).name
            if self.dist.is_main and self.config.verbose:
                print(
                    f"\n{self.interrupted}: stopping after this batch and saving last.pt "
                    "(Ctrl-C again to stop at once)",
                    file=sys.stderr,
                    flush=True,
                )

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h if h is not None else signal.SIG_DFL)

    # ----------------------------------------------------------------- printing
    def _progress(self, epoch: int, steps: int | None) -> Any:
        """The batch bar of one epoch; None without one (its postfix then costs nothing)."""
        if self.config.verbose != 1 or not self.dist.is_main:
            return None
        bar = progress_bar(
            steps, f"epoch {epoch + 1}/{self.config.epochs}", "batch", initial=self.batch_in_epoch
        )
        return None if bar.disable else bar

    def _print_epoch(self, logs: dict[str, Any]) -> None:
        if self.config.verbose and self.dist.is_main:
            print(format_logs(logs, self.config.epochs), flush=True)


# What an epoch's evaluation logs are called when it is the test split: shown, never used.
NO_VALIDATION_HINT = (
    "the per-epoch evaluation is on the test split (logged as test_*); "
    "pass --validation-split F to validate on held-out training data"
)


def evaluation_metrics(name: str, ema: bool) -> list[str]:
    """The per-epoch evaluation's log names: val_* or test_*, and their _ema twins."""
    names = [f"{name}_loss", f"{name}_accuracy"]
    return names + [f"{n}_ema" for n in names] if ema else names


def check_not_test(metric: str, who: str) -> None:
    """A checkpoint choice, early stop or plateau on a test_* figure selects on the test set."""
    if metric.startswith("test_"):
        raise AugtrainError(
            f"{who} {metric!r} is the test split, which must not choose checkpoints or stop "
            f"training; pass --validation-split F and monitor val_* instead"
        )


def format_logs(logs: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {logs['epoch']}/{epochs}", f"{logs['seconds']:.1f}s"]
    keys = ["loss", "accuracy"]
    keys += evaluation_metrics("val", True) + evaluation_metrics("test", True)
    for key in keys:
        if key in logs:
            parts.append(f"{key} {logs[key]:.4f}")
    parts += [f"lr {logs['lr']:.3g}", f"{logs['images_per_s']:.0f} img/s"]
    return " - ".join(parts)
