"""`keras_preprocessing.image.utils`: the image file and array helpers (`augtrain.keras.utils`)."""

from PIL import Image as pil_image
from PIL import ImageEnhance

from ..utils import (
    array_to_img,
    img_to_array,
    list_pictures,
    load_img,
    save_img,
    validate_filename,
)

__all__ = [
    "ImageEnhance",
    "array_to_img",
    "img_to_array",
    "list_pictures",
    "load_img",
    "pil_image",
    "save_img",
    "validate_filename",
]
