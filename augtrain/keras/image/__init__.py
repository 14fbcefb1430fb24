"""`keras_preprocessing.image` (1.1.2) on augtrain's engine: change the import, keep the code.

    from augtrain.keras.image import ImageDataGenerator, random_rotation, load_img

The same public names and the same submodules: `affine_transformations`
(the module-level transforms of one image: `random_rotation`, `random_shift`,
`random_shear`, `random_zoom`, `apply_affine_transform`, `apply_channel_shift`,
`random_channel_shift`, `apply_brightness_shift`, `random_brightness`,
`flip_axis`, `transform_matrix_offset_center`), `utils` (`load_img`,
`img_to_array`, `array_to_img`, `save_img`, `validate_filename`,
`list_pictures`), `image_data_generator`, `iterator`, `numpy_array_iterator`,
`directory_iterator`, `dataframe_iterator`.
"""

from . import (
    affine_transformations,
    dataframe_iterator,
    directory_iterator,
    image_data_generator,
    iterator,
    numpy_array_iterator,
    utils,
)
from .affine_transformations import (
    apply_affine_transform,
    apply_brightness_shift,
    apply_channel_shift,
    flip_axis,
    random_brightness,
    random_channel_shift,
    random_rotation,
    random_shear,
    random_shift,
    random_zoom,
    transform_matrix_offset_center,
)
from .dataframe_iterator import DataFrameIterator
from .directory_iterator import DirectoryIterator
from .image_data_generator import ImageDataGenerator
from .iterator import Iterator
from .numpy_array_iterator import NumpyArrayIterator
from .utils import (
    ImageEnhance,
    array_to_img,
    img_to_array,
    list_pictures,
    load_img,
    pil_image,
    save_img,
    validate_filename,
)

__all__ = [
    "DataFrameIterator",
    "DirectoryIterator",
    "ImageDataGenerator",
    "ImageEnhance",
    "Iterator",
    "NumpyArrayIterator",
    "affine_transformations",
    "apply_affine_transform",
    "apply_brightness_shift",
    "apply_channel_shift",
    "array_to_img",
    "dataframe_iterator",
    "directory_iterator",
    "flip_axis",
    "image_data_generator",
    "img_to_array",
    "iterator",
    "list_pictures",
    "load_img",
    "numpy_array_iterator",
    "pil_image",
    "random_brightness",
    "random_channel_shift",
    "random_rotation",
    "random_shear",
    "random_shift",
    "random_zoom",
    "save_img",
    "transform_matrix_offset_center",
    "utils",
    "validate_filename",
]
