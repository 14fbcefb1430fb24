"""Distributions beyond the uniform, drawn from a keyed `Draw` (no generator state).

    normal(draw, *shape)          Box-Muller
    gamma(draw, shape_k, *shape)  Marsaglia-Tsang with a fixed number of keyed tries
    beta(draw, a, b, *shape)      X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b)

All return float32 tensors of shape (B, *shape) on the Draw's device.
"""

from __future__ import annotations

import math

import torch

from .random import Draw

_TRIES = 12  # Marsaglia-Tsang accepts > 95% per try: all 12 fail with probability < 1e-15


def normal(draw: Draw, *shape: int) -> torch.Tensor:
    """Standard normal samples (Box-Muller on two keyed uniforms)."""
    u1 = draw.uniform(0.0, 1.0, *shape)
    u2 = draw.uniform(0.0, 1.0, *shape)
    r = torch.sqrt(-2.0 * torch.log1p(-u1))  # 1 - u1 in (0, 1]: no log(0)
    return r * torch.cos(2 * math.pi * u2)


def gamma(draw: Draw, k: float, *shape: int) -> torch.Tensor:
    """Gamma(k, 1) samples, k > 0."""
    if k <= 0:
        raise ValueError(f"gamma shape {k} must be > 0")
    boost = None
    if k < 1:  # Gamma(k) = Gamma(k + 1) * U^(1/k)
        boost = draw.uniform(0.0, 1.0, *shape).clamp_min(1e-30) ** (1.0 / k)
        k = k + 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    z = normal(draw, *shape, _TRIES)
    u = draw.uniform(0.0, 1.0, *shape, _TRIES).clamp_min(1e-30)
    v = (1 + c * z) ** 3
    ok = (v > 0) & (torch.log(u) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-30)))
    first = torch.where(ok, torch.arange(_TRIES, device=z.device), _TRIES).amin(-1, keepdim=True)
    pick = first.clamp_max(_TRIES - 1)
    sample = d * v.gather(-1, pick).squeeze(-1)
    sample = torch.where(first.squeeze(-1) < _TRIES, sample, torch.full_like(sample, d))
    return sample * boost if boost is not None else sample


def beta(draw: Draw, a: float, b: float, *shape: int) -> torch.Tensor:
    """Beta(a, b) samples."""
    x = gamma(draw, a, *shape)
    y = gamma(draw, b, *shape)
    return x / (x + y).clamp_min(1e-30)
