"""Numba kernels for the CPU: the affine warp and the crop window, one pass, any layout.

Why a kernel of our own: on the CPU torch has no uint8 resampler. `grid_sample` needs
float, so a uint8 batch is cast (4x the bytes), sampled, rounded and cast back, and a
1024-image batch no longer fits the cache. These kernels read the source once and write
the output once, in the dtype and memory layout given (NCHW, or the NHWC batches
of the Keras front end viewed as NCHW); the warp's only float copy is of the one image
it is working on (a few KB, in the core's cache). Bilinear sampling is float32
arithmetic, a uint8 output rounded on the store.

They are the "numba" backend of the kernels "warp" (`geometry.warp`) and "crop"
(`functional.crop`), registered in `backends` to run where `usable` says so; the
torch kernels (the GPU's) run otherwise,
and the tests hold the two to the same outputs. Compiled on first use and cached
on disk by numba (`cache=True`), so only the first process ever pays the compile.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..device import emulating_accelerator
from .backends import register_backend, register_kernel

_kernels = None
_thread_limit: int | None = None  # None: as many threads as torch uses
# source values below which a call stays on the calling thread: a 128-image CIFAR batch
# (393k values) ran faster on TBB's two threads than on one, 32 images (98k) are too little
# work to share (BENCHMARKS.md: figures moved out of the code)
PARALLEL_MIN_VALUES = 1 << 18


@contextlib.contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """Run the kernels on at most n threads (1: the calling thread alone) inside the block.

    The training loop asks for 1. Between a model's ops torch's OpenMP workers spin on the
    other cores for a while; kernel threads started beside them fight them for the cores
    (LeNet-5 epochs on two kernel threads were slower than on one: BENCHMARKS.md)."""
    global _thread_limit
    previous, _thread_limit = _thread_limit, n
    try:
        yield
    finally:
        _thread_limit = previous


def array_module(device: torch.device | str) -> Any:
    """NumPy on the CPU, torch elsewhere: the module that per-sample parameter math (a few
    thousand numbers: hashes, matrices) runs in. On the CPU torch's per-op cost dominates
    such math (NumPy's is a fraction of it) and some of its ops wake its thread pool
    (see `one_torch_thread`); the code is the same for both (operators and the functions
    both modules name alike)."""
    cpu = torch.device(device).type == "cpu" and not emulating_accelerator()
    return np if cpu else torch


@contextlib.contextmanager
def one_torch_thread(device: torch.device | str) -> Iterator[None]:
    """Torch on one thread inside the block, on the CPU: for the per-sample parameter math
    (a few thousand numbers) before a kernel call.

    Some of torch's ops (cos, exp, where) hand even a 1024-number tensor to its OpenMP pool,
    whose workers then spin on the other cores for a while, where the kernel's threads
    want to run: a warp right after such math is slower than after the same math on one
    thread (BENCHMARKS.md). The thread count is the calling thread's own (OpenMP's), and
    setting it is cheap."""
    threads = torch.get_num_threads()
    if torch.device(device).type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def enabled() -> bool:
    """Whether the CPU kernels are used: numba importable, AUGTRAIN_CPU_KERNELS not 0 and the
    CPU not acting as an accelerator (AUGTRAIN_TEST_ACCELERATOR: the GPU's torch route)."""
    return (
        os.environ.get("AUGTRAIN_CPU_KERNELS", "1") != "0"
        and not emulating_accelerator()
        and _load() is not None
    )


def usable(images: torch.Tensor) -> bool:
    """True when the kernels take this batch: on the CPU, a dtype they know, no autograd."""
    return (
        images.device.type == "cpu"
        and images.dtype in (torch.uint8, torch.float32, torch.float64)
        and not images.requires_grad
        and enabled()
    )


register_backend("numba", usable)


def _load():
    global _kernels
    if _kernels is None:
        try:
            from . import numba_kernels as _kernels
        except ImportError:
            _kernels = False
    return _kernels or None


def _run(kernels: tuple, batch_arrays: list[np.ndarray], *args) -> None:
    """Run a (parallel, serial) kernel pair on as many threads as torch uses, or the limit.

    The serial one runs on the calling thread when that is one thread, when the batch is
    small (PARALLEL_MIN_VALUES), or without TBB."""
    import numba

    parallel, serial = kernels
    threads = max(1, min(_thread_limit or torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if threads == 1 or batch_arrays[0].size < PARALLEL_MIN_VALUES or not _load().PARALLEL:
        serial(*batch_arrays, *args)
        return
    try:
        numba.set_num_threads(threads)  # the first call starts numba's threading layer
        parallel(*batch_arrays, *args)
    except ValueError:  # numba could load no threading layer: serial from now on
        _load().PARALLEL = False
        serial(*batch_arrays, *args)


@register_kernel("warp", "numba")
def warp(
    images: torch.Tensor,
    m: torch.Tensor,
    out_h: int,
    out_w: int,
    mode: str,
    cval: float,
    interpolation: str,
    out_dtype: torch.dtype,
    channels_last: bool,
) -> torch.Tensor:
    """`geometry.warp` on the CPU: same arguments; the output NCHW-shaped, stored
    channels-last or contiguous (the kernel writes either layout directly)."""
    b, c = images.shape[:2]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    out = torch.empty((b, c, out_h, out_w), dtype=out_dtype, memory_format=layout)
    fill = min(max(float(cval), 0.0), 255.0) if out_dtype == torch.uint8 else float(cval)
    matrices = m.detach().to("cpu", torch.float64).contiguous().numpy()
    _run(
        _load().WARP,
        [_numpy(images), matrices, _numpy(out)],
        _load().MODES[mode],
        fill,
        interpolation == "bilinear",
        np.float32(0.5 if out_dtype == torch.uint8 else 0.0),
    )
    return out


@register_kernel("crop", "numba")
def crop(
    images: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    out_h: int,
    out_w: int,
    flip_h: torch.Tensor | None,
    flip_v: torch.Tensor | None,
    mode: str,
    fill: float,
    padding: tuple[int, int, int, int] | None = None,
) -> torch.Tensor:
    """`functional.crop` on the CPU: same arguments (`padding`, a hint of the torch
    kernel's, unused), output contiguous NCHW."""
    b, c = images.shape[:2]
    out = torch.empty((b, c, out_h, out_w), dtype=images.dtype)  # the kernel wants NCHW
    no_flip = torch.zeros(b, dtype=torch.bool)
    _run(
        _load().CROP,
        [
            _numpy(images.contiguous()),
            top.to("cpu", torch.int64).contiguous().numpy(),
            left.to("cpu", torch.int64).contiguous().numpy(),
            _numpy((no_flip if flip_h is None else flip_h.to("cpu", torch.bool)).contiguous()),
            _numpy((no_flip if flip_v is None else flip_v.to("cpu", torch.bool)).contiguous()),
            _numpy(out),
        ],
        _load().MODES[mode],
        float(fill),
    )
    return out


def _numpy(t: torch.Tensor) -> np.ndarray:
    # numba has no bool arrays from torch views, and needs ndarray
    return t.view(torch.uint8).numpy() if t.dtype == torch.bool else t.numpy()
