"""Augmentation ops: classes that hold ranges, draw params (`params`), and apply them
(`apply`) with the kernels of `functional` and `geometry`. By family:

    geometry    flips, quarter turns, crops, resizes; RandomAffine (Keras' random
                transform) and its factory `keras_transform`
    color       brightness, contrast, channel shift, colour jitter, grayscale, noise
    erasing     Cutout, RandomErasing
    mixing      MixUp, CutMix
    policies    TrivialAugmentWide, RandAugment, AutoAugment
    normalize   Rescale, standardisation, ZCA, `fit`
    compose     the registry (`OPS`, `register_op`) and `build_pipeline`
    checks      the argument checks the ops and their front ends share

Every op is registered by class name, so a pipeline recorded in config.json
(`Compose.config()`) can be rebuilt with `build_pipeline`.
"""

from ..pipeline import Compose, Op
from .checks import (
    check_choice,
    check_nonnegative,
    check_pair,
    check_probability,
    check_range,
    check_shift,
    check_zoom,
    zoom_bounds,
)
from .color import (
    BrightnessRange,
    ChannelShift,
    ColorJitter,
    ContrastRange,
    GaussianNoise,
    RandomGrayscale,
)
from .compose import OPS, build_pipeline, register_op
from .erasing import Cutout, RandomErasing
from .geometry import (
    KERAS_PARAM_KEYS,
    CenterCrop,
    RandomAffine,
    RandomCrop,
    RandomFlip,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRot90,
    RandomVerticalFlip,
    Resize,
    apply_keras_transform,
    draw_keras_params,
    keras_transform,
)
from .mixing import CutMix, MixUp
from .normalize import FeaturewiseStandardize, Rescale, SamplewiseStandardize, ZCAWhitening, fit
from .policies import (
    AUGMENT_OPS,
    AUTOAUGMENT_BINS,
    AUTOAUGMENT_POLICIES,
    MAGNITUDE_SPACES,
    TRIVIAL_OPS,
    AutoAugment,
    RandAugment,
    TrivialAugmentWide,
    apply_augment_ops,
    magnitude_table,
)

__all__ = [
    "AUGMENT_OPS",
    "AUTOAUGMENT_BINS",
    "AUTOAUGMENT_POLICIES",
    "KERAS_PARAM_KEYS",
    "MAGNITUDE_SPACES",
    "OPS",
    "TRIVIAL_OPS",
    "AutoAugment",
    "BrightnessRange",
    "CenterCrop",
    "ChannelShift",
    "ColorJitter",
    "Compose",
    "ContrastRange",
    "CutMix",
    "Cutout",
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
    "apply_augment_ops",
    "apply_keras_transform",
    "build_pipeline",
    "check_choice",
    "check_nonnegative",
    "check_pair",
    "check_probability",
    "check_range",
    "check_shift",
    "check_zoom",
    "draw_keras_params",
    "fit",
    "keras_transform",
    "magnitude_table",
    "register_op",
    "zoom_bounds",
]
