"""keras-preprocessing's ImageDataGenerator transforms, batched on tensors.

Two functions carry the whole of `ImageDataGenerator`'s random augmentation
(keras_preprocessing 1.1.2), for a batch at once, with per-sample parameters:

    params = draw_transform(draw, (h, w), rotation_range=10, width_shift_range=0.1, ...)
    out = apply_transform(images, params, fill_mode="nearest", cval=0.0)

`draw_transform` draws Keras' distributions (`get_random_transform`) from a
keyed `Draw`, so sample i of epoch e always gets the same parameters.
`apply_transform` does what `ImageDataGenerator.apply_transform` does, in the
same order: affine warp (one resample; Keras' own centre and matrix), channel
shift, flips, brightness.

The parameter dict has Keras' keys; each value is a Python scalar (same for
every sample) or a (B,) tensor / array:

    theta                    rotation, degrees
    tx                       shift along ROWS (height), pixels   (Keras' naming)
    ty                       shift along COLUMNS (width), pixels
    shear                    shear angle, degrees
    zx, zy                   zoom of rows / columns (>1 zooms out)
    flip_horizontal          bool: mirror left-right
    flip_vertical            bool: mirror top-bottom
    channel_shift_intensity  None (skip) or the value added to every channel,
                             clipped to the image's own [min, max]
    brightness               None (skip) or the PIL ImageEnhance.Brightness
                             factor; like Keras, the image is first stretched
                             to [0, 255] (keras' array_to_img(scale=True)) and
                             truncated to uint8 levels

Missing keys mean "no change". Output has the dtype of the input: uint8 in,
uint8 out (rounded); float in, float out (Keras' float32 values).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import AugtrainError
from . import functional as F
from . import geometry
from .random import Draw

PARAM_KEYS = (
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
KERAS_FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def apply_transform(
    images: torch.Tensor | np.ndarray,
    params: dict[str, Any],
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation_order: int = 1,
    scipy_wrap: bool = True,
    data_format: str | None = None,
    float_output: bool = False,
) -> torch.Tensor | np.ndarray:
    """`ImageDataGenerator.apply_transform` for a whole batch.

    images: NCHW torch tensor (uint8 or float, any device), or a NumPy array in
      Keras' channels_last layout, (N, H, W, C) or one image (H, W, C); NumPy in
      gives NumPy out in the same layout. `data_format='channels_first'` reads
      NumPy input as (N, C, H, W).
    params: the dict described in the module docstring; scalars or (B,) values.
    fill_mode: constant | nearest | reflect | wrap (Keras names). With
      scipy_wrap=True (default) 'wrap' reproduces what scipy really does
      (coordinates modulo n-1); False gives the textbook period-n wrap.
    interpolation_order: 0 (nearest) or 1 (bilinear), as Keras.
    float_output: a uint8 batch comes back float32 and unrounded, exactly as if it
      had been cast to float first (Keras' iterators do): the warp reads the uint8.
    """
    if fill_mode not in KERAS_FILL_MODES:
        raise AugtrainError(f"fill_mode {fill_mode!r} is not one of {', '.join(KERAS_FILL_MODES)}")
    if interpolation_order not in (0, 1):
        raise AugtrainError(f"interpolation_order={interpolation_order} must be 0 or 1")
    to_numpy = None
    if not isinstance(images, torch.Tensor):
        arr = np.asarray(images)
        single = arr.ndim == 3
        if single:
            arr = arr[None]
        channels_last = data_format != "channels_first"
        t = torch.from_numpy(np.ascontiguousarray(arr))
        images = t.permute(0, 3, 1, 2) if channels_last else t

        def to_numpy(x: torch.Tensor) -> np.ndarray:
            x = x.permute(0, 2, 3, 1) if channels_last else x
            out = x.contiguous().numpy()
            return out[0] if single else out

    out = _apply(images, params, fill_mode, cval, interpolation_order, scipy_wrap, float_output)
    return to_numpy(out) if to_numpy is not None else out


def _param(params: dict[str, Any], key: str, default, batch: int, device, dtype=torch.float64):
    v = params.get(key, default)
    if v is None:
        return None
    t = torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v)
    t = t.to(device=device, dtype=dtype)
    return t.expand(batch) if t.ndim == 0 else t.reshape(batch)


def _apply(images, params, fill_mode, cval, order, scipy_wrap, float_output) -> torch.Tensor:
    b, _, h, w = images.shape
    dev = images.device
    get = lambda k, d, dt=torch.float64: _param(params, k, d, b, dev, dt)  # noqa: E731
    theta, tx, ty = get("theta", 0.0), get("tx", 0.0), get("ty", 0.0)
    shear, zx, zy = get("shear", 0.0), get("zx", 1.0), get("zy", 1.0)
    fh = get("flip_horizontal", False, torch.bool)
    fv = get("flip_vertical", False, torch.bool)
    shift = get("channel_shift_intensity", None, torch.float32)
    bright = get("brightness", None, torch.float32)

    # Keras flips after the warp; folding the flips into the matrix resamples once.
    # The per-sample channel shift between them is a constant per channel and commutes.
    m = geometry.keras_matrix(h, w, theta, tx, ty, shear, zx, zy, fh, fv, batch=b, device=dev)
    # Keras skips the warp for samples whose parameters are all neutral; the
    # warp is the identity there anyway (integral matrices take the exact path).
    mode = "scipy-wrap" if (fill_mode == "wrap" and scipy_wrap) else fill_mode
    interp = "bilinear" if order == 1 else "nearest"
    neutral = (theta == 0) & (tx == 0) & (ty == 0) & (shear == 0) & (zx == 1) & (zy == 1)
    out_dtype = torch.float32 if float_output and not images.is_floating_point() else None
    if bool(neutral.all()):
        x = images if out_dtype is None else images.to(out_dtype)
        if bool(fh.any()):
            x = F.hflip(x, fh)
        if bool(fv.any()):
            x = F.vflip(x, fv)
    else:
        # a neutral sample keeps only its flips: an integral matrix, sampled exactly
        flips_only = geometry.compose_flips(geometry.identity(b, dev), h, w, fh, fv)
        m = torch.where(neutral[:, None, None], flips_only, m)
        x = geometry.warp(
            images,
            m,
            mode=mode,
            cval=cval,
            interpolation=interp,
            out_dtype=out_dtype,
            # the Keras front end's NHWC batches stay NHWC: no copy back afterwards
            memory_format=torch.preserve_format if float_output else torch.contiguous_format,
        )
    if shift is not None:
        x = channel_shift(x, shift)
    if bright is not None:
        x = keras_brightness(x, bright)
    return x


def channel_shift(images: torch.Tensor, intensity: torch.Tensor | float) -> torch.Tensor:
    """Keras' apply_channel_shift: x + intensity, clipped to each image's own [min, max]."""
    b = images.shape[0]
    x = images.to(torch.float32) if not images.is_floating_point() else images
    i = torch.as_tensor(intensity, dtype=x.dtype, device=x.device).expand(b).view(-1, 1, 1, 1)
    flat = x.reshape(b, -1)
    lo = flat.amin(1).view(-1, 1, 1, 1)
    hi = flat.amax(1).view(-1, 1, 1, 1)
    out = torch.minimum(torch.maximum(x + i, lo), hi)
    return _like(out, images)


def keras_brightness(images: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Keras' apply_brightness_shift, batched.

    Keras converts the image to PIL first with array_to_img(scale=True): the
    image is stretched so its min is 0 and its max 255, truncated to uint8,
    then PIL's Brightness(f) gives trunc(clip(v * f, 0, 255)). The result is
    always in [0, 255] whatever the input range, as in Keras. The fourth channel
    of a 4-channel batch is alpha to PIL: stretched with the rest, never scaled.
    """
    b = images.shape[0]
    x = images.to(torch.float32)
    f = torch.as_tensor(factor, dtype=torch.float32, device=x.device).expand(b).view(-1, 1, 1, 1)
    flat = x.reshape(b, -1)
    lo = flat.amin(1).view(-1, 1, 1, 1)
    span = flat.amax(1).view(-1, 1, 1, 1) - lo
    x = x - lo
    x = torch.where(span > 0, x / torch.where(span > 0, span, 1) * 255.0, x)
    x = torch.floor(x.clamp(0, 255))
    out = torch.floor((x * f).clamp(0, 255))
    if out.shape[1] == 4:
        out[:, 3] = x[:, 3]
    return out.to(images.dtype)


def _like(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if ref.is_floating_point():
        return out.to(ref.dtype)
    return out.round().clamp(0, 255).to(ref.dtype)


# ------------------------------------------------------------- random params
def normalize_zoom_range(
    zoom_range: float | Sequence[float], name: str = "zoom_range"
) -> tuple[float, float]:
    """Keras: a scalar z gives [1 - z, 1 + z]; a pair is taken as it is."""
    if isinstance(zoom_range, (int, float)) and not isinstance(zoom_range, bool):
        lo, hi = 1.0 - float(zoom_range), 1.0 + float(zoom_range)
    elif isinstance(zoom_range, (list, tuple)) and len(zoom_range) == 2:
        lo, hi = float(zoom_range[0]), float(zoom_range[1])
    else:
        raise AugtrainError(f"{name} must be a float or a pair [lower, upper], got {zoom_range!r}")
    return lo, hi


def _shift(draw: Draw, spec, size: int) -> torch.Tensor:
    """Keras' shift draw for one axis (get_random_transform), in pixels, float64 (B,).

    Always consumes two streams (a uniform and a sign), so switching one
    parameter on or off never changes the numbers another one gets.
    """
    u = draw.uniform(0.0, 1.0).to(torch.float64)
    sign = draw.bernoulli(0.5).to(torch.float64) * 2 - 1
    return shift_from_uniforms(u, sign, spec, size)


def shift_from_uniforms(u: Any, sign: Any, spec, size: int) -> Any:
    """Keras' shift for one axis from a uniform u in [0, 1) and a sign (+-1) per sample:
    float64 torch tensors, or NumPy arrays (the CPU's parameter math) giving the same."""
    on_numpy = isinstance(u, np.ndarray)
    u = u.astype(np.float64) if on_numpy else u.to(torch.float64)
    if not _truthy(spec):
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


def _truthy(spec) -> bool:
    if isinstance(spec, (list, tuple, np.ndarray, torch.Tensor)):
        return len(spec) > 0
    return bool(spec)


def draw_transform(
    draw: Draw,
    image_size: tuple[int, int],
    rotation_range: float = 0.0,
    width_shift_range=0.0,
    height_shift_range=0.0,
    shear_range: float = 0.0,
    zoom_range: float | Sequence[float] = 0.0,
    channel_shift_range: float = 0.0,
    brightness_range: Sequence[float] | None = None,
    horizontal_flip: bool = False,
    vertical_flip: bool = False,
) -> dict[str, Any]:
    """Keras' `get_random_transform` for every sample of a batch, from a keyed Draw.

    Arguments have ImageDataGenerator's names and meanings; image_size is
    (height, width). Returns the params dict of `apply_transform` with (B,)
    tensors on the Draw's device (float64, bool for flips);
    channel_shift_intensity / brightness are None when their range is off.
    Shift ranges: a float r draws uniform(-r, r) (times the size when r < 1);
    an int n draws one of 0..n-1 pixels with a random sign; a list draws one of
    its values with a random sign (times the size when all are < 1).
    """
    h, w = image_size
    b, dev = draw.batch_size, draw.device
    zero = torch.zeros(b, dtype=torch.float64, device=dev)

    def uni(lo: float, hi: float) -> torch.Tensor:
        # always consume a stream so each parameter's numbers never depend on the others
        return draw.uniform(0.0, 1.0).to(torch.float64) * (hi - lo) + lo

    theta = uni(-rotation_range, rotation_range) if rotation_range else (draw.uniform(), zero)[1]
    tx = _shift(draw, height_shift_range, h)
    ty = _shift(draw, width_shift_range, w)
    shear = uni(-shear_range, shear_range) if shear_range else (draw.uniform(), zero)[1]
    zlo, zhi = normalize_zoom_range(zoom_range)
    if zlo == 1 and zhi == 1:
        zx = zy = zero + 1
        draw.uniform()
    else:
        zz = draw.uniform(0.0, 1.0, 2).to(torch.float64) * (zhi - zlo) + zlo
        zx, zy = zz[:, 0], zz[:, 1]
    fh = draw.bernoulli(0.5) & bool(horizontal_flip)
    fv = draw.bernoulli(0.5) & bool(vertical_flip)
    cs = uni(-channel_shift_range, channel_shift_range) if channel_shift_range else None
    br = None
    if brightness_range is not None:
        if not isinstance(brightness_range, (list, tuple)) or len(brightness_range) != 2:
            raise AugtrainError(
                f"brightness_range must be a pair [lower, upper], got {brightness_range!r}"
            )
        br = uni(float(brightness_range[0]), float(brightness_range[1]))
    return {
        "theta": theta,
        "tx": tx,
        "ty": ty,
        "shear": shear,
        "zx": zx,
        "zy": zy,
        "flip_horizontal": fh,
        "flip_vertical": fv,
        "channel_shift_intensity": cs,
        "brightness": br,
    }
