"""Model EMA (`--ema DECAY`): an exponential moving average of the weights, as timm's
ModelEmaV3.

After every optimizer step (not every micro-batch of `--accumulate`)

    ema = decay * ema + (1 - decay) * model        (every floating-point weight and buffer)

and integer buffers (batch norm's num_batches_tracked) are copied. The first update
copies the model (timm's decay 0 at step 1). With `--ema-warmup` the decay ramps up as
timm's `ema_warmup`: 1 - (1 + t) ** -2/3 at update t, capped at DECAY, so that the
average does not hold on to the random initial weights for thousands of steps.

The EMA is a separate copy of the model, never trained; it is not Lookahead
(training/lookahead.py), which writes its average back into the trained weights.
The Trainer evaluates it each epoch (`val_*_ema` beside `val_*`), saves it in every
checkpoint (`trainer["ema"]`) and restores it on resume.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn

WARMUP_POWER = 2 / 3  # timm's warmup_power (warmup_gamma 1)


class ModelEma:
    """The moving average of `model`'s state; `module` is the averaged model."""

    def __init__(self, model: nn.Module, decay: float, warmup: bool = False) -> None:
        self.decay, self.warmup = decay, warmup
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0  # optimizer steps averaged so far

    def decay_at(self, update: int) -> float:
        """The decay of the `update`-th update (from 1): 0 at the first, as timm."""
        t = update - 1
        if t <= 0:
            return 0.0
        if self.warmup:
            return min(self.decay, 1.0 - (1.0 + t) ** -WARMUP_POWER)
        return self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = self.decay_at(self.updates)
        ema_float, model_float = [], []
        for e, m in zip(self.module.state_dict().values(), model.state_dict().values()):
            if e.is_floating_point():
                ema_float.append(e)
                model_float.append(m.detach())
            else:
                e.copy_(m)
        if ema_float:
            torch._foreach_lerp_(ema_float, model_float, 1.0 - decay)

    def state_dict(self) -> dict[str, Any]:
        return {"state": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["state"])
        self.updates = int(state["updates"])
