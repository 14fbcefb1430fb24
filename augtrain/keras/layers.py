"""Keras' preprocessing layers as `torch.nn.Module`s, for augmentation inside the model.

    model = nn.Sequential(
        Rescaling(1 / 255),
        RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.1),
        lenet5(),
    )

Arguments keep Keras' meanings (tf.keras 2.x / Keras 3): `RandomRotation(0.1)`
turns by up to 0.1 of a full turn (36 degrees) either way, positive
counter-clockwise; translation and zoom factors are fractions of the height /
width, zoom > 0 zooming out; fill modes are Keras' (`reflect` = d c b a | a b c
d, the default, `wrap`, `nearest`, `constant` with `fill_value`). Input is an
NCHW (or CHW) tensor on any device; integer input is treated as float, as
Keras casts it. The random layers work only in training mode (`model.train()`)
and are the identity in `model.eval()`, except `RandomCrop`, which centre-crops
in inference as Keras does. `Normalization` works on the channel axis (axis 1
of NCHW, which is what Keras' default axis=-1 means for channels_last).

Randomness. A layer has no dataset index for its samples, so each training
call counts as a step: sample j of the k-th training call gets parameters from
`Draw(seed, k, j)` (augtrain's keyed generator) under the layer's name. The
step counter is a buffer (`step`) in the model's state_dict, so a resumed
checkpoint continues the same sequence. `seed=None` takes one from torch's
global generator at construction (so `torch.manual_seed` makes runs
repeatable). Per-sample parameters throughout: Keras 2's RandomContrast and
RandomCrop draw one value per batch; these draw one per image.

Flips and crops are augtrain's ops (`augment.ops.RandomFlip`, `RandomCrop`); the warps
are augtrain's matrix and resampler (`augment.geometry.keras_matrix` about the true
centre, `augment.geometry.warp`), with Keras' parameter draws. (`augment.aliases.keras`
maps the same names onto pipeline ops for augtrain's own pipelines; those work on
uint8 or [0, 1] images and clip there, while these layers keep Keras' value ranges,
0..255 floats by default, and Keras' constant fill, which blends edges into
`fill_value`; the tests check them against Keras 3 itself.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..augment import geometry, ops
from ..augment.functional import KERAS_FILL_MODES
from ..augment.ops import checks
from ..augment.ops.geometry import apply_keras_transform
from ..augment.random import Draw
from ..errors import AugtrainError

INTERPOLATIONS = ("bilinear", "nearest")
RESIZE_MODES = {
    "bilinear": "bilinear",
    "nearest": "nearest-exact",
    "bicubic": "bicubic",
    "area": "area",
}


def _batched(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW batch (or one CHW image), got shape {tuple(x.shape)}")
    return x, False


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_floating_point() else x.to(torch.float32)


def _checked(check: Any, *args: Any) -> tuple[float, float]:
    """One of `augment.ops.checks`' Keras factor checks (the meaning `augment.aliases.keras`
    gives the same arguments), raising Keras' ValueError."""
    try:
        return check(*args)
    except AugtrainError as e:
        raise ValueError(str(e)) from None


class _RandomLayer(nn.Module):
    """Holds the seed and the step counter; subclasses implement `params(draw, shape)` and
    `apply(x, params)`, as the augmentation ops do."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self.seed = int(torch.randint(0, 2**31 - 1, ()).item()) if seed is None else int(seed)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))

    def draw(self, x: torch.Tensor) -> Draw:
        index = torch.arange(x.shape[0], device=x.device)
        return Draw(self.seed, int(self.step), index, type(self).__name__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.inference(x)
        x, single = _batched(x)
        out = self.transform(_float(x), self.draw(x))
        self.step += 1
        return out[0] if single else out

    def inference(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def transform(self, x: torch.Tensor, draw: Draw) -> torch.Tensor:
        return self.apply(x, self.params(draw, tuple(x.shape)))

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError


class _WarpLayer(_RandomLayer):
    def __init__(self, fill_mode: str, interpolation: str, seed: int | None, fill_value: float):
        super().__init__(seed)
        if fill_mode not in KERAS_FILL_MODES:
            raise NotImplementedError(
                f"Unknown `fill_mode` {fill_mode}. "
                f"Only {', '.join(KERAS_FILL_MODES)} are supported."
            )
        if interpolation not in INTERPOLATIONS:
            raise NotImplementedError(
                f"Unknown `interpolation` {interpolation}. Only {', '.join(INTERPOLATIONS)} are supported."
            )
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)

    def apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Warp by Keras' parameters (theta, tx, ty, zx, zy: `apply_keras_transform`'s, about
        the true centre)."""
        if self.fill_mode != "constant":
            return apply_keras_transform(
                x, params, self.fill_mode, interpolation=self.interpolation, center="true"
            )
        # Keras (TF and Keras 3) fill each interpolation neighbour that lies outside the
        # image with fill_value and blend, so edges fade into it. That is a clamped warp
        # of the image framed by one pixel of fill_value.
        h, w = x.shape[-2:]
        m = geometry.keras_matrix(h, w, **params, batch=x.shape[0], device=x.device, center="true")
        x = F.pad(x, (1, 1, 1, 1), value=self.fill_value)
        m[:, :, 2] += 1.0
        return geometry.warp(
            x, m, out_size=(h, w), mode="nearest", interpolation=self.interpolation
        )


class RandomFlip(_RandomLayer):
    """Flip left-right and/or top-bottom, each with probability 1/2 (Keras' `RandomFlip`)."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None) -> None:
        super().__init__(seed)
        if mode not in self.MODES:
            raise ValueError(f"RandomFlip layer received an unknown mode argument {mode}")
        self.mode = mode
        self.op = ops.RandomFlip(mode)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return self.op.params(draw, shape)

    def apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return self.op.apply(x, params)


class RandomRotation(_WarpLayer):
    """Rotate by a random fraction of a full turn: factor 0.1 is up to +-36 degrees."""

    def __init__(
        self,
        factor: float | tuple[float, float],
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value)
        self.lower, self.upper = _checked(checks.factor_range, "factor", factor)
        self.factor = factor

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        turns = draw.uniform(self.lower, self.upper).to(torch.float64)
        # Keras: positive = counter-clockwise; keras_matrix's theta turns the other way
        return {"theta": -360.0 * turns}


class RandomTranslation(_WarpLayer):
    """Shift by random fractions of the height and width (positive: down / right)."""

    def __init__(
        self,
        height_factor: float | tuple[float, float],
        width_factor: float | tuple[float, float],
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value)
        self.height_lower, self.height_upper = _checked(
            checks.translation_factor, "height_factor", height_factor
        )
        self.width_lower, self.width_upper = _checked(
            checks.translation_factor, "width_factor", width_factor
        )
        self.height_factor, self.width_factor = height_factor, width_factor

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        h, w = shape[-2:]
        dy = draw.uniform(self.height_lower, self.height_upper).to(torch.float64) * h
        dx = draw.uniform(self.width_lower, self.width_upper).to(torch.float64) * w
        # output (r, c) samples input (r - dy, c - dx): the content moves by (+dy, +dx)
        return {"tx": -dy, "ty": -dx}


class RandomZoom(_WarpLayer):
    """Zoom by random factors: positive zooms out, negative in; width follows height if None."""

    def __init__(
        self,
        height_factor: float | tuple[float, float],
        width_factor: float | tuple[float, float] | None = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value)
        self.height_lower, self.height_upper = _checked(
            checks.zoom_factor, "height_factor", height_factor
        )
        self.width_lower = self.width_upper = None
        if width_factor is not None:
            self.width_lower, self.width_upper = _checked(
                checks.zoom_factor, "width_factor", width_factor
            )
        self.height_factor, self.width_factor = height_factor, width_factor

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        zh = 1.0 + draw.uniform(self.height_lower, self.height_upper).to(torch.float64)
        zw = zh
        if self.width_lower is not None:
            zw = 1.0 + draw.uniform(self.width_lower, self.width_upper).to(torch.float64)
        return {"zx": zh, "zy": zw}


class RandomContrast(_RandomLayer):
    """Scale each channel's deviation from its mean by a factor in [1 - lower, 1 + upper]."""

    def __init__(
        self,
        factor: float | tuple[float, float],
        seed: int | None = None,
        value_range: tuple[float, float] = (0, 255),
    ) -> None:
        super().__init__(seed)
        self.lower, self.upper = _checked(checks.contrast_factor, factor)
        self.factor = factor
        self.value_range = (float(value_range[0]), float(value_range[1]))

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"factor": draw.uniform(1.0 - self.lower, 1.0 + self.upper)}

    def apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        f = params["factor"].to(x.dtype).view(-1, 1, 1, 1)
        mean = x.mean(dim=(2, 3), keepdim=True)
        return ((x - mean) * f + mean).clamp(*self.value_range)


class RandomBrightness(_RandomLayer):
    """Add a random fraction of the value range: factor 0.2 adds up to +-0.2 * 255."""

    def __init__(
        self,
        factor: float | tuple[float, float],
        value_range: tuple[float, float] = (0, 255),
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.lower, self.upper = _checked(checks.brightness_factor, factor)
        if len(value_range) != 2:
            raise ValueError(
                f"The `value_range` argument should be a list of two numbers. Received: {value_range}"
            )
        self.factor = factor
        self.value_range = (float(min(value_range)), float(max(value_range)))

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"delta": draw.uniform(self.lower, self.upper)}

    def apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        lo, hi = self.value_range
        delta = params["delta"].to(x.dtype).view(-1, 1, 1, 1) * (hi - lo)
        return (x + delta).clamp(lo, hi)


class RandomCrop(_RandomLayer):
    """Crop a random height x width window in training; centre crop + resize in inference."""

    def __init__(self, height: int, width: int, seed: int | None = None) -> None:
        super().__init__(seed)
        if height < 1 or width < 1:
            raise ValueError(f"RandomCrop needs a positive size, got {height}x{width}")
        self.height, self.width = int(height), int(width)
        self.op = ops.RandomCrop(size=(self.height, self.width), padding=0)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        h, w = shape[-2:]
        if h < self.height or w < self.width:  # too small to crop: resized, as Keras
            return {}
        return self.op.params(draw, shape)

    def apply(self, x: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        if not params:
            return _smart_resize(x, self.height, self.width)
        return self.op.apply(x, params)

    def inference(self, x: torch.Tensor) -> torch.Tensor:
        x, single = _batched(x)
        out = _smart_resize(_float(x), self.height, self.width)
        return out[0] if single else out


class Rescaling(nn.Module):
    """x * scale + offset, always (e.g. Rescaling(1/255) or Rescaling(1/127.5, offset=-1))."""

    def __init__(self, scale: float, offset: float = 0.0) -> None:
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _float(x) * self.scale + self.offset


class Resizing(nn.Module):
    """Resize to height x width, always; `crop_to_aspect_ratio` centre-crops first."""

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
    ) -> None:
        super().__init__()
        if interpolation not in RESIZE_MODES:
            raise ValueError(
                f"Unknown `interpolation` {interpolation}; expected one of {', '.join(RESIZE_MODES)}"
            )
        self.height, self.width = int(height), int(width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, single = _batched(_float(x))
        if self.crop_to_aspect_ratio:
            out = _smart_resize(x, self.height, self.width, self.interpolation)
        else:
            out = _resize(x, self.height, self.width, self.interpolation)
        return out[0] if single else out


class Normalization(nn.Module):
    """(x - mean) / sqrt(variance) per channel; `adapt(data)` computes them (Keras' layer).

    `axis` is the feature axis of the NCHW input (1, the channels, by default:
    Keras' axis=-1 on channels_last data). `adapt` takes an NCHW tensor, a
    NumPy array (NHWC when its last axis looks like channels and not its
    second, as Keras' data is), or an iterable of such batches (e.g. a
    `flow(...)` iterator, one pass).
    """

    def __init__(
        self, axis: int | None = 1, mean: Any = None, variance: Any = None, invert: bool = False
    ) -> None:
        super().__init__()
        if (mean is None) != (variance is None):
            raise ValueError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={mean} and variance={variance}"
            )
        self.axis = axis
        self.invert = invert
        self.register_buffer(
            "mean", None if mean is None else torch.as_tensor(mean, dtype=torch.float32)
        )
        self.register_buffer(
            "variance", None if variance is None else torch.as_tensor(variance, dtype=torch.float32)
        )

    def adapt(self, data: Any, steps: int | None = None) -> Normalization:
        total = total_sq = None
        count = 0
        for i, batch in enumerate(_batches(data)):
            if steps is not None and i >= steps:
                break
            t = _as_nchw(batch).to(torch.float64)
            if self.axis is None:
                s, sq, n = t.sum(), (t * t).sum(), t.numel()
            else:
                ax = self.axis % t.ndim
                dims = [d for d in range(t.ndim) if d != ax]
                s, sq, n = t.sum(dim=dims), (t * t).sum(dim=dims), t.numel() // t.shape[ax]
            total = s if total is None else total + s
            total_sq = sq if total_sq is None else total_sq + sq
            count += n
        if total is None:
            raise ValueError("Normalization.adapt: no data")
        mean = total / count
        self.mean = mean.to(torch.float32)
        self.variance = (total_sq / count - mean * mean).clamp_min(0).to(torch.float32)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            raise RuntimeError("Normalization: call adapt(data) or give mean and variance first")
        x = _float(x)
        shape = [1] * x.ndim
        if self.axis is not None and self.mean.ndim:
            shape[self.axis % x.ndim] = -1
        mean = self.mean.to(x.device).reshape(shape) if self.mean.ndim else self.mean.to(x.device)
        var = (
            self.variance.to(x.device).reshape(shape)
            if self.variance.ndim
            else self.variance.to(x.device)
        )
        std = torch.sqrt(var).clamp_min(1e-7)
        return x * std + mean if self.invert else (x - mean) / std


def _batches(data: Any) -> Iterable:
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return [data]
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and hasattr(data, "on_epoch_end"):
        return (data[i][0] if isinstance(data[i], tuple) else data[i] for i in range(len(data)))
    return (b[0] if isinstance(b, tuple) else b for b in data)


def _as_nchw(batch: Any) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    a = np.asarray(batch)
    if a.ndim == 4 and a.shape[-1] in (1, 3, 4) and a.shape[1] not in (1, 3, 4):
        a = a.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(a))


def _resize(x: torch.Tensor, h: int, w: int, interpolation: str = "bilinear") -> torch.Tensor:
    if tuple(x.shape[-2:]) == (h, w):
        return x
    mode = RESIZE_MODES[interpolation]
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(x, size=(h, w), mode=mode, **kwargs)


def _smart_resize(x: torch.Tensor, h: int, w: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Keras' smart_resize: centre-crop to the target aspect ratio, then resize."""
    ih, iw = x.shape[-2:]
    crop_h = min(ih, int(iw * h / w))
    crop_w = min(iw, int(ih * w / h))
    top, left = (ih - crop_h) // 2, (iw - crop_w) // 2
    return _resize(x[..., top : top + crop_h, left : left + crop_w], h, w, interpolation)
