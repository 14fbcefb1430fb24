"""keras-preprocessing's ImageDataGenerator transforms, batched on tensors: the Keras
dialect of `ops.geometry`'s random transform.

Two functions carry the whole of `ImageDataGenerator`'s random augmentation
(keras_preprocessing 1.1.2), for a batch at once, with per-sample parameters:

    params = draw_transform(draw, (h, w), rotation_range=10, width_shift_range=0.1, ...)
    out = apply_transform(images, params, fill_mode="nearest", cval=0.0)

They translate ImageDataGenerator's arguments and data layouts and call the engine's
`draw_keras_params` and `apply_keras_transform`, the two halves of `RandomAffine`, the
op the CLI's Keras-named flags build: the same keyed draws, the same pixels. The
parameter dict has Keras' keys (`PARAM_KEYS`); each value is a Python scalar (same for
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
from .functional import KERAS_FILL_MODES, channel_shift, keras_brightness  # noqa: F401
from .ops.checks import zoom_bounds
from .ops.geometry import (  # noqa: F401  (shift_from_uniforms: a name this module had)
    KERAS_PARAM_KEYS,
    apply_keras_transform,
    draw_keras_params,
    shift_from_uniforms,
)
from .random import Draw

PARAM_KEYS = KERAS_PARAM_KEYS


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

    out = apply_keras_transform(
        images,
        params,
        fill_mode="scipy-wrap" if (fill_mode == "wrap" and scipy_wrap) else fill_mode,
        cval=cval,
        interpolation="bilinear" if interpolation_order == 1 else "nearest",
        center="keras",
        float_output=float_output,
    )
    return to_numpy(out) if to_numpy is not None else out


def normalize_zoom_range(
    zoom_range: float | Sequence[float], name: str = "zoom_range"
) -> tuple[float, float]:
    """Keras: a scalar z gives [1 - z, 1 + z]; a pair is taken as it is (`zoom_bounds`)."""
    return zoom_bounds(zoom_range, name)


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

    Arguments have ImageDataGenerator's names and meanings (taken as Keras takes them,
    unchecked beyond that); image_size is (height, width). Returns the params dict of
    `apply_transform` with (B,) tensors on the Draw's device (float64, bool for
    flips); channel_shift_intensity / brightness are None when their range is off.
    The numbers are `draw_keras_params`', RandomAffine's.
    """
    if brightness_range is not None:
        if not isinstance(brightness_range, (list, tuple)) or len(brightness_range) != 2:
            raise AugtrainError(
                f"brightness_range must be a pair [lower, upper], got {brightness_range!r}"
            )
        brightness_range = (float(brightness_range[0]), float(brightness_range[1]))
    rotation = float(rotation_range or 0.0)
    p = draw_keras_params(
        draw,
        image_size,
        rotation=(-rotation, rotation),
        width_shift=width_shift_range,
        height_shift=height_shift_range,
        shear=float(shear_range or 0.0),
        zoom=normalize_zoom_range(zoom_range),
        horizontal_flip=bool(horizontal_flip),
        vertical_flip=bool(vertical_flip),
        channel_shift=float(channel_shift_range or 0.0),
        brightness=brightness_range,
    )
    b, dev = draw.batch_size, draw.device

    def batch(value: Any, dtype: torch.dtype) -> torch.Tensor | None:
        if value is None:
            return None
        t = torch.as_tensor(value).to(device=dev, dtype=dtype)
        return t.expand(b).clone() if t.ndim == 0 else t

    return {
        k: batch(v, torch.bool if k.startswith("flip") else torch.float64) for k, v in p.items()
    }
