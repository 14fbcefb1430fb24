"""Data sources -> uint8 Dataset (train / val / test), decoded once and cached.

load_data("cifar10")                       official download (md5-checked)
load_data("path/cifar-10-python.tar.gz")   local tarball, or cifar-10-batches-py/
load_data("path/to/folder")                class subfolders (flow_from_directory)
load_data("data.npz")                      arrays x, y (+ x_test, y_test, classes)
load_data((x, y)) / load_data({"x": ..})   NumPy arrays from Python
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import AugtrainError
from .arrays import Dataset, ImageArrays, as_arrays, center_crop_arrays, split_last
from .cache import cache_dir
from .cifar10 import is_cifar_path, load_cifar10
from .folder import load_folder, load_image
from .npz import dataset_from_arrays, load_npz

__all__ = ["Dataset", "ImageArrays", "as_arrays", "cache_dir", "load_data", "load_image"]


def check_cache_size(cache_size: tuple[int, int], target_size: tuple[int, int] | None) -> None:
    """--cache-size (presizing) needs a --target-size to crop to, no larger than itself."""
    if target_size is None:
        raise AugtrainError("--cache-size needs --target-size (the size the model takes)")
    if cache_size[0] < target_size[0] or cache_size[1] < target_size[1]:
        raise AugtrainError(
            f"--cache-size {cache_size[0]} {cache_size[1]} must be at least --target-size "
            f"{target_size[0]} {target_size[1]}"
        )


def load_data(
    data: Any = "cifar10",
    target_size: tuple[int, int] | None = None,
    color_mode: str = "rgb",
    interpolation: str = "bilinear",
    classes: list[str] | None = None,
    validation_split: float = 0.0,
    cache: str | Path | None = None,
    use_cache: bool = True,
    cache_size: tuple[int, int] | None = None,
    labels: str | Path | None = None,
    fn_col: str | int = 0,
    label_col: str | int = 1,
    keep_aspect_ratio: bool = False,
    label_delim: str | None = " ",
    multi_label: bool | None = None,
) -> Dataset:
    """Load any supported source into a Dataset; see the module docstring.

    `cache_size` (fastai's presizing): an image folder is decoded and cached at that size,
    larger than `target_size`; the training split stays there (a random crop brings it to
    the target on the device each batch) and the validation and test splits are centre
    cropped to `target_size`, as torchvision's eval `Resize + CenterCrop`.

    `labels` (a CSV, see `labels_csv`): the images and classes it lists, files relative
    to `data` when that is a folder, else to the CSV's folder.

    `keep_aspect_ratio` (Keras' `crop_to_aspect_ratio`): files resized to `target_size`
    (or `cache_size`) have their centre cropped to its aspect ratio first, not stretched.

    `label_delim`, `multi_label`: a CSV's cells of several labels (see `labels_csv`):
    `multi_label` True splits them, False reads each whole, None decides from the cells."""
    if keep_aspect_ratio and target_size is None:
        raise AugtrainError("--keep-aspect-ratio needs --target-size (the shape to crop to)")
    if cache_size is not None:
        check_cache_size(cache_size, target_size)
        path = Path(str(data)).expanduser() if isinstance(data, (str, Path)) else None
        if path is None or not path.is_dir() or is_cifar_path(path):
            raise AugtrainError("--cache-size applies to image folders (--data DIR)")
        dataset = load_data(
            data,
            cache_size,
            color_mode,
            interpolation,
            classes,
            validation_split,
            cache,
            use_cache,
            keep_aspect_ratio=keep_aspect_ratio,
            labels=labels,
            fn_col=fn_col,
            label_col=label_col,
            label_delim=label_delim,
            multi_label=multi_label,
        )
        for split in ("val", "test"):
            arrays = getattr(dataset, split)
            if arrays is not None:
                setattr(dataset, split, center_crop_arrays(arrays, target_size))
        dataset.source = {**dataset.source, "cache_size": list(cache_size)}
        return dataset
    if not 0.0 <= validation_split < 1.0:
        raise AugtrainError(f"--validation-split {validation_split} must lie in [0, 1)")
    cache_root = cache_dir(cache)
    if labels is not None:
        from .labels_csv import load_labels_csv

        root = None
        if isinstance(data, (str, Path)) and str(data) != "cifar10":
            root = Path(data).expanduser()
            if not root.is_dir():
                raise AugtrainError(f"--data {data}: with --labels, give the images' folder")
        return load_labels_csv(
            labels,
            root,
            target_size,
            color_mode,
            interpolation,
            classes,
            validation_split,
            cache_root,
            fn_col,
            label_col,
            use_cache,
            keep_aspect_ratio,
            label_delim,
            multi_label,
        )
    if keep_aspect_ratio:
        path = Path(str(data)).expanduser() if isinstance(data, (str, Path)) else None
        if path is None or not path.is_dir() or is_cifar_path(path):
            raise AugtrainError(
                "--keep-aspect-ratio applies to image files (--data DIR or --labels FILE.csv)"
            )
    if isinstance(data, Dataset):
        dataset = data
    elif isinstance(data, tuple):
        if len(data) != 2:
            raise AugtrainError("data=(x, y) takes exactly two arrays")
        dataset = dataset_from_arrays({"x": data[0], "y": data[1]})
    elif isinstance(data, dict):
        dataset = dataset_from_arrays(data)
    elif str(data) == "cifar10":
        dataset = load_cifar10(None, cache_root, use_cache=use_cache)
    else:
        path = Path(data).expanduser()
        if not path.exists():
            raise AugtrainError(f"--data {data}: no such file or folder")
        if path.suffix == ".npz":
            dataset = load_npz(path)
        elif is_cifar_path(path):
            dataset = load_cifar10(path, cache_root, use_cache=use_cache)
        elif path.is_dir():
            return load_folder(
                path,
                target_size,
                color_mode,
                interpolation,
                classes,
                validation_split,
                cache_root,
                use_cache=use_cache,
                keep_aspect_ratio=keep_aspect_ratio,
            )
        else:
            raise AugtrainError(f"--data {data}: not a folder, .npz or CIFAR-10 tarball")
    if validation_split and dataset.val is None:
        dataset.train, dataset.val = split_last(dataset.train, validation_split)
    return dataset
