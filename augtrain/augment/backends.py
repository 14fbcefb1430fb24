"""Kernels registered per backend, chosen per batch (torchvision's `_register_kernel_internal`).

A public function (`functional.crop`, `geometry.warp`) checks its arguments, then runs
`kernel(name, images)(...)`: the kernel registered for the first backend, in order of
registration, that takes this batch. The torch kernels take every batch; the numba ones
(`cpu_kernels`) register themselves with the predicate `cpu_kernels.usable`, and come
first, so the functions themselves hold no `if numba ... else torch`.

A leaf module: it imports nothing of augtrain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

# backend name -> whether its kernels take a batch; checked in this order
_BACKENDS: dict[str, Callable[[torch.Tensor], bool]] = {}
# kernel name -> backend name -> function
_KERNELS: dict[str, dict[str, Callable[..., Any]]] = {}
FALLBACK = "torch"


def register_backend(name: str, takes: Callable[[torch.Tensor], bool]) -> None:
    """Declare a backend ahead of the torch fallback; `takes(images)` says when it runs."""
    _BACKENDS[name] = takes


def register_kernel(name: str, backend: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: `fn` is kernel `name` on `backend`."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _KERNELS.setdefault(name, {})[backend] = fn
        return fn

    return decorate


def backend_for(name: str, images: torch.Tensor) -> str:
    """The backend whose kernel `name` runs on this batch."""
    table = _KERNELS[name]
    for backend, takes in _BACKENDS.items():
        if backend in table and takes(images):
            return backend
    return FALLBACK


def kernel(name: str, images: torch.Tensor) -> Callable[..., Any]:
    """The function of kernel `name` for this batch."""
    return _KERNELS[name][backend_for(name, images)]
