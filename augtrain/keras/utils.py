"""Keras' image helpers (`load_img`, `img_to_array`, `array_to_img`, `save_img`,
`validate_filename`, `list_pictures`), same meanings.

`load_img` returns a PIL image as Keras' does; the iterators do not go through it
but decode straight to uint8 with `augtrain.data.folder.load_image` (the loader of
the rest of augtrain), in parallel, once.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np

DATA_FORMATS = ("channels_last", "channels_first")
COLOR_MODES = ("grayscale", "rgb", "rgba")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def check_data_format(data_format: str) -> str:
    if data_format not in DATA_FORMATS:
        raise ValueError(
            '`data_format` should be `"channels_last"` (channel after row and column) or '
            f'`"channels_first"` (channel before row and column). Received: {data_format}'
        )
    return data_format


def check_interpolation(interpolation: str) -> str:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"Invalid interpolation method {interpolation} specified. "
            f"Supported methods are {', '.join(INTERPOLATIONS)}"
        )
    return interpolation


def _resample(interpolation: str) -> Any:
    from PIL import Image

    return getattr(Image.Resampling, check_interpolation(interpolation).upper())


def load_img(
    path: str | os.PathLike,
    grayscale: bool = False,
    color_mode: str = "rgb",
    target_size: tuple[int, int] | None = None,
    interpolation: str = "nearest",
    keep_aspect_ratio: bool = False,
) -> Any:
    """Load an image into a PIL image, as keras' `load_img` (keep_aspect_ratio as tf.keras 2.9+).

    `keep_aspect_ratio=True` crops the largest centred box of the target aspect
    ratio before resizing, instead of stretching.
    """
    from PIL import Image

    if grayscale is True:
        warnings.warn('grayscale is deprecated. Please use color_mode = "grayscale"', stacklevel=2)
        color_mode = "grayscale"
    with open(path, "rb") as f:
        img = Image.open(io.BytesIO(f.read()))
        if color_mode == "grayscale":
            if img.mode not in ("L", "I;16", "I"):
                img = img.convert("L")
        elif color_mode == "rgba":
            if img.mode != "RGBA":
                img = img.convert("RGBA")
        elif color_mode == "rgb":
            if img.mode != "RGB":
                img = img.convert("RGB")
        else:
            raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
        if target_size is not None:
            size = (int(target_size[1]), int(target_size[0]))
            if img.size != size:
                box = crop_box(img.size, size) if keep_aspect_ratio else None
                img = img.resize(size, _resample(interpolation), box=box)
        return img


def crop_box(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """tf.keras' keep_aspect_ratio box: the centred crop of (w, h) `size` with target's aspect."""
    width, height = size
    target_w, target_h = target
    crop_h = min(height, (width * target_h) // target_w)
    crop_w = min(width, (height * target_w) // target_h)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return (left, top, left + crop_w, top + crop_h)


def img_to_array(
    img: Any, data_format: str = "channels_last", dtype: str = "float32"
) -> np.ndarray:
    """A PIL image as a (H, W, C) (or (C, H, W)) array of `dtype`."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"Unknown data_format: {data_format}")
    x = np.asarray(img, dtype=dtype)
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x.reshape((1, *x.shape) if data_format == "channels_first" else (*x.shape, 1))
    else:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def array_to_img(
    x: Any, data_format: str = "channels_last", scale: bool = True, dtype: str = "float32"
) -> Any:
    """A rank-3 array as a PIL image; `scale` maps its min..max to 0..255 as Keras does."""
    from PIL import Image

    x = np.asarray(x, dtype=dtype)
    if x.ndim != 3:
        raise ValueError(
            f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}"
        )
    if data_format not in DATA_FORMATS:
        raise ValueError(f"Invalid data_format: {data_format}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def validate_filename(filename: str, white_list_formats: tuple[str, ...]) -> bool:
    """Whether `filename` ends (in any case) with one of `white_list_formats` and is a file."""
    return filename.lower().endswith(white_list_formats) and os.path.isfile(filename)


def list_pictures(
    directory: str | os.PathLike,
    ext: str | tuple[str, ...] = ("jpg", "jpeg", "bmp", "png", "ppm", "tif", "tiff"),
) -> list[str]:
    """Paths of the files under `directory` (recursively) whose names end in `.ext`, any case.

    In `os.walk` order, unsorted, as keras-preprocessing 1.1.2.
    """
    suffixes = tuple(f".{e}" for e in ((ext,) if isinstance(ext, str) else ext))
    return [
        os.path.join(root, f)
        for root, _, files in os.walk(directory)
        for f in files
        if f.lower().endswith(suffixes)
    ]


def save_img(
    path: str | os.PathLike,
    x: Any,
    data_format: str = "channels_last",
    file_format: str | None = None,
    scale: bool = True,
    **kwargs: Any,
) -> None:
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format in ("jpg", "jpeg"):
        warnings.warn(
            "The JPG format does not support RGBA images, converting to RGB.", stacklevel=2
        )
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)
