"""The names users know from Keras preprocessing layers, Gluon transforms and torchvision's
automatic augmentation policies, mapped onto augtrain's ops.

    from augtrain.augment.aliases import keras, gluon, torchvision
    Compose([keras.RandomFlip("horizontal_and_vertical"), keras.RandomRotation(0.1)])
    gluon.Compose([gluon.RandomFlipLeftRight(), gluon.RandomColorJitter(0.4, 0.4, 0.4, 0.1)])
    Compose([torchvision.AutoAugment(torchvision.AutoAugmentPolicy.CIFAR10)])

Each name is a factory returning one of augtrain's own ops (`ops.py`), so the
pipeline's `config()` records the canonical op and `build_pipeline` rebuilds it.
They are also registered in `OPS` as "keras.NAME" / "gluon.NAME" /
"torchvision.NAME", so a config
entry {"op": "keras.RandomRotation", "factor": 0.1} builds too.

Keras layers keep their argument meanings: factors are fractions (of a full
turn for RandomRotation, of the size for RandomTranslation, of 1 for RandomZoom
and RandomContrast, of the 0..255 value range for RandomBrightness); fill_mode
defaults to 'reflect' and rotates about the true image centre. Gluon sizes are
(width, height), as in mxnet.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ..errors import AugtrainError
from . import ops
from .ops.checks import (
    brightness_factor,
    contrast_factor,
    factor_range,
    translation_factor,
    zoom_factor,
)
from .ops.compose import OPS
from .pipeline import Compose, Op


# ------------------------------------------------------------------- Keras
def keras_random_flip(mode: str = "horizontal_and_vertical", seed: int | None = None) -> Op:
    """keras.layers.RandomFlip."""
    return ops.RandomFlip(mode=mode)


def keras_random_rotation(
    factor: Any,
    fill_mode: str = "reflect",
    interpolation: str = "bilinear",
    seed: int | None = None,
    fill_value: float = 0.0,
) -> Op:
    """keras.layers.RandomRotation: factor as a fraction of a full turn (0.1 = +-36 degrees),
    positive counter-clockwise (RandomAffine's degrees turn clockwise)."""
    lo, hi = factor_range("RandomRotation factor", factor)
    return ops.RandomAffine(
        rotation_range=[-hi * 360.0, -lo * 360.0],
        fill_mode=fill_mode,
        cval=fill_value,
        interpolation=interpolation,
    )


def keras_random_translation(
    height_factor: Any,
    width_factor: Any,
    fill_mode: str = "reflect",
    interpolation: str = "bilinear",
    seed: int | None = None,
    fill_value: float = 0.0,
) -> Op:
    """keras.layers.RandomTranslation: fractions of the size; positive moves down / right."""
    return ops.RandomAffine(
        height_translation=translation_factor("RandomTranslation height_factor", height_factor),
        width_translation=translation_factor("RandomTranslation width_factor", width_factor),
        fill_mode=fill_mode,
        cval=fill_value,
        interpolation=interpolation,
    )


def keras_random_zoom(
    height_factor: Any,
    width_factor: Any = None,
    fill_mode: str = "reflect",
    interpolation: str = "bilinear",
    seed: int | None = None,
    fill_value: float = 0.0,
) -> Op:
    """keras.layers.RandomZoom: zoom 1 + U(lo, hi), positive zooms out; without
    width_factor the aspect ratio is kept."""
    lo, hi = zoom_factor("RandomZoom height_factor", height_factor)
    kwargs: dict[str, Any] = {"zoom_range": [1 + lo, 1 + hi]}
    if width_factor is None:
        kwargs["zoom_keep_aspect"] = True
    else:
        wlo, whi = zoom_factor("RandomZoom width_factor", width_factor)
        kwargs["width_zoom_range"] = [1 + wlo, 1 + whi]
    return ops.RandomAffine(
        fill_mode=fill_mode, cval=fill_value, interpolation=interpolation, **kwargs
    )


def keras_random_contrast(factor: Any, seed: int | None = None) -> Op:
    """keras.layers.RandomContrast: factor uniform in [1 - lower, 1 + upper], per-channel mean."""
    lo, hi = contrast_factor(factor)
    return ops.ContrastRange([1 - lo, 1 + hi], per_channel=True)


def keras_random_brightness(factor: Any, value_range=(0, 255), seed: int | None = None) -> Op:
    """keras.layers.RandomBrightness: add U(lo, hi) of the value range, clipped."""
    lo, hi = brightness_factor(factor)
    return ops.BrightnessRange([lo, hi], additive=True)


def keras_random_crop(height: int, width: int, seed: int | None = None) -> Op:
    """keras.layers.RandomCrop: a random height x width window (no padding)."""
    return ops.RandomCrop(size=[int(height), int(width)], padding=0)


# ------------------------------------------------------------------- Gluon
def _gluon_size(size: Any) -> list[int]:
    """Gluon sizes are (width, height); ours (height, width)."""
    if isinstance(size, int):
        return [size, size]
    w, h = size
    return [int(h), int(w)]


def gluon_flip_left_right() -> Op:
    """gluon.data.vision.transforms.RandomFlipLeftRight."""
    return ops.RandomHorizontalFlip(0.5)


def gluon_flip_top_bottom() -> Op:
    """gluon.data.vision.transforms.RandomFlipTopBottom."""
    return ops.RandomVerticalFlip(0.5)


def gluon_random_resized_crop(
    size: Any, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation: int = 1
) -> Op:
    """gluon RandomResizedCrop: size (width, height); interpolation 0 nearest, else bilinear."""
    return ops.RandomResizedCrop(
        size=_gluon_size(size),
        scale=list(scale),
        ratio=list(ratio),
        interpolation="nearest" if interpolation == 0 else "bilinear",
    )


def gluon_random_brightness(brightness: float) -> Op:
    """gluon RandomBrightness: multiply by 1 + U(-brightness, brightness)."""
    b = ops.check_nonnegative("brightness", brightness)
    return ops.ColorJitter(brightness=b)


def gluon_random_contrast(contrast: float) -> Op:
    return ops.ColorJitter(contrast=ops.check_nonnegative("contrast", contrast))


def gluon_random_saturation(saturation: float) -> Op:
    return ops.ColorJitter(saturation=ops.check_nonnegative("saturation", saturation))


def gluon_random_hue(hue: float) -> Op:
    """gluon RandomHue: YIQ hue rotation by U(-hue, hue) of a half turn."""
    return ops.ColorJitter(hue=ops.check_nonnegative("hue", hue))


def gluon_random_color_jitter(
    brightness: float = 0, contrast: float = 0, saturation: float = 0, hue: float = 0
) -> Op:
    """gluon RandomColorJitter: the four in a random order per sample."""
    return ops.ColorJitter(brightness, contrast, saturation, hue)


def gluon_resize(size: Any, keep_ratio: bool = False, interpolation: int = 1) -> Op:
    return ops.Resize(_gluon_size(size), "nearest" if interpolation == 0 else "bilinear")


def gluon_center_crop(size: Any, interpolation: int = 1) -> Op:
    return ops.CenterCrop(_gluon_size(size))


def gluon_compose(transforms: list[Op], seed: int = 0) -> Compose:
    return Compose(list(transforms), seed=seed)


# ------------------------------------------------------------- torchvision
def _tv_name(value: Any) -> str:
    """torchvision enums (InterpolationMode, AutoAugmentPolicy) or their plain values."""
    return str(getattr(value, "value", value)).lower()


def _tv_fill(fill: Any) -> float:
    """torchvision's fill: None (black), a number, or one per channel (all equal here)."""
    if fill is None:
        return 0.0
    if isinstance(fill, (list, tuple)):
        if len(set(fill)) != 1:
            raise AugtrainError(f"fill={list(fill)!r}: one fill value for all channels only")
        fill = fill[0]
    return ops.check_nonnegative("fill", fill)


def tv_trivial_augment_wide(
    num_magnitude_bins: int = 31, interpolation: Any = "nearest", fill: Any = None
) -> Op:
    """torchvision.transforms.TrivialAugmentWide."""
    return ops.TrivialAugmentWide(num_magnitude_bins, _tv_fill(fill), _tv_name(interpolation))


def tv_rand_augment(
    num_ops: int = 2,
    magnitude: int = 9,
    num_magnitude_bins: int = 31,
    interpolation: Any = "nearest",
    fill: Any = None,
) -> Op:
    """torchvision.transforms.RandAugment."""
    return ops.RandAugment(
        num_ops, magnitude, num_magnitude_bins, _tv_fill(fill), _tv_name(interpolation)
    )


def tv_auto_augment(
    policy: Any = "imagenet", interpolation: Any = "nearest", fill: Any = None
) -> Op:
    """torchvision.transforms.AutoAugment: policy an AutoAugmentPolicy or its value."""
    return ops.AutoAugment(_tv_name(policy), _tv_fill(fill), _tv_name(interpolation))


keras = SimpleNamespace(
    RandomFlip=keras_random_flip,
    RandomRotation=keras_random_rotation,
    RandomTranslation=keras_random_translation,
    RandomZoom=keras_random_zoom,
    RandomContrast=keras_random_contrast,
    RandomBrightness=keras_random_brightness,
    RandomCrop=keras_random_crop,
)

gluon = SimpleNamespace(
    RandomFlipLeftRight=gluon_flip_left_right,
    RandomFlipTopBottom=gluon_flip_top_bottom,
    RandomResizedCrop=gluon_random_resized_crop,
    RandomBrightness=gluon_random_brightness,
    RandomContrast=gluon_random_contrast,
    RandomSaturation=gluon_random_saturation,
    RandomHue=gluon_random_hue,
    RandomColorJitter=gluon_random_color_jitter,
    Resize=gluon_resize,
    CenterCrop=gluon_center_crop,
    Compose=gluon_compose,
)

torchvision = SimpleNamespace(
    TrivialAugmentWide=tv_trivial_augment_wide,
    RandAugment=tv_rand_augment,
    AutoAugment=tv_auto_augment,
    AutoAugmentPolicy=SimpleNamespace(IMAGENET="imagenet", CIFAR10="cifar10", SVHN="svhn"),
)

for _space, _names in (("keras", keras), ("gluon", gluon), ("torchvision", torchvision)):
    for _name, _factory in vars(_names).items():
        if _name not in ("Compose", "AutoAugmentPolicy"):
            OPS[f"{_space}.{_name}"] = _factory  # type: ignore[assignment]
