"""Batched, seeded augmentation on uint8 or float NCHW tensors, on any device."""

from .ops import OPS, RandomCrop, RandomHorizontalFlip, RandomVerticalFlip, build_pipeline
from .pipeline import Compose, Op
from .presets import PRESETS, preset
from .random import Draw, epoch_order

__all__ = [
    "OPS",
    "PRESETS",
    "Compose",
    "Draw",
    "Op",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "build_pipeline",
    "epoch_order",
    "preset",
]
