"""Batched, seeded augmentation on uint8 or float NCHW tensors, on any device.

functional    pure functions (images, per-sample params) -> images
geometry      one 2x3 matrix per sample, one resample per batch (`warp`)
backends      kernels registered per backend (numba on the CPU, torch)
ops           the ops, by family: params(draw, shape) then apply(images, params)
keras_compat  ImageDataGenerator's apply_transform / get_random_transform, batched
aliases       Keras preprocessing-layer, Gluon and torchvision names for the same ops
presets       --augment none | flip | crop-flip | keras-basic | strong | randaugment |
              autoaugment
settings      the Keras-named augmentation settings (the CLI's flags) -> ops
preview       what a pipeline makes of some images over epochs (preview, report)

Modules inside the package import each other by module, never from this file.
"""

# aliases registers the keras.* / gluon.* names; speed_ops AlternatingFlip, FlipTranslate
from . import aliases, geometry, keras_compat, speed_ops  # noqa: F401
from .ops import (
    OPS,
    AutoAugment,
    BrightnessRange,
    CenterCrop,
    ChannelShift,
    ColorJitter,
    ContrastRange,
    CutMix,
    Cutout,
    FeaturewiseStandardize,
    GaussianNoise,
    MixUp,
    RandAugment,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomFlip,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRot90,
    RandomVerticalFlip,
    Rescale,
    Resize,
    SamplewiseStandardize,
    TrivialAugmentWide,
    ZCAWhitening,
    build_pipeline,
    fit,
)
from .pipeline import Compose, Op
from .presets import PRESETS, preset
from .random import Draw, epoch_order

__all__ = [
    "OPS",
    "PRESETS",
    "AutoAugment",
    "BrightnessRange",
    "CenterCrop",
    "ChannelShift",
    "ColorJitter",
    "Compose",
    "ContrastRange",
    "CutMix",
    "Cutout",
    "Draw",
    "FeaturewiseStandardize",
    "GaussianNoise",
    "MixUp",
    "Op",
    "RandAugment",
    "RandomAffine",
    "RandomCrop",
    "RandomErasing",
    "RandomFlip",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRot90",
    "RandomVerticalFlip",
    "Rescale",
    "Resize",
    "SamplewiseStandardize",
    "TrivialAugmentWide",
    "ZCAWhitening",
    "build_pipeline",
    "epoch_order",
    "fit",
    "preset",
]
