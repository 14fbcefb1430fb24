"""The automatic augmentation policies: TrivialAugmentWide, RandAugment, AutoAugment.

They share one op vocabulary and one batched applier (`apply_augment_ops`); `params`
draws each sample's (op, magnitude) per step (`plan`), `apply` runs the steps.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import AugtrainError
from .. import functional as F
from .. import geometry
from ..pipeline import Op
from ..random import Draw
from .checks import check_choice, levels, number
from .compose import register_op

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
            images[geo], m, mode="constant", cval=levels(images, fill), interpolation=interpolation
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
        self.fill = number("fill", fill)
        self.interpolation = check_choice("interpolation", interpolation, geometry.INTERPOLATIONS)

    def plan(self, draw: Draw, size: tuple[int, int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per step, (B,) op indices into AUGMENT_OPS and (B,) signed magnitudes."""
        raise NotImplementedError

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"steps": self.plan(draw, tuple(shape[-2:]))}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        for op, magnitude in params["steps"]:
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
