"""The trained artefact: a network plus the input normalisation it was trained with.

Input: float NCHW images in [0, 1] (uint8 / 255). Keeping mean/std as buffers
inside the module means checkpoints, `predict` and exports carry their own
preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn


def is_binary(model: nn.Module) -> bool:
    """A model trained with --label-mode binary (one output: the positive class's logit)."""
    return getattr(model, "label_mode", "categorical") == "binary"


def is_multi_label(model: nn.Module) -> bool:
    """A model trained with --label-mode multi (a sigmoid per label: report/multilabel.py)."""
    return getattr(model, "label_mode", "categorical") == "multi"


def class_logits(out: torch.Tensor, binary: bool) -> torch.Tensor:
    """Per-class logits. A binary model's one logit z becomes [0, z]: their softmax is
    [1 - sigmoid(z), sigmoid(z)] and their cross-entropy is exactly the binary
    cross-entropy of z (label smoothing included, as Keras smooths it), so the loss, the
    accuracy (argmax: z > 0, Keras' binary_accuracy at 0.5), the confusion matrix and
    the probabilities are computed once for both modes."""
    if not binary:
        return out
    z = out[:, :1]
    return torch.cat([torch.zeros_like(z), z], 1)


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
        # binary: the net has one output, the positive class's logit (`class_logits`)
        self.label_mode = label_mode
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)
