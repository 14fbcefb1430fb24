"""Image grids: sample predictions, the most confidently wrong ones, augmentation previews.

Every function returns a matplotlib figure; `plots.save` writes one to a file and
`plots.png_bytes` turns one into PNG bytes for the HTML report.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..augment.preview import augmented_variants, to_display
from .plots import new_figure

WRONG = "#d62728"  # red: wrong predictions
RIGHT = "#2ca02c"  # green: right ones
CAPTION_PT = 9.5  # captions under 9 pt are hard to read at the default 100 dpi
TITLE_PT = 12


def _short(name: str, n: int = 12) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def label_caption(label: Any, classes: list[str], n: int = 12) -> str:
    """An image's label as a caption: its class name, or for a multi-hot row (multi-label
    data) every label it has, separated by spaces ('-' for none)."""
    row = np.asarray(label)
    if row.ndim == 1:
        names = [_short(str(c), n) for c, on in zip(classes, row > 0.5) if on]
        return " ".join(names) or "-"
    return _short(str(classes[int(row)]), n)


def mixed_caption(target: Any, classes: list[str], multi_label: bool = False) -> str:
    """The caption of a label-mixed image (mixup, cutmix): its largest class share;
    multi-label: every label with a share, the largest first, each with it."""
    target = np.asarray(target, dtype=np.float64)
    if not multi_label:
        top = int(target.argmax())
        return f"{classes[top]} {target[top]:.2f}"
    order = np.argsort(-target, kind="stable")
    return (
        " ".join(f"{_short(classes[k], 8)} {target[k]:.2f}" for k in order if target[k] > 0.005)
        or "-"
    )


def _file_caption(path: str, n: int = 18) -> str:
    """A file's name for a caption: its last part, its end kept when long (the number
    or extension that tells files apart)."""
    name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    return name if len(name) <= n else "…" + name[-(n - 1) :]


def _show(ax: Any, image: np.ndarray) -> None:
    """uint8 HWC: grey for one channel, RGB(A) otherwise; no ticks."""
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def sample_indices(n: int, k: int, seed: int = 0) -> np.ndarray:
    """k indices of n spread over the whole split (test folders are sorted by class),
    fixed by `seed` so every evaluation of a run shows the same images."""
    k = min(k, n)
    return np.sort(np.random.default_rng(seed).choice(n, k, replace=False))


def class_spread_indices(labels: np.ndarray, k: int) -> np.ndarray:
    """k indices that take turns over the classes: the first image of each class, then
    the second of each, ... (training folders are sorted by class, so the first k images
    are often all one class); the same images every time."""
    labels = np.asarray(labels)
    if labels.ndim == 2:  # multi-label rows: no one class per image to take turns over
        return np.arange(min(k, len(labels)), dtype=np.int64)
    by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    picked: list[int] = []
    for rank in range(max((len(b) for b in by_class), default=0)):
        picked += [int(b[rank]) for b in by_class if rank < len(b)]
        if len(picked) >= k:
            break
    return np.asarray(picked[:k], dtype=np.int64)


def _title_width(title: str) -> float:
    """Inches a suptitle of TITLE_PT needs (a narrow grid, e.g. one 'none' tile, clipped it)."""
    return 0.6 + 0.62 * TITLE_PT / 72 * len(title)


def most_confident_wrong(probs: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k wrong predictions with the highest predicted probability."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != labels)
    order = np.argsort(-probs[wrong, pred[wrong]], kind="stable")
    return wrong[order[:k]]


def prediction_grid(
    images: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    indices: np.ndarray,
    title: str = "",
    cols: int = 8,
    empty: str = "none",
    filenames: list[str] | None = None,
) -> Any:
    """Images with 'pred / score / true' above each (and the image's file name, given
    `filenames` of every image); wrong ones in red with a red frame. No indices: one
    tile saying there is nothing to show."""
    n = max(len(indices), 1)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    width = max(2.1 * cols, _title_width(title) if title else 0.0, 3.0)
    tile = 2.6 + (0.25 if filenames else 0.0)
    fig = new_figure(figsize=(width, tile * rows + (0.5 if title else 0.1)))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        ax.axis("on")
        _show(ax, images[i])
        pred = int(probs[i].argmax())
        ok = pred == int(labels[i])
        color = RIGHT if ok else WRONG
        caption = (
            f"{_short(classes[pred])} / {probs[i, pred]:.2f}\n"
            f"{'' if ok else '✗ '}true {_short(classes[int(labels[i])])}"
        )
        if filenames:
            caption += "\n" + _file_caption(filenames[i])
        ax.set_title(
            caption,
            fontsize=CAPTION_PT,
            color=color,
        )
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(1 if ok else 3)
    if not len(indices):
        axes.flat[0].text(0.5, 0.5, empty, ha="center", va="center", fontsize=TITLE_PT)
    if title:
        fig.suptitle(title, fontsize=TITLE_PT)
    fig.tight_layout()
    return fig


def image_grid(
    images: np.ndarray,
    captions: list[str],
    title: str = "",
    cols: int = 8,
    colors: Any = None,
    empty: str = "",
) -> Any:
    """Images with a caption above each (e.g. the class name), `cols` to a row; no
    images: one tile saying `empty`."""
    n = max(len(images), 1)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    width = max(1.9 * cols, _title_width(title) if title else 0.0)
    fig = new_figure(figsize=(width, 2.2 * rows + (0.5 if title else 0.1)))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, (ax, image, caption) in enumerate(zip(axes.flat, images, captions)):
        ax.axis("on")
        _show(ax, image)
        color = colors[k] if colors is not None else "black"
        ax.set_title(caption, fontsize=CAPTION_PT, color=color)
        if colors is not None and color != "black":  # a frame as prediction_grid draws
            for spine in ax.spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(3 if color == WRONG else 1)
    if not len(images) and empty:
        axes.flat[0].text(0.5, 0.5, empty, ha="center", va="center", fontsize=TITLE_PT)
    if title:
        fig.suptitle(title, fontsize=TITLE_PT)
    fig.tight_layout()
    return fig


def _displayable(x: torch.Tensor) -> np.ndarray:
    """uint8 NHWC for display (`augment.preview.to_display`, as `augtrain preview`)."""
    return to_display(x)


def augmentation_grid(
    images: np.ndarray,
    index: np.ndarray,
    pipeline: Any,
    epochs: int = 6,
    num_classes: int | None = None,
    title: str = "",
    labels: np.ndarray | None = None,
    classes: list[str] | None = None,
) -> Any:
    """Each row: a training image (labelled with its class name, or its labels for
    multi-hot rows, when `labels` and `classes` are given), then what the pipeline made
    of it in epochs 1..`epochs`.

    Randomness is keyed by (seed, epoch, dataset index), so these are exactly the
    variants training saw for those samples.
    """
    out = augmented_variants(
        np.ascontiguousarray(images), index, pipeline, range(epochs), labels, num_classes
    )
    variants = [to_display(v) for v in out]
    rows, cols = len(images), epochs + 1
    fig = new_figure(figsize=(1.5 * cols, 1.5 * rows + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        _show(axes[r, 0], images[r])
        for e in range(epochs):
            _show(axes[r, e + 1], variants[e][r])
    if labels is not None and classes is not None:
        for r in range(rows):
            axes[r, 0].set_ylabel(label_caption(labels[r], classes), fontsize=CAPTION_PT)
    for c in range(cols):
        axes[0, c].set_title("original" if c == 0 else f"epoch {c}", fontsize=CAPTION_PT)
    if title:
        fig.suptitle(title, fontsize=TITLE_PT)
    fig.tight_layout()
    return fig
