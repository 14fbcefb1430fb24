"""`keras_preprocessing.image.directory_iterator` (`augtrain.keras.iterators`)."""

from ..iterators import BatchFromFilesMixin, DirectoryIterator, Iterator  # noqa: F401

__all__ = ["DirectoryIterator"]
