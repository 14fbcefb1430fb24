"""Augmentation ops: thin classes that hold ranges, draw params, call `functional`.

Every op is registered by class name, so a pipeline recorded in config.json
(`Compose.config()`) can be rebuilt with `build_pipeline`.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import AugtrainError
from . import functional as F
from .pipeline import Compose, Op
from .random import Draw

OPS: dict[str, type[Op]] = {}


def register_op(cls: type[Op]) -> type[Op]:
    OPS[cls.__name__] = cls
    return cls


def build_pipeline(config: list[dict[str, Any]], seed: int = 0) -> Compose:
    """Rebuild a Compose from its `config()` list."""
    ops = []
    for entry in config:
        entry = dict(entry)
        name = entry.pop("op")
        if name not in OPS:
            raise AugtrainError(f"unknown augmentation op {name!r} in configuration")
        ops.append(OPS[name](**entry))
    return Compose(ops, seed=seed)


@register_op
class RandomHorizontalFlip(Op):
    """Mirror left-right with probability p (Gluon RandomFlipLeftRight)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise AugtrainError(f"flip probability p={p} must lie in [0, 1]")
        self.p = p

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.hflip(images, draw.bernoulli(self.p))


@register_op
class RandomVerticalFlip(Op):
    """Mirror top-bottom with probability p (Gluon RandomFlipTopBottom)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise AugtrainError(f"flip probability p={p} must lie in [0, 1]")
        self.p = p

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        return F.vflip(images, draw.bernoulli(self.p))


@register_op
class RandomCrop(Op):
    """Pad by `padding` then crop `size` at a random whole-pixel position (the CIFAR recipe).

    `padding_mode` takes torchvision's names: constant, edge, reflect (edge not
    repeated), symmetric. `size` defaults to the input size. With `flip=True` a
    horizontal flip with probability 0.5 is folded into the same gather.
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        padding: int = 4,
        padding_mode: str = "reflect",
        fill: float = 0.0,
        flip: bool = False,
    ) -> None:
        if padding < 0:
            raise AugtrainError(f"padding={padding} must be >= 0")
        if padding_mode not in F.PADDING_MODES:
            raise AugtrainError(
                f"unknown padding_mode {padding_mode!r}; expected one of {', '.join(F.PADDING_MODES)}"
            )
        self.size = size if size is None or isinstance(size, int) else tuple(size)
        self.padding = padding
        self.padding_mode = padding_mode
        self.fill = fill
        self.flip = flip

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        h, w = images.shape[-2:]
        out_h, out_w = (h, w) if self.size is None else _pair(self.size)
        p = self.padding
        if out_h > h + 2 * p or out_w > w + 2 * p:
            raise AugtrainError(
                f"crop size {(out_h, out_w)} exceeds padded image {(h + 2 * p, w + 2 * p)}"
            )
        top = draw.randint(0, h + 2 * p - out_h + 1) - p
        left = draw.randint(0, w + 2 * p - out_w + 1) - p
        flip = draw.bernoulli(0.5) if self.flip else None
        mode = F.PADDING_MODES[self.padding_mode]
        return F.gather_crop(
            images, top, left, out_h, out_w, flip_h=flip, mode=mode, fill=self.fill
        )


def _pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
