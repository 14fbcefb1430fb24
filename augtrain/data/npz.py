"""NumPy archives: `x` (N, H, W, C) uint8 and `y` labels; optional x_test/y_test, x_val/y_val, classes."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AugtrainError
from . import cache
from .arrays import Dataset, ImageArrays, as_arrays, is_string_labels, label_names


def _class_names(arrays: dict[str, Any], what: str) -> list[str] | None:
    if "classes" not in arrays:
        return None
    given = np.asarray(arrays["classes"]).reshape(-1)
    classes = (
        label_names(given).tolist() if is_string_labels(given) else [str(c) for c in given.tolist()]
    )
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise AugtrainError(
            f"{what}: classes names {', '.join(map(repr, repeated))} more than once"
        )
    return classes


def _check_label_range(splits: list[ImageArrays], what: str) -> int:
    """The number of classes the integer labels imply, refusing a stray huge label: 0..max
    with most values never used is a typo far likelier than a model of max + 1 classes."""
    labels = np.concatenate([s.y for s in splits])
    count = int(labels.max()) + 1
    distinct = len(np.unique(labels))
    if count > max(2 * distinct, 16):
        raise AugtrainError(
            f"{what}: labels run up to {count - 1} but only {distinct} different labels appear "
            f"(a typo?); fix them, or give classes naming all {count} classes"
        )
    return count


def dataset_from_arrays(arrays: dict[str, Any], what: str = "arrays") -> Dataset:
    """A Dataset from a dict with x, y and optionally x_test, y_test, x_val, y_val, classes.
    Labels are integers, (N, 1) or one-hot arrays, or class names (str), all splits alike."""
    for key in ("x", "y"):
        if key not in arrays:
            raise AugtrainError(
                f"{what}: no array named {key!r} (found: {', '.join(arrays) or 'none'})"
            )
    classes = _class_names(arrays, what)
    label_keys = ["y"]
    for split in ("val", "test"):
        xk, yk = f"x_{split}", f"y_{split}"
        if (xk in arrays) != (yk in arrays):
            raise AugtrainError(f"{what}: {xk} and {yk} must be given together")
        if xk in arrays:
            label_keys.append(yk)
    named = [is_string_labels(arrays[k]) for k in label_keys]
    if any(named) and not all(named):
        raise AugtrainError(
            f"{what}: {', '.join(label_keys)} must all be class names or all integers"
        )
    if all(named) and classes is None:
        # class names in sorted order, as fastai's vocab and Keras' class folders
        classes = sorted(set().union(*(label_names(arrays[k]).tolist() for k in label_keys)))
    train = as_arrays(arrays["x"], arrays["y"], what, classes if all(named) else None)
    splits = {}
    for split in ("val", "test"):
        xk, yk = f"x_{split}", f"y_{split}"
        if xk in arrays:
            splits[split] = as_arrays(
                arrays[xk], arrays[yk], f"{what} ({xk})", classes if all(named) else None
            )
            if splits[split].x.shape[1:] != train.x.shape[1:]:
                raise AugtrainError(f"{what}: {xk} images differ in shape from x")
    if classes is not None:
        max_label = max(int(s.y.max()) for s in [train, *splits.values()])
        if max_label >= len(classes):
            raise AugtrainError(f"{what}: label {max_label} but only {len(classes)} class names")
    else:
        classes = [str(i) for i in range(_check_label_range([train, *splits.values()], what))]
    if len(classes) < 2:
        raise AugtrainError(f"{what}: only one class; a classifier needs at least two")
    key = cache.content_key(
        [
            train.x.shape,
            int(train.y.sum()),
            train.x[:: max(1, len(train) // 64)].tobytes().hex()[:4096],
        ]
    )
    return Dataset(
        classes,
        train,
        splits.get("val"),
        splits.get("test"),
        {"kind": "arrays", "fingerprint": key},
    )


def load_npz(path: Path) -> Dataset:
    if not path.exists():
        raise AugtrainError(f"--data {path}: no such file")
    if not path.is_file():
        raise AugtrainError(f"--data {path}: not a regular file")
    if path.stat().st_size == 0:
        raise AugtrainError(f"--data {path}: empty file, not a .npz archive")
    if not zipfile.is_zipfile(path):
        # np.load would try it as a pickle and talk about allow_pickle
        raise AugtrainError(f"--data {path}: not a .npz archive (write one with numpy.savez)")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as f:
            for k in f.files:
                try:
                    arrays[k] = f[k]
                except ValueError as e:
                    if "allow_pickle" not in str(e):
                        raise
                    raise AugtrainError(
                        f"--data {path}: array {k!r} holds Python objects, which are not loaded "
                        "(they could run code); save numbers or fixed-width strings"
                    ) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise AugtrainError(f"--data {path}: not a readable .npz file ({_short(e)})") from None
    data = dataset_from_arrays(arrays, str(path))
    data.source.update(kind="npz", path=str(path.resolve()))
    return data


def _short(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__
