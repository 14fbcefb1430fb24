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
names are translated by `PADDING_MODES`.
"""

from __future__ import annotations

import torch

FILL_MODES = ("constant", "nearest", "reflect", "mirror", "wrap")
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


def gather_crop(
    images: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    out_h: int,
    out_w: int,
    flip_h: torch.Tensor | None = None,
    flip_v: torch.Tensor | None = None,
    mode: str = "constant",
    fill: float = 0.0,
) -> torch.Tensor:
    """Take an out_h x out_w window at (top, left) of each image, optionally flipped.

    top/left are per-sample integer offsets and may lie outside the image (that
    is padding, filled by `mode`). One gather does crop, pad, shift and flips.
    """
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


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; float input is returned as is."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32).mul_(1.0 / 255.0)
    return images
