"""NumPy archives: `x` (N, H, W, C) uint8 and `y` labels; optional x_test/y_test, x_val/y_val, classes."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AugtrainError
from . import cache
from .arrays import Dataset, as_arrays


def dataset_from_arrays(arrays: dict[str, Any], what: str = "arrays") -> Dataset:
    """A Dataset from a dict with x, y and optionally x_test, y_test, x_val, y_val, classes."""
    for key in ("x", "y"):
        if key not in arrays:
            raise AugtrainError(f"{what}: no array named {key!r} (found: {', '.join(arrays) or 'none'})")
    train = as_arrays(arrays["x"], arrays["y"], what)
    splits = {}
    for split in ("val", "test"):
        xk, yk = f"x_{split}", f"y_{split}"
        if (xk in arrays) != (yk in arrays):
            raise AugtrainError(f"{what}: {xk} and {yk} must be given together")
        if xk in arrays:
            splits[split] = as_arrays(arrays[xk], arrays[yk], f"{what} ({xk})")
            if splits[split].x.shape[1:] != train.x.shape[1:]:
                raise AugtrainError(f"{what}: {xk} images differ in shape from x")
    max_label = max(int(s.y.max()) for s in [train, *splits.values()])
    if "classes" in arrays:
        classes = [str(c) for c in np.asarray(arrays["classes"]).tolist()]
        if max_label >= len(classes):
            raise AugtrainError(f"{what}: label {max_label} but only {len(classes)} class names")
    else:
        classes = [str(i) for i in range(max_label + 1)]
    if len(classes) < 2:
        raise AugtrainError(f"{what}: only one class; a classifier needs at least two")
    key = cache.content_key([train.x.shape, int(train.y.sum()), train.x[:: max(1, len(train) // 64)].tobytes().hex()[:4096]])
    return Dataset(classes, train, splits.get("val"), splits.get("test"), {"kind": "arrays", "fingerprint": key})


def load_npz(path: Path) -> Dataset:
    if not path.exists():
        raise AugtrainError(f"--data {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise AugtrainError(f"--data {path}: not a readable .npz file ({e})") from None
    data = dataset_from_arrays(arrays, str(path))
    data.source.update(kind="npz", path=str(path.resolve()))
    return data
