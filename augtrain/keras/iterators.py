"""Keras' iterators: `NumpyArrayIterator`, `DirectoryIterator`, `DataFrameIterator`.

They behave as keras-preprocessing 1.1.2's (`len`, indexing, `next`, `reset`,
`on_epoch_end`, `class_indices`, `classes`, `filenames`, `samples`, the same
outputs and errors) and differ inside:

Order and randomness. Epoch `e` visits the samples in `epoch_order(key, e)`
and sample `i` is transformed with parameters keyed by (key, e, i), where
`key` is the seed (or, with `seed=None`, a number drawn once from NumPy's
global generator). Epochs advance when `next()` wraps around, on
`on_epoch_end()` (what Keras' fit calls on a Sequence), and on `reset()` in the
middle of an epoch. `it[i]` is a pure function of (epoch, i).

Chunks. Small images are augmented a chunk of consecutive batches at a time
(about `CHUNK_VALUES` values, e.g. 1,344 CIFAR images for batch size 32), in
one engine call; the batches are then sliced from it and standardized. Since
the parameters depend on the sample index only, a batch is the same whether it
came from a chunk or alone. A chunk reads the generator's transform settings
when it is computed; standardization reads them at every batch.

Files. Directory and dataframe iterators decode with augtrain's loader
(`augtrain.data.folder.load_image`, uint8) in parallel. When the decoded
images fit in `MEMORY_CACHE_BYTES` (or `cache_images=True`) the first batch
decodes them all at once, on all cores, into memory and into augtrain's disk
cache (keyed by paths, sizes, mtimes, size, colour mode, interpolation), and
later epochs never touch the files again; otherwise each chunk is decoded by a
thread pool when it is needed, as Keras does per batch.
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..augment.random import Draw, epoch_order
from ..data import cache as decode_cache
from ..data.folder import decode_images, list_classes, list_images, load_image
from ..errors import AugtrainError, missing_package
from .utils import COLOR_MODES, array_to_img, check_interpolation, load_img

CHUNK_VALUES = 1 << 22  # pixel values augmented per engine call (16 MB of float32)
MEMORY_CACHE_BYTES = int(os.environ.get("AUGTRAIN_KERAS_CACHE_BYTES", 2 << 30))


def seed_key(seed: int | None) -> int:
    """The Draw key for a user seed; without one, a key drawn from NumPy's global generator."""
    if seed is None:
        return int(np.random.randint(0, 2**31 - 1))
    return int(seed)


class Iterator:
    """Base class: `n` samples in batches of `batch_size`; subclasses load and label them."""

    # Keras' list, plus webp (which augtrain's folder reader accepts too)
    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff", "webp")

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int | None) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size}")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle = shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.epoch = 0
        self.lock = threading.Lock()
        self.index_array: np.ndarray | None = None
        self._key = seed_key(seed)
        self._orders: dict[int, np.ndarray] = {}
        self._chunk_lock = threading.Lock()
        self._chunk_key: tuple[int, int] | None = None
        self._chunk: torch.Tensor | None = None

    # ------------------------------------------------------------ Keras' API
    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx: int) -> Any:
        if idx >= len(self) or idx < -len(self):
            raise ValueError(
                f"Asked to retrieve element {idx}, but the Sequence has length {len(self)}"
            )
        idx = idx % len(self)
        self.total_batches_seen += 1
        if self.index_array is None:
            self._set_index_array()
        return self._batch(idx, self.epoch)

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> Any:
        return self.next()

    def next(self) -> Any:
        """The next batch; after the last batch of an epoch a new epoch starts."""
        with self.lock:
            if self.batch_index == 0:
                self._set_index_array()
            b, epoch = self.batch_index, self.epoch
            if self.n > (b + 1) * self.batch_size:
                self.batch_index += 1
            else:
                self.batch_index = 0
                self.epoch += 1
            self.total_batches_seen += 1
        return self._batch(b, epoch)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._set_index_array()

    def reset(self) -> None:
        """Back to the first batch; a pass that was under way counts as an epoch."""
        if self.batch_index != 0:
            self.epoch += 1
        self.batch_index = 0

    def _set_index_array(self) -> None:
        self.index_array = self._order(self.epoch)

    def _get_batches_of_transformed_samples(self, index_array: np.ndarray) -> Any:
        """Keras' hook: the batch of these samples, transformed as in the current epoch."""
        index_array = np.asarray(index_array, dtype=np.int64)
        return self._finish(self._compute(index_array, self.epoch), index_array)

    # ------------------------------------------------------------ internals
    @property
    def image_shape_values(self) -> int:
        return int(np.prod(self.image_shape))  # image_shape: set by the subclasses

    def _order(self, epoch: int) -> np.ndarray:
        order = self._orders.get(epoch)
        if order is None:
            order = epoch_order(self._key, epoch, self.n, self.shuffle).numpy()
            self._orders = {epoch: order}  # the current epoch's only
        return order

    def _batches_per_chunk(self) -> int:
        per_batch = self.batch_size * max(self.image_shape_values, 1)
        return max(1, CHUNK_VALUES // per_batch)

    def _batch(self, b: int, epoch: int) -> Any:
        order = self._order(epoch)
        bs = self.batch_size
        k = self._batches_per_chunk()
        c = b // k
        with self._chunk_lock:
            if self._chunk_key != (epoch, c):
                self._chunk = self._compute(order[c * k * bs : (c + 1) * k * bs], epoch)
                self._chunk_key = (epoch, c)
            chunk = self._chunk
        index_array = order[b * bs : (b + 1) * bs]
        start = (b - c * k) * bs
        return self._finish(chunk[start : start + len(index_array)], index_array)

    def _standardize_per_batch(self) -> bool:
        """A user's preprocessing_function runs batch by batch, as Keras calls it (it may
        draw random numbers); without one, standardizing is per sample and runs on the
        whole chunk: a few large ops instead of a few small ones per batch."""
        gen = self.image_data_generator
        return gen is not None and bool(gen.preprocessing_function)

    def _compute(self, index_array: np.ndarray, epoch: int) -> torch.Tensor:
        """Load, randomly transform and (per chunk) standardize samples: a contiguous
        float32 tensor in the data format's layout."""
        x = self._load(index_array)  # a fresh copy
        gen = self.image_data_generator
        if gen is not None and len(index_array) and gen._has_transform():
            # uint8 images are warped as they are stored, straight to float32
            x = x if x.dtype == torch.uint8 else x.to(torch.float32)
            draw = Draw(self._key, epoch, torch.from_numpy(index_array), "keras")
            x = gen._from_nchw(gen._transform_batch(gen._to_nchw(x), draw)).contiguous()
        x = x.to(torch.float32)
        if gen is not None and len(x) and not self._standardize_per_batch():
            x = gen._standardize_batch(x)
        return x

    def _finish(self, x: torch.Tensor, index_array: np.ndarray) -> Any:
        """Build Keras' output tuple from a batch of the chunk (standardizing it here when a
        preprocessing_function asks for batch-by-batch calls)."""
        x = x.clone()  # the chunk stays intact: a batch asked for twice comes out the same
        if self._standardize_per_batch() and len(x):
            x = self.image_data_generator._standardize_batch(x)
        batch_x = x.numpy()
        if batch_x.dtype != np.dtype(self.dtype):
            batch_x = batch_x.astype(self.dtype)
        if self.save_to_dir:
            self._save(batch_x, index_array)
        return self._outputs(batch_x, index_array)

    def _save(self, batch_x: np.ndarray, index_array: np.ndarray) -> None:
        for i, j in enumerate(index_array):
            img = array_to_img(batch_x[i], self.data_format, scale=True)
            fname = f"{self.save_prefix}_{j}_{np.random.randint(1e4)}.{self.save_format}"
            img.save(os.path.join(self.save_to_dir, fname))

    def _load(self, index_array: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def _outputs(self, batch_x: np.ndarray, index_array: np.ndarray) -> Any:
        raise NotImplementedError


class NumpyArrayIterator(Iterator):
    """Batches from arrays `x` (rank 4, or a tuple (x, extra arrays)) and `y`; see Keras'."""

    def __init__(
        self,
        x: Any,
        y: Any,
        image_data_generator: Any,
        batch_size: int = 32,
        shuffle: bool = False,
        sample_weight: Any = None,
        seed: int | None = None,
        data_format: str = "channels_last",
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        subset: str | None = None,
        dtype: str = "float32",
        *,
        ignore_class_split: bool = False,
    ) -> None:
        self.dtype = dtype
        if type(x) is tuple or type(x) is list:
            if type(x[1]) is not list:
                x_misc = [np.asarray(x[1])]
            else:
                x_misc = [np.asarray(xx) for xx in x[1]]
            x = x[0]
            for xx in x_misc:
                if len(x) != len(xx):
                    raise ValueError(
                        "All of the arrays in `x` should have the same length. "
                        f"Found a pair with: len(x[0]) = {len(x)}, len(x[?]) = {len(xx)}"
                    )
        else:
            x_misc = []
        if y is not None and len(x) != len(y):
            raise ValueError(
                "`x` (images tensor) and `y` (labels) should have the same length. "
                f"Found: x.shape = {np.asarray(x).shape}, y.shape = {np.asarray(y).shape}"
            )
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError(
                "`x` (images tensor) and `sample_weight` should have the same length. "
                f"Found: x.shape = {np.asarray(x).shape}, "
                f"sample_weight.shape = {np.asarray(sample_weight).shape}"
            )
        if subset is not None:
            if subset not in {"training", "validation"}:
                raise ValueError(
                    f'Invalid subset name: {subset}; expected "training" or "validation".'
                )
            split = getattr(image_data_generator, "_validation_split", 0.0)
            split_idx = int(len(x) * split)
            if (
                not ignore_class_split
                and y is not None
                and not np.array_equal(np.unique(y[:split_idx]), np.unique(y[split_idx:]))
            ):
                raise ValueError(
                    "Training and validation subsets have different number of classes after "
                    "the split. If your numpy arrays are sorted by the label, you might want "
                    "to shuffle them."
                )
            part = slice(None, split_idx) if subset == "validation" else slice(split_idx, None)
            x = x[part]
            x_misc = [np.asarray(xx[part]) for xx in x_misc]
            if y is not None:
                y = y[part]
        x = np.asarray(x)
        if x.dtype != np.uint8:  # uint8 stays compact: it converts to float exactly
            x = np.asarray(x, dtype=dtype)
        if x.ndim != 4:
            raise ValueError(
                f"Input data in `NumpyArrayIterator` should have rank 4. "
                f"You passed an array with shape {x.shape}"
            )
        self._x = x
        self._x_float: np.ndarray | None = None
        self.x_misc = x_misc
        channels_axis = 3 if data_format == "channels_last" else 1
        if x.shape[channels_axis] not in {1, 3, 4}:
            warnings.warn(
                f'NumpyArrayIterator is set to use the data format convention "{data_format}" '
                f"(channels on axis {channels_axis}), i.e. expected either 1, 3, or 4 channels "
                f"on axis {channels_axis}. However, it was passed an array with shape {x.shape} "
                f"({x.shape[channels_axis]} channels).",
                stacklevel=2,
            )
        self.y = np.asarray(y) if y is not None else None
        self.sample_weight = np.asarray(sample_weight) if sample_weight is not None else None
        self.image_data_generator = image_data_generator
        self.data_format = data_format
        self.image_shape = tuple(x.shape[1:])
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        super().__init__(x.shape[0], batch_size, shuffle, seed)

    @property
    def x(self) -> np.ndarray:
        """The images as `dtype` (Keras' attribute; made on first access)."""
        if self._x_float is None:
            self._x_float = np.asarray(self._x, dtype=self.dtype)
        return self._x_float

    def _load(self, index_array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self._x[index_array])

    def _outputs(self, batch_x: np.ndarray, index_array: np.ndarray) -> Any:
        misc = [xx[index_array] for xx in self.x_misc]
        out = batch_x if not misc else [batch_x, *misc]
        if self.y is None:
            return out
        if self.sample_weight is not None:
            return out, self.y[index_array], self.sample_weight[index_array]
        return out, self.y[index_array]


# ------------------------------------------------------------------------ files
def _load_file(path: str, target_size, color_mode: str, interpolation: str, keep_aspect: bool):
    if keep_aspect:
        try:
            img = load_img(
                path,
                color_mode=color_mode,
                target_size=target_size,
                interpolation=interpolation,
                keep_aspect_ratio=True,
            )
        except Exception as e:
            raise AugtrainError(f"cannot read image {path}: {e}") from None
        arr = np.asarray(img.convert({"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}[color_mode]))
        return arr[..., None] if arr.ndim == 2 else arr
    return load_image(path, target_size, color_mode, interpolation)


class _FileImages:
    """Decoded images of a list of files, uint8 (N, H, W, C), cached in memory when they fit."""

    def __init__(
        self,
        paths: list[str],
        target_size: tuple[int, int],
        color_mode: str,
        interpolation: str,
        keep_aspect_ratio: bool,
        cache_images: bool | None,
    ) -> None:
        self.paths = paths
        self.target_size = (int(target_size[0]), int(target_size[1]))
        self.color_mode = color_mode
        self.interpolation = interpolation
        self.keep_aspect_ratio = keep_aspect_ratio
        channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]
        self.shape = (*self.target_size, channels)
        size = len(paths) * int(np.prod(self.shape))
        self.cached = size <= MEMORY_CACHE_BYTES if cache_images is None else bool(cache_images)
        self.images: np.ndarray | None = None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def load(self, index_array: np.ndarray) -> np.ndarray:
        if len(index_array) == 0:
            return np.zeros((0, *self.shape), np.uint8)
        if self.cached:
            with self._lock:
                if self.images is None:
                    self.images = self._load_all()
            return self.images[index_array]
        return self._decode([self.paths[i] for i in index_array])

    def _decode(self, paths: list[str]) -> np.ndarray:
        args = (self.target_size, self.color_mode, self.interpolation, self.keep_aspect_ratio)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(os.cpu_count() or 1)
        return np.stack(list(self._pool.map(lambda p: _load_file(p, *args), paths)))

    def _load_all(self) -> np.ndarray:
        stats = []
        try:
            for p in self.paths:
                st = os.stat(p)
                stats.append((os.path.abspath(p), st.st_size, st.st_mtime_ns))
        except OSError:
            return self._decode_all()
        key = decode_cache.content_key(
            {
                "kind": "keras-files",
                "files": stats,
                "target_size": self.target_size,
                "color_mode": self.color_mode,
                "interpolation": self.interpolation,
                "keep_aspect_ratio": self.keep_aspect_ratio,
            }
        )
        entry = decode_cache.cache_dir() / f"keras-{key}.npz"
        found = decode_cache.load(entry)
        if found is not None and found["x"].shape == (len(self.paths), *self.shape):
            return found["x"]
        x = self._decode_all()
        try:
            decode_cache.save(entry, {"x": x})
        except OSError:  # a read-only cache folder only costs the next run a decode
            pass
        return x

    def _decode_all(self) -> np.ndarray:
        if self.keep_aspect_ratio or len(self.paths) < 512:
            return self._decode(self.paths)
        return decode_images(
            [Path(p) for p in self.paths], self.target_size, self.color_mode, self.interpolation
        )


class BatchFromFilesMixin:
    """Keras' shared logic of the file iterators: processing attributes, labels."""

    def set_processing_attrs(
        self,
        image_data_generator: Any,
        target_size: tuple[int, int],
        color_mode: str,
        data_format: str,
        save_to_dir: str | None,
        save_prefix: str,
        save_format: str,
        subset: str | None,
        interpolation: str,
        keep_aspect_ratio: bool = False,
    ) -> None:
        self.image_data_generator = image_data_generator
        self.target_size = tuple(target_size)
        if color_mode not in COLOR_MODES:
            raise ValueError(
                f'Invalid color mode: {color_mode}; expected "rgb", "rgba", or "grayscale".'
            )
        self.color_mode = color_mode
        self.data_format = data_format
        channels = {"rgba": 4, "rgb": 3, "grayscale": 1}[color_mode]
        if data_format == "channels_last":
            self.image_shape = (*self.target_size, channels)
        else:
            self.image_shape = (channels, *self.target_size)
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        self.interpolation = check_interpolation(interpolation)
        self.keep_aspect_ratio = keep_aspect_ratio
        if subset is not None:
            validation_split = image_data_generator._validation_split
            if subset == "validation":
                split = (0, validation_split)
            elif subset == "training":
                split = (validation_split, 1)
            else:
                raise ValueError(
                    f'Invalid subset name: {subset};expected "training" or "validation"'
                )
        else:
            split = None
        self.split = split
        self.subset = subset

    def _init_files(self, cache_images: bool | None) -> None:
        self._files = _FileImages(
            self.filepaths,
            self.target_size,
            self.color_mode,
            self.interpolation,
            self.keep_aspect_ratio,
            cache_images,
        )

    def _load(self, index_array: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(self._files.load(index_array))
        return x.permute(0, 3, 1, 2) if self.data_format == "channels_first" else x

    def _outputs(self, batch_x: np.ndarray, index_array: np.ndarray) -> Any:
        mode = self.class_mode
        if mode == "input":
            batch_y = batch_x.copy()
        elif mode in {"binary", "sparse"}:
            batch_y = np.asarray([self.classes[i] for i in index_array], dtype=self.dtype)
        elif mode == "categorical":
            batch_y = np.zeros((len(batch_x), len(self.class_indices)), dtype=self.dtype)
            for i, j in enumerate(index_array):
                batch_y[i, self.classes[j]] = 1.0
        elif mode == "multi_output":
            batch_y = [output[index_array] for output in self.labels]
        elif mode == "raw":
            batch_y = self.labels[index_array]
        else:
            return batch_x
        if self.sample_weight is None:
            return batch_x, batch_y
        return batch_x, batch_y, self.sample_weight[index_array]

    @property
    def filepaths(self) -> list[str]:
        return self._filepaths


class DirectoryIterator(BatchFromFilesMixin, Iterator):
    """Batches from a folder of class subfolders, as Keras' `flow_from_directory`.

    Classes are the subfolder names sorted (hidden folders such as
    `.ipynb_checkpoints` skipped) or the list given; files are found
    recursively in sorted order; `subset` takes per class the first
    `validation_split` of that order for validation, the rest for training.
    """

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(
        self,
        directory: Any,
        image_data_generator: Any,
        target_size: tuple[int, int] = (256, 256),
        color_mode: str = "rgb",
        classes: list[str] | None = None,
        class_mode: str | None = "categorical",
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        data_format: str = "channels_last",
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        follow_links: bool = False,
        subset: str | None = None,
        interpolation: str = "nearest",
        dtype: str = "float32",
        keep_aspect_ratio: bool = False,
        cache_images: bool | None = None,
    ) -> None:
        self.set_processing_attrs(
            image_data_generator,
            target_size,
            color_mode,
            data_format,
            save_to_dir,
            save_prefix,
            save_format,
            subset,
            interpolation,
            keep_aspect_ratio,
        )
        self.directory = directory
        if class_mode not in self.allowed_class_modes:
            raise ValueError(
                f"Invalid class_mode: {class_mode}; expected one of: {self.allowed_class_modes}"
            )
        self.class_mode = class_mode
        self.dtype = dtype
        root = Path(directory)
        if not root.is_dir():
            raise FileNotFoundError(f"flow_from_directory: {directory} is not a folder")
        try:
            names = list_classes(root, list(classes) if classes else None)
        except AugtrainError as e:
            raise ValueError(str(e)) from None
        self.num_classes = len(names)
        self.class_indices = dict(zip(names, range(len(names))))
        files, labels = list_images(root, names, self.split, follow_links)
        self.filenames = [os.path.join(*f.relative_to(root).parts) for f in files]
        self.samples = len(self.filenames)
        self.classes = labels.astype(np.int32)
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self._filepaths = [os.path.join(directory, f) for f in self.filenames]
        self._init_files(cache_images)
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def labels(self) -> np.ndarray:
        return self.classes

    @property
    def sample_weight(self) -> None:
        return None


def check_dataframe(dataframe: Any) -> None:
    """flow_from_dataframe reads a pandas DataFrame: without pandas, or given something
    else, one line says so (Keras fails later inside pandas' own calls)."""
    try:
        import pandas as pd
    except ImportError:
        raise missing_package("flow_from_dataframe", "pandas", None) from None
    if not isinstance(dataframe, pd.DataFrame):
        raise AugtrainError(
            f"flow_from_dataframe takes a pandas DataFrame, got {type(dataframe).__name__}; "
            "build one with pandas.DataFrame({'filename': [...], 'class': [...]})"
        )


class DataFrameIterator(BatchFromFilesMixin, Iterator):
    """Batches from a pandas DataFrame of file names (and labels), as Keras'."""

    allowed_class_modes = {"binary", "categorical", "input", "multi_output", "raw", "sparse", None}

    def __init__(
        self,
        dataframe: Any,
        directory: Any = None,
        image_data_generator: Any = None,
        x_col: str = "filename",
        y_col: Any = "class",
        weight_col: str | None = None,
        target_size: tuple[int, int] = (256, 256),
        color_mode: str = "rgb",
        classes: list[str] | None = None,
        class_mode: str | None = "categorical",
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        data_format: str = "channels_last",
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        subset: str | None = None,
        interpolation: str = "nearest",
        dtype: str = "float32",
        validate_filenames: bool = True,
        keep_aspect_ratio: bool = False,
        cache_images: bool | None = None,
    ) -> None:
        self.set_processing_attrs(
            image_data_generator,
            target_size,
            color_mode,
            data_format,
            save_to_dir,
            save_prefix,
            save_format,
            subset,
            interpolation,
            keep_aspect_ratio,
        )
        check_dataframe(dataframe)
        df = dataframe.copy()
        self.directory = directory or ""
        self.class_mode = class_mode
        self.dtype = dtype
        self._check_params(df, x_col, y_col, weight_col, classes)
        if validate_filenames:
            df = self._filter_valid_filepaths(df, x_col)
        num_classes = 0
        if class_mode not in ["input", "multi_output", "raw", None]:
            df, classes = self._filter_classes(df, y_col, classes)
            num_classes = len(classes)
            self.class_indices = dict(zip(classes, range(len(classes))))
        if self.split:
            num_files = len(df)
            start, stop = int(self.split[0] * num_files), int(self.split[1] * num_files)
            df = df.iloc[start:stop, :]
        if class_mode not in ["input", "multi_output", "raw", None]:
            self.classes = self.get_classes(df, y_col)
        self.filenames = df[x_col].tolist()
        self._sample_weight = df[weight_col].values if weight_col else None
        if class_mode == "multi_output":
            self._targets = [np.array(df[col].tolist()) for col in y_col]
        if class_mode == "raw":
            self._targets = df[y_col].values
        self.samples = len(self.filenames)
        validated = "validated" if validate_filenames else "non-validated"
        if class_mode in ["input", "multi_output", "raw", None]:
            print(f"Found {self.samples} {validated} image filenames.")
        else:
            print(
                f"Found {self.samples} {validated} image filenames belonging to {num_classes} classes."
            )
        self._filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        self._init_files(cache_images)
        super().__init__(self.samples, batch_size, shuffle, seed)

    def _check_params(self, df, x_col, y_col, weight_col, classes) -> None:
        if self.class_mode not in self.allowed_class_modes:
            raise ValueError(
                f"Invalid class_mode: {self.class_mode}; expected one of: {self.allowed_class_modes}"
            )
        if self.class_mode == "multi_output" and not isinstance(y_col, list):
            raise TypeError(
                f'If class_mode="{self.class_mode}", y_col must be a list. '
                f"Received {type(y_col).__name__}."
            )
        if not all(df[x_col].apply(lambda v: isinstance(v, str))):
            raise TypeError(f"All values in column x_col={x_col} must be strings.")
        if self.class_mode in {"binary", "sparse"}:
            if not all(df[y_col].apply(lambda v: isinstance(v, str))):
                raise TypeError(
                    f'If class_mode="{self.class_mode}", y_col="{y_col}" column values must be strings.'
                )
        if self.class_mode == "binary":
            if classes:
                if len(set(classes)) != 2:
                    raise ValueError(
                        f'If class_mode="binary" there must be 2 classes. '
                        f"{len(set(classes))} class/es were given."
                    )
            elif df[y_col].nunique() != 2:
                raise ValueError(
                    f'If class_mode="binary" there must be 2 classes. '
                    f"Found {df[y_col].nunique()} classes."
                )
        if self.class_mode == "categorical":
            if not all(df[y_col].apply(lambda v: isinstance(v, (str, list, tuple)))):
                raise TypeError(
                    f'If class_mode="{self.class_mode}", y_col="{y_col}" column values must be '
                    "type string, list or tuple."
                )
        if classes and self.class_mode in {"input", "multi_output", "raw", None}:
            warnings.warn(
                f'`classes` will be ignored given the class_mode="{self.class_mode}"', stacklevel=3
            )
        if weight_col and not issubclass(df[weight_col].dtype.type, np.number):
            raise TypeError(f"Column weight_col={weight_col} must be numeric.")

    def get_classes(self, df, y_col) -> list:
        labels = []
        for label in df[y_col]:
            if isinstance(label, (list, tuple)):
                labels.append([self.class_indices[lbl] for lbl in label])
            else:
                labels.append(self.class_indices[label])
        return labels

    @staticmethod
    def _filter_classes(df, y_col, classes):
        df = df.copy()

        def remove_classes(labels, classes):
            if isinstance(labels, (list, tuple)):
                labels = [c for c in labels if c in classes]
                return labels or None
            if isinstance(labels, str):
                return labels if labels in classes else None
            raise TypeError(
                f"Expect string, list or tuple but found {type(labels)} in {y_col} column "
            )

        if classes:
            classes = set(classes)
            df[y_col] = df[y_col].apply(lambda v: remove_classes(v, classes))
        else:
            classes = set()
            for v in df[y_col]:
                if isinstance(v, (list, tuple)):
                    classes.update(v)
                else:
                    classes.add(v)
        return df.dropna(subset=[y_col]), sorted(classes)

    def _filter_valid_filepaths(self, df, x_col):
        paths = df[x_col].map(lambda fname: os.path.join(self.directory, fname))
        mask = paths.apply(
            lambda p: p.lower().endswith(self.white_list_formats) and os.path.isfile(p)
        )
        n_invalid = int((~mask).sum())
        if n_invalid:
            warnings.warn(
                f'Found {n_invalid} invalid image filename(s) in x_col="{x_col}". '
                "These filename(s) will be ignored.",
                stacklevel=3,
            )
        return df[mask]

    @property
    def labels(self) -> Any:
        if self.class_mode in {"multi_output", "raw"}:
            return self._targets
        return self.classes

    @property
    def sample_weight(self) -> Any:
        return self._sample_weight
