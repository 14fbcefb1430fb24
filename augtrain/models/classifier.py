"""The trained artefact: a network plus the input normalisation it was trained with.

Input: float NCHW images in [0, 1] (uint8 / 255). Keeping mean/std as buffers
inside the module means checkpoints, `predict` and exports carry their own
preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn


class Classifier(nn.Module):
    def __init__(
        self,
        net: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        label_mode: str = "categorical",
    ) -> None:
        super().__init__()
        self.net = net
        # binary: the net has one output, the positive class's logit (report.metrics.class_logits)
        self.label_mode = label_mode
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)
