"""Test-time augmentation: predict each image under a few fixed views and average.

    none             the image as it is (exactly what metrics.json measures)
    flip             the image and its horizontal mirror                      (2 views)
    flip-translate   those two, each also shifted by `shift` pixels up-left
                     and down-right, edges filled by mirroring                (6 views)

The views are whole-pixel index gathers (`augment.functional.crop`) on the
uint8 images, so they are exact: no resampling. The prediction is the mean of the
views' softmax probabilities; it is returned as log-probabilities, which act as
logits everywhere (argmax, top-k, and cross-entropy, which on log-probabilities is
the negative log of the averaged probability of the true class). A multi-label model
(--label-mode multi) averages each label's sigmoid probability instead, returned as the
logit of that mean (sigmoid, the threshold and binary cross-entropy then see the mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import torch.nn as nn

from ..augment.functional import crop
from ..device import DevicePolicy
from ..errors import AugtrainError
from .inference import predict_images

TTA_MODES = ("none", "flip", "flip-translate")


@dataclass(frozen=True)
class View:
    dy: int = 0  # the window starts dy rows down: content moves up by dy
    dx: int = 0
    flip: bool = False


def tta_views(mode: str, shift: int = 1) -> list[View]:
    """The views of a TTA mode; see the module docstring."""
    if mode not in TTA_MODES:
        raise AugtrainError(f"unknown TTA mode {mode!r}; choose from {', '.join(TTA_MODES)}")
    if mode == "none":
        return [View()]
    if mode == "flip":
        return [View(), View(flip=True)]
    return [
        View(dy, dx, flip)
        for flip in (False, True)
        for dy, dx in ((0, 0), (-shift, -shift), (shift, shift))
    ]


def apply_view(images: torch.Tensor, view: View, fill_mode: str = "mirror") -> torch.Tensor:
    """One view of an NCHW batch (any dtype): exact whole-pixel shift and/or mirror."""
    if view.dy == 0 and view.dx == 0:
        return images.flip(3) if view.flip else images
    n, _, h, w = images.shape
    dev = images.device
    return crop(
        images,
        torch.full((n,), view.dy, device=dev),
        torch.full((n,), view.dx, device=dev),
        h,
        w,
        flip_h=torch.full((n,), view.flip, device=dev) if view.flip else None,
        mode=fill_mode,
    )


def predict_tta(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    device: torch.device | str = "cpu",
    mode: str = "none",
    batch_size: int = 500,
    shift: int = 1,
    policy: DevicePolicy | None = None,
) -> torch.Tensor:
    """(N, classes) on the CPU for uint8 NHWC images.

    mode 'none' gives the raw logits of `predict_logits` (bit-identical to what the
    run's metrics.json was computed from); other modes give log(mean softmax) over
    the views (multi-label: logit(mean sigmoid) of each label). `policy`: the run's
    precision and memory format, as in `predict_logits`.
    """
    views = tta_views(mode, shift)
    policy = policy or DevicePolicy.for_run(device, None)
    fns = [] if mode == "none" else [partial(apply_view, view=view) for view in views]
    return predict_images(model, torch.as_tensor(images), policy, batch_size, fns)
