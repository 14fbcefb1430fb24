"""`keras_preprocessing.image.numpy_array_iterator` (`augtrain.keras.iterators`)."""

from ..iterators import Iterator, NumpyArrayIterator  # noqa: F401  (1.1.2's module has Iterator)
from ..utils import array_to_img  # noqa: F401

__all__ = ["NumpyArrayIterator"]
