"""Augmentation settings (the values of the CLI's Keras-named flags) -> ops.

    ops_from_settings({"rotation_range": 10, "horizontal_flip": True, "cutout": 16})

Keras' ImageDataGenerator arguments (rotation, shifts, shear, zoom, flips, fill mode,
channel shift, brightness) become one op, `ops.keras_transform`'s: the op whose pixels
are the generator's for the same values and keyed draws. The others follow in a fixed
order: colour, noise, policies, erasing, then label mixing. Plain values in, ops out:
the argparse side is `augtrain.commands._augment_flags`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import AugtrainError
from .functional import KERAS_FILL_MODES
from .ops.checks import check_zoom
from .ops.color import ColorJitter, GaussianNoise, RandomGrayscale
from .ops.erasing import Cutout, RandomErasing
from .ops.geometry import RandomResizedCrop, keras_transform
from .ops.mixing import CutMix, MixUp
from .ops.policies import AutoAugment, RandAugment, TrivialAugmentWide
from .pipeline import Op
from .presets import PRESETS

# ImageDataGenerator's arguments, as `keras_transform` names them ("interpolation" is
# the CLI's --warp-interpolation)
KERAS_SETTINGS = (
    "rotation_range",
    "width_shift_range",
    "height_shift_range",
    "shear_range",
    "zoom_range",
    "horizontal_flip",
    "vertical_flip",
    "fill_mode",
    "cval",
    "interpolation",
    "brightness_range",
    "channel_shift_range",
)
# the settings that make the Keras transform do something (fill_mode / cval alone do not)
KERAS_ACTIVE = tuple(n for n in KERAS_SETTINGS if n not in ("fill_mode", "cval", "interpolation"))
SETTINGS = (
    "random_resized_crop",
    *KERAS_SETTINGS,
    "color_jitter",
    "grayscale",
    "gaussian_noise",
    "trivial_augment",
    "rand_augment",
    "auto_augment",
    "cutout",
    "random_erasing",
    "mixup",
    "cutmix",
)


def _plain(name: str) -> str:
    return name


def _off(value: Any) -> bool:
    """A setting that asks for nothing: absent, False, zero, or all zeros."""
    if value is None or value is False:
        return True
    if isinstance(value, (list, tuple)):
        return all(v == 0 for v in value)
    return value == 0


def keras_settings(values: Mapping[str, Any], label: Callable[[str], str] = _plain) -> dict:
    """The Keras-named values, checked, as `keras_transform`'s arguments (absent ones
    left out). `label(name)` is how errors name a setting (the CLI: its flag)."""
    get = values.get
    out: dict[str, Any] = {}
    for name in ("rotation_range", "shear_range", "channel_shift_range"):
        if get(name) is not None:
            if get(name) < 0:
                raise AugtrainError(f"{label(name)} {get(name)} must be >= 0")
            out[name] = get(name)
    for name in ("width_shift_range", "height_shift_range"):
        v = get(name)
        if v is not None:
            if not isinstance(v, list) and v < 0:
                raise AugtrainError(f"{label(name)} {v} must be >= 0")
            out[name] = v
    if get("zoom_range") is not None:
        z = get("zoom_range")
        z = list(z) if isinstance(z, (list, tuple)) else [z]
        if len(z) > 2:
            raise AugtrainError(
                f"{label('zoom_range')} takes one value or a pair LOWER UPPER, got {len(z)}"
            )
        zr = z[0] if len(z) == 1 else z
        try:
            check_zoom("zoom_range", zr)
        except AugtrainError as e:
            raise AugtrainError(f"{label('zoom_range')} {' '.join(map(str, z))}: {e}") from None
        out["zoom_range"] = zr
    if get("fill_mode") is not None:
        if get("fill_mode") not in KERAS_FILL_MODES:
            raise AugtrainError(
                f"{label('fill_mode')} {get('fill_mode')!r} is not one of "
                f"{', '.join(KERAS_FILL_MODES)}"
            )
        out["fill_mode"] = get("fill_mode")
    if get("cval") is not None:
        out["cval"] = get("cval")
    if get("interpolation") is not None:
        if get("interpolation") not in ("bilinear", "nearest"):
            raise AugtrainError(
                f"{label('interpolation')} {get('interpolation')!r} is not bilinear or nearest"
            )
        out["interpolation"] = get("interpolation")
    if get("brightness_range") is not None:
        b = list(get("brightness_range"))
        if len(b) != 2:
            raise AugtrainError(
                f"{label('brightness_range')} takes a pair LOWER UPPER, got {' '.join(map(str, b))}"
            )
        if b[0] < 0 or b[0] > b[1]:
            raise AugtrainError(
                f"{label('brightness_range')} {b[0]} {b[1]}: need 0 <= LOWER <= UPPER"
            )
        out["brightness_range"] = b
    for name in ("horizontal_flip", "vertical_flip"):
        if get(name):
            out[name] = True
    return out


def ops_from_settings(values: Mapping[str, Any], label: Callable[[str], str] = _plain) -> list[Op]:
    """The ops the settings ask for (empty when none is given); see the module doc."""
    get = values.get
    out: list[Op] = []
    if get("random_resized_crop") is not None:
        low = get("random_resized_crop")
        if not 0 < low <= 1:
            raise AugtrainError(
                f"{label('random_resized_crop')} {low}: SCALE_MIN must lie in (0, 1]"
            )
        out.append(RandomResizedCrop(scale=(low, 1.0)))
    keras = keras_settings(values, label)
    if any(not _off(keras.get(name)) for name in KERAS_ACTIVE):
        out.append(keras_transform(**keras))

    def add(name: str, cls: type[Op], *args: Any) -> None:
        """Append cls(*args); an error in its parameters names the setting."""
        try:
            out.append(cls(*args))
        except AugtrainError as e:
            raise AugtrainError(f"{label(name)}: {e}") from None

    if get("color_jitter") is not None:
        cj = list(get("color_jitter"))
        if len(cj) > 4 or any(v < 0 for v in cj):
            raise AugtrainError(
                f"{label('color_jitter')} takes up to four values >= 0: "
                "BRIGHTNESS CONTRAST SATURATION HUE"
            )
        add("color_jitter", ColorJitter, *cj)
    for name, cls in (("grayscale", RandomGrayscale), ("gaussian_noise", GaussianNoise)):
        if get(name) is not None:
            add(name, cls, get(name))
    if get("trivial_augment"):
        out.append(TrivialAugmentWide())
    if get("rand_augment") is not None:
        nm = list(get("rand_augment"))
        if len(nm) not in (0, 2):
            raise AugtrainError(
                f"{label('rand_augment')} takes no values or two, N M, got {' '.join(map(str, nm))}"
            )
        add("rand_augment", RandAugment, *nm)
    if get("auto_augment") is not None:
        add("auto_augment", AutoAugment, get("auto_augment"))
    for name, cls in (
        ("cutout", Cutout),
        ("random_erasing", RandomErasing),
        ("mixup", MixUp),
        ("cutmix", CutMix),
    ):
        if get(name) is not None:
            add(name, cls, get(name))
    return out


def augment_config(
    preset_name: str | None,
    values: Mapping[str, Any],
    label: Callable[[str], str] = _plain,
) -> str | list[dict[str, Any]] | None:
    """The `augment` config value: the preset's name when no other setting is given
    (None: keep the default), else the op list, after the preset's ops when one is named."""
    if preset_name is not None and preset_name not in PRESETS:
        raise AugtrainError(
            f"unknown {label('augment')} preset {preset_name!r}; choose from {', '.join(PRESETS)}"
        )
    given = [n for n in SETTINGS if values.get(n) is not None and values.get(n) is not False]
    if not given:
        return preset_name
    extra = ops_from_settings(values, label)
    base = PRESETS[preset_name]() if preset_name is not None else []
    return [op.config() for op in [*base, *extra]]
