"""The numba code behind `cpu_kernels` (imported only through it: importing numba costs).

The warp takes NCHW-shaped arrays of any strides, the crop C-contiguous NCHW ones. Both
hand out runs of whole images per task (`task_images`), so that each task can prepare an
image once (the warp's float copy, the crop's column table) and use it for every row. Each
is compiled twice from the one source (bottom of the file): parallel, and serial for the
calling thread alone (small batches, and the training loop, where torch's OpenMP workers
hold the other cores).

The parallel compilations run on numba's TBB threading layer, the one that is both thread-
and fork-safe (its OpenMP layer is a second OpenMP runtime beside torch's, and numba then
terminates any process forked after it ran; its workqueue layer did not scale here). Without
the tbb package only the serial ones are used.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import os
import sys
from types import FunctionType

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

# the TBB runtime library's file name, as numba's TBB layer links to it
TBB_LIBRARY = {"win32": "tbb12.dll", "darwin": "libtbb.12.dylib"}.get(sys.platform, "libtbb.so.12")


def load_tbb() -> bool:
    """Whether the tbb package is installed; if so its library is loaded, so that numba's
    TBB layer finds it.

    numba's layer links to the library by file name, and the dynamic loader looks for it
    on its own path only. pip's tbb wheel puts it in the environment's lib folder, on that
    path in a system Python but not in a virtual environment, where every parallel call
    then failed. Loaded once by its full path, the name resolves to it."""
    try:
        dist = importlib.metadata.distribution("tbb")
    except importlib.metadata.PackageNotFoundError:
        return False
    for file in dist.files or ():
        if file.name == TBB_LIBRARY:
            with contextlib.suppress(OSError):  # a broken copy: numba's own search decides
                ctypes.CDLL(str(dist.locate_file(file)), mode=ctypes.RTLD_GLOBAL)
            break
    return True


PARALLEL = load_tbb()  # False also once a parallel call found no threading layer (cpu_kernels)
if PARALLEL and "NUMBA_THREADING_LAYER" not in os.environ:  # a user's explicit choice stands
    numba.config.THREADING_LAYER = "tbb"

# fill modes as the kernels number them (the names are geometry.WARP_FILL_MODES')
MODES = {"constant": 0, "nearest": 1, "reflect": 2, "mirror": 3, "wrap": 4, "scipy-wrap": 5}
CONSTANT, NEAREST, REFLECT, MIRROR, WRAP, SCIPY_WRAP = MODES.values()

EDGE_TOLERANCE = 1e-4  # scipy's 'constant': a sample a hair past the edge is inside
# the most tasks a kernel call is cut into: runs of whole images (more tasks than threads,
# so a slow core on a shared machine holds up little)
MAX_TASKS = 64


@njit(inline="always")
def task_images(task, tasks, batch):
    """The images of task `task` of `tasks`: a run of about batch / tasks of them."""
    return range(task * batch // tasks, (task + 1) * batch // tasks)


def float_plane(src, n):
    """An empty float copy for n values of src: float64 for float64 images, else float32
    (jitted below)."""
    return np.empty(n, np.float64 if src.dtype == np.float64 else np.float32)


@overload(float_plane, inline="always")
def _float_plane(src, n):
    if src.dtype == types.float64:
        return lambda src, n: np.empty(n, np.float64)
    return lambda src, n: np.empty(n, np.float32)


@njit(inline="always")
def map_index(i, n, mode):
    """An integer coordinate into [0, n) by fill mode (constant clamps: the caller fills)."""
    if 0 <= i < n:
        return i
    if mode == WRAP:
        return i % n
    if mode == REFLECT:  # half-sample symmetric: -1 -> 0
        k = i % (2 * n)
        return k if k < n else 2 * n - 1 - k
    if mode == MIRROR and n > 1:  # whole-sample symmetric: -1 -> 1
        period = 2 * n - 2
        k = i % period
        return k if k < n else period - k
    return min(max(i, 0), n - 1)  # nearest, constant, scipy-wrap (wrapped before)


@njit(inline="always")
def _blend(plane, out, b, ch, i, j, at, i00, i01, i10, i11, w00, w01, w10, w11, rounding):
    """One channel of a bilinear output pixel from its four weighted neighbours (plane
    offsets: the channel's `at` plus the pixel's i00..i11)."""
    out[b, ch, i, j] = (
        w00 * plane[np.uint64(at + i00)]
        + w01 * plane[np.uint64(at + i01)]
        + w10 * plane[np.uint64(at + i10)]
        + w11 * plane[np.uint64(at + i11)]
        + rounding
    )


def warp(src, m, out, mode, cval, bilinear, rounding):
    """out[b, :, i, j] = src[b, :] sampled at M_b @ (i, j, 1).

    Each image is first copied into a float plane (C-contiguous, channel after channel):
    a sample is then one float load at a 32-bit offset, where a uint8 source had cost a
    load, a conversion and a strided address (the kernel is faster for that).
    Coordinates and the four bilinear weights are float32, as torch's grid (near 4,000
    a coordinate is a few 1e-4 of a pixel off), made once per pixel for all channels;
    `rounding` is 0.5 for integer outputs (the store truncates) and 0 for float ones.
    """
    batch, channels, h, w = src.shape
    _, _, out_h, out_w = out.shape
    hw = h * w
    tol = np.float32(EDGE_TOLERANCE)
    one = np.float32(1.0)
    zero, last_r, last_c, w32 = np.int32(0), np.int32(h - 1), np.int32(w - 1), np.int32(w)
    period_r, period_c = np.float32(h - 1), np.float32(w - 1)  # float32: r stays float32
    tasks = min(batch, MAX_TASKS)
    for task in prange(tasks):
        plane = float_plane(src, channels * hw)
        for b in task_images(task, tasks, batch):
            for ch in range(channels):
                for r in range(h):
                    for c in range(w):
                        plane[np.uint64((ch * h + r) * w + c)] = src[b, ch, r, c]
            r_step, c_step = np.float32(m[b, 0, 1]), np.float32(m[b, 1, 1])
            for i in range(out_h):
                r_start = np.float32(m[b, 0, 0] * i + m[b, 0, 2])
                c_start = np.float32(m[b, 1, 0] * i + m[b, 1, 2])
                for j in range(out_w):
                    r = r_start + r_step * np.float32(j)
                    c = c_start + c_step * np.float32(j)
                    if mode == CONSTANT and (
                        r < -tol or r > last_r + tol or c < -tol or c > last_c + tol
                    ):
                        for ch in range(channels):
                            out[b, ch, i, j] = cval
                        continue
                    if mode == SCIPY_WRAP:  # scipy wraps the coordinate itself, period n - 1
                        if h > 1 and (r < 0 or r > last_r):
                            r = r % period_r
                        if w > 1 and (c < 0 or c > last_c):
                            c = c % period_c
                    if not bilinear:
                        at = map_index(int(np.floor(r + np.float32(0.5))), h, mode) * w
                        at += map_index(int(np.floor(c + np.float32(0.5))), w, mode)
                        for ch in range(channels):
                            out[b, ch, i, j] = plane[np.uint64(ch * hw + at)]
                        continue
                    rf, cf = np.floor(r), np.floor(c)
                    r0, c0 = np.int32(rf), np.int32(cf)
                    fr, fc = r - rf, c - cf
                    w00, w01 = (one - fr) * (one - fc), (one - fr) * fc
                    w10, w11 = fr * (one - fc), fr * fc
                    if zero <= r0 < last_r and zero <= c0 < last_c:
                        r1, c1 = r0 + 1, c0 + 1  # the common case: all four neighbours inside
                    else:
                        r1, c1 = map_index(r0 + 1, h, mode), map_index(c0 + 1, w, mode)
                        r0, c0 = map_index(r0, h, mode), map_index(c0, w, mode)
                    i00, i01 = np.int32(r0 * w32 + c0), np.int32(r0 * w32 + c1)
                    i10, i11 = np.int32(r1 * w32 + c0), np.int32(r1 * w32 + c1)
                    if channels == 3:  # RGB: a constant trip count, unrolled (faster)
                        for ch in range(3):
                            _blend(plane, out, b, ch, i, j, ch * hw, i00, i01, i10, i11,
                                   w00, w01, w10, w11, rounding)  # fmt: skip
                    else:
                        for ch in range(channels):
                            _blend(plane, out, b, ch, i, j, ch * hw, i00, i01, i10, i11,
                                   w00, w01, w10, w11, rounding)  # fmt: skip


def crop(src, top, left, flip_h, flip_v, out, mode, fill):
    """out[b] = the out_h x out_w window of src[b] at (top[b], left[b]), flipped where asked.

    C-contiguous arrays, addressed flat with unsigned offsets (no negative-index checks).
    Per image, the source column of each output column (flip and fill mode applied; -1
    for a constant fill) is worked out once into a small table; each output row is then
    a gather through it. That plain loop ran faster than copying each row in
    three pieces (fill left, bulk copy, fill right): a CIFAR row is too short for the
    copy's vector loop to pay for its set-up.
    """
    _, channels, h, w = src.shape
    batch, _, out_h, out_w = out.shape
    src_flat, out_flat = src.reshape(-1), out.reshape(-1)
    tasks = min(batch, MAX_TASKS)
    for task in prange(tasks):
        columns = np.empty(out_w, np.int64)
        for b in task_images(task, tasks, batch):
            for k in range(out_w):
                c = left[b] + (out_w - 1 - k if flip_h[b] else k)
                off_image = mode == CONSTANT and not 0 <= c < w
                columns[k] = -1 if off_image else map_index(c, w, mode)
            for i in range(out_h):
                r = top[b] + (out_h - 1 - i if flip_v[b] else i)
                row_off_image = mode == CONSTANT and not 0 <= r < h
                ri = map_index(r, h, mode)
                for ch in range(channels):
                    o = ((b * channels + ch) * out_h + i) * out_w  # output row start
                    s = ((b * channels + ch) * h + ri) * w  # source row start
                    for k in range(out_w):
                        c = columns[np.uint64(k)]
                        if row_off_image or c < 0:
                            out_flat[np.uint64(o + k)] = fill
                        else:
                            out_flat[np.uint64(o + k)] = src_flat[np.uint64(s + c)]


def _parallel_and_serial(fn, **options) -> tuple:
    """(parallel, serial) compilations of fn, each under a name of its own: numba's disk
    cache is keyed by the function's name and signature, not by the options, so two
    compilations of one function would load each other's machine code."""
    pair = []
    for variant, parallel in (("parallel", True), ("serial", False)):
        clone = FunctionType(fn.__code__, fn.__globals__, f"{fn.__name__}_{variant}")
        clone.__qualname__ = clone.__name__
        pair.append(njit(parallel=parallel, cache=True, nogil=True, **options)(clone))
    return tuple(pair)


WARP = _parallel_and_serial(warp, fastmath=True)
CROP = _parallel_and_serial(crop)
