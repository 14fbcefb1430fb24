"""`ImageDataGenerator`: keras-preprocessing 1.1.2's class, on augtrain's batched engine.

Same constructor, same methods, same attributes (`mean`, `std`,
`principal_components`, `zoom_range` as a pair, ...), same errors. What differs
is inside:

- The iterators augment whole chunks of samples at once: the batch becomes an
  NCHW float tensor, Keras' per-image random parameters are drawn for every
  sample in one call (`augtrain.augment.keras_compat`), and one batched warp
  applies them (`augtrain.augment.geometry`). Keras loops over images in
  Python and calls SciPy once per channel.
- Randomness is keyed, not global: the parameters of sample `i` in epoch `e`
  of an iterator with seed `s` are a hash of (s, e, i) (`augtrain.augment.Draw`),
  so a batch is the same whatever the batch size, chunking or thread that
  computes it. `seed=None` draws the key from NumPy's global generator once,
  so `np.random.seed(...)` before `flow(...)` still makes a run repeatable.
  The single-image `get_random_transform` / `random_transform` draw as Keras
  does, from NumPy's global generator, so they give Keras' very parameters.
- `fit()` reads the data in chunks with float64 sums (Keras makes two float32
  copies of the whole array), and ZCA uses a symmetric eigendecomposition of
  the covariance, which for it is the same as Keras' SVD.

Order of operations, as Keras: affine warp (rotation, shifts, shear, zoom),
channel shift, flips, brightness; then `standardize`: preprocessing_function,
rescale, samplewise centre / std, featurewise centre / std, ZCA.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ...augment import functional as AF
from ...augment.functional import KERAS_FILL_MODES
from ...augment.ops.checks import zoom_bounds
from ...augment.random import Draw
from ...errors import AugtrainError
from .. import _engine
from ..iterators import DataFrameIterator, DirectoryIterator, NumpyArrayIterator, seed_key
from ..utils import check_data_format
from .affine_transformations import (  # noqa: F401  (the transforms: names 1.1.2's module has)
    apply_affine_transform,
    apply_brightness_shift,
    apply_channel_shift,
    cast_rounded,
    flip_axis,
)

# the steps of apply_transform after the warp and flips, in Keras' parameter names
SHIFT_KEYS = ("channel_shift_intensity", "brightness")
# rows of data processed at once by fit(): bounds its memory whatever the dataset size
FIT_CHUNK_VALUES = 1 << 24


class ImageDataGenerator:
    """Generate batches of image data with real-time augmentation (Keras' API; see module doc)."""

    def __init__(
        self,
        featurewise_center: bool = False,
        samplewise_center: bool = False,
        featurewise_std_normalization: bool = False,
        samplewise_std_normalization: bool = False,
        zca_whitening: bool = False,
        zca_epsilon: float = 1e-6,
        rotation_range: float = 0,
        width_shift_range: Any = 0.0,
        height_shift_range: Any = 0.0,
        brightness_range: Any = None,
        shear_range: float = 0.0,
        zoom_range: Any = 0.0,
        channel_shift_range: float = 0.0,
        fill_mode: str = "nearest",
        cval: float = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        rescale: float | None = None,
        preprocessing_function: Any = None,
        data_format: str = "channels_last",
        validation_split: float = 0.0,
        interpolation_order: int = 1,
        dtype: str = "float32",
    ) -> None:
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.zca_epsilon = zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        self.zoom_range = zoom_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.dtype = dtype
        self.interpolation_order = interpolation_order

        self.data_format = check_data_format(data_format)
        if data_format == "channels_first":
            self.channel_axis, self.row_axis, self.col_axis = 1, 2, 3
        else:
            self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(
                "`validation_split` must be strictly between 0 and 1. "
                f" Received: {validation_split}"
            )
        self._validation_split = validation_split

        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.principal_components: np.ndarray | None = None

        try:  # the meaning every front end gives it (Keras' error type and words)
            self.zoom_range = list(zoom_bounds(zoom_range))
        except AugtrainError:
            raise ValueError(
                f"`zoom_range` should be a float or a tuple or list of two floats. Received: {zoom_range}"
            ) from None
        if zca_whitening:
            if not featurewise_center:
                self.featurewise_center = True
                warnings.warn(
                    "This ImageDataGenerator specifies `zca_whitening`, which overrides "
                    "setting of `featurewise_center`.",
                    stacklevel=2,
                )
            if featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn(
                    "This ImageDataGenerator specifies `zca_whitening` which overrides "
                    "setting of`featurewise_std_normalization`.",
                    stacklevel=2,
                )
        if featurewise_std_normalization and not featurewise_center:
            self.featurewise_center = True
            warnings.warn(
                "This ImageDataGenerator specifies `featurewise_std_normalization`, "
                "which overrides setting of `featurewise_center`.",
                stacklevel=2,
            )
        if samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn(
                "This ImageDataGenerator specifies `samplewise_std_normalization`, "
                "which overrides setting of `samplewise_center`.",
                stacklevel=2,
            )
        if brightness_range is not None:
            if not isinstance(brightness_range, (tuple, list)) or len(brightness_range) != 2:
                raise ValueError(
                    "`brightness_range should be tuple or list of two floats. "
                    f"Received: {brightness_range}"
                )
        self.brightness_range = brightness_range
        # Checked here rather than when the first image is warped (where Keras / SciPy fail).
        if fill_mode not in KERAS_FILL_MODES:
            raise ValueError(
                f"Invalid fill_mode {fill_mode!r}; expected one of {', '.join(KERAS_FILL_MODES)}"
            )
        if interpolation_order not in (0, 1):
            raise ValueError(
                f"interpolation_order={interpolation_order} is not supported: augtrain resamples "
                "with order 0 (nearest) or 1 (bilinear, the default)"
            )

    # ------------------------------------------------------------------ iterators
    def flow(
        self,
        x: Any,
        y: Any = None,
        batch_size: int = 32,
        shuffle: bool = True,
        sample_weight: Any = None,
        seed: int | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        subset: str | None = None,
        *,
        ignore_class_split: bool = False,
    ) -> NumpyArrayIterator:
        """Batches of augmented images (and labels) from arrays; see Keras' `flow`.

        `ignore_class_split` (tf.keras 2.x): allow a subset split that leaves some
        class out of the training or the validation part.
        """
        return NumpyArrayIterator(
            x,
            y,
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            sample_weight=sample_weight,
            seed=seed,
            data_format=self.data_format,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            ignore_class_split=ignore_class_split,
            subset=subset,
            dtype=self.dtype,
        )

    def flow_from_directory(
        self,
        directory: Any,
        target_size: tuple[int, int] = (256, 256),
        color_mode: str = "rgb",
        classes: list[str] | None = None,
        class_mode: str | None = "categorical",
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        follow_links: bool = False,
        subset: str | None = None,
        interpolation: str = "nearest",
        keep_aspect_ratio: bool = False,
        cache_images: bool | None = None,
    ) -> DirectoryIterator:
        """Batches from a folder of class subfolders; see Keras' `flow_from_directory`.

        `cache_images` (augtrain's): keep the decoded images in memory after the
        first epoch (and in augtrain's disk cache); None decides by size.
        """
        return DirectoryIterator(
            directory,
            self,
            target_size=target_size,
            color_mode=color_mode,
            classes=classes,
            class_mode=class_mode,
            data_format=self.data_format,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            follow_links=follow_links,
            subset=subset,
            interpolation=interpolation,
            keep_aspect_ratio=keep_aspect_ratio,
            dtype=self.dtype,
            cache_images=cache_images,
        )

    def flow_from_dataframe(
        self,
        dataframe: Any,
        directory: Any = None,
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
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        subset: str | None = None,
        interpolation: str = "nearest",
        validate_filenames: bool = True,
        keep_aspect_ratio: bool = False,
        cache_images: bool | None = None,
        **kwargs: Any,
    ) -> DataFrameIterator:
        """Batches from a pandas DataFrame of file names; see Keras' `flow_from_dataframe`."""
        if "has_ext" in kwargs:
            warnings.warn(
                "has_ext is deprecated, filenames in the dataframe have to match the exact "
                "filenames in disk.",
                DeprecationWarning,
                stacklevel=2,
            )
        if "sort" in kwargs:
            warnings.warn(
                "sort is deprecated, batches will be created in the same order than the "
                "filenames provided if shuffle is set to False.",
                DeprecationWarning,
                stacklevel=2,
            )
        if class_mode == "other":
            warnings.warn(
                '`class_mode` "other" is deprecated, please use `class_mode` "raw".',
                DeprecationWarning,
                stacklevel=2,
            )
            class_mode = "raw"
        if "drop_duplicates" in kwargs:
            warnings.warn(
                "drop_duplicates is deprecated, you can drop duplicates by using the "
                "pandas.DataFrame.drop_duplicates method.",
                DeprecationWarning,
                stacklevel=2,
            )
        return DataFrameIterator(
            dataframe,
            directory,
            self,
            x_col=x_col,
            y_col=y_col,
            weight_col=weight_col,
            target_size=target_size,
            color_mode=color_mode,
            classes=classes,
            class_mode=class_mode,
            data_format=self.data_format,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            subset=subset,
            interpolation=interpolation,
            dtype=self.dtype,
            validate_filenames=validate_filenames,
            keep_aspect_ratio=keep_aspect_ratio,
            cache_images=cache_images,
        )

    # ------------------------------------------------------------ standardizing
    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Keras' `standardize`, in place on float input, on whatever `x` is given.

        As in Keras, the samplewise statistics are those of the whole array
        passed (one image when the iterators call it). The iterators use the
        batched `_standardize_batch`, per sample.
        """
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        if self.featurewise_center:
            if self.mean is not None:
                x -= self.mean
            else:
                _not_fitted("featurewise_center")
        if self.featurewise_std_normalization:
            if self.std is not None:
                x /= self.std + 1e-6
            else:
                _not_fitted("featurewise_std_normalization")
        if self.zca_whitening:
            if self.principal_components is not None:
                flatx = np.reshape(x, (-1, int(np.prod(x.shape[-3:]))))
                x = np.reshape(np.dot(flatx, self.principal_components), x.shape)
            else:
                _not_fitted("zca_whitening")
        return x

    def _standardize_batch(self, x: torch.Tensor) -> torch.Tensor:
        """`standardize` of each sample of a float batch in the data format's layout (may be in place)."""
        if self.preprocessing_function:
            arr = x.numpy()
            out = [np.asarray(self.preprocessing_function(a), dtype=np.float32) for a in arr]
            x = torch.from_numpy(np.stack(out)) if out else x
        if self.rescale:
            x.mul_(float(self.rescale))
        if self.samplewise_center or self.samplewise_std_normalization:
            x = AF.samplewise_standardize(
                x, center=self.samplewise_center, std=self.samplewise_std_normalization
            )
        if self.featurewise_center:
            if self.mean is not None:
                x.sub_(torch.as_tensor(np.asarray(self.mean, dtype=np.float32)))
            else:
                _not_fitted("featurewise_center")
        if self.featurewise_std_normalization:
            if self.std is not None:
                x.div_(torch.as_tensor(np.asarray(self.std, dtype=np.float32)) + 1e-6)
            else:
                _not_fitted("featurewise_std_normalization")
        if self.zca_whitening:
            if self.principal_components is not None:
                pc = torch.as_tensor(np.asarray(self.principal_components, dtype=np.float32))
                x = (x.reshape(len(x), -1) @ pc).reshape(x.shape)
            else:
                _not_fitted("zca_whitening")
        return x

    # ------------------------------------------------------------ random params
    def _has_transform(self) -> bool:
        """Whether any random transform is configured (else the engine is skipped)."""
        return bool(
            self.rotation_range
            or _nonzero(self.width_shift_range)
            or _nonzero(self.height_shift_range)
            or self.shear_range
            or list(self.zoom_range) != [1, 1]
            or self.channel_shift_range
            or self.horizontal_flip
            or self.vertical_flip
            or self.brightness_range is not None
        )

    def _draw_params(self, draw: Draw, height: int, width: int) -> dict[str, torch.Tensor]:
        """Keras' random transform parameters for every sample of `draw`, batched."""
        return _engine.draw_params(self, draw, height, width)

    def _transform_batch(self, images: torch.Tensor, draw: Draw) -> torch.Tensor:
        """Random transforms of a float NCHW batch, parameters keyed by `draw`."""
        if not self._has_transform():
            return images
        params = self._draw_params(draw, images.shape[-2], images.shape[-1])
        return _engine.apply(self, images, params)

    def get_random_transform(self, img_shape: tuple[int, ...], seed: int | None = None) -> dict:
        """Random parameters for one image of shape `img_shape`: Keras' dict, Keras' numbers.

        Drawn as 1.1.2 draws them, from NumPy's global generator (reseeded with
        `seed` when one is given, as 1.1.2 does), so seeded code gets the very
        parameters keras-preprocessing gave it. The iterators draw keyed
        parameters from the same distributions instead (module doc).
        """
        if seed is not None:
            np.random.seed(seed)
        theta = _uniform_or_zero(self.rotation_range)
        tx = _keras_shift(self.height_shift_range, img_shape[self.row_axis - 1])
        ty = _keras_shift(self.width_shift_range, img_shape[self.col_axis - 1])
        shear = _uniform_or_zero(self.shear_range)
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (np.random.random() < 0.5) * self.horizontal_flip
        flip_vertical = (np.random.random() < 0.5) * self.vertical_flip
        channel_shift_intensity = None
        if self.channel_shift_range != 0:
            channel_shift_intensity = np.random.uniform(
                -self.channel_shift_range, self.channel_shift_range
            )
        brightness = None
        if self.brightness_range is not None:
            brightness = np.random.uniform(self.brightness_range[0], self.brightness_range[1])
        return {
            "theta": theta,
            "tx": tx,
            "ty": ty,
            "shear": shear,
            "zx": zx,
            "zy": zy,
            "flip_horizontal": flip_horizontal,
            "flip_vertical": flip_vertical,
            "channel_shift_intensity": channel_shift_intensity,
            "brightness": brightness,
        }

    def apply_transform(self, x: np.ndarray, transform_parameters: dict) -> np.ndarray:
        """Transform one image (rank 3, the generator's data format) by Keras' parameter dict.

        Returns the dtype 1.1.2 returns: the input's (integers rounded) unless a
        channel shift (NumPy's promotion with the intensity) or a brightness
        shift (float32) is applied.
        """
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"apply_transform takes one image of rank 3; got shape {x.shape}")
        params = _engine.from_keras_dict(transform_parameters)
        shifts = {k: params.pop(k) for k in SHIFT_KEYS if params.get(k) is not None}
        if shifts and x.dtype.kind in "biu":
            # 1.1.2's warp stores integers (SciPy keeps the dtype): the shifts see them rounded
            out = self._apply_one(cast_rounded(self._apply_one(x, params), x.dtype), shifts)
        else:
            out = self._apply_one(x, {**params, **shifts})
        return cast_rounded(out, _keras_output_dtype(x.dtype, transform_parameters))

    def _apply_one(self, x: np.ndarray, params: dict) -> np.ndarray:
        """One image through the engine: float32, the generator's data format."""
        batch = self._to_nchw(torch.from_numpy(np.array(x, dtype=np.float32))[None])
        return self._from_nchw(_engine.apply(self, batch, params))[0].numpy()

    def random_transform(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """A randomly transformed copy of one image."""
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def _to_nchw(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2) if self.data_format == "channels_last" else x

    def _from_nchw(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1) if self.data_format == "channels_last" else x

    # ------------------------------------------------------------------- fitting
    def fit(self, x: Any, augment: bool = False, rounds: int = 1, seed: int | None = None) -> None:
        """Compute the featurewise mean / std and ZCA matrix from sample data (Keras' `fit`).

        Same results as Keras (rescale first, then the optional augmented
        rounds); computed over chunks with float64 sums.
        """
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(
                f"Input to `.fit()` should have rank 4. Got array with shape: {x.shape}"
            )
        if x.shape[self.channel_axis] not in {1, 3, 4}:
            warnings.warn(
                f'Expected input to be images (as Numpy array) following the data format convention "{self.data_format}" '
                f"(channels on axis {self.channel_axis}), i.e. expected either 1, 3 or 4 channels on axis "
                f"{self.channel_axis}. However, it was passed an array with shape {x.shape} "
                f"({x.shape[self.channel_axis]} channels).",
                stacklevel=2,
            )
        if not (
            self.featurewise_center or self.featurewise_std_normalization or self.zca_whitening
        ):
            return
        key = seed_key(seed)
        n = len(x)
        per_image = int(np.prod(x.shape[1:]))
        chunk = max(1, FIT_CHUNK_VALUES // max(per_image, 1))
        passes = rounds if augment else 1
        reduce_axes = (0, self.row_axis, self.col_axis)
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]

        def chunks():
            for r in range(passes):
                for lo in range(0, n, chunk):
                    part = torch.from_numpy(np.array(x[lo : lo + chunk], dtype=np.float32))
                    if self.rescale:
                        part.mul_(float(self.rescale))
                    if augment:
                        index = torch.arange(lo, min(lo + chunk, n))
                        draw = Draw(key, r, index, "keras")
                        part = self._from_nchw(self._transform_batch(self._to_nchw(part), draw))
                    yield part.to(torch.float64)

        total = passes * n * per_image / x.shape[self.channel_axis]
        mean = sum(c.sum(dim=reduce_axes) for c in chunks()) / total
        self.mean = mean.numpy().astype(self.dtype).reshape(shape)
        mean_b = mean.reshape([1, *shape])
        need_std = self.featurewise_std_normalization
        if need_std or self.zca_whitening:
            sq = torch.zeros_like(mean)
            d = per_image
            sigma = torch.zeros(d, d, dtype=torch.float64) if self.zca_whitening else None
            for c in chunks():
                c = c - mean_b
                if need_std:
                    sq += (c * c).sum(dim=reduce_axes)
                if sigma is not None:
                    flat = c.reshape(len(c), -1)
                    sigma += flat.T @ flat
            if need_std:
                self.std = torch.sqrt(sq / total).numpy().astype(self.dtype).reshape(shape)
            if sigma is not None:
                # Keras: u, s, _ = svd(sigma); pc = (u * 1/sqrt(s + eps)) @ u.T. sigma is
                # symmetric positive semi-definite, so its eigendecomposition is that SVD.
                sigma /= passes * n
                s, u = torch.linalg.eigh(sigma)
                s_inv = 1.0 / torch.sqrt(s.clamp_min(0)[None] + self.zca_epsilon)
                self.principal_components = ((u * s_inv) @ u.T).numpy().astype(self.dtype)


def _uniform_or_zero(value: float) -> float:
    """Keras' draw of a symmetric range: uniform(-value, value), or 0 without a draw when off."""
    return np.random.uniform(-value, value) if value else 0


def _keras_shift(spec: Any, size: int) -> Any:
    """Keras' shift draw for one axis (1.1.2's get_random_transform, call for call):
    an int or a list picks a value and a sign, a float draws uniformly; fractions
    (everything < 1) are of the image's size."""
    if not _nonzero(spec):
        return 0
    try:
        t = np.random.choice(spec)
        t *= np.random.choice([-1, 1])
    except ValueError:  # a float: np.random.choice takes none
        t = np.random.uniform(-spec, spec)
    if np.max(spec) < 1:
        t *= size
    return t


def _keras_output_dtype(dtype: np.dtype, transform_parameters: dict) -> np.dtype:
    """The dtype 1.1.2's apply_transform returns for an input of `dtype`: SciPy's warp and
    the flips keep it, the channel shift is NumPy's `x + intensity`, the brightness shift's
    PIL round trip ends in float32."""
    if transform_parameters.get("brightness") is not None:
        return np.dtype(np.float32)
    intensity = transform_parameters.get("channel_shift_intensity")
    if intensity is not None:
        return np.result_type(dtype, intensity)
    return dtype


def _nonzero(value: Any) -> bool:
    if isinstance(value, (list, tuple, np.ndarray)):
        return len(value) > 0
    return bool(value)


def _not_fitted(what: str) -> None:
    warnings.warn(
        f"This ImageDataGenerator specifies `{what}`, but it hasn't been fit on any training "
        "data. Fit it first by calling `.fit(numpy_data)`.",
        stacklevel=3,
    )
