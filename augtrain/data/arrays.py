"""In-memory datasets: uint8 NHWC images, int64 labels, class names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import AugtrainError, require


@dataclass
class ImageArrays:
    """One split: images (N, H, W, C) uint8 and labels (N,) int64."""

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

    def summary(self) -> str:
        parts = [f"train {len(self.train)}"]
        if self.val is not None:
            parts.append(f"val {len(self.val)}")
        if self.test is not None:
            parts.append(f"test {len(self.test)}")
        h, w, c = self.image_shape
        return f"{', '.join(parts)} images of {h}x{w}x{c}, {self.num_classes} classes"


def as_arrays(x: Any, y: Any, what: str = "arrays") -> ImageArrays:
    """Validate and convert user arrays: x (N,H,W,C) or (N,H,W) uint8, y (N,) or one-hot."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise AugtrainError(f"{what}: x must have shape (N, H, W, C), got {x.shape}")
    if x.dtype != np.uint8:
        if np.issubdtype(x.dtype, np.floating) and x.size and x.max() <= 1.0 and x.min() >= 0.0:
            x = np.round(x * 255.0)
        if x.size and (x.min() < 0 or x.max() > 255):
            raise AugtrainError(f"{what}: x values must lie in [0, 255] (uint8 images)")
        x = x.astype(np.uint8)
    if y.ndim == 2:  # one-hot / categorical labels
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if len(x) != len(y):
        raise AugtrainError(f"{what}: x has {len(x)} images but y has {len(y)} labels")
    if len(x) == 0:
        raise AugtrainError(f"{what}: no images")
    if not np.issubdtype(y.dtype, np.integer):
        if np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise AugtrainError(f"{what}: y must hold integer class labels")
    if y.min() < 0:
        raise AugtrainError(f"{what}: labels must be >= 0")
    return ImageArrays(np.ascontiguousarray(x), y.astype(np.int64))


def split_last(arrays: ImageArrays, fraction: float) -> tuple[ImageArrays, ImageArrays]:
    """Hold out the last `fraction` of the samples, as Keras' `model.fit(validation_split=...)`."""
    n_val = int(len(arrays) * fraction)
    require(0 < n_val < len(arrays), f"--validation-split {fraction} leaves an empty split")
    cut = len(arrays) - n_val
    idx = np.arange(len(arrays))
    return arrays.subset(idx[:cut]), arrays.subset(idx[cut:])
