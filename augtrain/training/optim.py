"""Optimizers by name, and learning-rate schedules as pure functions of the epoch.

A schedule maps fractional progress (epoch + step / steps_per_epoch) to a factor
of the base learning rate; onecycle's momentum schedule maps it to the momentum
(Adam's beta1) itself. Being stateless, they need nothing saved for resume:
the loop sets every group's lr and momentum each step from (epoch, step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

from ..errors import AugtrainError

# The usual defaults (Keras' where torch has none of its own: SGD 0.01, Adamax 0.002 as torch).
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3, "adamax": 2e-3, "rmsprop": 1e-3}
OPTIMIZERS = tuple(DEFAULT_LR)
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle", "triangle")


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
    *,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.25,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Callable[[float], float]:
    """A function progress (in epochs, fractional) -> lr factor.

    onecycle is torch's OneCycleLR (cosine phases): from 1 / div_factor up to 1 over
    `pct_start` of training (fastai's 0.25 by default; torch's is 0.3), or over
    `warmup_epochs` when that is given, then down to 1 / (div_factor * final_div_factor).
    With `steps_per_epoch` it is torch's curve step for step; without, its continuous limit.

    triangle goes linearly from `start_factor` to 1 at `warmup_epochs` (30% of training
    when not given), then linearly to `end_factor` at the end (0 and 0 by default; the
    speed presets use airbench's 0.2, 0.07).
    """
    if name not in SCHEDULES:
        raise AugtrainError(f"unknown --schedule {name!r}; choose from {', '.join(SCHEDULES)}")
    if name == "onecycle":
        check_one_cycle(epochs, warmup_epochs, pct_start, div_factor, final_div_factor)
        start = 1.0 / div_factor
        return one_cycle(
            epochs,
            warmup_epochs / epochs if warmup_epochs > 0 else pct_start,
            start,
            1.0,
            start / final_div_factor,
            steps_per_epoch,
        )
    if name == "triangle" and warmup_epochs <= 0:
        warmup_epochs = 0.3 * epochs

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

    def triangle(t: float) -> float:  # linear up to 1 at warmup_epochs, linear down at the end
        if t < warmup_epochs:
            return start_factor + (1.0 - start_factor) * t / warmup_epochs
        left = max(0.0, (epochs - t) / max(epochs - warmup_epochs, 1e-9))
        return end_factor + (1.0 - end_factor) * left

    return triangle


def build_momentum_schedule(
    name: str,
    epochs: int,
    warmup_epochs: float = 0.0,
    *,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.25,
    max_momentum: float = 0.95,
    base_momentum: float = 0.85,
) -> Callable[[float], float] | None:
    """onecycle's momentum (Adam's beta1): max -> base at the lr's peak -> max, cosine, as
    torch's OneCycleLR(cycle_momentum=True). None for the other schedules."""
    if name != "onecycle":
        return None
    for flag, value in (("--max-momentum", max_momentum), ("--base-momentum", base_momentum)):
        if not 0.0 <= value < 1.0:
            raise AugtrainError(f"{flag} must lie in [0, 1), got {value}")
    pct = warmup_epochs / epochs if warmup_epochs > 0 else pct_start
    return one_cycle(epochs, pct, max_momentum, base_momentum, max_momentum, steps_per_epoch)


def check_one_cycle(
    epochs: int, warmup_epochs: float, pct_start: float, div_factor: float, final_div: float
) -> None:
    if not 0.0 < pct_start < 1.0:
        raise AugtrainError(f"--pct-start must lie in (0, 1), got {pct_start}")
    if warmup_epochs > 0 and not warmup_epochs < epochs:
        raise AugtrainError(
            f"--warmup-epochs {warmup_epochs} of onecycle must be below --epochs {epochs}"
        )
    for flag, value in (("--div-factor", div_factor), ("--final-div-factor", final_div)):
        if not value > 0:
            raise AugtrainError(f"{flag} must be > 0, got {value}")


def one_cycle(
    epochs: int,
    pct_start: float,
    start: float,
    peak: float,
    end: float,
    steps_per_epoch: int | None = None,
) -> Callable[[float], float]:
    """progress -> value: cosine from `start` to `peak` over `pct_start` of training, then
    cosine to `end`, as torch's OneCycleLR computes it at optimizer step s: phase one ends
    at step pct_start * total - 1, phase two at total - 1 (total = epochs * steps_per_epoch).
    Without steps_per_epoch progress itself is the step (phases at pct_start * epochs and
    epochs)."""
    if steps_per_epoch:
        total = epochs * steps_per_epoch
        up, last = pct_start * total - 1, total - 1

        def step_of(t: float) -> float:
            return round(t * steps_per_epoch)  # progress is epoch + batch / steps_per_epoch

    else:
        up, last = pct_start * epochs, epochs

        def step_of(t: float) -> float:
            return t

    def anneal(a: float, b: float, pct: float) -> float:  # torch's _annealing_cos
        return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)

    def value(t: float) -> float:
        s = step_of(t)
        lo, hi, a, b = (0.0, up, start, peak) if s <= up else (up, last, peak, end)
        pct = (s - lo) / (hi - lo) if hi > lo else 1.0
        return anneal(a, b, min(max(pct, 0.0), 1.0))

    return value


# ------------------------------------------------------------------ re-planned runs
def replanned_progress(
    replans: Sequence[Sequence[int]],
) -> Callable[[float], float]:
    """Progress on the run as trained (epochs, fractional) -> progress on the schedule it
    was planned with: each re-plan [after_epoch k, from E, to E'] keeps the schedule up to
    epoch k and stretches (E' > E) or squeezes (E' < E) the rest of it, so that it ends at
    E' as it would have ended at E. The --time-budget guard re-plans a run that falls
    behind or ahead of its clock (training/budget.py, BudgetGuard)."""
    steps = [(float(k), float(old), float(new)) for k, old, new in replans]

    def planned(t: float) -> float:
        for k, old, new in reversed(steps):  # the last re-plan maps onto the one before it
            if t > k:
                t = k + (t - k) * (old - k) / (new - k) if new > k else k
        return t

    return planned
