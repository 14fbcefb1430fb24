"""`keras_preprocessing.image.dataframe_iterator` (`augtrain.keras.iterators`)."""

from ..iterators import BatchFromFilesMixin, DataFrameIterator, Iterator  # noqa: F401
from ..utils import validate_filename  # noqa: F401  (1.1.2's module has it)

__all__ = ["DataFrameIterator"]
