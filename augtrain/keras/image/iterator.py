"""`keras_preprocessing.image.iterator`: the iterators' base classes (`augtrain.keras.iterators`)."""

from ..iterators import BatchFromFilesMixin, Iterator
from ..utils import array_to_img, img_to_array, load_img  # noqa: F401  (1.1.2's module has them)

__all__ = ["BatchFromFilesMixin", "Iterator"]
