"""Erasing ops: Cutout and torchvision's RandomErasing."""

from __future__ import annotations

import math
from typing import Any

import torch

from ...errors import AugtrainError
from .. import functional as F
from ..pipeline import Op
from ..random import Draw
from .checks import check_pair, check_probability, levels, number
from .compose import register_op


@register_op
class Cutout(Op):
    """Cutout (DeVries & Taylor): a size x size square centred anywhere in the image
    (clipped at the borders), filled with `fill` levels, with probability p."""

    def __init__(self, size: int = 16, p: float = 1.0, fill: float = 0.0) -> None:
        if not isinstance(size, int) or size < 1:
            raise AugtrainError(f"Cutout size={size!r} must be a whole number of pixels >= 1")
        self.size = size
        self.p = check_probability("p", p)
        self.fill = number("fill", fill)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        h, w = shape[-2:]
        cy = draw.randint(0, h)
        cx = draw.randint(0, w)
        on = draw.bernoulli(self.p)
        size = torch.where(on, self.size, 0)
        return {"top": cy - self.size // 2, "left": cx - self.size // 2, "size": size}

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        h, w = images.shape[-2:]
        size = params["size"]
        mask = F.box_mask(h, w, params["top"], params["left"], size, size)
        return F.erase(images, mask, levels(images, self.fill))


@register_op
class RandomErasing(Op):
    """torchvision RandomErasing: with probability p, a box of area fraction in `scale` and
    aspect ratio in `ratio` (10 tries), filled with `value` levels or 'random' noise."""

    def __init__(
        self,
        p: float = 0.5,
        scale: list[float] = (0.02, 0.33),
        ratio: list[float] = (0.3, 3.3),
        value: float | str = 0.0,
    ) -> None:
        self.p = check_probability("p", p)
        self.scale = list(check_pair("scale", scale))
        self.ratio = list(check_pair("ratio", ratio, positive=True))
        if value != "random":
            number("value", value)
        self.value = value

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        b, c, h, w = shape[-4:]
        tries = 10
        area = h * w * draw.uniform(self.scale[0], self.scale[1], tries)
        ar = torch.exp(draw.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), tries))
        eh = torch.sqrt(area * ar).round()
        ew = torch.sqrt(area / ar).round()
        ok = (eh < h) & (ew < w) & (eh > 0) & (ew > 0)
        top = torch.floor(draw.uniform(0.0, 1.0, tries) * (h - eh + 1))
        left = torch.floor(draw.uniform(0.0, 1.0, tries) * (w - ew + 1))
        first = torch.where(ok, torch.arange(tries, device=ok.device), tries).amin(1, keepdim=True)
        pick = first.clamp_max(tries - 1)
        on = draw.bernoulli(self.p) & (first.squeeze(1) < tries)
        sel = lambda t: t.gather(1, pick).squeeze(1).long()  # noqa: E731
        zero = torch.zeros(b, dtype=torch.long, device=ok.device)
        noise = draw.uniform(0.0, 1.0, c, h, w) if self.value == "random" else None
        return {
            "top": sel(top),
            "left": sel(left),
            "height": torch.where(on, sel(eh), zero),
            "width": torch.where(on, sel(ew), zero),
            "noise": noise,
        }

    def apply(self, images: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        h, w = images.shape[-2:]
        p = params
        mask = F.box_mask(h, w, p["top"], p["left"], p["height"], p["width"])
        if p["noise"] is not None:
            value = p["noise"].to(images.device) * levels(images, 255.0)
        else:
            value = levels(images, float(self.value))
        return F.erase(images, mask, value)
