"""Affine geometry: one 2x3 matrix per sample, one resample per batch.

Convention: a matrix `M` (B, 2, 3) maps an OUTPUT pixel (row, col, 1) to the
INPUT coordinate (row, col) it samples from (scipy.ndimage.affine_transform's
convention, the one Keras uses). Pixel centres lie on integer coordinates, so
the identity samples pixel (r, c) from (r, c).

Building blocks (all batched, float64 on the matrices' device):
  keras_matrix(...)      Keras' ImageDataGenerator composition: rotate, shift
                         (tx along rows, ty along columns), shear, zoom, about a
                         centre; optional output flips folded in.
  warp(images, M, ...)   the resampler: nearest or bilinear, fill mode by index
                         arithmetic (`functional.map_index`), uint8 or float.

  resized_crop(...)      a box per sample, resized: one warp.

The resampler runs the "warp" kernel registered for the batch's backend
(`backends`): numba on the CPU (`cpu_kernels`), torch's here otherwise.
When every matrix of the batch is a whole-pixel map (flips, whole-pixel
shifts, multiples of 90 degrees) the resample is a pure gather: exact on uint8
and never goes through floating point.
"""

from __future__ import annotations

import numpy as np
import torch

from . import cpu_kernels
from . import functional as F
from .backends import kernel, register_kernel

# Keras fill modes plus torch-style 'mirror' and scipy's own 'wrap' (period n-1
# in coordinate space: what ImageDataGenerator(fill_mode='wrap') really outputs).
WARP_FILL_MODES = (*F.FILL_MODES, "scipy-wrap")
INTERPOLATIONS = ("nearest", "bilinear")


def _as_batch(value, batch: int, device, dtype=torch.float64) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.ndim == 0:
        t = t.expand(batch)
    return t.reshape(batch)


def _as_numpy_batch(value, batch: int, dtype: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.broadcast_to(np.asarray(value, dtype=dtype).reshape(-1), (batch,))


def keras_matrix(
    h: int,
    w: int,
    theta=0.0,
    tx=0.0,
    ty=0.0,
    shear=0.0,
    zx=1.0,
    zy=1.0,
    flip_horizontal=False,
    flip_vertical=False,
    batch: int | None = None,
    device: torch.device | str | None = None,
    center: str = "keras",
) -> torch.Tensor:
    """(B, 2, 3) float64 matrices of Keras' `apply_affine_transform`, batched.

    Each parameter is a scalar or a (B,) tensor: theta and shear in degrees
    (theta > 0 turns the picture clockwise, as Keras: 90 is torch.rot90(k=-1)), tx
    the shift along rows (height), ty along columns (width), zx the zoom of
    rows, zy of columns (Keras' naming). The transform is
    `C @ R(theta) @ T(tx, ty) @ Shear @ Zoom @ C^-1` about the centre C, then
    output flips (Keras flips after the warp) are folded in.

    center='keras' uses Keras' (h/2 + 0.5, w/2 + 0.5), one pixel off the true
    centre (kept for bit-parity with keras-preprocessing); center='true' uses
    ((h-1)/2, (w-1)/2), so that a rotation by 90 degrees is exactly rot90.

    On the CPU the same formulas run on NumPy arrays (`cpu_kernels.array_module`): some 35
    ops on (B,) arrays, cheaper there than as torch tensors (BENCHMARKS.md).
    """
    if center not in ("keras", "true"):
        raise ValueError(f"center must be 'keras' or 'true', got {center!r}")
    params = [theta, tx, ty, shear, zx, zy, flip_horizontal, flip_vertical]
    if batch is None:
        batch = max((p.numel() if isinstance(p, torch.Tensor) else 1 for p in params), default=1)
    if device is None:
        device = next((p.device for p in params if isinstance(p, torch.Tensor)), "cpu")
    xp = cpu_kernels.array_module(device)
    on_cpu = xp is np

    def per_sample(value, dtype="float64"):
        if on_cpu:
            return _as_numpy_batch(value, batch, dtype)
        return _as_batch(value, batch, device, getattr(torch, dtype))

    th, sh = xp.deg2rad(per_sample(theta)), xp.deg2rad(per_sample(shear))
    tx, ty = per_sample(tx), per_sample(ty)
    zx, zy = per_sample(zx), per_sample(zy)
    # snap cos/sin of multiples of 90 degrees to exact integers (cos(pi/2) = 6e-17)
    cos, sin, ssh, csh = (xp.cos(th), xp.sin(th), xp.sin(sh), xp.cos(sh))
    cos, sin, ssh = (xp.where(xp.abs(v) < 1e-12, 0.0, v) for v in (cos, sin, ssh))
    # L = R @ Shear @ Zoom (linear part); t = R @ (tx, ty)
    # R = [[c, -s], [s, c]], Shear = [[1, -ssh], [0, csh]], Zoom = diag(zx, zy)
    a00 = cos * zx
    a01 = (-cos * ssh - sin * csh) * zy
    a10 = sin * zx
    a11 = (-sin * ssh + cos * csh) * zy
    t0 = cos * tx - sin * ty
    t1 = sin * tx + cos * ty
    o0, o1 = (h / 2 + 0.5, w / 2 + 0.5) if center == "keras" else ((h - 1) / 2, (w - 1) / 2)
    # in = L @ (out - o) + t + o
    b0 = t0 + o0 - (a00 * o0 + a01 * o1)
    b1 = t1 + o1 - (a10 * o0 + a11 * o1)
    m = xp.stack([xp.stack([a00, a01, b0], -1), xp.stack([a10, a11, b1], -1)], -2)  # (B, 2, 3)
    m = _fold_flips(
        m, h, w, per_sample(flip_horizontal, "bool"), per_sample(flip_vertical, "bool"), xp
    )
    return torch.from_numpy(m) if on_cpu else m


def compose_flips(
    m: torch.Tensor, h: int, w: int, flip_h: torch.Tensor | None, flip_v: torch.Tensor | None
) -> torch.Tensor:
    """Fold output flips into M: out'(r, c) = out(r, w-1-c) for flip_h, (h-1-r, c) for flip_v."""
    fh = None if flip_h is None else flip_h.to(m.device).view(-1)
    fv = None if flip_v is None else flip_v.to(m.device).view(-1)
    return _fold_flips(m, h, w, fh, fv, torch)


def _fold_flips(m, h: int, w: int, fh, fv, xp):
    """compose_flips on torch tensors or NumPy arrays (xp: the module)."""
    col0, col1, col2 = m[:, :, 0], m[:, :, 1], m[:, :, 2]
    if fh is not None:
        # col -> (w-1) - col: column 1 of M negated, its (w-1) multiple added to the offset
        col2 = xp.where(fh[:, None], col2 + col1 * (w - 1), col2)
        col1 = xp.where(fh[:, None], -col1, col1)
    if fv is not None:
        col2 = xp.where(fv[:, None], col2 + col0 * (h - 1), col2)
        col0 = xp.where(fv[:, None], -col0, col0)
    return xp.stack([col0, col1, col2], -1)


def identity(batch: int, device=None) -> torch.Tensor:
    m = torch.zeros(batch, 2, 3, dtype=torch.float64, device=device)
    m[:, 0, 0] = 1
    m[:, 1, 1] = 1
    return m


def is_integral(m: torch.Tensor, tol: float = 1e-6) -> bool:
    """True when every matrix maps whole pixels to whole pixels (entries integral)."""
    return bool(((m - m.round()).abs() <= tol).all())


def _coords(
    m: torch.Tensor, out_h: int, out_w: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source (row, col) coordinates of every output pixel: two (B, out_h, out_w)."""
    dev = m.device
    mf = m.to(dtype)
    r = torch.arange(out_h, device=dev, dtype=dtype)
    c = torch.arange(out_w, device=dev, dtype=dtype)
    # (B, H, 1) + (B, 1, W): the row part and the column part, summed once
    src_r = (mf[:, 0, 0, None] * r + mf[:, 0, 2, None])[:, :, None] + (mf[:, 0, 1, None] * c)[
        :, None, :
    ]
    src_c = (mf[:, 1, 0, None] * r + mf[:, 1, 2, None])[:, :, None] + (mf[:, 1, 1, None] * c)[
        :, None, :
    ]
    return src_r, src_c


def _flat_gather(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """images[b, :, rows[b, i, j], cols[b, i, j]] -> (B, C, H', W'); indices already in range."""
    b, c, h, w = images.shape
    out_hw = rows.shape[1:]
    flat = rows * w + cols  # (B, H', W') int64
    src = images.reshape(b, c, h * w)
    idx = flat.reshape(b, 1, -1).expand(b, c, -1)
    return torch.gather(src, 2, idx).reshape(b, c, *out_hw)


def _map(i: torch.Tensor, size: int, mode: str):
    if mode == "scipy-wrap":
        return F.map_index(i, size, "nearest")
    return F.map_index(i, size, mode)


def warp(
    images: torch.Tensor,
    m: torch.Tensor,
    out_size: tuple[int, int] | None = None,
    mode: str = "nearest",
    cval: float = 0.0,
    interpolation: str = "bilinear",
    out_dtype: torch.dtype | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """Resample NCHW `images` through per-sample matrices `m` (B, 2, 3), output to input.

    mode: constant (cval where the source lies outside [0, n-1], as
    scipy/Keras), nearest, reflect (scipy / Keras), mirror (torch 'reflect'),
    wrap (period n), scipy-wrap (scipy's 'wrap': period n-1 in coordinates).
    interpolation: nearest or bilinear. uint8 in -> uint8 out (rounded), float
    in -> float out; out_dtype=float32 on uint8 input gives the unrounded samples (as
    casting to float first would, without the float copy of the input). Whole-pixel
    matrices take an exact gather path. memory_format is the output's layout:
    torch.preserve_format keeps a channels-last input's (the Keras front end's NHWC
    arrays; the training loop wants contiguous NCHW, what convolutions on the CPU prefer).

    On the CPU the numba kernel (`cpu_kernels`) does all of it in one pass. Elsewhere,
    bilinear sampling with constant / nearest / reflect fill runs on
    torch's grid_sample (one fused, vectorised kernel over all channels;
    'border' and 'reflection' with align_corners=False are exactly scipy's
    nearest and reflect); the other modes use index arithmetic and gathers.
    """
    if mode not in WARP_FILL_MODES:
        raise ValueError(
            f"unknown fill mode {mode!r}; expected one of {', '.join(WARP_FILL_MODES)}"
        )
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"unknown interpolation {interpolation!r}; expected one of {', '.join(INTERPOLATIONS)}"
        )
    out_dtype = images.dtype if out_dtype is None else out_dtype
    if out_dtype != images.dtype and not (
        images.dtype == torch.uint8 and out_dtype.is_floating_point
    ):
        raise ValueError(f"warp: {images.dtype} input cannot give {out_dtype} output")
    b, c, h, w = images.shape
    out_h, out_w = (h, w) if out_size is None else out_size
    with cpu_kernels.one_torch_thread(images.device):  # the kernel's threads follow
        m = m.to(images.device)
        if is_integral(m):
            m = m.round()
            interpolation = "nearest"
    channels_last = (
        memory_format == torch.channels_last
        or memory_format == torch.preserve_format
        and images.is_contiguous(memory_format=torch.channels_last)
        and not images.is_contiguous()
    )
    return kernel("warp", images)(
        images, m, out_h, out_w, mode, cval, interpolation, out_dtype, channels_last
    )


@register_kernel("warp", "torch")
def _warp_torch(
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
    """`warp` in torch: grid_sample where it matches scipy, index gathers otherwise."""
    images = images.to(out_dtype)  # the torch route samples floats as floats
    if interpolation == "bilinear" and mode in ("constant", "nearest", "reflect"):
        out = _warp_grid_sample(images, m, out_h, out_w, mode, cval)
    else:
        out = _warp_gather(images, m, out_h, out_w, mode, cval, interpolation)
    return out.contiguous(memory_format=torch.channels_last) if channels_last else out


def resized_crop(
    images: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    height: torch.Tensor,
    width: torch.Tensor,
    size: tuple[int, int],
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """Crop the box (top, left, height, width) of each sample (floats allowed) and resize it
    to `size`, in one resample (half-pixel centres, as align_corners=False)."""
    b = images.shape[0]
    oh, ow = size
    dev = images.device
    sy = height.to(dev, torch.float64) / oh
    sx = width.to(dev, torch.float64) / ow
    m = torch.zeros(b, 2, 3, dtype=torch.float64, device=dev)
    m[:, 0, 0] = sy
    m[:, 0, 2] = top.to(dev, torch.float64) + 0.5 * sy - 0.5
    m[:, 1, 1] = sx
    m[:, 1, 2] = left.to(dev, torch.float64) + 0.5 * sx - 0.5
    return warp(images, m, (oh, ow), mode="nearest", interpolation=interpolation)


def _grid_theta(m: torch.Tensor, h: int, w: int, out_h: int, out_w: int) -> torch.Tensor:
    """Our pixel matrix (out row, col -> in row, col) as affine_grid's normalised theta
    (out x, y -> in x, y; align_corners=False: pixel i at (2i + 1) / n - 1)."""
    m = m.to(torch.float64)
    # out pixel from normalised: col = ((x + 1) * out_w - 1) / 2, row likewise
    ax, bx = out_w / 2.0, (out_w - 1) / 2.0
    ay, by = out_h / 2.0, (out_h - 1) / 2.0
    # in pixel -> normalised: x = (2 * col + 1) / w - 1
    theta = torch.empty(m.shape[0], 2, 3, dtype=torch.float64, device=m.device)
    # in_col = m10 * row + m11 * col + m12 ; in_row = m00 * row + m01 * col + m02
    for k, (mi, n) in enumerate(((1, w), (0, h))):
        r_coef, c_coef, off = m[:, mi, 0], m[:, mi, 1], m[:, mi, 2]
        # in = c_coef * (ax x + bx) + r_coef * (ay y + by) + off
        sx, sy = c_coef * ax, r_coef * ay
        s0 = c_coef * bx + r_coef * by + off
        theta[:, k, 0] = 2.0 * sx / n
        theta[:, k, 1] = 2.0 * sy / n
        theta[:, k, 2] = (2.0 * s0 + 1.0) / n - 1.0
    return theta


def _affine_grid(theta: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """affine_grid(theta, align_corners=False) by broadcasting: the part of each coordinate
    that varies along x and the part that varies along y are summed in one pass.

    The sum is made as (B, 2, H, W) and returned as a (B, H, W, 2) view: a broadcast add
    straight into the interleaved (..., 2) layout is many times slower on the CPU, and
    grid_sample reads the strided view for less than a copy to contiguous would cost."""
    dev, dt = theta.device, theta.dtype
    xs = (torch.arange(out_w, device=dev, dtype=dt) * 2 + 1) / out_w - 1
    ys = (torch.arange(out_h, device=dev, dtype=dt) * 2 + 1) / out_h - 1
    # (B, 2, 1, W): theta[:, k, 0] * x + theta[:, k, 2];  (B, 2, H, 1): theta[:, k, 1] * y
    along_x = theta[:, :, 0, None, None] * xs[None, None, None, :] + theta[:, :, 2, None, None]
    along_y = theta[:, :, 1, None, None] * ys[None, None, :, None]
    return (along_x + along_y).permute(0, 2, 3, 1)


def _warp_grid_sample(images, m, out_h, out_w, mode, cval) -> torch.Tensor:
    b, c, h, w = images.shape
    to_uint8 = not images.is_floating_point()
    # uint8 -> float with .float() (a plain cast: `images + 0.5` takes a slow promoting
    # path, far slower on the CPU); the +0.5 that makes truncation round is added to the
    # output in place (bilinear weights sum to 1, so adding it before or after is equal)
    x = images.float() if to_uint8 else images
    theta = _grid_theta(m, h, w, out_h, out_w).to(x.dtype)
    grid = _affine_grid(theta, out_h, out_w)
    padding = "reflection" if mode == "reflect" else "border"
    out = torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode=padding, align_corners=False
    )
    if mode == "constant":
        # scipy's constant: no interpolation beyond the edges: cval where the source
        # lies outside [0, n-1] (a hair of tolerance for float noise)
        tol = 1e-4
        gx, gy = grid[..., 0], grid[..., 1]
        inside = (
            (gx >= (1 - 2 * tol) / w - 1)
            & (gx <= (2 * (w - 1 + tol) + 1) / w - 1)
            & (gy >= (1 - 2 * tol) / h - 1)
            & (gy <= (2 * (h - 1 + tol) + 1) / h - 1)
        )
        fill = min(max(float(cval), 0.0), 255.0) if to_uint8 else cval
        out = torch.where(
            inside.unsqueeze(1), out, torch.as_tensor(fill, dtype=out.dtype, device=out.device)
        )
    return out.add_(0.5).to(images.dtype) if to_uint8 else out


def _warp_gather(images, m, out_h, out_w, mode, cval, interpolation) -> torch.Tensor:
    h, w = images.shape[-2:]
    # nearest sampling rounds: float64 coordinates put ties where scipy puts them
    src_r, src_c = _coords(
        m, out_h, out_w, torch.float64 if interpolation == "nearest" else torch.float32
    )
    if mode == "scipy-wrap":
        src_r = _scipy_wrap(src_r, h)
        src_c = _scipy_wrap(src_c, w)
    inside = None
    if mode == "constant":
        tol = 1e-4
        inside = (src_r >= -tol) & (src_r <= h - 1 + tol) & (src_c >= -tol) & (src_c <= w - 1 + tol)
    if interpolation == "nearest":
        ri, _ = _map(torch.floor(src_r + 0.5).to(torch.int64), h, mode)
        ci, _ = _map(torch.floor(src_c + 0.5).to(torch.int64), w, mode)
        out = _flat_gather(images, ri, ci)
    else:
        r0f, c0f = torch.floor(src_r), torch.floor(src_c)
        fr = (src_r - r0f).unsqueeze(1)
        fc = (src_c - c0f).unsqueeze(1)
        r0, c0 = r0f.to(torch.int64), c0f.to(torch.int64)
        r0m, _ = _map(r0, h, mode)
        r1m, _ = _map(r0 + 1, h, mode)
        c0m, _ = _map(c0, w, mode)
        c1m, _ = _map(c0 + 1, w, mode)
        dtype = images.dtype if images.is_floating_point() else torch.float32
        v00 = _flat_gather(images, r0m, c0m).to(dtype)
        v01 = _flat_gather(images, r0m, c1m).to(dtype)
        v10 = _flat_gather(images, r1m, c0m).to(dtype)
        v11 = _flat_gather(images, r1m, c1m).to(dtype)
        top = v00 + fc * (v01 - v00)
        bot = v10 + fc * (v11 - v10)
        out = top + fr * (bot - top)
        if not images.is_floating_point():
            out = out.round_().clamp_(0, 255).to(images.dtype)
    if inside is not None:
        out = torch.where(
            inside.unsqueeze(1), out, torch.as_tensor(cval, dtype=out.dtype, device=out.device)
        )
    return out


def _scipy_wrap(x: torch.Tensor, n: int) -> torch.Tensor:
    """scipy.ndimage's mode='wrap': [0, n-1] as it is, outside taken modulo n - 1."""
    if n <= 1:
        return torch.zeros_like(x)
    return torch.where((x >= 0) & (x <= n - 1), x, torch.remainder(x, n - 1))
