"""In-memory datasets: uint8 NHWC images, int64 labels, class names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import AugtrainError, require


@dataclass
class ImageArrays:
    """One split: images (N, H, W, C) uint8 and labels (N,) int64, or multi-hot rows
    (N, labels) float32 for multi-label data."""

    x: np.ndarray
    y: np.ndarray
    filenames: list[str] | None = None
    fingerprint: str | None = None  # cache key of the content it was decoded from

    def __post_init__(self) -> None:
        require(self.x.dtype == np.uint8, f"images must be uint8, got {self.x.dtype}")
        require(self.x.ndim == 4, f"images must be (N, H, W, C), got shape {self.x.shape}")
        require(len(self.x) == len(self.y), f"{len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> ImageArrays:
        names = None if self.filenames is None else [self.filenames[i] for i in index]
        return ImageArrays(self.x[index], self.y[index], names)


@dataclass
class Dataset:
    """What training needs: class names and the train / validation / test splits."""

    classes: list[str]
    train: ImageArrays
    val: ImageArrays | None = None
    test: ImageArrays | None = None
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the images."""
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def multi_label(self) -> bool:
        """Several labels per image: multi-hot label rows (report/multilabel.py)."""
        return self.train.y.ndim == 2

    def summary(self) -> str:
        parts = [f"train {len(self.train)}"]
        if self.val is not None:
            parts.append(f"val {len(self.val)}")
        if self.test is not None:
            parts.append(f"test {len(self.test)}")
        h, w, c = self.image_shape
        return f"{', '.join(parts)} images of {h}x{w}x{c}, {self.num_classes} classes"


def is_string_labels(y: Any) -> bool:
    """Labels given as class names (str or bytes), as fastai and pandas users give them."""
    y = np.asarray(y)
    if y.dtype.kind in "US":
        return True
    return y.dtype == object and y.size > 0 and all(isinstance(v, (str, bytes)) for v in y.flat)


def label_names(y: Any) -> np.ndarray:
    """String labels as a flat array of str (bytes decoded)."""
    y = np.asarray(y).reshape(-1)
    if y.dtype.kind == "S" or y.dtype == object:
        y = np.asarray([v.decode(errors="replace") if isinstance(v, bytes) else v for v in y])
    return y.astype(str)


def _images(x: Any, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == object:
        raise AugtrainError(
            f"{what}: x is an array of Python objects (images of different sizes?); "
            "give one numeric (N, H, W, C) array"
        )
    if x.dtype.kind not in "uif":
        raise AugtrainError(f"{what}: x has dtype {x.dtype}; images must be numbers (uint8 0..255)")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise AugtrainError(f"{what}: x must have shape (N, H, W, C), got {x.shape}")
    if x.dtype != np.uint8 and x.size:
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            bad = int(np.argmax(~np.isfinite(x).reshape(len(x), -1).all(axis=1)))
            raise AugtrainError(
                f"{what}: x holds NaN or infinite pixel values (first in image {bad})"
            )
        lo, hi = x.min(), x.max()
        if x.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
            x = np.round(x * 255.0)
        elif lo < 0 or hi > 255:
            raise AugtrainError(
                f"{what}: x values must lie in [0, 255] (uint8 images) or [0, 1] (floats); "
                f"found {lo:g}..{hi:g}"
            )
        x = x.astype(np.uint8)
    return np.ascontiguousarray(x, dtype=np.uint8)


def _one_hot_labels(y: np.ndarray, what: str) -> np.ndarray:
    """The class of each one-hot (or soft) row: its single largest entry."""
    if y.dtype.kind not in "uif" or (y.dtype.kind == "f" and not np.isfinite(y).all()):
        raise AugtrainError(f"{what}: one-hot y must hold finite numbers")
    top2 = -np.partition(-y, 1, axis=1)[:, :2]
    ambiguous = (top2[:, 0] <= top2[:, 1]) | (top2[:, 0] <= 0)
    if ambiguous.any():
        i = int(np.argmax(ambiguous))
        raise AugtrainError(
            f"{what}: one-hot y row {i} ({np.array2string(y[i], threshold=12)}) has no single "
            "largest entry; each row needs one class"
        )
    return y.argmax(axis=1)


def as_arrays(
    x: Any, y: Any, what: str = "arrays", classes: list[str] | None = None
) -> ImageArrays:
    """Validate and convert user arrays: x (N,H,W,C) or (N,H,W), uint8 or floats in [0, 1];
    y (N,) or (N, 1) integer labels, (N, K) one-hot rows, or class names (mapped to
    `classes`, else to their sorted order)."""
    x = _images(x, what)
    y = np.asarray(y)
    if y.dtype.kind in "bc":
        raise AugtrainError(
            f"{what}: y has dtype {y.dtype}; give integer class labels (0, 1, ...) or class names"
        )
    if y.ndim == 2 and y.shape[1] == 1:  # Keras' datasets give (N, 1) labels
        y = y[:, 0]
    elif y.ndim == 2:
        if is_string_labels(y):
            raise AugtrainError(
                f"{what}: y of class names must be one name per image, got {y.shape}"
            )
        y = _one_hot_labels(y, what)
    elif y.ndim > 2:
        raise AugtrainError(
            f"{what}: y must have shape (N,), (N, 1) or (N, classes), got {y.shape}"
        )
    y = y.reshape(-1)
    if len(x) != len(y):
        raise AugtrainError(f"{what}: x has {len(x)} images but y has {len(y)} labels")
    if len(x) == 0:
        raise AugtrainError(f"{what}: no images")
    if is_string_labels(y):
        names = label_names(y)
        classes = list(classes) if classes is not None else sorted(set(names.tolist()))
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(names.tolist()) - index.keys())
        if unknown:
            raise AugtrainError(
                f"{what}: label {unknown[0]!r} is not one of the classes ({', '.join(classes)})"
            )
        y = np.asarray([index[n] for n in names.tolist()], dtype=np.int64)
    elif y.dtype.kind not in "uif":
        raise AugtrainError(f"{what}: y has dtype {y.dtype}; give integer class labels")
    elif y.dtype.kind == "f":
        if not (np.isfinite(y).all() and np.all(np.mod(y, 1) == 0)):
            raise AugtrainError(f"{what}: y must hold integer class labels")
    if y.min() < 0:
        raise AugtrainError(f"{what}: labels must be >= 0")
    return ImageArrays(x, y.astype(np.int64))


def center_crop(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The central size (h, w) window of (N, H, W, C) images, no larger than they are;
    offsets rounded as torchvision's CenterCrop."""
    h, w = x.shape[1:3]
    oh, ow = size
    top, left = int(round((h - oh) / 2.0)), int(round((w - ow) / 2.0))
    return x[:, top : top + oh, left : left + ow]


def center_crop_arrays(arrays: ImageArrays, size: tuple[int, int]) -> ImageArrays:
    if tuple(arrays.x.shape[1:3]) == tuple(size):
        return arrays
    x = np.ascontiguousarray(center_crop(arrays.x, size))
    return ImageArrays(x, arrays.y, arrays.filenames)  # not the cached content: no key


def split_last(arrays: ImageArrays, fraction: float) -> tuple[ImageArrays, ImageArrays]:
    """Hold out the last `fraction` of the samples, as Keras' `model.fit(validation_split=...)`."""
    n_val = int(len(arrays) * fraction)
    require(
        n_val > 0,
        f"--validation-split {fraction} of {len(arrays)} samples holds out none: too small a "
        f"split (it needs at least {1 / len(arrays):.2g})",
    )
    require(n_val < len(arrays), f"--validation-split {fraction} leaves no training sample")
    cut = len(arrays) - n_val
    idx = np.arange(len(arrays))
    return arrays.subset(idx[:cut]), arrays.subset(idx[cut:])
