"""Colour ops: brightness, contrast, channel shift, colour jitter, grayscale, noise.

(Keras' ImageDataGenerator brightness_range and channel_shift_range are
`RandomAffine`'s, applied in Keras' order after its warp; `BrightnessRange` and
`ChannelShift` are the stand-alone multiplicative brightness and shift.)
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import AugtrainError
from .. import functional as F
from .. import sampling
from ..pipeline import Op
from ..random import Draw
from .checks import check_nonnegative, check_pair, check_probability, check_range, levels
from .compose import register_op


@register_op
class BrightnessRange(Op):
    """Multiply by a factor uniform in [lo, hi] (clipped): Gluon's brightness, no stretch.

    additive=True adds factor * 255 levels instead (Keras' RandomBrightness layer).
    ImageDataGenerator's brightness_range (which stretches the image to 0..255 first)
    is `RandomAffine(brightness_range=...)`.
    """

    def __init__(self, brightness_range: list[float] = (0.8, 1.2), additive: bool = False) -> None:
        if additive:
            lo, hi = check_range("brightness_range", brightness_range)
        else:
            lo, hi = check_pair("brightness_range", brightness_range)
        self.brightness_range = [lo, hi]
        self.additive = bool(additive)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"factor": draw.uniform(*self.brightness_range)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        f = params["factor"]
        if self.additive:
            return F.add_noise(images, (f * levels(images, 255.0)).view(-1, 1, 1, 1))
        return F.adjust_brightness(images, f)


@register_op
class ContrastRange(Op):
    """Contrast factor uniform in [lo, hi]: mean + f * (x - mean), clipped.
    per_channel=True uses each channel's mean (Keras RandomContrast), False the luma mean."""

    def __init__(self, contrast_range: list[float] = (0.8, 1.2), per_channel: bool = True) -> None:
        self.contrast_range = list(check_pair("contrast_range", contrast_range))
        self.per_channel = bool(per_channel)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"factor": draw.uniform(*self.contrast_range)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.adjust_contrast(images, params["factor"], self.per_channel)


@register_op
class ChannelShift(Op):
    """Keras `channel_shift_range` on its own: add one value uniform in [-r, r] (0..255
    levels) to every channel, clipped to the image's own [min, max]."""

    def __init__(self, channel_shift_range: float) -> None:
        self.channel_shift_range = check_nonnegative("channel_shift_range", channel_shift_range)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        r = self.channel_shift_range
        return {"intensity": draw.uniform(-r, r)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        i = params["intensity"]
        return F.channel_shift(images, i / 255.0 if images.is_floating_point() else i)


@register_op
class ColorJitter(Op):
    """Gluon RandomColorJitter: brightness, contrast, saturation (factors 1 + U(-v, v)) and
    hue (YIQ rotation by U(-hue, hue) of a half turn) in a random order per sample.

    The four are linear in the pixel values, so each sample's sequence composes into
    one 3x3 colour matrix and offset, applied in one batched matmul and clipped once
    (Gluon does not clip between steps either).
    """

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        random_order: bool = True,
    ) -> None:
        self.brightness = check_nonnegative("brightness", brightness)
        self.contrast = check_nonnegative("contrast", contrast)
        self.saturation = check_nonnegative("saturation", saturation)
        self.hue = check_nonnegative("hue", hue)
        if self.hue > 1:
            raise AugtrainError(f"hue={hue} must lie in [0, 1]")
        self.random_order = bool(random_order)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        b = shape[0]
        return {
            "brightness": 1 + draw.uniform(-self.brightness, self.brightness),
            "contrast": 1 + draw.uniform(-self.contrast, self.contrast),
            "saturation": 1 + draw.uniform(-self.saturation, self.saturation),
            "hue": draw.uniform(-self.hue, self.hue),
            "order": (
                draw.uniform(0.0, 1.0, 4).argsort(1)
                if self.random_order
                else torch.arange(4, device=draw.device).expand(b, 4)
            ),
        }

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        b, c = images.shape[:2]
        dev = images.device
        bf, cf, sf = params["brightness"], params["contrast"], params["saturation"]
        ha, order = params["hue"], params["order"].to(dev)
        x = images if images.is_floating_point() else images.to(torch.float32)
        mean = x.mean((2, 3))  # (B, C) per-channel means of the input
        eye = torch.eye(c, device=dev).expand(b, c, c)
        if c >= 3:
            g = torch.zeros(c, device=dev)
            g[:3] = torch.tensor(F.GRAY_WEIGHTS, device=dev)
        else:
            g = torch.zeros(c, device=dev)
            g[0] = 1.0
        gg = g.expand(c, c)  # each output channel takes the gray value
        sat = sf.view(-1, 1, 1) * eye + (1 - sf).view(-1, 1, 1) * gg if c >= 3 else eye
        hue = eye.clone()
        if c == 3:
            hue = F.hue_matrix(ha)
        a = eye.clone()
        t = torch.zeros(b, c, device=dev)
        for k in range(4):
            op = order[:, k].view(-1, 1, 1)
            cur_gray_mean = ((a @ mean.unsqueeze(2)).squeeze(2) + t) @ g  # (B,)
            m = torch.where(op == 0, bf.view(-1, 1, 1) * eye, eye)
            m = torch.where(op == 1, cf.view(-1, 1, 1) * eye, m)
            m = torch.where(op == 2, sat, m)
            m = torch.where(op == 3, hue, m)
            off = torch.where(
                op.view(-1, 1) == 1,
                ((1 - cf) * cur_gray_mean).view(-1, 1).expand(b, c),
                torch.zeros_like(t),
            )
            a = m @ a
            t = (m @ t.unsqueeze(2)).squeeze(2) + off
        return F.color_transform(images, a, t)


@register_op
class RandomGrayscale(Op):
    """Replace the image by its luma (kept in 3 channels) with probability p."""

    def __init__(self, p: float = 0.1) -> None:
        self.p = check_probability("p", p)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"gray": draw.bernoulli(self.p)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.to_grayscale(images, params["gray"])


@register_op
class GaussianNoise(Op):
    """Add zero-mean Gaussian noise of standard deviation `std` (0..255 levels), clipped."""

    def __init__(self, std: float = 8.0, p: float = 1.0) -> None:
        self.std = check_nonnegative("std", std)
        self.p = check_probability("p", p)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        c, h, w = shape[-3:]
        return {"noise": sampling.normal(draw, c, h, w), "on": draw.bernoulli(self.p)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        noise = params["noise"].to(images.device) * levels(images, self.std)
        on = params["on"].to(images.device).view(-1, 1, 1, 1)
        return F.add_noise(images, noise * on)
