"""Argument checks shared by the ops and their front ends: one meaning per argument.

Each raises AugtrainError with a one-line message naming the argument. The Keras
front end (`augtrain.keras.image`) reads the same values through `zoom_bounds`, and
only adds Keras' own error type and wording.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import AugtrainError


def number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AugtrainError(f"{name} must be a number, got {value!r}")
    return float(value)


def check_nonnegative(name: str, value: Any) -> float:
    v = number(name, value)
    if v < 0:
        raise AugtrainError(f"{name}={value} must be >= 0")
    return v


def check_probability(name: str, value: Any) -> float:
    v = number(name, value)
    if not 0.0 <= v <= 1.0:
        raise AugtrainError(f"{name}={value} must lie in [0, 1]")
    return v


def check_range(name: str, value: Any, symmetric_ok: bool = True) -> tuple[float, float]:
    """A scalar r >= 0 (meaning [-r, r]) or an ordered pair [lo, hi]."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise AugtrainError(f"{name} must be a number or a pair [lower, upper], got {value!r}")
        lo, hi = number(name, value[0]), number(name, value[1])
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
    lo, hi = number(name, value[0]), number(name, value[1])
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
            number(name, v)
        return list(value)
    check_nonnegative(name, value)
    return value


def zoom_bounds(value: Any, name: str = "zoom_range") -> tuple[float, float]:
    """Keras' zoom_range, what it means everywhere: a number z gives [1 - z, 1 + z], a pair
    [lo, hi] is taken as it is."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 1.0 - float(value), 1.0 + float(value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return float(value[0]), float(value[1])
    raise AugtrainError(f"{name} must be a float or a pair [lower, upper], got {value!r}")


def check_zoom(name: str, value: Any) -> tuple[float, float]:
    """`zoom_bounds`, held to zooms > 0 (what the augmentation ops accept): z in [0, 1), or
    a pair [lo, hi] with 0 < lo <= hi."""
    if isinstance(value, (list, tuple)):
        return check_pair(name, value, positive=True)
    z = check_nonnegative(name, value)
    if z >= 1:
        raise AugtrainError(
            f"{name}={value} would allow zoom {1 - z:g} (<= 0): use z < 1 or a pair"
        )
    return zoom_bounds(z, name)


def check_choice(name: str, value: Any, choices) -> str:
    if value not in choices:
        raise AugtrainError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")
    return value


def levels(images: torch.Tensor, value: float) -> float:
    """A value given in 0..255 pixel levels, in the images' own scale."""
    return value / 255.0 if images.is_floating_point() else value


def pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


# ----------------------------------------------- the Keras preprocessing layers' factors
def factor_range(name: str, factor: Any) -> tuple[float, float]:
    """A Keras layer's factor: a float f means [-|f|, |f|]; a pair (lower, upper) as given."""
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2:
            raise AugtrainError(
                f"`{name}` must be a float or a pair (lower, upper), got {factor!r}"
            )
        lo, hi = number(name, factor[0]), number(name, factor[1])
    else:
        f = abs(number(name, factor))
        lo, hi = -f, f
    if lo > hi:
        raise AugtrainError(f"`{name}` lower bound {lo} is above its upper bound {hi}")
    return lo, hi


def translation_factor(name: str, factor: Any) -> tuple[float, float]:
    """RandomTranslation's height_factor / width_factor: fractions of the size in [-1, 1]."""
    lo, hi = factor_range(name, factor)
    if abs(lo) > 1 or abs(hi) > 1:
        raise AugtrainError(f"`{name}` must have values between [-1, 1], got {factor!r}")
    return lo, hi


def zoom_factor(name: str, factor: Any) -> tuple[float, float]:
    """RandomZoom's factors: zoom 1 + U(lower, upper), so both >= -1 (Keras)."""
    lo, hi = factor_range(name, factor)
    if lo < -1:
        raise AugtrainError(f"`{name}` must have values larger than -1, got {factor!r}")
    return lo, hi


def contrast_factor(factor: Any) -> tuple[float, float]:
    """RandomContrast's factor: the factor is U(1 - lower, 1 + upper); a float f means f, f."""
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2:
            raise AugtrainError(
                f"`factor` must be a float or a pair (lower, upper), got {factor!r}"
            )
        lo, hi = number("factor", factor[0]), number("factor", factor[1])
    else:
        lo = hi = number("factor", factor)
    if lo < 0 or hi < 0 or lo > 1:
        raise AugtrainError(
            f"`factor` argument cannot have negative values or values greater than 1, "
            f"got {factor!r}"
        )
    return lo, hi


def brightness_factor(factor: Any) -> tuple[float, float]:
    """RandomBrightness's factor: a fraction of the value range added, in [-1, 1]."""
    lo, hi = factor_range("factor", factor)
    if abs(lo) > 1 or abs(hi) > 1:
        raise AugtrainError(
            f"The `factor` argument cannot have an absolute value greater than 1, got {factor!r}"
        )
    return lo, hi
