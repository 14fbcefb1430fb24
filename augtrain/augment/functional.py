"""Pure functions on image batches: (images, per-sample params) -> images.

Images are NCHW tensors, uint8 or float, on any device. Whole-pixel geometry
(crop, pad, flip, integer shift) is an index gather: exact on uint8 and never
goes through floating-point resampling.

Fill modes say what lies outside the image, for a row `abcd`:
  constant   kkkk|abcd|kkkk   (k = fill value)
  nearest    aaaa|abcd|dddd   (torchvision 'edge')
  reflect    dcba|abcd|dcba   (Keras / scipy 'reflect', torchvision 'symmetric')
  mirror     dcb|abcd|cba     (torchvision / numpy 'reflect': edge not repeated)
  wrap       abcd|abcd|abcd
Keras' `fill_mode` names are used as they are; torchvision's `padding_mode`
names are translated by `PADDING_MODES`. These are the only definitions of the fill
modes: the Keras front ends (ImageDataGenerator, the preprocessing layers) and the
CLI take theirs from here.

Whole-pixel crops have one public function, `crop`; it runs the kernel registered
for the batch's backend (`backends`: numba on the CPU, torch elsewhere).
"""

from __future__ import annotations

import math

import torch

from ..device import to_float  # noqa: F401  (its home is the device policy)
from . import cpu_kernels  # noqa: F401  (registers the numba kernels)
from .backends import kernel, register_kernel

FILL_MODES = ("constant", "nearest", "reflect", "mirror", "wrap")
# ImageDataGenerator's and the Keras layers' fill_mode values (the CLI's --fill-mode)
KERAS_FILL_MODES = ("constant", "nearest", "reflect", "wrap")
# torchvision padding_mode -> our fill mode
PADDING_MODES = {
    "constant": "constant",
    "edge": "nearest",
    "reflect": "mirror",
    "symmetric": "reflect",
}


def map_index(i: torch.Tensor, size: int, mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Map integer coordinates (any range) into [0, size) by fill mode.

    Returns (index, inside); `inside` is a bool mask for mode 'constant' (where
    the fill value goes) and None otherwise.
    """
    if mode == "constant":
        inside = (i >= 0) & (i < size)
        return i.clamp(0, size - 1), inside
    if mode == "nearest":
        return i.clamp(0, size - 1), None
    if mode == "wrap":
        return i.remainder(size), None
    if mode == "reflect":
        m = i.remainder(2 * size)
        return torch.where(m < size, m, 2 * size - 1 - m), None
    if mode == "mirror":
        if size == 1:
            return torch.zeros_like(i), None
        period = 2 * size - 2
        m = i.remainder(period)
        return torch.where(m < size, m, period - m), None
    raise ValueError(f"unknown fill mode {mode!r}; expected one of {', '.join(FILL_MODES)}")


def crop(
    images: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    out_h: int,
    out_w: int,
    flip_h: torch.Tensor | None = None,
    flip_v: torch.Tensor | None = None,
    mode: str = "constant",
    fill: float = 0.0,
    padding: tuple[int, int, int, int] | None = None,
) -> torch.Tensor:
    """Take an out_h x out_w window at (top, left) of each image, optionally flipped.

    top/left are per-sample integer offsets and may lie outside the image (that is
    padding, filled by `mode`). One gather does crop, pad, shift and flips; exact on
    every dtype. padding (top, bottom, left, right), when the caller knows it covers
    every offset, saves the torch kernel four reductions (and device syncs).
    """
    if mode not in FILL_MODES:
        raise ValueError(f"unknown fill mode {mode!r}; expected one of {', '.join(FILL_MODES)}")
    return kernel("crop", images)(
        images, top, left, out_h, out_w, flip_h, flip_v, mode, fill, padding
    )


@register_kernel("crop", "torch")
def _crop_torch(
    images: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    out_h: int,
    out_w: int,
    flip_h: torch.Tensor | None,
    flip_v: torch.Tensor | None,
    mode: str,
    fill: float,
    padding: tuple[int, int, int, int] | None,
) -> torch.Tensor:
    """`crop` in torch: the padded-rows copy, or the index gather when rows flip too."""
    if flip_v is None:
        return _crop_rows(images, top, left, out_h, out_w, flip_h, mode, fill, padding)
    return _crop_gather(images, top, left, out_h, out_w, flip_h, flip_v, mode, fill)


def _crop_gather(
    images: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    out_h: int,
    out_w: int,
    flip_h: torch.Tensor | None,
    flip_v: torch.Tensor | None,
    mode: str,
    fill: float,
) -> torch.Tensor:
    """`crop` by one advanced-index gather of rows x columns (any flips)."""
    b, _, h, w = images.shape
    dev = images.device
    rows = top.to(dev, torch.int64)[:, None] + torch.arange(out_h, device=dev)
    cols = left.to(dev, torch.int64)[:, None] + torch.arange(out_w, device=dev)
    if flip_v is not None:
        rows = torch.where(flip_v.to(dev)[:, None], rows.flip(1), rows)
    if flip_h is not None:
        cols = torch.where(flip_h.to(dev)[:, None], cols.flip(1), cols)
    rows, row_in = map_index(rows, h, mode)
    cols, col_in = map_index(cols, w, mode)
    batch = torch.arange(b, device=dev)[:, None, None]
    out = images[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, out_h, out_w, C)
    out = out.permute(0, 3, 1, 2)
    if mode == "constant":
        inside = (row_in[:, :, None] & col_in[:, None, :])[:, None]
        out = torch.where(inside, out, torch.as_tensor(fill, dtype=out.dtype, device=dev))
    return out


def hflip(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images where mask is True."""
    return torch.where(mask.view(-1, 1, 1, 1), images.flip(3), images)


def vflip(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror top-bottom the images where mask is True."""
    return torch.where(mask.view(-1, 1, 1, 1), images.flip(2), images)


def max_value(images: torch.Tensor) -> float:
    """The value of white: 255 for uint8, 1.0 for float images (in [0, 1] by convention)."""
    return 1.0 if images.is_floating_point() else 255.0


def _float(images: torch.Tensor) -> torch.Tensor:
    return images if images.is_floating_point() else images.to(torch.float32)


def _back(out: torch.Tensor, like: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Float result -> the input's dtype: rounded and clipped for uint8, clipped to [0, 1] for float."""
    if like.is_floating_point():
        return out.clamp(0.0, 1.0).to(like.dtype) if clip else out.to(like.dtype)
    return out.round_().clamp_(0, 255).to(like.dtype)


def _per_sample(v: torch.Tensor | float, images: torch.Tensor) -> torch.Tensor:
    dtype = images.dtype if images.is_floating_point() else torch.float32
    t = torch.as_tensor(v, dtype=dtype, device=images.device)
    return t.expand(images.shape[0]).reshape(-1, 1, 1, 1)


# ------------------------------------------------------------------ geometry
def _crop_rows(
    images: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    out_h: int,
    out_w: int,
    flip_h: torch.Tensor | None,
    mode: str,
    fill: float,
    padding: tuple[int, int, int, int] | None,
) -> torch.Tensor:
    """`_crop_gather`'s result by a faster route for the CIFAR recipe (small offsets).

    The batch is padded once (torch's pad kernels, or index maps), then each output
    row is one contiguous run of the padded batch: all rows are copied by one
    `index_select` over an overlapping-rows view. Flipped samples read from a mirrored
    copy of the padded batch. Exact on every dtype.

    padding (top, bottom, left, right), when the caller knows it covers every offset,
    saves four reductions (and device syncs); by default it is computed from the offsets.
    """
    b, c, h, w = images.shape
    dev = images.device
    top = top.to(dev, torch.int64)
    left = left.to(dev, torch.int64)
    if padding is None:
        pt = max(0, -int(top.min())) if b else 0
        pl = max(0, -int(left.min())) if b else 0
        pb = max(0, int(top.max()) + out_h - h) if b else 0
        pr = max(0, int(left.max()) + out_w - w) if b else 0
    else:
        pt, pb, pl, pr = padding
    sample = torch.arange(b, device=dev)
    if flip_h is not None:
        flip_h = flip_h.to(dev)
    if flip_h is not None and pl == pr:
        # Every fill mode pads both sides alike, so with equal left/right padding the
        # padded mirror image is the mirror of the padded image: mirror the flipped
        # samples before padding (the small batch, no second padded copy).
        images = torch.where(flip_h.view(-1, 1, 1, 1), images.flip(3), images)
    padded = pad(images, pt, pb, pl, pr, mode, fill)
    hp, wp = padded.shape[-2:]
    top, left = top + pt, left + pl
    plane = hp * wp
    source = padded
    if flip_h is not None:
        # the flipped crop at `left` is the plain crop of the mirrored image at wp-out_w-left
        if pl != pr:
            source = torch.cat([padded, padded.flip(3)])
            sample = sample + flip_h.to(torch.int64) * b
        left = torch.where(flip_h, wp - out_w - left, left)
    flat = source.reshape(-1)
    rows = flat.as_strided((flat.numel() - out_w + 1, out_w), (1, 1))
    # int32 offsets when they fit: index_select reads half the index bytes
    itype = torch.int32 if flat.numel() < 2**31 else torch.int64
    start = (
        (sample * (c * plane) + top * wp + left).to(itype)[:, None, None]
        + (torch.arange(c, device=dev, dtype=itype) * plane)[None, :, None]
        + (torch.arange(out_h, device=dev, dtype=itype) * wp)[None, None, :]
    )
    return rows.index_select(0, start.reshape(-1)).view(b, c, out_h, out_w)


# torch.nn.functional.pad's names for our fill modes (its kernels are much faster than a gather)
_TORCH_PAD = {
    "constant": "constant",
    "nearest": "replicate",
    "mirror": "reflect",
    "wrap": "circular",
}


def pad(
    images: torch.Tensor,
    top: int,
    bottom: int,
    left: int,
    right: int,
    mode: str = "constant",
    fill: float = 0.0,
) -> torch.Tensor:
    """Pad NCHW images by whole pixels with a fill mode (see the module docstring)."""
    if top == bottom == left == right == 0:
        return images
    h, w = images.shape[-2:]
    dev = images.device
    torch_mode = _TORCH_PAD.get(mode)
    fits = max(top, bottom) < h and max(left, right) < w  # reflect / circular limits
    if torch_mode == "constant":
        out = torch.full(
            (*images.shape[:2], h + top + bottom, w + left + right),
            fill,
            dtype=images.dtype,
            device=dev,
        )
        out[:, :, top : top + h, left : left + w] = images
        return out
    if torch_mode is not None and fits and images.ndim == 4:
        try:
            return torch.nn.functional.pad(images, (left, right, top, bottom), mode=torch_mode)
        except (RuntimeError, NotImplementedError):  # a dtype / device without that kernel
            pass
    rows, _ = map_index(torch.arange(-top, h + bottom, device=dev), h, mode)
    cols, _ = map_index(torch.arange(-left, w + right, device=dev), w, mode)
    return images.index_select(2, rows).index_select(3, cols)


def center_crop(images: torch.Tensor, size: tuple[int, int], fill: float = 0.0) -> torch.Tensor:
    """The central out_h x out_w window (padded with `fill` where larger, as torchvision)."""
    h, w = images.shape[-2:]
    oh, ow = size
    top = int(round((h - oh) / 2.0))
    left = int(round((w - ow) / 2.0))
    if 0 <= top and 0 <= left and top + oh <= h and left + ow <= w:
        return images[:, :, top : top + oh, left : left + ow]
    b = images.shape[0]
    t = torch.full((b,), top, dtype=torch.int64, device=images.device)
    lft = torch.full((b,), left, dtype=torch.int64, device=images.device)
    return crop(images, t, lft, oh, ow, mode="constant", fill=fill)


def resize(
    images: torch.Tensor, size: tuple[int, int], interpolation: str = "bilinear", antialias=True
) -> torch.Tensor:
    """Resize the batch to size (h, w): nearest, bilinear or bicubic (antialiased when shrinking)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    x = _float(images)
    if interpolation == "nearest":
        out = torch.nn.functional.interpolate(x, size=size, mode="nearest-exact")
    elif interpolation in ("bilinear", "bicubic"):
        out = torch.nn.functional.interpolate(
            x, size=size, mode=interpolation, align_corners=False, antialias=antialias
        )
    else:
        raise ValueError(f"unknown interpolation {interpolation!r}")
    return out if images.is_floating_point() else _back(out, images)


def rot90(images: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate sample i by k[i] quarter turns counter-clockwise (torch.rot90); exact.

    Odd k needs square images (the batch keeps one shape)."""
    k = k.to(images.device, torch.int64).remainder(4)
    h, w = images.shape[-2:]
    if h != w and bool((k % 2 == 1).any()):
        raise ValueError("quarter turns of non-square images would change the batch shape")
    out = images.clone()
    for q in (1, 2, 3):
        idx = (k == q).nonzero().squeeze(1)
        if idx.numel():
            out[idx] = torch.rot90(images[idx], q, dims=(2, 3))
    return out


# --------------------------------------------------------------------- color
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma, as PIL / torchvision / Gluon


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luma of float RGB images; single-channel images are their own gray."""
    if x.shape[1] < 3:
        return x[:, :1]
    w = torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x[:, :3] * w).sum(1, keepdim=True)


def adjust_brightness(images: torch.Tensor, factor) -> torch.Tensor:
    """x * factor (per sample), clipped: multiplicative brightness (Keras brightness_range, Gluon)."""
    return _back(_float(images) * _per_sample(factor, images), images)


def adjust_contrast(images: torch.Tensor, factor, per_channel: bool = False) -> torch.Tensor:
    """Blend with the image's mean: mean + factor * (x - mean), clipped.

    per_channel=False: the mean of the luma (torchvision / Gluon / PIL);
    per_channel=True: each channel's own mean (tf.image.adjust_contrast, Keras RandomContrast).
    """
    x = _float(images)
    f = _per_sample(factor, images)
    mean = x.mean((2, 3), keepdim=True) if per_channel else _gray(x).mean((1, 2, 3), keepdim=True)
    return _back(mean + f * (x - mean), images)


def adjust_saturation(images: torch.Tensor, factor) -> torch.Tensor:
    """Blend with the grayscale image: gray + factor * (x - gray), clipped."""
    if images.shape[1] < 3:
        return images
    x = _float(images)
    g = _gray(x)
    return _back(g + _per_sample(factor, images) * (x - g), images)


def hue_matrix(alpha: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) RGB matrices rotating hue by alpha (fraction of a half turn) in YIQ space,
    as Gluon's RandomHue (mxnet HueJitterAug)."""
    a = alpha.to(torch.float32)
    u, w = torch.cos(a * math.pi), torch.sin(a * math.pi)
    dev = a.device
    tyiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.321], [0.211, -0.523, 0.311]], device=dev
    )
    ityiq = torch.tensor(
        [[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.107, 1.705]], device=dev
    )
    one, zero = torch.ones_like(u), torch.zeros_like(u)
    bt = torch.stack(
        [
            torch.stack([one, zero, zero], -1),
            torch.stack([zero, u, -w], -1),
            torch.stack([zero, w, u], -1),
        ],
        -2,
    )
    return ityiq @ bt @ tyiq


def color_transform(images: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor | None = None):
    """x -> matrix @ x + offset per pixel, matrix (B, C, C), offset (B, C); clipped once."""
    b, c, h, w = images.shape
    x = _float(images).reshape(b, c, h * w)
    out = (
        torch.baddbmm(offset.to(x.dtype).unsqueeze(2), matrix.to(x.dtype), x)
        if offset is not None
        else torch.bmm(matrix.to(x.dtype), x)
    )
    return _back(out.view(b, c, h, w), images)


def to_grayscale(images: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Replace the samples where mask is True (all when None) by their luma, kept in C channels."""
    if images.shape[1] < 3:
        return images
    x = _float(images)
    g = _back(_gray(x), images).expand_as(images)
    if mask is None:
        return g.contiguous()
    return torch.where(mask.to(images.device).view(-1, 1, 1, 1), g, images)


def channel_shift(images: torch.Tensor, intensity: torch.Tensor | float) -> torch.Tensor:
    """Keras' apply_channel_shift: x + intensity, clipped to each image's own [min, max]."""
    b = images.shape[0]
    x = _float(images)
    i = torch.as_tensor(intensity, dtype=x.dtype, device=x.device).expand(b).view(-1, 1, 1, 1)
    flat = x.reshape(b, -1)
    lo = flat.amin(1).view(-1, 1, 1, 1)
    hi = flat.amax(1).view(-1, 1, 1, 1)
    out = torch.minimum(torch.maximum(x + i, lo), hi)
    if images.is_floating_point():
        return out.to(images.dtype)
    return out.round().clamp(0, 255).to(images.dtype)


def keras_brightness(images: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Keras' apply_brightness_shift, batched (ImageDataGenerator's brightness_range).

    Keras converts the image to PIL first with array_to_img(scale=True): the
    image is stretched so its min is 0 and its max 255, truncated to uint8,
    then PIL's Brightness(f) gives trunc(clip(v * f, 0, 255)). The result is
    always in [0, 255] whatever the input range, as in Keras. The fourth channel
    of a 4-channel batch is alpha to PIL: stretched with the rest, never scaled.
    """
    b = images.shape[0]
    x = images.to(torch.float32)
    f = torch.as_tensor(factor, dtype=torch.float32, device=x.device).expand(b).view(-1, 1, 1, 1)
    flat = x.reshape(b, -1)
    lo = flat.amin(1).view(-1, 1, 1, 1)
    span = flat.amax(1).view(-1, 1, 1, 1) - lo
    x = x - lo
    x = torch.where(span > 0, x / torch.where(span > 0, span, 1) * 255.0, x)
    x = torch.floor(x.clamp(0, 255))
    out = torch.floor((x * f).clamp(0, 255))
    if out.shape[1] == 4:
        out[:, 3] = x[:, 3]
    return out.to(images.dtype)


def add_noise(images: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x + noise (noise in the images' own scale: pixel levels for uint8), clipped."""
    return _back(_float(images) + noise, images)


def invert(images: torch.Tensor) -> torch.Tensor:
    return (255 - images) if not images.is_floating_point() else 1.0 - images


def solarize(images: torch.Tensor, threshold) -> torch.Tensor:
    """Invert pixels at or above threshold (per sample; in the images' own scale)."""
    t = _per_sample(threshold, images)
    return torch.where(_float(images) >= t, invert(images), images)


def posterize(images: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the `bits` (per sample, 1..8) most significant bits of each uint8 value."""
    u8 = images if not images.is_floating_point() else (images * 255).round().clamp(0, 255).byte()
    shift = (8 - bits.to(images.device, torch.int64)).clamp(0, 8).view(-1, 1, 1, 1)
    mask = ((255 << shift) & 255).to(torch.uint8)
    out = u8 & mask
    return out if not images.is_floating_point() else out.to(images.dtype) / 255.0


def sharpness(images: torch.Tensor, factor) -> torch.Tensor:
    """PIL ImageEnhance.Sharpness: blend with the 3x3 smoothed image (border pixels kept)."""
    x = _float(images)
    c = x.shape[1]
    k = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], device=x.device) / 13.0
    k = k.to(x.dtype).expand(c, 1, 3, 3)
    blur = torch.nn.functional.conv2d(x, k, padding=1, groups=c)
    if not images.is_floating_point():
        blur = blur.round()
    blur[:, :, 0, :], blur[:, :, -1, :] = x[:, :, 0, :], x[:, :, -1, :]
    blur[:, :, :, 0], blur[:, :, :, -1] = x[:, :, :, 0], x[:, :, :, -1]
    f = _per_sample(factor, images)
    return _back(blur + f * (x - blur), images)


def autocontrast(images: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to the full range (PIL ImageOps.autocontrast)."""
    x = _float(images)
    lo = x.amin((2, 3), keepdim=True)
    hi = x.amax((2, 3), keepdim=True)
    top = max_value(images)
    scale = torch.where(hi > lo, top / (hi - lo).clamp_min(1e-12), torch.ones_like(hi))
    lo = torch.where(hi > lo, lo, torch.zeros_like(lo))
    return _back((x - lo) * scale, images)


def equalize(images: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel (PIL ImageOps.equalize), batched."""
    b, c, h, w = images.shape
    u8 = images if not images.is_floating_point() else (images * 255).round().clamp(0, 255).byte()
    flat = u8.reshape(b * c, h * w).to(torch.int64)
    hist = torch.zeros(b * c, 256, dtype=torch.int64, device=images.device)
    hist.scatter_add_(1, flat, torch.ones_like(flat))
    # PIL: step = (count - count of the last non-zero bin) // 255
    idx = torch.arange(256, device=images.device).expand(b * c, 256)
    last = torch.where(hist > 0, idx, torch.full_like(idx, -1)).amax(1, keepdim=True)
    last_count = hist.gather(1, last.clamp_min(0))
    step = (h * w - last_count) // 255
    cum = hist.cumsum(1) - hist  # counts below each bin
    lut = ((cum + step // 2) // step.clamp_min(1)).clamp(0, 255)
    lut = torch.where(step > 0, lut, idx)
    out = lut.gather(1, flat).to(torch.uint8).view(b, c, h, w)
    return out if not images.is_floating_point() else out.to(images.dtype) / 255.0


# ------------------------------------------------------------------- erasing
def box_mask(
    h: int, w: int, top: torch.Tensor, left: torch.Tensor, bh: torch.Tensor, bw: torch.Tensor
) -> torch.Tensor:
    """(B, 1, h, w) bool: True inside each sample's box [top, top+bh) x [left, left+bw)."""
    dev = top.device
    r = torch.arange(h, device=dev)
    c = torch.arange(w, device=dev)
    rin = (r >= top.view(-1, 1)) & (r < (top + bh).view(-1, 1))
    cin = (c >= left.view(-1, 1)) & (c < (left + bw).view(-1, 1))
    return (rin[:, :, None] & cin[:, None, :]).unsqueeze(1)


def erase(images: torch.Tensor, mask: torch.Tensor, value: torch.Tensor | float) -> torch.Tensor:
    """Replace pixels where mask (B, 1, H, W) is True by value (scalar, or a tensor broadcastable)."""
    v = torch.as_tensor(value, device=images.device)
    if not images.is_floating_point():
        v = v.round().clamp(0, 255)
    return torch.where(mask, v.to(images.dtype), images)


def mix(images: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """lam * images + (1 - lam) * images[partner] (per-sample lam), in the input dtype."""
    x = _float(images)
    lam = lam.to(x.dtype).view(-1, 1, 1, 1)
    out = lam * x + (1 - lam) * x[partner]
    return out if images.is_floating_point() else _back(out, images)


# --------------------------------------------------------------- normalising
def rescale(images: torch.Tensor, scale: float, offset: float = 0.0) -> torch.Tensor:
    """Float x * scale + offset (Keras `rescale`, `Rescaling`); uint8 is read as 0..255 levels."""
    return (
        images.to(torch.float32) * scale + offset
        if not images.is_floating_point()
        else images * scale + offset
    )


def samplewise_standardize(
    images: torch.Tensor, center: bool = True, std: bool = True
) -> torch.Tensor:
    """Keras samplewise_center / samplewise_std_normalization: over all of each image (float out)."""
    x = images.to(torch.float32) if not images.is_floating_point() else images
    b = x.shape[0]
    flat = x.reshape(b, -1)
    if center:
        x = x - flat.mean(1).view(-1, 1, 1, 1)
    if std:
        x = x / (flat.std(1, unbiased=False).view(-1, 1, 1, 1) + 1e-6)
    return x
