"""Callbacks of the speed recipes: lookahead weight averaging, and the net's epoch hook.

Lookahead (as airbench uses it; Zhang et al. 2019 named the idea): a slow copy of
the weights trails the fast ones. Every `every` optimizer steps

    slow = decay * slow + (1 - decay) * fast;   fast = slow

with decay = base ** every * (step / total_steps) ** power. Early in training the
decay is ~0 (the slow copy just follows); near the end it approaches base**every,
averaging the noise of the last ~20 steps out of the weights, which is worth a few
tenths of a point at ~10 epochs. Batch-norm running statistics are averaged
with the weights (every floating-point entry of the state dict), so the averaged
net stays consistent. Every epoch ends with an update (airbench copies the slow
weights back there too), so every checkpoint, and the final model, is the
averaged net.
"""

from __future__ import annotations

from typing import Any

import torch

from .callbacks.base import Callback


class Lookahead(Callback):
    """Lookahead averaging of the model's weights; see the module docstring.

    every=5, base=0.95, power=3 are airbench94's: 0.95 per step is an average over
    ~20 steps at the end; the cubic ramp keeps the averaging off while the
    learning rate is large and the weights move far.
    """

    def __init__(self, every: int = 5, base: float = 0.95, power: float = 3.0) -> None:
        self.every, self.base, self.power = every, base, power
        self.slow: list[torch.Tensor] | None = None
        self._pending: list[torch.Tensor] | None = None
        self._fast: list[torch.Tensor] = []

    def _live(self) -> list[torch.Tensor]:
        # state_dict() tensors share storage with the parameters and buffers: copy_ writes them.
        return [t for t in self.model.state_dict().values() if t.is_floating_point()]

    def total_steps(self) -> int:
        """Optimizer steps of the whole run (`params`: steps per epoch, as --accumulate's)."""
        return self.params["epochs"] * self.params["steps"]

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._fast = self._live()
        if self._pending is not None and len(self._pending) == len(self._fast):
            self.slow = [s.to(f.device, f.dtype) for s, f in zip(self._pending, self._fast)]
        else:
            self.slow = [f.detach().clone() for f in self._fast]
        self._pending = None

    @torch.no_grad()
    def update(self, decay: float) -> None:
        if self.slow is None:
            return
        torch._foreach_lerp_(self.slow, self._fast, 1.0 - decay)
        for f, s in zip(self._fast, self.slow):
            f.copy_(s)

    def decay(self, step: int) -> float:
        if getattr(self.trainer, "steps_per_epoch", None):  # loop.Trainer: re-plans included
            progress = self.trainer.schedule_fraction(step)
        else:
            progress = min(step / max(self.total_steps(), 1), 1.0)
        return self.base**self.every * progress**self.power

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self.trainer.global_step
        if step % self.every == 0:
            self.update(self.decay(step))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # One more update unless the last step made one: fast = slow then holds, so every
        # checkpoint and the final model are the averaged net, with no step left out.
        step = self.trainer.global_step
        if step % self.every != 0:
            self.update(self.decay(step))

    def state_dict(self) -> dict[str, Any]:
        slow = self.slow if self.slow is not None else self._pending
        return {"slow": [] if slow is None else [s.detach().cpu().clone() for s in slow]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = list(state.get("slow") or []) or None
        self.slow = None


class NetEpochHook(Callback):
    """Calls `set_epoch(epoch)` on the network at each epoch start (speednet freezes its
    whitening bias that way)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.net.set_epoch(epoch)

    def on_train_begin(self, logs: dict | None = None) -> None:
        # a resumed run starts mid-epoch without on_epoch_begin: set the state now
        if self.trainer is not None:
            self.net.set_epoch(self.trainer.epoch)
