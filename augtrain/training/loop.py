"""The training loop. Read it top to bottom:

    for epoch:                          (Trainer.fit)
        order = permutation(seed, epoch)
        for batch in order:             (Trainer.train_epoch)
            x = uint8 images on the device, gathered by index (this rank's shard)
            x = augment(x, index, epoch)    keyed randomness: no generator state
            loss = criterion(model(x / 255), y); backward; step
        validate; callbacks; save last.pt (and best.pt)

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

import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..augment import Compose, cpu_kernels, epoch_order
from ..augment.random import hash_ints
from ..data import ImageArrays, cache
from ..data.placement import DeviceSplit, place_splits  # noqa: F401  (their old home)
from ..device import DevicePolicy
from ..device import resolve_device as resolve_device  # re-exported: its old home
from ..errors import AugtrainError
from ..progress import progress_bar
from ..report import multilabel
from ..report.metrics import class_logits
from . import checkpoint, distributed
from .callbacks import Callback, CallbackList
from .config import TrainConfig
from .ema import ModelEma
from .optim import build_momentum_schedule, build_optimizer, build_schedule


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


class Trainer:
    """Holds the training state; `fit()` is the whole loop."""

    def __init__(
        self,
        model: nn.Module,
        train: DeviceSplit,
        val: DeviceSplit | None,
        config: TrainConfig,
        pipeline: Compose,
        callbacks: list[Callback] | None = None,
        device: torch.device | None = None,
        param_groups: list[dict] | None = None,
        dist_info: distributed.DistInfo | None = None,
        num_classes: int | None = None,
        eval_name: str = "val",
    ) -> None:
        self.config = config
        # The per-epoch evaluation's log prefix: "val" for a validation split, "test" when it
        # is the test split (test_* figures are shown, never used to choose or stop).
        self.eval_name = eval_name
        self.device = device or torch.device("cpu")
        self.dist = dist_info or distributed.DistInfo()
        self.model = model
        self.train, self.val = train, val
        self.pipeline = pipeline
        self.num_classes = num_classes or int(train.y.max()) + 1
        self.optimizer = build_optimizer(
            config.optimizer,
            param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}],
            config.lr,
            config.momentum,
            config.nesterov,
            config.weight_decay,
        )
        # optimizer steps, as train_epoch's
        steps_per_epoch = math.ceil(len(train) / (config.batch_size * config.accumulate))
        self.steps_per_epoch = steps_per_epoch
        self.schedule = build_schedule(
            config.schedule,
            config.epochs,
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
        # onecycle's momentum (Adam's beta1), set each step from the progress like the lr
        self.momentum_schedule = (
            build_momentum_schedule(
                config.schedule,
                config.epochs,
                config.warmup_epochs,
                steps_per_epoch=steps_per_epoch,
                pct_start=config.pct_start,
                max_momentum=config.max_momentum,
                base_momentum=config.base_momentum,
            )
            if config.cycle_momentum
            else None
        )
        # --label-mode binary: one logit, as two-class logits whose cross-entropy is the
        # binary cross-entropy (report.metrics.class_logits)
        self.binary = config.label_mode == "binary"
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        # --label-mode multi: a sigmoid and binary cross-entropy per label (report/multilabel.py)
        self.multi_label = config.label_mode == "multi"
        if self.multi_label:
            self.criterion = multilabel.criterion(config.label_smoothing)
        self.forward_model: nn.Module = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        # One policy for the training step and validation (device.DevicePolicy): autocast,
        # memory format, uint8 -> float input; fp16 scales the loss (GradScaler).
        self.precision = DevicePolicy.resolve(self.device, config.amp, config.channels_last)
        self.autocast = self.precision.autocast()
        self.channels_last = self.precision.channels_last
        self.scaler = self.precision.grad_scaler()
        # --ema: a moving average of the weights, updated after each optimizer step
        self.ema = None if config.ema is None else ModelEma(model, config.ema, config.ema_warmup)
        self.grad_norm: torch.Tensor | None = None  # the last step's norm before clipping
        self.callbacks = CallbackList(callbacks or [], self)
        # Where checkpoints and callback files go, and what a checkpoint says about the
        # model (set by `augtrain.train`; a bare Trainer writes relative to the cwd).
        self.run_dir: Path | None = None
        self.checkpoint_meta: dict[str, Any] = {"model": None, "classes": None}
        self.checkpoint_hook = None  # called with (trainer, reason) when a checkpoint is due
        # State, all saved in checkpoints:
        self.epoch = 0  # the epoch in progress (0-based); == epochs when done
        self.batch_in_epoch = 0  # batches of `epoch` already trained
        self.global_step = 0
        # this rank's loss sum, correct, seen of this epoch so far
        self.partial = torch.zeros(3, dtype=torch.float64)
        self.history: list[dict[str, Any]] = []
        self.lr_scale = 1.0  # set by ReduceLROnPlateau: a factor on the schedule
        self.lr_override: float | None = None  # set by LearningRateScheduler: replaces it
        self.stop_training = False
        self.interrupted: str | None = None  # name of the signal that asked to stop
        self.stopping_for: str | None = None  # the same, once every rank has agreed on it

    # ----------------------------------------------------------------- the loop
    def fit(self) -> list[dict[str, Any]]:
        self.check_monitors()
        self.callbacks.train_begin({})
        try:
            # CPU augmentation kernels on this thread only: torch's workers own the other cores
            with self._stop_on_signals(), cpu_kernels.limit_threads(1):
                while self.epoch < self.config.epochs and not self.stop_training:
                    self.train_epoch()
                    if self.stopping_for:  # a signal during the epoch's end; last.pt is saved
                        raise TrainingInterrupted(self.stopping_for)
        finally:
            self.callbacks.train_end({"history": self.history})
        return self.history

    def train_epoch(self) -> dict[str, Any]:
        epoch, cfg = self.epoch, self.config
        n, batch = len(self.train), cfg.batch_size
        step_size = batch * cfg.accumulate  # samples per optimizer step
        steps = math.ceil(n / step_size)
        order = epoch_order(cfg.seed, epoch, n)
        if self.batch_in_epoch == 0:
            self.callbacks.epoch_begin(epoch, {})
            self.partial.zero_()
        sums = self.partial = self.partial.to(self.device)
        self.model.train()
        bar = self._progress(epoch, steps)
        start = time.perf_counter()
        first = self.batch_in_epoch
        for b in range(first, steps):
            global_index = order[b * step_size : (b + 1) * step_size]
            micro = [  # this rank's shard of each micro-batch
                distributed.shard(global_index[i : i + batch], self.dist).to(self.device)
                for i in range(0, len(global_index), batch)
            ]
            size = sum(len(index) for index in micro)
            self.callbacks.batch_begin(b, {"batch": b, "size": size})
            self.set_lr(epoch + b / steps)
            loss, correct = self.train_step(micro, epoch, len(global_index), batch=b)
            sums[0] += loss.detach().double() * size
            sums[1] += correct
            sums[2] += size
            self.batch_in_epoch, self.global_step = b + 1, self.global_step + 1
            if self.ema is not None:
                self.ema.update(self.model)
            self.callbacks.batch_end(b, {"batch": b, "size": size, "loss": loss.detach()})
            if bar is not None:
                bar.update(1)
                if b % 20 == 0 or b == steps - 1:
                    s = sums.tolist()
                    bar.set_postfix_str(
                        f"loss {s[0] / s[2]:.4f} acc {s[1] / s[2]:.4f} "
                        f"{s[2] * self.dist.world_size / (time.perf_counter() - start):.0f} img/s"
                    )
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
        totals = distributed.all_reduce_sum(sums.clone(), self.dist).tolist()
        logs: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": totals[0] / totals[2],
            "accuracy": totals[1] / totals[2],
        }
        if self.val is not None:
            name = self.eval_name
            val = self.evaluate(self.val)
            logs.update({f"{name}_loss": val["loss"], f"{name}_accuracy": val["accuracy"]})
            if self.ema is not None:
                val = self.evaluate(self.val, model=self.ema.module)
                logs.update(
                    {f"{name}_loss_ema": val["loss"], f"{name}_accuracy_ema": val["accuracy"]}
                )
        trained = (steps - first) * step_size if first else n
        logs.update(
            lr=self.current_lr, seconds=seconds, images_per_s=min(trained, n) / max(seconds, 1e-9)
        )
        self.history.append(logs)
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        self.partial.zero_()
        self._print_epoch(logs)
        self.callbacks.epoch_end(epoch, logs)
        self._stop_requested()
        self._checkpoint("epoch")
        return logs

    def train_step(
        self,
        index: torch.Tensor | list[torch.Tensor],
        epoch: int,
        global_size: int | None = None,
        batch: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on the samples `index`, or on the micro-batches of a list of
        them (gradient accumulation); returns (mean loss, number correct).

        Under DDP each index is this rank's shard and `global_size` is the step's number of
        samples over all ranks. With `batch` (the step within the epoch) each micro-batch's
        dropout is seeded first (`seed_batch`).
        """
        micro = [index] if isinstance(index, torch.Tensor) else list(index)
        local = sum(len(i) for i in micro)
        world = self.dist.world_size if self.dist.enabled else 1
        total = global_size or local * world or 1
        self.optimizer.zero_grad(set_to_none=True)
        losses, correct = [], torch.zeros((), dtype=torch.int64, device=self.device)
        for m, idx in enumerate(micro):
            if batch is not None:  # for accumulate 1 the key is the step's, as it always was
                self.seed_batch(epoch, batch * self.config.accumulate + m)
            # A micro-batch's mean loss weighted by its share of the step: the summed
            # gradients are those of the mean over the step's samples (also for an uneven
            # last step, and under DDP, which averages over ranks, for uneven shards).
            share = None if len(micro) == 1 and world == 1 else len(idx) * world / total
            # DDP: all-reduce the gradients once, after the step's last micro-batch
            sync = m == len(micro) - 1 or not self.dist.enabled
            no_sync = getattr(self.forward_model, "no_sync", None)
            with nullcontext() if sync or no_sync is None else no_sync():
                loss, c = self._backward(idx, epoch, share)
            losses.append(loss * len(idx))
            correct += c
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
            return loss, correct
        return torch.stack(losses).sum() / max(local, 1), correct

    def _backward(
        self, index: torch.Tensor, epoch: int, share: float | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of one (micro-)batch, its loss weighted by `share` (None:
        the whole step); returns (mean loss, number correct)."""
        images, labels = self.train.batch(index)
        if self.pipeline.mixes_labels:
            targets = labels if self.multi_label else F.one_hot(labels, self.num_classes).float()
            images, targets = self.pipeline(images, index, epoch, targets)
            hard = targets.argmax(1)
        else:
            images, targets = self.pipeline(images, index, epoch), labels
            hard = labels
        images = self._prepare(images)
        with self.autocast:
            logits = class_logits(self.forward_model(images), self.binary)
        loss = self.criterion(logits.float(), targets)
        objective = loss if share is None else loss * share
        if not len(index):  # an empty DDP shard still joins the gradient all-reduce
            objective = logits.sum() * 0.0
            loss = logits.sum().detach() * 0.0
        if self.scaler is not None:  # fp16: scale the loss
            self.scaler.scale(objective).backward()
        else:
            objective.backward()
        if self.multi_label:  # images with every label right
            return loss, multilabel.correct(logits, targets, self.config.threshold)
        return loss, (logits.argmax(1) == hard).sum()

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
    @torch.no_grad()
    def evaluate(
        self, split: DeviceSplit, batch_size: int | None = None, model: nn.Module | None = None
    ) -> dict[str, float]:
        """Loss and accuracy of the model (or `model`: the EMA's) over a split, sharded
        across ranks and summed."""
        model = model or self.model
        model.eval()
        bs = batch_size or max(256, self.config.batch_size)
        index = distributed.shard(torch.arange(len(split)), self.dist)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        for i in range(0, len(index), bs):
            idx = index[i : i + bs].to(self.device)
            images, labels = split.batch(idx)
            with self.autocast:
                logits = class_logits(model(self._prepare(images)).float(), self.binary)
            if self.multi_label:
                sums[0] += multilabel.loss_sum(logits, labels).double()
                sums[1] += multilabel.correct(logits, labels, self.config.threshold)
                sums[2] += len(idx)
                continue
            sums[0] += F.cross_entropy(logits, labels, reduction="sum").double()
            sums[1] += (logits.argmax(1) == labels).sum()
            sums[2] += len(idx)
        loss, correct, seen = distributed.all_reduce_sum(sums, self.dist).tolist()
        if model is self.model:
            model.train()
        return {"loss": loss / max(seen, 1), "accuracy": correct / max(seen, 1)}

    def running_logs(self) -> dict[str, float]:
        """Loss and accuracy of the epoch so far, over all ranks (collective under DDP)."""
        s = distributed.all_reduce_sum(self.partial.to(self.device).clone(), self.dist).tolist()
        return {"loss": s[0] / max(s[2], 1), "accuracy": s[1] / max(s[2], 1)}

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        return self.precision.model_input(images)

    # --------------------------------------------------------------- lr + state
    def set_lr(self, progress: float) -> None:
        """The rate of every group: base lr x schedule(progress) x lr_scale, unless a
        LearningRateScheduler set `lr_override`, which then is the rate; and onecycle's
        momentum."""
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

    def logged_metrics(self) -> set[str]:
        """The names every epoch's logs hold (for checking what callbacks monitor)."""
        names = {"epoch", "loss", "accuracy", "lr", "seconds", "images_per_s"}
        if self.val is not None:
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
        partial = state["partial"].clone()
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
        saved; a second Ctrl-C stops at once (without saving)."""
        if threading.current_thread() is not threading.main_thread():
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
    def _progress(self, epoch: int, steps: int) -> Any:
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
