"""Optimizers by name, and learning-rate schedules as pure functions of the epoch.

A schedule maps fractional progress (epoch + step / steps_per_epoch) to a factor
of the base learning rate. Being stateless, it needs nothing saved for resume:
the loop sets every group's lr each step from (epoch, step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from ..errors import AugtrainError

# The usual defaults (Keras' where torch has none of its own: SGD 0.01, Adamax 0.002 as torch).
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3, "adamax": 2e-3, "rmsprop": 1e-3}
OPTIMIZERS = tuple(DEFAULT_LR)
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle")


def build_optimizer(
    name: str,
    param_groups: Iterable[dict],
    lr: float | None = None,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Param groups may carry 'lr_mult' (e.g. lower base lr for fine-tuning, higher bias lr)."""
    name = name.lower()
    if name not in DEFAULT_LR:
        raise AugtrainError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[name] if lr is None else lr
    groups = []
    for g in param_groups:
        g = dict(g)
        g.setdefault("lr_mult", 1.0)
        g["lr"] = lr * g["lr_mult"]
        g["base_lr"] = lr
        groups.append(g)
    if name == "sgd":
        if nesterov and momentum <= 0:
            raise AugtrainError("--nesterov needs --momentum > 0")
        return torch.optim.SGD(
            groups, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
        )
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    if name == "adamax":
        return torch.optim.Adamax(groups, lr=lr, weight_decay=weight_decay)
    return torch.optim.RMSprop(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)


def build_schedule(
    name: str,
    epochs: int,
    gamma: float = 0.1,
    step_size: int = 30,
    warmup_epochs: float = 0.0,
    start_factor: float = 0.0,
    end_factor: float = 0.0,
) -> Callable[[float], float]:
    """A function progress (in epochs, fractional) -> lr factor.

    onecycle goes linearly from `start_factor` to 1 at `warmup_epochs`, then linearly to
    `end_factor` at the end (0 and 0 by default; the speed presets use airbench's 0.2, 0.07).
    """
    if name not in SCHEDULES:
        raise AugtrainError(f"unknown --schedule {name!r}; choose from {', '.join(SCHEDULES)}")
    if name == "onecycle" and warmup_epochs <= 0:
        warmup_epochs = 0.3 * epochs  # torch OneCycleLR's pct_start

    def warm(t: float) -> float:
        return min(1.0, (t + 1e-9) / warmup_epochs) if warmup_epochs > 0 else 1.0

    if name == "constant":
        return lambda t: warm(t)
    if name == "step":
        return lambda t: warm(t) * gamma ** math.floor(t / step_size)
    if name == "exponential":  # Keras tutorial: lr * gamma**epoch, changed at each epoch start
        return lambda t: warm(t) * gamma ** math.floor(t)
    if name == "cosine":

        def cosine(t: float) -> float:
            span = max(epochs - warmup_epochs, 1e-9)
            p = min(max(t - warmup_epochs, 0.0) / span, 1.0)
            return warm(t) * 0.5 * (1.0 + math.cos(math.pi * p))

        return cosine

    def onecycle(t: float) -> float:  # linear up to 1 at warmup_epochs, linear down at the end
        if t < warmup_epochs:
            return start_factor + (1.0 - start_factor) * t / warmup_epochs
        left = max(0.0, (epochs - t) / max(epochs - warmup_epochs, 1e-9))
        return end_factor + (1.0 - end_factor) * left

    return onecycle
