"""The one place the Keras front end calls the augmentation engine.

Drawing (Keras' distributions from a keyed Draw) and applying (the batched
warp, channel shift, flips, brightness) are `augtrain.augment.keras_compat`'s;
this module only passes an ImageDataGenerator's settings to them and converts
Keras' per-image parameter dicts.
"""

from __future__ import annotations

from typing import Any

import torch

from ..augment import keras_compat
from ..augment.random import Draw


def draw_params(gen: Any, draw: Draw, height: int, width: int) -> dict[str, Any]:
    return keras_compat.draw_transform(
        draw,
        (height, width),
        rotation_range=gen.rotation_range,
        width_shift_range=gen.width_shift_range,
        height_shift_range=gen.height_shift_range,
        shear_range=gen.shear_range,
        zoom_range=list(gen.zoom_range),
        channel_shift_range=gen.channel_shift_range,
        brightness_range=gen.brightness_range,
        horizontal_flip=gen.horizontal_flip,
        vertical_flip=gen.vertical_flip,
    )


def apply(gen: Any, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """Transform an NCHW batch by per-sample parameters (Keras' order of operations):
    float32 out, also for a uint8 batch (read as uint8, sampled as floats)."""
    return keras_compat.apply_transform(
        images,
        params,
        fill_mode=gen.fill_mode,
        cval=gen.cval,
        interpolation_order=gen.interpolation_order,
        float_output=True,
    )


def from_keras_dict(transform_parameters: dict[str, Any]) -> dict[str, Any]:
    """Keras' dict for one image -> the engine's params (scalars apply to the batch of one)."""
    return {k: v for k, v in transform_parameters.items() if k in keras_compat.PARAM_KEYS}
