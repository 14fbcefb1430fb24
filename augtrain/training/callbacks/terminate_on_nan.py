"""TerminateOnNaN: stop at the first non-finite loss."""

from __future__ import annotations

import math

import torch

from .base import Callback


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite (syncs the device each batch)."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        finite = (
            bool(torch.isfinite(loss).all())
            if isinstance(loss, torch.Tensor)
            else math.isfinite(loss)
        )
        if not finite:
            if self.is_main:
                print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.trainer.stop_training = True
