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
        top, left, height, width = self.boxes(draw, h, w)
        return F.resized_crop(images, top, left, height, width, out, self.interpolation)

    def boxes(
        self, draw: Draw, h: int, w: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each sample's crop box (top, left, height, width) in whole pixels of an h x w
        image: one resample per batch then maps every box onto the output."""
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
        return top_, left_, ch_, cw_


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
# The op vocabulary of torchvision's AutoAugment, RandAugment and TrivialAugmentWide
# (torchvision/transforms/autoaugment.py, `_apply_op`). Magnitudes are in its units:
# shear factor, pixels, degrees (counter-clockwise), enhance delta (factor 1 + m),
# posterize bits, solarize threshold in 0..255 levels; the last three ops take none.
AUGMENT_OPS = (
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
    "Invert",
)
TRIVIAL_OPS = AUGMENT_OPS[:14]  # TrivialAugmentWide's and RandAugment's (no Invert)
_OP = {name: i for i, name in enumerate(AUGMENT_OPS)}
_SIGNED = torch.tensor([name in AUGMENT_OPS[1:10] for name in AUGMENT_OPS])  # random sign
MAGNITUDE_SPACES = ("wide", "standard")


def magnitude_table(space: str, num_bins: int, size: tuple[int, int]) -> torch.Tensor:
    """(len(AUGMENT_OPS), num_bins) float64: the magnitude of each op at each bin, unsigned.

    'wide' is TrivialAugmentWide's space, 'standard' RandAugment's and AutoAugment's, with
    torchvision's formulas (float32 linspace, as there); ops without a magnitude hold 0."""
    if space not in MAGNITUDE_SPACES:
        raise AugtrainError(f"unknown magnitude space {space!r}; choose from wide, standard")
    h, w = size
    wide = space == "wide"
    enhance = 0.99 if wide else 0.9
    posterize_span = 6 if wide else 4  # bits taken away at the last bin

    def lin(end: float, start: float = 0.0) -> torch.Tensor:
        return torch.linspace(start, end, num_bins, dtype=torch.float32)

    rows = {
        "ShearX": lin(0.99 if wide else 0.3),
        "ShearY": lin(0.99 if wide else 0.3),
        "TranslateX": lin(32.0 if wide else 150.0 / 331.0 * w),
        "TranslateY": lin(32.0 if wide else 150.0 / 331.0 * h),
        "Rotate": lin(135.0 if wide else 30.0),
        "Brightness": lin(enhance),
        "Color": lin(enhance),
        "Contrast": lin(enhance),
        "Sharpness": lin(enhance),
        "Posterize": 8 - (torch.arange(num_bins) / ((num_bins - 1) / posterize_span)).round().int(),
        "Solarize": lin(0.0, 255.0),
    }
    table = torch.zeros(len(AUGMENT_OPS), num_bins, dtype=torch.float64)
    for name, values in rows.items():
        table[_OP[name]] = values.to(torch.float64)
    return table


def _signed_magnitudes(
    table: torch.Tensor, op: torch.Tensor, bins: torch.Tensor, negative: torch.Tensor
) -> torch.Tensor:
    """table[op, bin], negated where the op takes a sign and `negative` is set."""
    mag = table.to(op.device)[op, bins]
    flip = _SIGNED.to(op.device)[op] & negative.to(op.device)
    return torch.where(flip, -mag, mag)


def apply_augment_ops(
    images: torch.Tensor,
    op: torch.Tensor,
    magnitude: torch.Tensor,
    fill: float = 0.0,
    interpolation: str = "nearest",
) -> torch.Tensor:
    """Sample i gets op AUGMENT_OPS[op[i]] with magnitude[i] (torchvision's units, above).

    One pass per op kind over the samples that drew it: the geometric ones share one warp
    (`fill` levels outside), the colour ones run batched on their samples. The policies
    (TrivialAugmentWide, RandAugment, AutoAugment) differ only in what they draw."""
    b, _, h, w = images.shape
    dev = images.device
    op = op.to(dev, torch.int64)
    magnitude = magnitude.to(dev, torch.float64)
    # one host sync for the whole batch: the samples of each op, from one stable sort
    counts = torch.bincount(op, minlength=len(AUGMENT_OPS)).tolist()
    groups = torch.argsort(op, stable=True).split(counts)
    if counts[_OP["Identity"]] == b:
        return images
    out = images.clone()
    geo = torch.cat(groups[_OP["ShearX"] : _OP["Rotate"] + 1])
    if geo.numel():
        o, mag = op[geo], magnitude[geo]

        def only(name: str, value: torch.Tensor) -> torch.Tensor:
            return torch.where(o == _OP[name], value, torch.zeros_like(value))

        # keras_matrix's theta turns the picture clockwise; torchvision's angle counter-clockwise
        m = geometry.keras_matrix(
            h, w, theta=only("Rotate", -mag), batch=geo.numel(), device=dev, center="true"
        ).to(dev)
        # Shears about the top-left corner (pixel centre -0.5), as torchvision's center=[0, 0]
        # and the original AutoAugment's PIL transform (1, m, 0, 0, 1, 0): the output pixel
        # (row, col) samples (row, col + m (row + 0.5)) for ShearX.
        sx, sy = only("ShearX", mag), only("ShearY", mag)
        m[:, 1, 0] += sx
        m[:, 1, 2] += 0.5 * sx
        m[:, 0, 1] += sy
        m[:, 0, 2] += 0.5 * sy
        # whole pixels, truncated toward zero (torchvision's int(magnitude)); + moves right/down
        m[:, 1, 2] -= only("TranslateX", torch.trunc(mag))
        m[:, 0, 2] -= only("TranslateY", torch.trunc(mag))
        out[geo] = geometry.warp(
            images[geo], m, mode="constant", cval=_levels(images, fill), interpolation=interpolation
        )
    color = {
        "Brightness": lambda x, m: F.adjust_brightness(x, 1 + m),
        "Color": lambda x, m: F.adjust_saturation(x, 1 + m),
        "Contrast": lambda x, m: F.adjust_contrast(x, 1 + m),
        "Sharpness": lambda x, m: F.sharpness(x, 1 + m),
        "Posterize": lambda x, m: F.posterize(x, m.long()),
        "Solarize": lambda x, m: F.solarize(x, m / 255.0 if x.is_floating_point() else m),
        "AutoContrast": lambda x, m: F.autocontrast(x),
        "Equalize": lambda x, m: F.equalize(x),
        "Invert": lambda x, m: F.invert(x),
    }
    for name, fn in color.items():
        idx = groups[_OP[name]]
        if idx.numel():
            out[idx] = fn(images[idx], magnitude[idx])
    return out


def _check_bins(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise AugtrainError(f"{name}={value!r} must be an int >= {low}")
    return value


class _AugmentPolicy(Op):
    """Shared by the three policies: `plan` draws each sample's (op, magnitude) for each
    step, `forward` applies the steps in order with `apply_augment_ops`."""

    def _common(self, fill: float, interpolation: str) -> None:
        self.fill = _number("fill", fill)
        self.interpolation = check_choice("interpolation", interpolation, geometry.INTERPOLATIONS)

    def plan(self, draw: Draw, size: tuple[int, int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per step, (B,) op indices into AUGMENT_OPS and (B,) signed magnitudes."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        for op, magnitude in self.plan(draw, tuple(images.shape[-2:])):
            images = apply_augment_ops(images, op, magnitude, self.fill, self.interpolation)
        return images


@register_op
class TrivialAugmentWide(_AugmentPolicy):
    """TrivialAugment (Mueller & Hutter 2021), torchvision's wide space: per sample one of
    14 ops with a magnitude bin uniform in [0, num_magnitude_bins) and a random sign.
    Geometric ones share one warp (nearest by default, `fill` levels outside)."""

    def __init__(
        self, num_magnitude_bins: int = 31, fill: float = 0.0, interpolation: str = "nearest"
    ) -> None:
        self.num_magnitude_bins = _check_bins("num_magnitude_bins", num_magnitude_bins, 2)
        self._common(fill, interpolation)

    def plan(self, draw: Draw, size: tuple[int, int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        n = self.num_magnitude_bins
        op = draw.randint(0, len(TRIVIAL_OPS))
        bins = draw.randint(0, n)
        negative = draw.bernoulli(0.5)
        return [(op, _signed_magnitudes(magnitude_table("wide", n, size), op, bins, negative))]


@register_op
class RandAugment(_AugmentPolicy):
    """RandAugment (Cubuk et al. 2019) as torchvision's RandAugment: `num_ops` ops in a row,
    each uniform over the 14 of TrivialAugment, all at bin `magnitude` of
    `num_magnitude_bins` (9 of 31 by default) with a random sign per op."""

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: int = 9,
        num_magnitude_bins: int = 31,
        fill: float = 0.0,
        interpolation: str = "nearest",
    ) -> None:
        self.num_ops = _check_bins("num_ops", num_ops, 0)
        self.num_magnitude_bins = _check_bins("num_magnitude_bins", num_magnitude_bins, 2)
        self.magnitude = _check_bins("magnitude", magnitude, 0)
        if magnitude >= num_magnitude_bins:
            raise AugtrainError(
                f"magnitude={magnitude} must be below num_magnitude_bins={num_magnitude_bins}"
            )
        self._common(fill, interpolation)

    def plan(self, draw: Draw, size: tuple[int, int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self.num_ops == 0:
            return []
        op = draw.randint(0, len(TRIVIAL_OPS), self.num_ops)  # (B, num_ops)
        negative = draw.bernoulli(0.5, self.num_ops)
        table = magnitude_table("standard", self.num_magnitude_bins, size)
        bins = torch.full_like(op, self.magnitude)
        mag = _signed_magnitudes(table, op, bins, negative)
        return [(op[:, k], mag[:, k]) for k in range(self.num_ops)]


# torchvision's AutoAugmentPolicy sub-policies, as data: (op, probability, magnitude bin of
# 10) pairs, copied from torchvision/transforms/autoaugment.py `AutoAugment._get_policies`
# (BSD-3-Clause; the policies of Cubuk et al. 2018). None: the op takes no magnitude.
AUTOAUGMENT_POLICIES: dict[str, tuple[tuple[tuple[str, float, int | None], ...], ...]] = {
    "imagenet": (
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
        (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ),
    "cifar10": (
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
        (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
        (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ),
    "svhn": (
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ),
}
AUTOAUGMENT_BINS = 10  # torchvision's AutoAugment magnitude bins


@register_op
class AutoAugment(_AugmentPolicy):
    """AutoAugment (Cubuk et al. 2018) as torchvision's AutoAugment: per sample one of the
    policy's 25 sub-policies, each a pair of (op, probability, magnitude bin of 10) applied
    in order, each op with its probability and a random sign. policy: imagenet (torchvision's
    default), cifar10 or svhn."""

    def __init__(
        self, policy: str = "imagenet", fill: float = 0.0, interpolation: str = "nearest"
    ) -> None:
        self.policy = check_choice("AutoAugment policy", policy, tuple(AUTOAUGMENT_POLICIES))
        self._common(fill, interpolation)
        subs = AUTOAUGMENT_POLICIES[self.policy]
        self._ops = torch.tensor([[_OP[s[0]] for s in sub] for sub in subs])
        self._probs = torch.tensor([[s[1] for s in sub] for sub in subs], dtype=torch.float32)
        self._bins = torch.tensor([[s[2] or 0 for s in sub] for sub in subs])

    def choose(self, draw: Draw) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B,) sub-policy index, (B, 2) whether each of its ops applies, (B, 2) sign draws."""
        sub = draw.randint(0, len(self._ops))
        u = draw.uniform(0.0, 1.0, 2)
        negative = draw.bernoulli(0.5, 2)
        # torchvision applies when rand <= p; `<` keeps p = 0 off (same odds otherwise)
        applied = u < self._probs.to(sub.device)[sub]
        return sub, applied, negative

    def plan(self, draw: Draw, size: tuple[int, int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        sub, applied, negative = self.choose(draw)
        dev = sub.device
        ops_, bins = self._ops.to(dev)[sub], self._bins.to(dev)[sub]
        op = torch.where(applied, ops_, torch.full_like(ops_, _OP["Identity"]))
        table = magnitude_table("standard", AUTOAUGMENT_BINS, size)
        mag = _signed_magnitudes(table, op, bins, negative)
        return [(op[:, k], mag[:, k]) for k in range(2)]


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
