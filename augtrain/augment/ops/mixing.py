"""Label-mixing ops: mixup and CutMix (`mixes_labels`: they need one-hot targets)."""

from __future__ import annotations

from typing import Any

import torch

from ...errors import AugtrainError
from .. import functional as F
from .. import sampling
from ..pipeline import Op
from ..random import Draw
from .checks import check_nonnegative, check_probability
from .compose import register_op


class _Mix(Op):
    """Shared by MixUp and CutMix: each sample is mixed with the sample at the mirrored
    position of the batch (images.flip(0)); the weight is drawn per sample."""

    mixes_labels = True

    def __init__(self, alpha: float, p: float) -> None:
        self.alpha = check_nonnegative("alpha", alpha)
        if self.alpha == 0:
            raise AugtrainError(f"{type(self).__name__.lower()} alpha must be > 0")
        self.p = check_probability("p", p)

    def forward(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        raise AugtrainError(f"{type(self).__name__} mixes labels: the pipeline needs targets")

    def _lam(self, draw: Draw) -> torch.Tensor:
        lam = sampling.beta(draw, self.alpha, self.alpha)
        on = draw.bernoulli(self.p)
        return torch.where(on, lam, torch.ones_like(lam))

    @staticmethod
    def _partner(images: torch.Tensor) -> torch.Tensor:
        return torch.arange(images.shape[0] - 1, -1, -1, device=images.device)

    @staticmethod
    def _mix_targets(targets: torch.Tensor, lam: torch.Tensor, partner: torch.Tensor):
        t = targets.to(torch.float32)
        lt = lam.view(-1, *([1] * (t.ndim - 1)))
        return lt * t + (1 - lt) * t[partner]


@register_op
class MixUp(_Mix):
    """mixup (Zhang et al. 2018): x = lam x_i + (1 - lam) x_j, same for the one-hot targets;
    lam ~ Beta(alpha, alpha) per sample, applied with probability p."""

    def __init__(self, alpha: float = 0.2, p: float = 1.0) -> None:
        super().__init__(alpha, p)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        return {"lam": self._lam(draw)}

    def apply_mix(self, images: torch.Tensor, targets: torch.Tensor, params: dict[str, Any]):
        lam = params["lam"]
        partner = self._partner(images)
        return F.mix(images, partner, lam), self._mix_targets(targets, lam, partner)


@register_op
class CutMix(_Mix):
    """CutMix (Yun et al. 2019): paste a box of the partner image covering a fraction
    1 - lam (lam ~ Beta(alpha, alpha)), box clipped to the image; targets mixed by the
    pasted area actually covered."""

    def __init__(self, alpha: float = 1.0, p: float = 1.0) -> None:
        super().__init__(alpha, p)

    def params(self, draw: Draw, shape: tuple[int, ...]) -> dict[str, Any]:
        h, w = shape[-2:]
        lam = self._lam(draw)
        r = torch.sqrt(1 - lam)
        ch, cw = (h * r).long(), (w * r).long()
        cy, cx = draw.randint(0, h), draw.randint(0, w)
        return {
            "y0": (cy - ch // 2).clamp(0, h),
            "y1": (cy + ch // 2).clamp(0, h),
            "x0": (cx - cw // 2).clamp(0, w),
            "x1": (cx + cw // 2).clamp(0, w),
        }

    def apply_mix(self, images: torch.Tensor, targets: torch.Tensor, params: dict[str, Any]):
        _, _, h, w = images.shape
        y0, y1, x0, x1 = (params[k] for k in ("y0", "y1", "x0", "x1"))
        mask = F.box_mask(h, w, y0, x0, y1 - y0, x1 - x0)
        partner = self._partner(images)
        out = torch.where(mask, images[partner], images)
        lam_eff = 1 - ((y1 - y0) * (x1 - x0)).to(torch.float32) / (h * w)
        return out, self._mix_targets(targets, lam_eff, partner)
