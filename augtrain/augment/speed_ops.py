"""Augmentation of the speed-run recipes (`--preset speed`): alternating flips and
whole-pixel translation, in one gather on uint8.

Alternating flip (airbench, Keller Jordan 2024): instead of flipping each image
with probability 1/2 in every epoch, each image gets one random bit and is
flipped when that bit XOR the parity of the epoch is 1. Over any two consecutive
epochs every image is seen once mirrored and once not, which removes the
repeats that independent coin flips give in short runs (airbench reports a
gain at ~10 epochs). The bit is a hash of (seed, sample index),
so it is the same whatever batch the sample lands in, and epoch parity does the
rest: no state anywhere.

`FlipTranslate` folds the flip into the translation's gather (one index
operation per batch, exact on uint8), as `RandomCrop(flip=True)` does.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import AugtrainError
from . import functional as F
from .ops.compose import register_op
from .pipeline import Op
from .random import Draw

FLIP_MODES = ("none", "random", "alternating")


def alternating_flip_mask(draw: Draw) -> torch.Tensor:
    """True where sample `draw.index` is mirrored in `draw.epoch`: bit(seed, index) XOR odd epoch."""
    epoch = getattr(draw, "epoch", None)
    if epoch is None:
        raise AugtrainError("AlternatingFlip needs a Draw that records its epoch")
    # Epoch 0 and a fixed key: the per-sample bit must not change from epoch to epoch.
    bit = Draw(draw.seed, 0, draw.index, "alternating-flip").bernoulli(0.5)
    return bit ^ bool(epoch % 2)


def flip_mask(draw: Draw, mode: str) -> torch.Tensor | None:
    if mode == "alternating":
        return alternating_flip_mask(draw)
    if mode == "random":
        return draw.bernoulli(0.5)
    return None


@register_op
class AlternatingFlip(Op):
    """Mirror left-right each sample in every other epoch, starting from a random half."""

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"flip": alternating_flip_mask(draw)}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return F.hflip(images, params["flip"])


@register_op
class FlipTranslate(Op):
    """Shift each image by a whole number of pixels in [-pixels, pixels] in each direction
    (edges filled as `padding_mode`, torchvision's names), and mirror it left-right
    (`flip`: alternating, random, none); optionally cut out one `cutout` x `cutout`
    square filled with `cutout_fill` (airbench96).

    pixels=2 with padding_mode="reflect" is airbench's translate: reflect-pad by 2,
    random 32x32 crop.
    """

    def __init__(
        self,
        pixels: int = 2,
        flip: str = "alternating",
        padding_mode: str = "reflect",
        cutout: int = 0,
        cutout_fill: int = 128,
    ) -> None:
        if pixels < 0:
            raise AugtrainError(f"FlipTranslate pixels={pixels} must be >= 0")
        if flip not in FLIP_MODES:
            raise AugtrainError(f"FlipTranslate flip={flip!r}: choose {', '.join(FLIP_MODES)}")
        if padding_mode not in F.PADDING_MODES:
            raise AugtrainError(
                f"unknown padding_mode {padding_mode!r}; expected one of {', '.join(F.PADDING_MODES)}"
            )
        if cutout < 0:
            raise AugtrainError(f"FlipTranslate cutout={cutout} must be >= 0")
        self.pixels = int(pixels)
        self.flip = flip
        self.padding_mode = padding_mode
        self.cutout = int(cutout)
        # 128: mid-grey, close to the data mean, which is what airbench's cutout writes
        # (it fills 0 in normalised space; here the ops run on uint8 before normalisation).
        self.cutout_fill = cutout_fill

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        h, w = shape[-2:]
        p = self.pixels
        out: dict[str, Any] = {"flip": flip_mask(draw, self.flip), "top": None, "left": None}
        if p > 0:
            out["top"] = draw.randint(-p, p + 1)
            out["left"] = draw.randint(-p, p + 1)
        if self.cutout > 0:
            out["cutout"] = cutout_params(draw, h, w, self.cutout)
        return out

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        h, w = images.shape[-2:]
        flip = params["flip"]
        if params["top"] is not None:
            out = F.crop(
                images,
                params["top"],
                params["left"],
                h,
                w,
                flip_h=flip,
                mode=F.PADDING_MODES[self.padding_mode],
            )
        else:
            out = images if flip is None else F.hflip(images, flip)
        if self.cutout > 0:
            out = apply_cutout(out, params["cutout"], self.cutout, self.cutout_fill)
        return out


def cutout_params(draw: Draw, h: int, w: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners of one size x size square per image, wholly inside it."""
    sh, sw = min(size, h), min(size, w)
    return draw.randint(0, h - sh + 1)[:, None], draw.randint(0, w - sw + 1)[:, None]


def apply_cutout(
    images: torch.Tensor, corners: tuple[torch.Tensor, torch.Tensor], size: int, fill: float
) -> torch.Tensor:
    """The squares at `corners` (from `cutout_params`) set to `fill` (uint8 units)."""
    h, w = images.shape[-2:]
    sh, sw = min(size, h), min(size, w)
    top, left = (c.to(images.device) for c in corners)
    rows = torch.arange(h, device=images.device)[None]
    cols = torch.arange(w, device=images.device)[None]
    in_rows = (rows >= top) & (rows < top + sh)
    in_cols = (cols >= left) & (cols < left + sw)
    mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    if images.is_floating_point():
        fill = fill / 255.0  # fill is given in uint8 units
    return images.masked_fill(mask, fill)
