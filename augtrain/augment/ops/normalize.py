"""Normalising ops (Keras' rescale, samplewise and featurewise standardisation, ZCA) and
`fit`, which computes the featurewise statistics as ImageDataGenerator.fit does."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...errors import AugtrainError
from .. import functional as F
from ..pipeline import Compose, Op
from .checks import check_nonnegative, number
from .compose import register_op


@register_op
class Rescale(Op):
    """Keras `rescale` / `Rescaling`: float x * scale + offset, x in 0..255 levels for uint8."""

    def __init__(self, scale: float = 1 / 255, offset: float = 0.0) -> None:
        self.scale = number("scale", scale)
        self.offset = number("offset", offset)

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.rescale(images, self.scale, self.offset)


@register_op
class SamplewiseStandardize(Op):
    """Keras samplewise_center / samplewise_std_normalization (float out)."""

    def __init__(self, center: bool = True, std: bool = True) -> None:
        self.center = bool(center)
        self.std = bool(std)

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.samplewise_standardize(images, self.center, self.std)


def _fit_array(x: Any) -> torch.Tensor:
    """NumPy (N, H, W, C) as Keras, or an NCHW tensor -> float64 NCHW tensor."""
    if isinstance(x, torch.Tensor):
        return x.to(torch.float64)
    a = np.asarray(x)
    if a.ndim != 4:
        raise AugtrainError(f"fit needs a batch of images (rank 4), got shape {a.shape}")
    return torch.from_numpy(a.astype(np.float64)).permute(0, 3, 1, 2)


@register_op
class FeaturewiseStandardize(Op):
    """Keras featurewise_center / featurewise_std_normalization: per-channel mean and std
    over the training data, set by `fit(x)` (x as the op will see it) or given."""

    def __init__(
        self,
        center: bool = True,
        std: bool = True,
        mean: list[float] | None = None,
        stddev: list[float] | None = None,
    ) -> None:
        self.center = bool(center)
        self.std = bool(std)
        self.mean = None if mean is None else [float(v) for v in mean]
        self.stddev = None if stddev is None else [float(v) for v in stddev]

    def fit(self, x: Any) -> FeaturewiseStandardize:
        t = _fit_array(x)
        mean = t.mean((0, 2, 3))
        if self.center:
            self.mean = mean.tolist()
            t = t - mean.view(1, -1, 1, 1)
        if self.std:
            self.stddev = t.std((0, 2, 3), unbiased=False).tolist()
        return self

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        x = images.to(torch.float32) if not images.is_floating_point() else images
        if self.center:
            if self.mean is None:
                raise AugtrainError("FeaturewiseStandardize(center=True) needs fit(x) or mean=")
            x = x - torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        if self.std:
            if self.stddev is None:
                raise AugtrainError("FeaturewiseStandardize(std=True) needs fit(x) or stddev=")
            x = x / (
                torch.tensor(self.stddev, dtype=x.dtype, device=x.device).view(1, -1, 1, 1) + 1e-6
            )
        return x


@register_op
class ZCAWhitening(Op):
    """Keras zca_whitening: x_flat @ U diag(1 / sqrt(S + zca_epsilon)) U^T, where
    U S U^T is the covariance of the (already centred) data given to `fit(x)`.

    Flattening follows Keras' channels_last order, so the components equal Keras'.
    The components (D x D) are not written to config.json: call `fit` again.
    """

    def __init__(self, zca_epsilon: float = 1e-6) -> None:
        self.zca_epsilon = check_nonnegative("zca_epsilon", zca_epsilon)
        self._components: torch.Tensor | None = None

    def fit(self, x: Any) -> ZCAWhitening:
        t = _fit_array(x).permute(0, 2, 3, 1).reshape(len(x), -1)  # channels_last flattening
        sigma = t.T @ t / t.shape[0]
        u, s, _ = torch.linalg.svd(sigma)
        s_inv = 1.0 / torch.sqrt(s.unsqueeze(0) + self.zca_epsilon)
        self._components = ((u * s_inv) @ u.T).to(torch.float32)
        return self

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        if self._components is None:
            raise AugtrainError("ZCAWhitening needs fit(x) on the training data first")
        b, c, h, w = images.shape
        x = images.to(torch.float32) if not images.is_floating_point() else images
        flat = x.permute(0, 2, 3, 1).reshape(b, -1)
        white = flat @ self._components.to(x.device, x.dtype)
        return white.view(b, h, w, c).permute(0, 3, 1, 2).contiguous()


def fit(pipeline: Compose | list[Op], x: Any) -> None:
    """Fit every op with a `fit` method on x passed through the deterministic ops before it
    (Rescale, SamplewiseStandardize, fitted standardisers), as Keras' ImageDataGenerator.fit."""
    t = _fit_array(x).to(torch.float32)
    for op in pipeline:
        if hasattr(op, "fit"):
            op.fit(t)
        if isinstance(op, (Rescale, SamplewiseStandardize, FeaturewiseStandardize, ZCAWhitening)):
            t = op.apply(t, {})
