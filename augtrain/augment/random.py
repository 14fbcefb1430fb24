"""Counter-based randomness keyed by (seed, epoch, sample index, op).

Every random number augmentation uses is a hash of where it is used, computed
with integer tensor ops on the device. No generator state exists, so:
  - sample i in epoch e gets the same transform whatever the batch size, the
    number of GPUs, or the rank it lands on;
  - resume needs no saved augmentation state: (seed, epoch, position) is enough;
  - a preview of sample i in epoch e shows exactly what training saw.

The hash is Chris Wellons' `lowbias32` (a well-tested 32-bit integer mixer). It
runs on int64 tensors holding 32-bit values; multiplications are split into
16-bit halves so no intermediate leaves the exact int64 range.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch

from . import cpu_kernels

MASK32 = 0xFFFFFFFF


def _mul32(x: Any, c: int) -> Any:
    """(x * c) mod 2**32 for x in [0, 2**32), exact in int64 (products stay < 2**49)."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & MASK32


def hash32(x: Any) -> Any:
    """lowbias32 on an int64 tensor (or NumPy array) of 32-bit values."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash_ints(*values: int | str) -> int:
    """The same mixer on Python ints (strings go through crc32): a key for a stream."""
    h = 0x9E3779B9
    for v in values:
        v = zlib.crc32(v.encode()) if isinstance(v, str) else int(v) & MASK32
        h ^= v
        h ^= h >> 16
        h = (h * 0x7FEB352D) & MASK32
        h ^= h >> 15
        h = (h * 0x846CA68B) & MASK32
        h ^= h >> 16
    return h


def _as_tensor(array: Any) -> torch.Tensor:
    return torch.from_numpy(array) if isinstance(array, np.ndarray) else array


class Draw:
    """Per-sample random numbers for one op of one batch.

    `index` holds the dataset index of each sample in the batch. Each call
    (uniform, bernoulli, ...) opens a new stream, so an op that draws an angle
    then a shift gets independent numbers, and the same ones on every run.
    """

    def __init__(self, seed: int, epoch: int, index: torch.Tensor, op_key: int | str) -> None:
        self.key = hash_ints(seed, epoch, op_key)
        self.seed, self.epoch = seed, epoch  # read by speed_ops.AlternatingFlip
        self.index = index.to(torch.int64)
        self.calls = 0

    @property
    def batch_size(self) -> int:
        return self.index.numel()

    @property
    def device(self) -> torch.device:
        return self.index.device

    def bits(self, *shape: int) -> torch.Tensor:
        """Uniform 32-bit integers (int64 tensor) of shape (B, *shape)."""
        return _as_tensor(self.bits_array(*shape))

    def bits_array(self, *shape: int) -> Any:
        """`bits` as an array of `cpu_kernels.array_module(device)` (see `uniform_array`)."""
        n = 1
        for s in shape:
            n *= s
        stream = hash_ints(self.key, self.calls)
        self.calls += 1
        # operators only: on the CPU NumPy's int64 arrays give the same numbers, faster
        on_cpu = cpu_kernels.array_module(self.device) is np
        index = self.index.numpy() if on_cpu else self.index
        steps = np.arange(n) if on_cpu else torch.arange(n, device=self.device)
        counter = (index[:, None] * n + steps) & MASK32
        h = hash32(hash32(counter ^ stream) ^ hash_ints(stream, 1))
        return h.reshape(self.batch_size, *shape)

    def uniform(self, low: float = 0.0, high: float = 1.0, *shape: int) -> torch.Tensor:
        """Uniform floats in [low, high), shape (B, *shape), float32; 24 random bits each."""
        return _as_tensor(self.uniform_array(low, high, *shape))

    def uniform_array(self, low: float = 0.0, high: float = 1.0, *shape: int) -> Any:
        """`uniform` as an array of `cpu_kernels.array_module(device)`: a NumPy array on the
        CPU, for parameter math that stays in NumPy there (same numbers either way)."""
        bits = self.bits_array(*shape) >> 8
        if isinstance(bits, np.ndarray):
            u = bits.astype(np.float32) * np.float32(1.0 / (1 << 24))
        else:
            u = bits.to(torch.float32) * (1.0 / (1 << 24))
        return low + (high - low) * u

    def bernoulli(self, p: float = 0.5, *shape: int) -> torch.Tensor:
        """Booleans, True with probability p."""
        return self.uniform(0.0, 1.0, *shape) < p

    def randint(self, low: int, high: int, *shape: int) -> torch.Tensor:
        """Integers in [low, high) (int64); the modulo bias of 32 bits is negligible here."""
        return low + self.bits(*shape) % (high - low)

    def choice(self, values: torch.Tensor | list, *shape: int) -> torch.Tensor:
        """Elements of `values` chosen uniformly."""
        values = torch.as_tensor(values, device=self.device)
        return values[self.randint(0, len(values), *shape)]


def epoch_order(seed: int, epoch: int, n: int, shuffle: bool = True) -> torch.Tensor:
    """The order in which training samples are visited in `epoch` (CPU int64 tensor).

    Drawn on the CPU from a generator seeded by (seed, epoch), so every rank and
    every device computes the same permutation.
    """
    if not shuffle:
        return torch.arange(n)
    g = torch.Generator().manual_seed(hash_ints(seed, epoch, "order"))
    return torch.randperm(n, generator=g)
