"""Geometric ops: flips, quarter turns, crops, resizes, and Keras' random transform.

`RandomAffine` is ImageDataGenerator's whole random transform, as one op: rotation,
shifts, shear, zoom, flips (one matrix per sample, one resample per batch), then the
channel shift and the brightness shift, in Keras' order. Its two halves are the
module's functions, which every Keras dialect calls:

    draw_keras_params(draw, size, ...)      Keras' `get_random_transform`, keyed
    apply_keras_transform(images, params)   Keras' `apply_transform`, batched

`keras_transform(...)` is the one factory from ImageDataGenerator's arguments to the
op: the CLI's Keras-named flags and the keras-basic preset build it, and
`ImageDataGenerator` draws and applies through the same two functions, so an
argument means the same everywhere (the tests hold the CLI's pixels to the
generator's).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ...errors import AugtrainError
from .. import cpu_kernels, geometry
from .. import functional as F
from ..pipeline import Op
from ..random import Draw
from .checks import (
    check_choice,
    check_nonnegative,
    check_pair,
    check_probability,
    check_range,
    check_shift,
    check_zoom,
    levels,
    number,
    pair,
)
from .compose import register_op

# the params of `apply_keras_transform`: Keras' names (see `draw_keras_params`)
KERAS_PARAM_KEYS = (
    "theta",
    "tx",
    "ty",
    "shear",
    "zx",
    "zy",
    "flip_horizontal",
    "flip_vertical",
    "channel_shift_intensity",
    "brightness",
)
# RandomAffine's fill modes: the kernels' (functional.FILL_MODES), and scipy's own 'wrap'
# (period n - 1: what ImageDataGenerator(fill_mode='wrap') really outputs)
AFFINE_FILL_MODES = geometry.WARP_FILL_MODES


def _check_flip_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise AugtrainError(f"flip probability p={p} must lie in [0, 1]")
    return p


@register_op
class RandomHorizontalFlip(Op):
    """Mirror left-right with probability p (Gluon RandomFlipLeftRight)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _check_flip_p(p)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"flip": draw.bernoulli(self.p)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.hflip(images, params["flip"])


@register_op
class RandomVerticalFlip(Op):
    """Mirror top-bottom with probability p (Gluon RandomFlipTopBottom)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _check_flip_p(p)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"flip": draw.bernoulli(self.p)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.vflip(images, params["flip"])


@register_op
class RandomFlip(Op):
    """Keras' RandomFlip: mode 'horizontal', 'vertical' or 'horizontal_and_vertical'
    (each direction independently with probability p)."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode: str = "horizontal_and_vertical", p: float = 0.5) -> None:
        self.mode = check_choice("RandomFlip mode", mode, self.MODES)
        self.p = check_probability("p", p)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"flip_horizontal": draw.bernoulli(self.p), "flip_vertical": draw.bernoulli(self.p)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        if self.mode != "vertical":
            images = F.hflip(images, params["flip_horizontal"])
        if self.mode != "horizontal":
            images = F.vflip(images, params["flip_vertical"])
        return images


@register_op
class RandomCrop(Op):
    """Pad by `padding` then crop `size` at a random whole-pixel position (the CIFAR recipe).

    `padding_mode` takes torchvision's names: constant, edge, reflect (edge not
    repeated), symmetric. `size` defaults to the input size. With `flip=True` a
    horizontal flip with probability 0.5 is folded into the same gather.
    params: top, left (whole pixels, may be negative: padding) and flip (or None).
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

    def _out_size(self, h: int, w: int) -> tuple[int, int]:
        out_h, out_w = (h, w) if self.size is None else pair(self.size)
        p = self.padding
        if out_h > h + 2 * p or out_w > w + 2 * p:
            raise AugtrainError(
                f"crop size {(out_h, out_w)} exceeds padded image {(h + 2 * p, w + 2 * p)}"
            )
        return out_h, out_w

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        h, w = shape[-2:]
        out_h, out_w = self._out_size(h, w)
        p = self.padding
        # one stream, three numbers per sample: top, left, flip (NumPy on the CPU: see
        # cpu_kernels.array_module)
        bits = draw.bits_array(3)
        top = bits[:, 0] % (h + 2 * p - out_h + 1) - p
        left = bits[:, 1] % (w + 2 * p - out_w + 1) - p
        flip = (bits[:, 2] >> 8) < (1 << 23) if self.flip else None  # 24-bit uniform < 0.5
        return {
            "top": torch.as_tensor(top),
            "left": torch.as_tensor(left),
            "flip": None if flip is None else torch.as_tensor(flip),
        }

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        out_h, out_w = self._out_size(*images.shape[-2:])
        p = self.padding
        return F.crop(
            images,
            params["top"],
            params["left"],
            out_h,
            out_w,
            flip_h=params.get("flip"),
            mode=F.PADDING_MODES[self.padding_mode],
            fill=self.fill,
            padding=(p, p, p, p),
        )


@register_op
class RandomRot90(Op):
    """Rotate by a random number of quarter turns chosen from `k` (exact; square images
    for odd k)."""

    def __init__(self, k: list[int] | tuple[int, ...] = (0, 1, 2, 3)) -> None:
        if not k or any(not isinstance(q, int) for q in k):
            raise AugtrainError(f"RandomRot90 k={k!r} must be a list of whole quarter turns")
        self.k = [int(q) for q in k]

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"k": draw.choice(self.k)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.rot90(images, params["k"])


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

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        h, w = shape[-2:]
        top, left, height, width = self.boxes(draw, h, w)
        return {"top": top, "left": left, "height": height, "width": width}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        h, w = images.shape[-2:]
        out = (h, w) if self.size is None else pair(self.size)
        p = params
        return geometry.resized_crop(
            images, p["top"], p["left"], p["height"], p["width"], out, self.interpolation
        )

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
        self.fill = number("fill", fill)

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.center_crop(images, pair(self.size), levels(images, self.fill))


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

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.resize(images, pair(self.size), self.interpolation, self.antialias)


# ------------------------------------------------------- Keras' random transform
def truthy(spec: Any) -> bool:
    """Whether a Keras range is on: a non-empty list, or a non-zero number."""
    if isinstance(spec, (list, tuple, np.ndarray, torch.Tensor)):
        return len(spec) > 0
    return bool(spec)


def shift_from_uniforms(u: Any, sign: Any, spec: Any, size: int) -> Any:
    """Keras' shift for one axis from a uniform u in [0, 1) and a sign (+-1) per sample:
    float64 torch tensors, or NumPy arrays (the CPU's parameter math) giving the same.

    A float r draws uniform(-r, r) (times the size when r < 1); an int n one of 0..n-1
    pixels with a random sign; a list one of its values with a random sign (times the
    size when all are < 1)."""
    on_numpy = isinstance(u, np.ndarray)
    u = u.astype(np.float64) if on_numpy else u.to(torch.float64)
    if not truthy(spec):
        return u * 0.0
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        # np.random.choice(n): one of 0..n-1, then a random sign
        values = np.arange(int(spec), dtype=np.float64)
    elif isinstance(spec, (list, tuple, np.ndarray, torch.Tensor)):
        values = np.asarray(spec, dtype=np.float64).reshape(-1)
    else:
        values = None
    if values is not None:
        table = values if on_numpy else torch.as_tensor(values, device=u.device)
        pick = u * len(values)
        pick = (pick.astype(np.int64) if on_numpy else pick.long()).clip(max=len(values) - 1)
        t = table[pick] * sign
        top = float(values.max())
    else:
        r = float(spec)
        t = (u * 2 - 1) * r
        top = r
    if top < 1:
        t = t * size
    return t


def draw_keras_params(
    draw: Draw,
    size: tuple[int, int],
    rotation: tuple[float, float] = (0.0, 0.0),
    width_shift: Any = 0.0,
    height_shift: Any = 0.0,
    shear: float = 0.0,
    zoom: tuple[float, float] = (1.0, 1.0),
    width_zoom: tuple[float, float] | None = None,
    zoom_keep_aspect: bool = False,
    height_translation: tuple[float, float] | None = None,
    width_translation: tuple[float, float] | None = None,
    horizontal_flip: bool = False,
    vertical_flip: bool = False,
    channel_shift: float = 0.0,
    brightness: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Keras' `get_random_transform` for every sample of a batch, from a keyed Draw.

    Ranges come as their bounds (rotation and zoom pairs, shear r for [-r, r]); shift
    specs as Keras' (`shift_from_uniforms`). Returns Keras' dict (`KERAS_PARAM_KEYS`):
    theta (degrees), tx (rows) / ty (columns) in pixels, shear (degrees), zx / zy (zoom
    of rows / columns, > 1 zooms out), the two flips, channel_shift_intensity and
    brightness (None when off). Values are (B,) float64 arrays of the device's module
    (NumPy on the CPU), or plain numbers where a range is off.

    The geometry's uniforms are one (B, 10) stream, one column per parameter, so
    switching one parameter on or off never changes the numbers another gets; the
    channel and brightness shifts take a second stream, drawn only when one is on.
    height_translation / width_translation (the Keras layers' fractions, positive
    moving the content down / right) reuse the shift columns.
    """
    h, w = size
    # float64 arrays of the device's module: NumPy on the CPU
    xp = cpu_kernels.array_module(draw.device)
    u = draw.uniform_array(0.0, 1.0, 10)
    u = u.astype(np.float64) if xp is np else u.double()

    def uni(col: int, lo: float, hi: float) -> Any:
        return lo if lo == hi else u[:, col] * (hi - lo) + lo

    theta = uni(0, *rotation)
    tx: Any = 0.0
    ty: Any = 0.0
    if truthy(height_shift):
        tx = shift_from_uniforms(u[:, 1], xp.where(u[:, 2] < 0.5, -1.0, 1.0), height_shift, h)
    if truthy(width_shift):
        ty = shift_from_uniforms(u[:, 3], xp.where(u[:, 4] < 0.5, -1.0, 1.0), width_shift, w)
    if height_translation is not None:
        tx = tx - uni(1, *height_translation) * h
    if width_translation is not None:
        ty = ty - uni(3, *width_translation) * w
    sh = uni(5, -shear, shear)
    zx = uni(6, *zoom)
    keep = zoom_keep_aspect and width_zoom is None
    zy = zx if keep else uni(7, *(width_zoom or zoom))
    fh = (u[:, 8] < 0.5) if horizontal_flip else False
    fv = (u[:, 9] < 0.5) if vertical_flip else False
    cs = br = None
    if channel_shift or brightness is not None:
        v = draw.uniform_array(0.0, 1.0, 2)
        v = v.astype(np.float64) if xp is np else v.double()
        if channel_shift:
            cs = v[:, 0] * (2 * channel_shift) - channel_shift
        if brightness is not None:
            br = v[:, 1] * (brightness[1] - brightness[0]) + brightness[0]
    return {
        "theta": theta,
        "tx": tx,
        "ty": ty,
        "shear": sh,
        "zx": zx,
        "zy": zy,
        "flip_horizontal": fh,
        "flip_vertical": fv,
        "channel_shift_intensity": cs,
        "brightness": br,
    }


def _param(params: dict[str, Any], key: str, default: Any, batch: int, xp: Any, dtype: str, device):
    """params[key] as a (B,) array of module `xp` (NumPy on the CPU, as the parameter math
    of `keras_matrix`), or None."""
    v = params.get(key, default)
    if v is None:
        return None
    if xp is np:
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        return np.broadcast_to(np.asarray(v, dtype=dtype).reshape(-1), (batch,))
    t = torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v)
    t = t.to(device=device, dtype=getattr(torch, dtype))
    return t.expand(batch) if t.ndim == 0 else t.reshape(batch)


def _tensor(value: Any, device) -> torch.Tensor:
    """A (B,) parameter array as a tensor (a copy of a read-only broadcast NumPy view)."""
    if isinstance(value, np.ndarray):
        value = np.array(value)
    return torch.as_tensor(value, device=device)


def apply_keras_transform(
    images: torch.Tensor,
    params: dict[str, Any],
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation: str = "bilinear",
    center: str = "keras",
    float_output: bool = False,
    round_once: bool = False,
    unit: float = 1.0,
) -> torch.Tensor:
    """Keras' `apply_transform` for an NCHW batch, in Keras' order: affine warp (flips
    folded into its matrix: one resample), channel shift, brightness shift.

    params: `draw_keras_params`' dict; missing keys mean no change, scalars apply to
    every sample. fill_mode: one of `AFFINE_FILL_MODES` ('scipy-wrap' is Keras' wrap);
    cval in the images' units. center: 'keras' (Keras' centre) or 'true'.
    float_output: a uint8 batch comes back float32, unrounded, as if cast to float
    first (Keras' iterators). Without it a uint8 batch stays uint8: rounded after the
    warp, as SciPy stores Keras' integer images, or with round_once rounded only at
    the end. unit: one 0..255 level in the images' units (1/255 for [0, 1] floats): the
    channel shift intensity is in levels, and the brightness shift's 0..255 result is
    brought back to the images' range.
    """
    b, _, h, w = images.shape
    dev = images.device
    xp = cpu_kernels.array_module(dev)

    def get(key: str, default: Any, dtype: str = "float64") -> Any:
        return _param(params, key, default, b, xp, dtype, dev)

    theta, tx, ty = get("theta", 0.0), get("tx", 0.0), get("ty", 0.0)
    shear, zx, zy = get("shear", 0.0), get("zx", 1.0), get("zy", 1.0)
    fh, fv = get("flip_horizontal", False, "bool"), get("flip_vertical", False, "bool")
    shift = get("channel_shift_intensity", None, "float32")
    bright = get("brightness", None, "float32")
    uint8 = not images.is_floating_point()
    shifted = shift is not None or bright is not None
    keep_float = uint8 and (float_output or (round_once and shifted))

    # Keras flips after the warp; folding the flips into the matrix resamples once.
    # The per-sample channel shift between them is a constant per channel and commutes.
    # Keras skips the warp when the parameters are all neutral (a neutral sample's matrix
    # is its flips alone, integral: the warp samples it exactly anyway).
    neutral = (theta == 0) & (tx == 0) & (ty == 0) & (shear == 0) & (zx == 1) & (zy == 1)
    out_dtype = torch.float32 if keep_float else None
    if bool(neutral.all()):
        x = images if out_dtype is None else images.to(out_dtype)
        if bool(fh.any()):
            x = F.hflip(x, _tensor(fh, dev))
        if bool(fv.any()):
            x = F.vflip(x, _tensor(fv, dev))
    else:
        m = geometry.keras_matrix(
            h, w, theta, tx, ty, shear, zx, zy, fh, fv, batch=b, device=dev, center=center
        )
        x = geometry.warp(
            images,
            m,
            mode=fill_mode,
            cval=cval,
            interpolation=interpolation,
            out_dtype=out_dtype,
            # the Keras front end's NHWC batches stay NHWC: no copy back afterwards
            memory_format=torch.preserve_format if float_output else torch.contiguous_format,
        )
    if shift is not None:
        shift = _tensor(shift, dev)
    if bright is not None:
        bright = _tensor(bright, dev)
    if shift is not None:
        x = F.channel_shift(x, shift * unit)
    if bright is not None:
        x = F.keras_brightness(x, bright)
        if unit != 1.0:
            x = x * unit
    if keep_float and not float_output:
        x = torch.floor(x + 0.5).clamp_(0, 255).to(torch.uint8)
    return x


@register_op
class RandomAffine(Op):
    """Keras ImageDataGenerator's random transform, one matrix per sample and one resample
    per batch (module doc).

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
    channel_shift_range: add one value uniform in [-r, r] (0..255 levels) to every
      channel, clipped to the image's own [min, max] (Keras).
    brightness_range: a pair [lo, hi]: Keras' brightness shift, which first stretches
      the image to 0..255 (array_to_img(scale=True)), then multiplies by U(lo, hi).
    fill_mode: constant (cval), nearest, reflect (dcba|abcd), wrap, mirror, scipy-wrap
      (Keras' ImageDataGenerator wrap, what `keras_transform` gives for 'wrap').
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
        channel_shift_range: float = 0.0,
        brightness_range: list[float] | None = None,
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
        self.fill_mode = check_choice("fill_mode", fill_mode, AFFINE_FILL_MODES)
        self.cval = number("cval", cval)
        self.interpolation = check_choice("interpolation", interpolation, geometry.INTERPOLATIONS)
        self.zoom_keep_aspect = bool(zoom_keep_aspect)
        self.center = check_choice("center", center, ("true", "keras"))
        self.channel_shift_range = check_nonnegative("channel_shift_range", channel_shift_range)
        self.brightness_range = (
            None
            if brightness_range is None
            else list(check_pair("brightness_range", brightness_range))
        )

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        """Per-sample Keras params for a batch (`draw_keras_params`; shifts that are off
        left out)."""
        p = draw_keras_params(
            draw,
            tuple(shape[-2:]),
            rotation=self._rot,
            width_shift=self.width_shift_range,
            height_shift=self.height_shift_range,
            shear=self.shear_range,
            zoom=self._zoom,
            width_zoom=self._wzoom,
            zoom_keep_aspect=self.zoom_keep_aspect,
            height_translation=self._ht,
            width_translation=self._wt,
            horizontal_flip=self.horizontal_flip,
            vertical_flip=self.vertical_flip,
            channel_shift=self.channel_shift_range,
            brightness=None if self.brightness_range is None else tuple(self.brightness_range),
        )
        return {k: v for k, v in p.items() if v is not None}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return apply_keras_transform(
            images,
            params,
            fill_mode=self.fill_mode,
            cval=levels(images, self.cval),
            interpolation=self.interpolation,
            center=self.center,
            round_once=True,
            unit=levels(images, 1.0),
        )


def keras_transform(
    rotation_range: float = 0.0,
    width_shift_range: Any = 0.0,
    height_shift_range: Any = 0.0,
    shear_range: float = 0.0,
    zoom_range: Any = 0.0,
    channel_shift_range: float = 0.0,
    brightness_range: Any = None,
    horizontal_flip: bool = False,
    vertical_flip: bool = False,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation: str = "bilinear",
) -> RandomAffine:
    """The op of an ImageDataGenerator with these arguments (Keras' names and meanings,
    Keras' centre, scipy's wrap): the CLI's flags and the keras-basic preset."""
    check_choice("fill_mode", fill_mode, F.KERAS_FILL_MODES)
    return RandomAffine(
        rotation_range=rotation_range,
        width_shift_range=width_shift_range,
        height_shift_range=height_shift_range,
        shear_range=shear_range,
        zoom_range=zoom_range,
        horizontal_flip=horizontal_flip,
        vertical_flip=vertical_flip,
        fill_mode="scipy-wrap" if fill_mode == "wrap" else fill_mode,
        cval=cval,
        interpolation=interpolation,
        center="keras",
        channel_shift_range=channel_shift_range,
        brightness_range=brightness_range,
    )
