"""Augmentation ops: thin classes that hold ranges, draw params, call `functional`.

Every op is registered by class name, so a pipeline recorded in config.json
(`Compose.config()`) can be rebuilt with `build_pipeline`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import AugtrainError
from . import cpu_kernels, geometry, keras_compat, sampling
from . import functional as F
from .pipeline import Compose, Op
from .random import Draw

OPS: dict[str, type[Op]] = {}


def register_op(cls: type[Op]) -> type[Op]:
    OPS[cls.__name__] = cls
    return cls


def build_pipeline(config: list[dict[str, Any]], seed: int = 0) -> Compose:
    """Rebuild a Compose from its `config()` list."""
    ops = []
    for entry in config:
        entry = dict(entry)
        name = entry.pop("op")
        if name not in OPS:
            raise AugtrainError(f"unknown augmentation op {name!r} in configuration")
        ops.append(OPS[name](**entry))
    return Compose(ops, seed=seed)


@register_op
class RandomHorizontalFlip(Op):
    """Mirror left-right with probability p (Gluon RandomFlipLeftRight)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise AugtrainError(f"flip probability p={p} must lie in [0, 1]")
        self.p = p

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.hflip(images, draw.bernoulli(self.p))


@register_op
class RandomVerticalFlip(Op):
    """Mirror top-bottom with probability p (Gluon RandomFlipTopBottom)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise AugtrainError(f"flip probability p={p} must lie in [0, 1]")
        self.p = p

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.vflip(images, draw.bernoulli(self.p))


@register_op
class RandomCrop(Op):
    """Pad by `padding` then crop `size` at a random whole-pixel position (the CIFAR recipe).

    `padding_mode` takes torchvision's names: constant, edge, reflect (edge not
    repeated), symmetric. `size` defaults to the input size. With `flip=True` a
    horizontal flip with probability 0.5 is folded into the same gather.
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        padding: int = 4,
        padding_mode: str = "reflect",
        fill: float = 0.0,
        flip: bool = False,
    ) -> None:
        if padding < 0:
            raise AugtrainError(f"padding={padding} must be >= 0")
        if padding_mode not in F.PADDING_MODES:
            raise AugtrainError(
                f"unknown padding_mode {padding_mode!r}; expected one of {', '.join(F.PADDING_MODES)}"
            )
        self.size = size if size is None or isinstance(size, int) else tuple(size)
        self.padding = padding
        self.padding_mode = padding_mode
        self.fill = fill
        self.flip = flip

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        h, w = images.shape[-2:]
        out_h, out_w = (h, w) if self.size is None else _pair(self.size)
        p = self.padding
        if out_h > h + 2 * p or out_w > w + 2 * p:
            raise AugtrainError(
                f"crop size {(out_h, out_w)} exceeds padded image {(h + 2 * p, w + 2 * p)}"
            )
        # one stream, three numbers per sample: top, left, flip (NumPy on the CPU: see
        # cpu_kernels.array_module)
        bits = draw.bits_array(3)
        top = bits[:, 0] % (h + 2 * p - out_h + 1) - p
        left = bits[:, 1] % (w + 2 * p - out_w + 1) - p
        flip = (bits[:, 2] >> 8) < (1 << 23) if self.flip else None  # 24-bit uniform < 0.5
        mode = F.PADDING_MODES[self.padding_mode]
        return F.crop_flip(
            images,
            torch.as_tensor(top),
            torch.as_tensor(left),
            out_h,
            out_w,
            flip_h=None if flip is None else torch.as_tensor(flip),
            mode=mode,
            fill=self.fill,
            padding=(p, p, p, p),
        )


def _pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


# ------------------------------------------------------------------ checks
def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AugtrainError(f"{name} must be a number, got {value!r}")
    return float(value)


def check_nonnegative(name: str, value: Any) -> float:
    v = _number(name, value)
    if v < 0:
        raise AugtrainError(f"{name}={value} must be >= 0")
    return v


def check_probability(name: str, value: Any) -> float:
    v = _number(name, value)
    if not 0.0 <= v <= 1.0:
        raise AugtrainError(f"{name}={value} must lie in [0, 1]")
    return v


def check_range(name: str, value: Any, symmetric_ok: bool = True) -> tuple[float, float]:
    """A scalar r >= 0 (meaning [-r, r]) or an ordered pair [lo, hi]."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise AugtrainError(f"{name} must be a number or a pair [lower, upper], got {value!r}")
        lo, hi = _number(name, value[0]), _number(name, value[1])
        if lo > hi:
            raise AugtrainError(f"{name}={list(value)}: lower bound above upper bound")
        return lo, hi
    if not symmetric_ok:
        raise AugtrainError(f"{name} must be a pair [lower, upper], got {value!r}")
    r = check_nonnegative(name, value)
    return -r, r


def check_pair(name: str, value: Any, positive: bool = False) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise AugtrainError(f"{name} must be a pair [lower, upper], got {value!r}")
    lo, hi = _number(name, value[0]), _number(name, value[1])
    if lo > hi:
        raise AugtrainError(f"{name}={list(value)}: lower bound above upper bound")
    if positive and lo <= 0:
        raise AugtrainError(f"{name}={list(value)} must be > 0")
    if not positive and lo < 0:
        raise AugtrainError(f"{name}={list(value)} must be >= 0")
    return lo, hi


def check_shift(name: str, value: Any) -> Any:
    """Keras shift range: float fraction / whole pixels (>= 0), or a list of choices."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise AugtrainError(f"{name}: an empty list of choices")
        for v in value:
            _number(name, v)
        return list(value)
    check_nonnegative(name, value)
    return value


def check_zoom(name: str, value: Any) -> tuple[float, float]:
    """Keras zoom_range: z in [0, 1) gives [1 - z, 1 + z]; a pair [lo, hi] with 0 < lo <= hi."""
    if isinstance(value, (list, tuple)):
        lo, hi = check_pair(name, value, positive=True)
        return lo, hi
    z = check_nonnegative(name, value)
    if z >= 1:
        raise AugtrainError(
            f"{name}={value} would allow zoom {1 - z:g} (<= 0): use z < 1 or a pair"
        )
    return 1 - z, 1 + z


def check_choice(name: str, value: Any, choices) -> str:
    if value not in choices:
        raise AugtrainError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
    return value


def _levels(images: torch.Tensor, value: float) -> float:
    """A value given in 0..255 pixel levels, in the images' own scale."""
    return value / 255.0 if images.is_floating_point() else value


# ------------------------------------------------------------------ geometry
@register_op
class RandomAffine(Op):
    """Keras ImageDataGenerator geometry, one matrix per sample and one resample per batch.

    rotation_range: degrees r (uniform in [-r, r]) or a pair [lo, hi].
    width_shift_range / height_shift_range: Keras semantics: a float r < 1 is a
      fraction of the size (uniform in [-r, r]); >= 1 whole pixels (an int n
      gives one of 0..n-1 with a random sign); a list gives one of its values
      with a random sign.
    shear_range: degrees (uniform in [-r, r]).
    zoom_range: z gives [1 - z, 1 + z], or a pair; zoom of rows and of columns
      drawn independently, as Keras (>1 zooms out). zoom_keep_aspect=True draws
      one factor for both; width_zoom_range a separate range for columns.
    height_translation / width_translation: Keras-layer style pairs [lo, hi] of
      fractions of the size; positive moves the content down / right.
    horizontal_flip / vertical_flip: each with probability 1/2.
    fill_mode: constant (cval), nearest, reflect (dcba|abcd), wrap, mirror.
    cval: fill value in 0..255 levels (divided by 255 on float images).
    interpolation: bilinear or nearest.
    center: 'true' ((h-1)/2, (w-1)/2, so 90 degrees is exactly rot90) or 'keras'.
    """

    def __init__(
        self,
        rotation_range: float | list[float] = 0.0,
        width_shift_range: Any = 0.0,
        height_shift_range: Any = 0.0,
        shear_range: float = 0.0,
        zoom_range: float | list[float] = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        fill_mode: str = "nearest",
        cval: float = 0.0,
        interpolation: str = "bilinear",
        height_translation: list[float] | None = None,
        width_translation: list[float] | None = None,
        zoom_keep_aspect: bool = False,
        width_zoom_range: list[float] | None = None,
        center: str = "true",
    ) -> None:
        self._rot = check_range("rotation_range", rotation_range)
        self.rotation_range = (
            rotation_range if not isinstance(rotation_range, tuple) else list(rotation_range)
        )
        self.width_shift_range = check_shift("width_shift_range", width_shift_range)
        self.height_shift_range = check_shift("height_shift_range", height_shift_range)
        self.shear_range = check_nonnegative("shear_range", shear_range)
        self._zoom = check_zoom("zoom_range", zoom_range)
        self.zoom_range = zoom_range if not isinstance(zoom_range, tuple) else list(zoom_range)
        self._wzoom = (
            None
            if width_zoom_range is None
            else check_pair("width_zoom_range", width_zoom_range, positive=True)
        )
        self.width_zoom_range = (
            width_zoom_range if width_zoom_range is None else list(width_zoom_range)
        )
        self._ht = (
            None
            if height_translation is None
            else check_range("height_translation", height_translation)
        )
        self._wt = (
            None
            if width_translation is None
            else check_range("width_translation", width_translation)
        )
        self.height_translation = None if height_translation is None else list(self._ht)
        self.width_translation = None if width_translation is None else list(self._wt)
        self.horizontal_flip = bool(horizontal_flip)
        self.vertical_flip = bool(vertical_flip)
        self.fill_mode = check_choice("fill_mode", fill_mode, F.FILL_MODES)
        self.cval = _number("cval", cval)
        self.interpolation = check_choice("interpolation", interpolation, geometry.INTERPOLATIONS)
        self.zoom_keep_aspect = bool(zoom_keep_aspect)
        self.center = check_choice("center", center, ("true", "keras"))

    def params(self, draw: Draw, size: tuple[int, int]) -> dict[str, Any]:
        """Per-sample Keras params (theta, tx, ty, shear, zx, zy, flips) for a batch.

        All uniforms come from one stream (a (B, 10) draw: one hash pass per batch);
        a parameter whose range is off stays a plain number."""
        h, w = size
        # float64 arrays of the device's module: NumPy on the CPU
        xp = cpu_kernels.array_module(draw.device)
        u = draw.uniform_array(0.0, 1.0, 10)
        u = u.astype(np.float64) if xp is np else u.double()

        def uni(col: int, lo: float, hi: float) -> Any:
            return lo if lo == hi else u[:, col] * (hi - lo) + lo

        theta = uni(0, *self._rot)
        tx: Any = 0.0
        ty: Any = 0.0
        if keras_compat._truthy(self.height_shift_range):
            tx = keras_compat.shift_from_uniforms(
                u[:, 1], xp.where(u[:, 2] < 0.5, -1.0, 1.0), self.height_shift_range, h
            )
        if keras_compat._truthy(self.width_shift_range):
            ty = keras_compat.shift_from_uniforms(
                u[:, 3], xp.where(u[:, 4] < 0.5, -1.0, 1.0), self.width_shift_range, w
            )
        if self._ht is not None:
            tx = tx - uni(1, *self._ht) * h
        if self._wt is not None:
            ty = ty - uni(3, *self._wt) * w
        shear = uni(5, -self.shear_range, self.shear_range)
        zx = uni(6, *self._zoom)
        keep = self.zoom_keep_aspect and self._wzoom is None
        zy = zx if keep else uni(7, *(self._wzoom or self._zoom))
        fh = (u[:, 8] < 0.5) if self.horizontal_flip else False
        fv = (u[:, 9] < 0.5) if self.vertical_flip else False
        return dict(
            theta=theta,
            tx=tx,
            ty=ty,
            shear=shear,
            zx=zx,
            zy=zy,
            flip_horizontal=fh,
            flip_vertical=fv,
        )

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        h, w = images.shape[-2:]
        p = self.params(draw, (h, w))
        m = geometry.keras_matrix(
            h, w, **p, batch=draw.batch_size, device=draw.device, center=self.center
        )
        return geometry.warp(
            images,
            m,
            mode=self.fill_mode,
            cval=_levels(images, self.cval),
            interpolation=self.interpolation,
        )


@register_op
class RandomFlip(Op):
    """Keras' RandomFlip: mode 'horizontal', 'vertical' or 'horizontal_and_vertical'
    (each direction independently with probability p)."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode: str = "horizontal_and_vertical", p: float = 0.5) -> None:
        self.mode = check_choice("RandomFlip mode", mode, self.MODES)
        self.p = check_probability("p", p)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        fh = draw.bernoulli(self.p)
        fv = draw.bernoulli(self.p)
        if self.mode != "vertical":
            images = F.hflip(images, fh)
        if self.mode != "horizontal":
            images = F.vflip(images, fv)
        return images


@register_op
class RandomRot90(Op):
    """Rotate by a random number of quarter turns chosen from `k` (exact; square images
    for odd k)."""

    def __init__(self, k: list[int] | tuple[int, ...] = (0, 1, 2, 3)) -> None:
        if not k or any(not isinstance(q, int) for q in k):
            raise AugtrainError(f"RandomRot90 k={k!r} must be a list of whole quarter turns")
        self.k = [int(q) for q in k]

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.rot90(images, draw.choice(self.k))


@register_op
class RandomResizedCrop(Op):
    """torchvision / Gluon RandomResizedCrop: a box of area fraction in `scale` and aspect
    ratio (w/h) in `ratio` (log-uniform), 10 tries then a centre crop, resized to `size`."""

    def __init__(
        self,
        size: int | list[int] | None = None,
        scale: list[float] = (0.08, 1.0),
        ratio: list[float] = (3 / 4, 4 / 3),
        interpolation: str = "bilinear",
    ) -> None:
        self.size = None if size is None else (size if isinstance(size, int) else list(size))
        self.scale = list(check_pair("scale", scale))
        if self.scale[1] > 1 or self.scale[1] <= 0:
            raise AugtrainError(f"scale={list(scale)} must lie in (0, 1]")
        self.ratio = list(check_pair("ratio", ratio, positive=True))
        self.interpolation = check_choice("interpolation", interpolation, geometry.INTERPOLATIONS)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        h, w = images.shape[-2:]
        out = (h, w) if self.size is None else _pair(self.size)
        tries = 10
        area = h * w * draw.uniform(self.scale[0], self.scale[1], tries)
        ar = torch.exp(draw.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), tries))
        cw = torch.sqrt(area * ar).round()
        ch = torch.sqrt(area / ar).round()
        ok = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
        ut = draw.uniform(0.0, 1.0, tries)
        ul = draw.uniform(0.0, 1.0, tries)
        top = torch.floor(ut * (h - ch + 1))
        left = torch.floor(ul * (w - cw + 1))
        first = torch.where(ok, torch.arange(tries, device=ok.device), tries).amin(1, keepdim=True)
        pick = first.clamp_max(tries - 1)
        sel = lambda t: t.gather(1, pick).squeeze(1)  # noqa: E731
        # fallback: the whole image, cropped to the nearest allowed ratio (torchvision)
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            fw, fh = w, round(w / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            fw, fh = round(h * self.ratio[1]), h
        else:
            fw, fh = w, h
        found = first.squeeze(1) < tries
        ch_ = torch.where(found, sel(ch), float(fh))
        cw_ = torch.where(found, sel(cw), float(fw))
        top_ = torch.where(found, sel(top), float((h - fh) // 2))
        left_ = torch.where(found, sel(left), float((w - fw) // 2))
        return F.resized_crop(images, top_, left_, ch_, cw_, out, self.interpolation)


@register_op
class CenterCrop(Op):
    """The central `size` window (padded with `fill` levels where the image is smaller)."""

    def __init__(self, size: int | list[int], fill: float = 0.0) -> None:
        self.size = size if isinstance(size, int) else list(size)
        self.fill = _number("fill", fill)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.center_crop(images, _pair(self.size), _levels(images, self.fill))


@register_op
class Resize(Op):
    """Resize every image to `size` (h, w): nearest, bilinear or bicubic."""

    def __init__(
        self, size: int | list[int], interpolation: str = "bilinear", antialias: bool = True
    ) -> None:
        self.size = size if isinstance(size, int) else list(size)
        self.interpolation = check_choice(
            "interpolation", interpolation, ("nearest", "bilinear", "bicubic")
        )
        self.antialias = bool(antialias)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.resize(images, _pair(self.size), self.interpolation, self.antialias)


# --------------------------------------------------------------------- color
@register_op
class BrightnessRange(Op):
    """Keras `brightness_range`: multiply by a factor uniform in [lo, hi] (clipped).

    additive=True adds factor * 255 levels instead (Keras' RandomBrightness layer).
    """

    def __init__(self, brightness_range: list[float] = (0.8, 1.2), additive: bool = False) -> None:
        if additive:
            lo, hi = check_range("brightness_range", brightness_range)
        else:
            lo, hi = check_pair("brightness_range", brightness_range)
        self.brightness_range = [lo, hi]
        self.additive = bool(additive)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        f = draw.uniform(*self.brightness_range)
        if self.additive:
            return F.add_noise(images, (f * _levels(images, 255.0)).view(-1, 1, 1, 1))
        return F.adjust_brightness(images, f)


@register_op
class ContrastRange(Op):
    """Contrast factor uniform in [lo, hi]: mean + f * (x - mean), clipped.
    per_channel=True uses each channel's mean (Keras RandomContrast), False the luma mean."""

    def __init__(self, contrast_range: list[float] = (0.8, 1.2), per_channel: bool = True) -> None:
        self.contrast_range = list(check_pair("contrast_range", contrast_range))
        self.per_channel = bool(per_channel)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.adjust_contrast(images, draw.uniform(*self.contrast_range), self.per_channel)


@register_op
class ChannelShift(Op):
    """Keras `channel_shift_range`: add one value uniform in [-r, r] (0..255 levels) to
    every channel, clipped to the image's own [min, max]."""

    def __init__(self, channel_shift_range: float) -> None:
        self.channel_shift_range = check_nonnegative("channel_shift_range", channel_shift_range)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        r = self.channel_shift_range
        i = draw.uniform(-r, r)
        if images.is_floating_point():
            i = i / 255.0
        return keras_compat.channel_shift(images, i)


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

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        b, c = images.shape[:2]
        dev = images.device
        bf = 1 + draw.uniform(-self.brightness, self.brightness)
        cf = 1 + draw.uniform(-self.contrast, self.contrast)
        sf = 1 + draw.uniform(-self.saturation, self.saturation)
        ha = draw.uniform(-self.hue, self.hue)
        order = (
            draw.uniform(0.0, 1.0, 4).argsort(1)
            if self.random_order
            else torch.arange(4, device=dev).expand(b, 4)
        )
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

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.to_grayscale(images, draw.bernoulli(self.p))


@register_op
class GaussianNoise(Op):
    """Add zero-mean Gaussian noise of standard deviation `std` (0..255 levels), clipped."""

    def __init__(self, std: float = 8.0, p: float = 1.0) -> None:
        self.std = check_nonnegative("std", std)
        self.p = check_probability("p", p)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        _, c, h, w = images.shape
        noise = sampling.normal(draw, c, h, w) * _levels(images, self.std)
        on = draw.bernoulli(self.p).view(-1, 1, 1, 1)
        return F.add_noise(images, noise * on)


# ---------------------------------------------------------------- erasing
@register_op
class Cutout(Op):
    """Cutout (DeVries & Taylor): a size x size square centred anywhere in the image
    (clipped at the borders), filled with `fill` levels, with probability p."""

    def __init__(self, size: int = 16, p: float = 1.0, fill: float = 0.0) -> None:
        if not isinstance(size, int) or size < 1:
            raise AugtrainError(f"Cutout size={size!r} must be a whole number of pixels >= 1")
        self.size = size
        self.p = check_probability("p", p)
        self.fill = _number("fill", fill)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        h, w = images.shape[-2:]
        cy = draw.randint(0, h)
        cx = draw.randint(0, w)
        on = draw.bernoulli(self.p)
        top = cy - self.size // 2
        left = cx - self.size // 2
        size = torch.where(on, self.size, 0)
        mask = F.box_mask(h, w, top, left, size, size)
        return F.erase(images, mask, _levels(images, self.fill))


@register_op
class RandomErasing(Op):
    """torchvision RandomErasing: with probability p, a box of area fraction in `scale` and
    aspect ratio in `ratio` (10 tries), filled with `value` levels or 'random' noise."""

    def __init__(
        self,
        p: float = 0.5,
        scale: list[float] = (0.02, 0.33),
        ratio: list[float] = (0.3, 3.3),
        value: float | str = 0.0,
    ) -> None:
        self.p = check_probability("p", p)
        self.scale = list(check_pair("scale", scale))
        self.ratio = list(check_pair("ratio", ratio, positive=True))
        if value != "random":
            _number("value", value)
        self.value = value

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        b, c, h, w = images.shape
        tries = 10
        area = h * w * draw.uniform(self.scale[0], self.scale[1], tries)
        ar = torch.exp(draw.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), tries))
        eh = torch.sqrt(area * ar).round()
        ew = torch.sqrt(area / ar).round()
        ok = (eh < h) & (ew < w) & (eh > 0) & (ew > 0)
        top = torch.floor(draw.uniform(0.0, 1.0, tries) * (h - eh + 1))
        left = torch.floor(draw.uniform(0.0, 1.0, tries) * (w - ew + 1))
        first = torch.where(ok, torch.arange(tries, device=ok.device), tries).amin(1, keepdim=True)
        pick = first.clamp_max(tries - 1)
        on = draw.bernoulli(self.p) & (first.squeeze(1) < tries)
        sel = lambda t: t.gather(1, pick).squeeze(1).long()  # noqa: E731
        zero = torch.zeros(b, dtype=torch.long, device=images.device)
        mask = F.box_mask(
            h,
            w,
            sel(top),
            sel(left),
            torch.where(on, sel(eh), zero),
            torch.where(on, sel(ew), zero),
        )
        if self.value == "random":
            value = draw.uniform(0.0, 1.0, c, h, w) * _levels(images, 255.0)
        else:
            value = _levels(images, float(self.value))
        return F.erase(images, mask, value)


class _Mix(Op):
    """Shared by MixUp and CutMix: each sample is mixed with the sample at the mirrored
    position of the batch (images.flip(0)); the weight is drawn per sample."""

    mixes_labels = True

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        raise AugtrainError(f"{type(self).__name__} mixes labels: the pipeline needs targets")

    def _lam(self, draw: Draw) -> torch.Tensor:
        lam = sampling.beta(draw, self.alpha, self.alpha)
        on = draw.bernoulli(self.p)
        return torch.where(on, lam, torch.ones_like(lam))


@register_op
class MixUp(_Mix):
    """mixup (Zhang et al. 2018): x = lam x_i + (1 - lam) x_j, same for the one-hot targets;
    lam ~ Beta(alpha, alpha) per sample, applied with probability p."""

    def __init__(self, alpha: float = 0.2, p: float = 1.0) -> None:
        self.alpha = check_nonnegative("alpha", alpha)
        if self.alpha == 0:
            raise AugtrainError("mixup alpha must be > 0")
        self.p = check_probability("p", p)

    def mix(self, images: torch.Tensor, targets: torch.Tensor, draw: Draw):
        lam = self._lam(draw)
        partner = torch.arange(images.shape[0] - 1, -1, -1, device=images.device)
        out = F.mix(images, partner, lam)
        t = targets.to(torch.float32)
        lt = lam.view(-1, *([1] * (t.ndim - 1)))
        return out, lt * t + (1 - lt) * t[partner]


@register_op
class CutMix(_Mix):
    """CutMix (Yun et al. 2019): paste a box of the partner image covering a fraction
    1 - lam (lam ~ Beta(alpha, alpha)), box clipped to the image; targets mixed by the
    pasted area actually covered."""

    def __init__(self, alpha: float = 1.0, p: float = 1.0) -> None:
        self.alpha = check_nonnegative("alpha", alpha)
        if self.alpha == 0:
            raise AugtrainError("cutmix alpha must be > 0")
        self.p = check_probability("p", p)

    def mix(self, images: torch.Tensor, targets: torch.Tensor, draw: Draw):
        b, _, h, w = images.shape
        lam = self._lam(draw)
        r = torch.sqrt(1 - lam)
        ch, cw = (h * r).long(), (w * r).long()
        cy, cx = draw.randint(0, h), draw.randint(0, w)
        y0 = (cy - ch // 2).clamp(0, h)
        y1 = (cy + ch // 2).clamp(0, h)
        x0 = (cx - cw // 2).clamp(0, w)
        x1 = (cx + cw // 2).clamp(0, w)
        mask = F.box_mask(h, w, y0, x0, y1 - y0, x1 - x0)
        partner = torch.arange(b - 1, -1, -1, device=images.device)
        out = torch.where(mask, images[partner], images)
        lam_eff = 1 - ((y1 - y0) * (x1 - x0)).to(torch.float32) / (h * w)
        t = targets.to(torch.float32)
        lt = lam_eff.view(-1, *([1] * (t.ndim - 1)))
        return out, lt * t + (1 - lt) * t[partner]


# -------------------------------------------------------------- auto policy
TRIVIAL_OPS = (
    "Identity",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "Brightness",
    "Color",
    "Contrast",
    "Sharpness",
    "Posterize",
    "Solarize",
    "AutoContrast",
    "Equalize",
)


@register_op
class TrivialAugmentWide(Op):
    """TrivialAugment (Mueller & Hutter 2021), torchvision's wide space: per sample one of
    14 ops with a magnitude bin uniform in [0, num_magnitude_bins) and a random sign.
    Geometric ones share one warp (nearest, `fill` levels outside)."""

    def __init__(self, num_magnitude_bins: int = 31, fill: float = 0.0) -> None:
        if not isinstance(num_magnitude_bins, int) or num_magnitude_bins < 2:
            raise AugtrainError(f"num_magnitude_bins={num_magnitude_bins!r} must be an int >= 2")
        self.num_magnitude_bins = num_magnitude_bins
        self.fill = _number("fill", fill)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        b, _, h, w = images.shape
        dev = images.device
        n = self.num_magnitude_bins
        op = draw.randint(0, len(TRIVIAL_OPS))
        frac = draw.randint(0, n).to(torch.float64) / (n - 1)  # position in the bin range
        sign = draw.bernoulli(0.5).to(torch.float64) * 2 - 1
        name = {k: i for i, k in enumerate(TRIVIAL_OPS)}
        # --- geometry: one matrix per sample (identity for the others)
        shear = frac * 0.99 * sign
        trans = frac * 32.0 * sign
        theta = torch.where(op == name["Rotate"], frac * 135.0 * sign, torch.zeros_like(frac))
        m = geometry.keras_matrix(h, w, theta=theta, batch=b, device=dev, center="true")
        cy, cx = (h - 1) / 2, (w - 1) / 2
        sx = torch.where(op == name["ShearX"], shear, 0.0)
        sy = torch.where(op == name["ShearY"], shear, 0.0)
        m[:, 1, 0] -= sx
        m[:, 1, 2] += sx * cy
        m[:, 0, 1] -= sy
        m[:, 0, 2] += sy * cx
        m[:, 1, 2] -= torch.where(op == name["TranslateX"], trans, 0.0)
        m[:, 0, 2] -= torch.where(op == name["TranslateY"], trans, 0.0)
        geo = (op >= name["ShearX"]) & (op <= name["Rotate"])
        out = images.clone()
        idx = geo.nonzero().squeeze(1)
        if idx.numel():
            out[idx] = geometry.warp(
                images[idx],
                m[idx],
                mode="constant",
                cval=_levels(images, self.fill),
                interpolation="nearest",
            )
        factor = (1 + frac * 0.99 * sign).to(torch.float32)
        bits = 8 - (torch.arange(n, device=dev) / ((n - 1) / 6)).round().long()
        bits = bits[(frac * (n - 1)).round().long()]
        thresh = (1 - frac).to(torch.float32) * _levels(images, 255.0)
        color = {
            "Brightness": lambda x, i: F.adjust_brightness(x, factor[i]),
            "Color": lambda x, i: F.adjust_saturation(x, factor[i]),
            "Contrast": lambda x, i: F.adjust_contrast(x, factor[i]),
            "Sharpness": lambda x, i: F.sharpness(x, factor[i]),
            "Posterize": lambda x, i: F.posterize(x, bits[i]),
            "Solarize": lambda x, i: F.solarize(x, thresh[i]),
            "AutoContrast": lambda x, i: F.autocontrast(x),
            "Equalize": lambda x, i: F.equalize(x),
        }
        for key, fn in color.items():
            idx = (op == name[key]).nonzero().squeeze(1)
            if idx.numel():
                out[idx] = fn(images[idx], idx)
        return out


# --------------------------------------------------------------- normalising
@register_op
class Rescale(Op):
    """Keras `rescale` / `Rescaling`: float x * scale + offset, x in 0..255 levels for uint8."""

    def __init__(self, scale: float = 1 / 255, offset: float = 0.0) -> None:
        self.scale = _number("scale", scale)
        self.offset = _number("offset", offset)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.rescale(images, self.scale, self.offset)


@register_op
class SamplewiseStandardize(Op):
    """Keras samplewise_center / samplewise_std_normalization (float out)."""

    def __init__(self, center: bool = True, std: bool = True) -> None:
        self.center = bool(center)
        self.std = bool(std)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.samplewise_standardize(images, self.center, self.std)


def _fit_array(x: Any) -> torch.Tensor:
    """NumPy (N, H, W, C) as Keras, or an NCHW tensor -> float64 NCHW tensor."""
    if isinstance(x, torch.Tensor):
        return x.to(torch.float64)
    import numpy as np

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

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
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

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
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
            t = op.forward(t, None)  # type: ignore[arg-type]
