"""What a pipeline makes of some images over epochs: the one routine behind
`augtrain preview` and the report's augmentation grid.

Randomness is keyed by (seed, epoch, dataset index), so the variants of sample i in
epoch e are exactly what training saw there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch


def augmented_variants(
    images: np.ndarray | torch.Tensor,
    index: Any,
    pipeline: Any,
    epochs: Iterable[int],
    labels: Any = None,
    num_classes: int | None = None,
) -> list[torch.Tensor]:
    """[pipeline output (B, C, H, W) in epoch e (0-based, as the Trainer calls it)] for e in
    `epochs`. images: uint8 NHWC; index: their dataset indices, or the first of consecutive
    ones. A label-mixing pipeline gets one-hot targets of `labels` (zeros without);
    multi-hot rows (multi-label data) are the targets as they are."""
    x = torch.as_tensor(images).permute(0, 3, 1, 2).contiguous()
    if isinstance(index, (int, np.integer)):
        idx = torch.arange(int(index), int(index) + len(x))
    else:
        idx = torch.as_tensor(np.asarray(index), dtype=torch.int64)
    targets = None
    if getattr(pipeline, "mixes_labels", False):
        targets = mixing_targets(labels, num_classes or 2, len(idx))
    out = []
    for epoch in epochs:
        if targets is not None:
            y, _ = pipeline(x, idx, epoch, targets)
        else:
            y = pipeline(x, idx, epoch)
        out.append(y)
    return out


def mixing_targets(labels: Any, num_classes: int, n: int) -> torch.Tensor:
    """(n, num_classes) float targets for a label-mixing pipeline: one-hot rows of class
    indices, multi-hot rows as they are, zeros without labels."""
    if labels is None:
        return torch.zeros(n, num_classes)
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return torch.as_tensor(labels, dtype=torch.float32)
    return torch.nn.functional.one_hot(
        torch.as_tensor(labels, dtype=torch.int64), num_classes
    ).float()


def to_display(x: torch.Tensor) -> np.ndarray:
    """A batch as uint8 NHWC NumPy: uint8 as is, float in [0, 1] scaled by 255, other float
    stretched per image (as Keras' array_to_img(scale=True))."""
    if x.dtype != torch.uint8:
        x = x.float()
        lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
        if float(lo.min()) < 0 or float(hi.max()) > 1:
            x = (x - lo) / (hi - lo).clamp_min(1e-12)
        x = (x * 255).round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
