"""The training loop. Read it top to bottom:

    for epoch:                          (Trainer.fit)
        order = permutation(seed, epoch)
        for batch in order:             (Trainer.train_epoch)
            x = uint8 images on the device, gathered by index
            x = augment(x, index, epoch)    keyed randomness: no generator state
            loss = criterion(model(x / 255), y); backward; step
        validate; callbacks; save last.pt (and best.pt)

Everything needed to continue exactly (model, optimizer, epoch, batch within
the epoch, partial epoch sums, callback state, torch RNG for dropout) is in
`state_dict()`; data order and augmentation need no state.
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..augment import Compose, epoch_order
from ..augment.functional import to_float
from ..data import ImageArrays
from . import distributed
from .callbacks import Callback, CallbackList
from .config import TrainConfig
from .optim import build_optimizer, build_schedule


@dataclass
class DeviceSplit:
    """A split as uint8 NHWC images and int64 labels, resident on the device."""

    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def from_arrays(cls, arrays: ImageArrays, device: torch.device) -> DeviceSplit:
        return cls(torch.from_numpy(arrays.x).to(device), torch.from_numpy(arrays.y).to(device))

    def __len__(self) -> int:
        return len(self.y)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images as an NCHW view (channels_last in memory) and labels."""
        return self.x[index].permute(0, 3, 1, 2), self.y[index]


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", distributed.from_env().local_rank)
        return torch.device("cpu")
    return torch.device(name)


def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 NHWC images, in [0, 1] units."""
    flat = x.reshape(-1, x.shape[-1])
    total = np.zeros(x.shape[-1])
    total_sq = np.zeros(x.shape[-1])
    for i in range(0, len(flat), 1 << 22):  # chunks keep the float64 copy small
        chunk = flat[i : i + (1 << 22)].astype(np.float64)
        total += chunk.sum(0)
        total_sq += (chunk**2).sum(0)
    mean = total / len(flat)
    std = np.sqrt(np.maximum(total_sq / len(flat) - mean**2, 1e-12))
    return (mean / 255).tolist(), (std / 255).tolist()


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
    ) -> None:
        self.config = config
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
        self.schedule = build_schedule(
            config.schedule, config.epochs, config.gamma, config.step_size, config.warmup_epochs
        )
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.forward_model: nn.Module = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.autocast = _autocast(config.amp, self.device)
        self.channels_last = config.channels_last == "on" or (
            config.channels_last == "auto" and self.device.type == "cuda"
        )
        self.callbacks = CallbackList(callbacks or [], self)
        # State, all saved in checkpoints:
        self.epoch = 0  # the epoch in progress (0-based); == epochs when done
        self.batch_in_epoch = 0  # batches of `epoch` already trained
        self.global_step = 0
        self.partial = torch.zeros(
            3, dtype=torch.float64
        )  # loss sum, correct, seen of this epoch so far
        self.history: list[dict[str, Any]] = []
        self.lr_scale = 1.0  # set by ReduceLROnPlateau / LearningRateScheduler
        self.stop_training = False
        self.checkpoint_hook = None  # called with (trainer, reason) when a checkpoint is due

    # ----------------------------------------------------------------- the loop
    def fit(self) -> list[dict[str, Any]]:
        self.callbacks.train_begin({})
        try:
            while self.epoch < self.config.epochs and not self.stop_training:
                self.train_epoch()
        finally:
            self.callbacks.train_end({"history": self.history})
        return self.history

    def train_epoch(self) -> dict[str, Any]:
        epoch, cfg = self.epoch, self.config
        n, batch = len(self.train), cfg.batch_size
        steps = math.ceil(n / batch)
        order = epoch_order(cfg.seed, epoch, n)
        if self.batch_in_epoch == 0:
            self.callbacks.epoch_begin(epoch, {})
            self.partial.zero_()
        sums = self.partial.to(self.device)
        self.model.train()
        bar = self._progress(epoch, steps)
        start = time.perf_counter()
        first = self.batch_in_epoch
        for b in range(first, steps):
            index = distributed.shard(order[b * batch : (b + 1) * batch], self.dist).to(self.device)
            self.callbacks.batch_begin(b, {"batch": b, "size": len(index)})
            self.set_lr(epoch + b / steps)
            loss, correct = self.train_step(index, epoch)
            sums[0] += loss.detach().double() * len(index)
            sums[1] += correct
            sums[2] += len(index)
            self.batch_in_epoch, self.global_step = b + 1, self.global_step + 1
            self.partial = sums.cpu() if self.device.type == "cpu" else sums
            self.callbacks.batch_end(b, {"batch": b, "size": len(index), "loss": loss.detach()})
            if bar is not None:
                bar.update(1)
                if b % 20 == 0 or b == steps - 1:
                    s = sums.tolist()
                    bar.set_postfix_str(
                        f"loss {s[0] / s[2]:.4f} acc {s[1] / s[2]:.4f} "
                        f"{s[2] * self.dist.world_size / (time.perf_counter() - start):.0f} img/s"
                    )
            if isinstance(cfg.save_freq, int) and self.global_step % cfg.save_freq == 0:
                self.partial = sums.cpu()
                self._checkpoint("step")
            if self.stop_training:
                break
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - start
        self.partial = sums.cpu()
        totals = distributed.all_reduce_sum(sums.clone(), self.dist).tolist()
        logs: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": totals[0] / totals[2],
            "accuracy": totals[1] / totals[2],
        }
        if self.val is not None:
            val = self.evaluate(self.val)
            logs.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        trained = (steps - first) * batch if first else n
        logs.update(
            lr=self.current_lr, seconds=seconds, images_per_s=min(trained, n) / max(seconds, 1e-9)
        )
        self.history.append(logs)
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        self.partial.zero_()
        self.callbacks.epoch_end(epoch, logs)
        self.stop_training = distributed.broadcast_flag(self.stop_training, self.dist, self.device)
        self._print_epoch(logs)
        self._checkpoint("epoch")
        return logs

    def train_step(self, index: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on the samples `index`; returns (mean loss, number correct)."""
        images, labels = self.train.batch(index)
        if self.pipeline.mixes_labels:
            targets = F.one_hot(labels, self.num_classes).float()
            images, targets = self.pipeline(images, index, epoch, targets)
            hard = targets.argmax(1)
        else:
            images, targets = self.pipeline(images, index, epoch), labels
            hard = labels
        images = self._prepare(images)
        with self.autocast:
            logits = self.forward_model(images)
        loss = self.criterion(logits.float(), targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        correct = (logits.argmax(1) == hard).sum()
        return loss, correct

    # --------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, split: DeviceSplit, batch_size: int | None = None) -> dict[str, float]:
        """Loss and accuracy over a split, sharded across ranks and summed."""
        self.model.eval()
        bs = batch_size or max(256, self.config.batch_size)
        index = distributed.shard(torch.arange(len(split)), self.dist)
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        for i in range(0, len(index), bs):
            idx = index[i : i + bs].to(self.device)
            images, labels = split.batch(idx)
            with self.autocast:
                logits = self.model(self._prepare(images)).float()
            sums[0] += F.cross_entropy(logits, labels, reduction="sum").double()
            sums[1] += (logits.argmax(1) == labels).sum()
            sums[2] += len(idx)
        loss, correct, seen = distributed.all_reduce_sum(sums, self.dist).tolist()
        self.model.train()
        return {"loss": loss / max(seen, 1), "accuracy": correct / max(seen, 1)}

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = to_float(images)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    # --------------------------------------------------------------- lr + state
    def set_lr(self, progress: float) -> None:
        factor = self.schedule(progress) * self.lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * group["lr_mult"] * factor

    @property
    def current_lr(self) -> float:
        g = self.optimizer.param_groups[0]
        return float(g["lr"] / g["lr_mult"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "global_step": self.global_step,
            "partial": self.partial.cpu().clone(),
            "history": self.history,
            "lr_scale": self.lr_scale,
            "stop_training": self.stop_training,
            "callbacks": self.callbacks.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        self.epoch, self.batch_in_epoch = state["epoch"], state["batch_in_epoch"]
        self.global_step = state["global_step"]
        self.partial = state["partial"].clone()
        self.history = list(state["history"])
        self.lr_scale = state["lr_scale"]
        self.stop_training = state.get("stop_training", False)
        self.callbacks.load_state_dict(state["callbacks"])
        torch.set_rng_state(state["rng_cpu"])
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])

    def _checkpoint(self, reason: str) -> None:
        if self.checkpoint_hook is not None:
            self.checkpoint_hook(self, reason)

    # ----------------------------------------------------------------- printing
    def _progress(self, epoch: int, steps: int) -> Any:
        if self.config.verbose != 1 or not self.dist.is_main or not sys.stderr.isatty():
            return None
        from tqdm import tqdm

        return tqdm(
            total=steps,
            initial=self.batch_in_epoch,
            desc=f"epoch {epoch + 1}/{self.config.epochs}",
            unit="batch",
            leave=False,
            dynamic_ncols=True,
        )

    def _print_epoch(self, logs: dict[str, Any]) -> None:
        if self.config.verbose and self.dist.is_main:
            print(format_logs(logs, self.config.epochs), flush=True)


def format_logs(logs: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {logs['epoch']}/{epochs}", f"{logs['seconds']:.1f}s"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in logs:
            parts.append(f"{key} {logs[key]:.4f}")
    parts += [f"lr {logs['lr']:.3g}", f"{logs['images_per_s']:.0f} img/s"]
    return " - ".join(parts)


def _autocast(amp: str, device: torch.device) -> Any:
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return nullcontext()
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)
