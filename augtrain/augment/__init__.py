"""Batched, seeded augmentation on uint8 or float NCHW tensors, on any device.

functional    pure functions (images, per-sample params) -> images
geometry      one 2x3 matrix per sample, one resample per batch (`warp`)
keras_compat  ImageDataGenerator's apply_transform / get_random_transform, batched
ops           parameter-holding ops (RandomAffine, RandomCrop, ColorJitter, MixUp, ...)
aliases       Keras preprocessing-layer, Gluon and torchvision names for the same ops
presets       --augment none | flip | crop-flip | keras-basic | strong | randaugment |
              autoaugment
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
