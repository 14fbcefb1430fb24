"""keras-preprocessing 1.1.2's module-level transforms of one image, on augtrain's engine.

Same names, signatures, defaults, return values, dtypes and errors as
`keras_preprocessing.image.affine_transformations`. Inside, the warp is the
engine's (`augment.geometry.keras_matrix`, Keras' matrix about Keras' centre, and
`augment.geometry.warp`, one resample of all channels), the channel shift and
the brightness are `augment.functional`'s, the ones ImageDataGenerator uses.

The `random_*` functions draw from NumPy's global generator exactly as 1.1.2
does (same calls, same order), so code seeded with `np.random.seed` gets the
same parameters it got from keras-preprocessing.

1.1.2's quirks are kept, since code written against it relies on its outputs:

- `random_rotation`, `random_shear` and `random_zoom` do not pass `row_axis` /
  `col_axis` on to `apply_affine_transform`, so the centre of the transform is
  taken from axes 0 and 1 of the array (with the default `channel_axis=0` that
  is (channels, rows), not the image's centre); `random_shift`'s shift is
  scaled by the sizes of `row_axis` / `col_axis`.
- `apply_affine_transform` takes the image plane to be the two axes other
  than `channel_axis`, in their order; `row_axis` / `col_axis` only give the
  centre. Neutral parameters return `x` itself, untouched.
- `apply_brightness_shift` reads `x` as channels_last, stretches it to 0..255
  (`array_to_img(scale=True)`) and returns a float32 channels_last array.

What differs: `order` (`interpolation_order`) may be 0 or 1 only, the engine's
resamplers (ImageDataGenerator checks the same); float16 images are warped as
float32 (SciPy refuses them); 'grid-constant', a SciPy mode Keras never names,
is not supported; an array of rank 4 is a ValueError naming its shape (SciPy's
is a RuntimeError); an int shift of a uint8 image clips where 1.1.2's uint8
sum wraps around 255 first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image as pil_image  # noqa: F401  (a name 1.1.2 exports)
from PIL import ImageEnhance  # noqa: F401  (a name 1.1.2 exports)

from ...augment import functional as F
from ...augment import geometry
from ..utils import array_to_img, img_to_array  # noqa: F401  (names 1.1.2 exports)

# SciPy's mode names (what 1.1.2 passes on) -> the engine's fill modes (a translation
# table, not a list of modes: those are augment.functional's)
SCIPY_FILL_MODES = {
    "constant": "constant",
    "nearest": "nearest",
    "reflect": "reflect",
    "grid-mirror": "reflect",  # SciPy's other name for 'reflect'
    "wrap": "scipy-wrap",  # SciPy's own wrap: period n - 1 in coordinates
    "grid-wrap": "wrap",  # the period-n wrap
    "mirror": "mirror",
}
ORDERS = {0: "nearest", 1: "bilinear"}
# what SciPy accepts as a spline order; augtrain resamples with the first two
SCIPY_ORDERS = range(6)


def flip_axis(x: Any, axis: int) -> np.ndarray:
    """`x` reversed along `axis` (a view)."""
    x = np.asarray(x).swapaxes(axis, 0)
    x = x[::-1, ...]
    return x.swapaxes(0, axis)


def random_rotation(
    x: np.ndarray,
    rg: float,
    row_axis: int = 1,
    col_axis: int = 2,
    channel_axis: int = 0,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation_order: int = 1,
) -> np.ndarray:
    """Rotate by an angle drawn uniformly from [-rg, rg] degrees (np.random, as 1.1.2)."""
    theta = np.random.uniform(-rg, rg)
    return apply_affine_transform(
        x,
        theta=theta,
        channel_axis=channel_axis,
        fill_mode=fill_mode,
        cval=cval,
        order=interpolation_order,
    )


def random_shift(
    x: np.ndarray,
    wrg: float,
    hrg: float,
    row_axis: int = 1,
    col_axis: int = 2,
    channel_axis: int = 0,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation_order: int = 1,
) -> np.ndarray:
    """Shift by fractions of the height (hrg) and width (wrg) drawn uniformly, as 1.1.2."""
    h, w = x.shape[row_axis], x.shape[col_axis]
    tx = np.random.uniform(-hrg, hrg) * h
    ty = np.random.uniform(-wrg, wrg) * w
    return apply_affine_transform(
        x,
        tx=tx,
        ty=ty,
        channel_axis=channel_axis,
        fill_mode=fill_mode,
        cval=cval,
        order=interpolation_order,
    )


def random_shear(
    x: np.ndarray,
    intensity: float,
    row_axis: int = 1,
    col_axis: int = 2,
    channel_axis: int = 0,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation_order: int = 1,
) -> np.ndarray:
    """Shear by an angle drawn uniformly from [-intensity, intensity] degrees."""
    shear = np.random.uniform(-intensity, intensity)
    return apply_affine_transform(
        x,
        shear=shear,
        channel_axis=channel_axis,
        fill_mode=fill_mode,
        cval=cval,
        order=interpolation_order,
    )


def random_zoom(
    x: np.ndarray,
    zoom_range: Sequence[float],
    row_axis: int = 1,
    col_axis: int = 2,
    channel_axis: int = 0,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation_order: int = 1,
) -> np.ndarray:
    """Zoom rows and columns by two factors drawn independently from `zoom_range` (a pair)."""
    if len(zoom_range) != 2:
        raise ValueError(
            f"`zoom_range` should be a tuple or list of two floats. Received: {zoom_range}"
        )
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = np.random.uniform(zoom_range[0], zoom_range[1], 2)
    return apply_affine_transform(
        x,
        zx=zx,
        zy=zy,
        channel_axis=channel_axis,
        fill_mode=fill_mode,
        cval=cval,
        order=interpolation_order,
    )


def apply_channel_shift(x: np.ndarray, intensity: float, channel_axis: int = 0) -> np.ndarray:
    """`x + intensity`, clipped to the image's own [min, max] (`augment.functional.channel_shift`).

    The dtype is NumPy's for `x + intensity` (float64 for a uint8 image and a
    float), as in 1.1.2; the result has its axes moved as 1.1.2's
    `np.rollaxis` round trip moves them.
    """
    planes = np.rollaxis(x, channel_axis, 0)
    out_dtype = np.result_type(planes, intensity)
    work = planes.astype(np.float64 if out_dtype.itemsize > 4 else np.float32)
    shifted = F.channel_shift(torch.from_numpy(work)[None], float(intensity))[0]
    out = cast_rounded(shifted.numpy(), out_dtype)
    return np.rollaxis(out, 0, channel_axis + 1)


def random_channel_shift(
    x: np.ndarray, intensity_range: float, channel_axis: int = 0
) -> np.ndarray:
    """`apply_channel_shift` by an intensity drawn uniformly from +-intensity_range."""
    intensity = np.random.uniform(-intensity_range, intensity_range)
    return apply_channel_shift(x, intensity, channel_axis=channel_axis)


def apply_brightness_shift(x: np.ndarray, brightness: float) -> np.ndarray:
    """PIL's `ImageEnhance.Brightness(brightness)` of a channels_last image, as 1.1.2.

    `augment.functional.keras_brightness` does what 1.1.2's PIL round trip does: the
    image is stretched to 0..255 and truncated to uint8 levels, then scaled
    (alpha kept). Returns float32, channels_last, with values in 0..255.
    """
    x = np.asarray(x, dtype="float32")
    if x.ndim != 3:
        raise ValueError(
            f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}"
        )
    if x.shape[2] not in (1, 3, 4):  # what 1.1.2's array_to_img accepts
        raise ValueError(f"Unsupported channel number: {x.shape[2]}")
    batch = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
    out = F.keras_brightness(batch, float(brightness))
    return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy())


def random_brightness(x: np.ndarray, brightness_range: Sequence[float]) -> np.ndarray:
    """`apply_brightness_shift` by a factor drawn uniformly from `brightness_range` (a pair)."""
    if len(brightness_range) != 2:
        raise ValueError(
            f"`brightness_range should be tuple or list of two floats. Received: {brightness_range}"
        )
    u = np.random.uniform(brightness_range[0], brightness_range[1])
    return apply_brightness_shift(x, u)


def transform_matrix_offset_center(matrix: np.ndarray, x: float, y: float) -> np.ndarray:
    """`matrix` (3x3) conjugated to act about Keras' centre (x/2 + 0.5, y/2 + 0.5)."""
    o_x = float(x) / 2 + 0.5
    o_y = float(y) / 2 + 0.5
    offset_matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset_matrix = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return np.dot(np.dot(offset_matrix, matrix), reset_matrix)


def apply_affine_transform(
    x: np.ndarray,
    theta: float = 0,
    tx: float = 0,
    ty: float = 0,
    shear: float = 0,
    zx: float = 1,
    zy: float = 1,
    row_axis: int = 0,
    col_axis: int = 1,
    channel_axis: int = 2,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    order: int = 1,
) -> np.ndarray:
    """Rotate (theta, degrees), shift (tx along rows, ty along columns, pixels), shear
    (degrees) and zoom (zx rows, zy columns) one image about Keras' centre, as 1.1.2.

    One resample of all channels by the engine's warp; the output has `x`'s
    dtype (integers rounded, as SciPy rounds them).
    """
    if theta == 0 and tx == 0 and ty == 0 and shear == 0 and zx == 1 and zy == 1:
        return x  # 1.1.2 builds no matrix and returns its input
    h, w = x.shape[row_axis], x.shape[col_axis]
    # checked where SciPy checks them in 1.1.2: only when there is something to warp
    if fill_mode not in SCIPY_FILL_MODES:
        if fill_mode == "grid-constant":
            raise ValueError("fill_mode 'grid-constant' is not supported by augtrain")
        raise RuntimeError("boundary mode not supported")
    if order not in ORDERS:
        if order in SCIPY_ORDERS:
            raise ValueError(
                f"interpolation_order={order} is not supported: augtrain resamples "
                "with order 0 (nearest) or 1 (bilinear, the default)"
            )
        raise RuntimeError("spline order not supported")
    planes = np.rollaxis(np.asarray(x), channel_axis, 0)
    if planes.ndim != 3:
        raise ValueError(
            f"apply_affine_transform needs an image of rank 3, got shape {np.shape(x)}"
        )
    work_dtype = planes.dtype if planes.dtype in (np.uint8, np.float32, np.float64) else None
    if work_dtype is None:
        work_dtype = np.float32 if planes.dtype == np.float16 else np.float64
    images = torch.from_numpy(np.ascontiguousarray(planes, dtype=work_dtype))[None]
    matrix = geometry.keras_matrix(h, w, theta, tx, ty, shear, zx, zy)
    out = geometry.warp(
        images, matrix, mode=SCIPY_FILL_MODES[fill_mode], cval=cval, interpolation=ORDERS[order]
    )
    return np.rollaxis(cast_rounded(out[0].numpy(), planes.dtype), 0, channel_axis + 1)


def cast_rounded(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float results in `dtype`; integers rounded half away from zero, as SciPy stores them
    (augtrain's name, not 1.1.2's: ImageDataGenerator.apply_transform uses it too)."""
    if values.dtype == dtype:
        return values
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        values = np.where(values >= 0, np.floor(values + 0.5), np.ceil(values - 0.5))
    return values.astype(dtype)
