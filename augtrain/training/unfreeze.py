"""`--freeze base` and `--unfreeze-after N`: the callback that keeps a network's base frozen,
and the optimizer groups of a run's freeze / --base-lr-mult settings.

While frozen, the base's batch norm layers run in inference mode (their moving statistics
stay as loaded), as Keras does for layers with trainable=False. The head and base are
`models.heads`'.
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..errors import AugtrainError
from ..models.heads import base_norms, freeze_base, param_groups
from .callbacks import Callback


class FreezeBase(Callback):
    """Keeps the base frozen until epoch `unfreeze_after` (0-based: after that many epochs;
    None: for the whole run), with its batch norm layers in inference mode meanwhile."""

    def __init__(
        self,
        net: nn.Module,
        freeze: bool = True,
        unfreeze_after: int | None = None,
        verbose: int = 1,
    ) -> None:
        self.net, self.freeze, self.unfreeze_after, self.verbose = (
            net,
            freeze,
            unfreeze_after,
            verbose,
        )
        self.base_norms = base_norms(net)
        self.frozen = self.frozen_at(0)
        freeze_base(net, self.frozen)

    def frozen_at(self, epoch: int) -> bool:
        return self.freeze and (self.unfreeze_after is None or epoch < self.unfreeze_after)

    def _apply(self, epoch: int) -> None:
        frozen = self.frozen_at(epoch)
        if frozen != self.frozen:
            freeze_base(self.net, frozen)
            if (
                self.verbose
                and not frozen
                and self.trainer is not None
                and self.trainer.dist.is_main
            ):
                mults = [g.get("lr_mult", 1.0) for g in self.trainer.optimizer.param_groups]
                print(f"epoch {epoch + 1}: base unfrozen (base lr x {mults[-1]:g})", flush=True)
        self.frozen = frozen

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.frozen = not self.frozen_at(self.trainer.epoch)  # force the requires_grad flags
        self._apply(self.trainer.epoch)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._apply(epoch)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.frozen:  # the trainer puts the model in train mode each epoch
            for m in self.base_norms:
                m.eval()


def setup(net: nn.Module, config: Any) -> tuple[list[dict] | None, list[Callback]]:
    """Optimizer groups and callbacks for a TrainConfig's freeze / base_lr_mult settings."""
    freeze = config.freeze == "base"
    if not freeze and config.base_lr_mult == 1.0:
        return None, []
    if freeze and config.unfreeze_after is not None:
        from .distributed import from_env

        if from_env().enabled:  # DDP registers the parameters that need gradients once, at start
            raise AugtrainError(
                "--unfreeze-after is not supported in distributed runs yet (DDP would not "
                "synchronise the unfrozen base); run two stages: --freeze base, then "
                "--init-from that run with --base-lr-mult"
            )
    groups = param_groups(net, config.base_lr_mult)
    callbacks: list[Callback] = []
    if freeze:
        callbacks.append(FreezeBase(net, True, config.unfreeze_after, config.verbose))
    return groups, callbacks
