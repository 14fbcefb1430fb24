"""Keras' image-augmentation API on augtrain's batched engine: change an import, keep the code.

    from augtrain.keras import ImageDataGenerator, fit

    datagen = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1)
    history = fit(model, datagen.flow(x_train, y_train, batch_size=32), epochs=80,
                  validation_data=(x_test, y_test))
    history.history["val_accuracy"]

`ImageDataGenerator` and its iterators follow keras-preprocessing 1.1.2
(`augtrain.keras.image`, `augtrain.keras.iterators`); `augtrain.keras.image`
is a drop-in for `keras_preprocessing.image` as a whole (its module-level
functions, `random_rotation`, `apply_affine_transform`, ..., and its
submodules); `fit` trains a PyTorch
model from them with augtrain's callbacks (`augtrain.keras.fit`); the
preprocessing layers are `torch.nn.Module`s (`augtrain.keras.layers`).
"""

from .fit import evaluate, fit
from .image import ImageDataGenerator
from .iterators import DataFrameIterator, DirectoryIterator, Iterator, NumpyArrayIterator
from .layers import (
    Normalization,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from .utils import array_to_img, img_to_array, load_img, save_img

__all__ = [
    "DataFrameIterator",
    "DirectoryIterator",
    "ImageDataGenerator",
    "Iterator",
    "Normalization",
    "NumpyArrayIterator",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Rescaling",
    "Resizing",
    "array_to_img",
    "evaluate",
    "fit",
    "img_to_array",
    "load_img",
    "save_img",
]
