"""Named augmentation presets for the CLI (`--augment NAME`)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import AugtrainError
from .ops.erasing import Cutout
from .ops.geometry import (
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    keras_transform,
)
from .ops.policies import AutoAugment, RandAugment, TrivialAugmentWide
from .pipeline import Compose, Op

PRESETS: dict[str, Callable[[], list[Op]]] = {
    "none": lambda: [],
    "flip": lambda: [RandomHorizontalFlip()],
    # The CIFAR recipe: 4-pixel reflect padding, random 32x32 crop, flip; one gather.
    "crop-flip": lambda: [RandomCrop(padding=4, padding_mode="reflect", flip=True)],
    # Photos (ImageNet-style, with --cache-size): torchvision's RandomResizedCrop to the
    # target size, then a flip.
    "rrc-flip": lambda: [RandomResizedCrop(), RandomHorizontalFlip()],
    # The Keras tutorials' ImageDataGenerator(rotation_range=10, width_shift_range=0.1,
    # height_shift_range=0.1, horizontal_flip=True), fill_mode 'nearest' (Keras' default):
    # the op the same CLI flags build, which gives that generator's very pixels.
    "keras-basic": lambda: [
        keras_transform(
            rotation_range=10,
            width_shift_range=0.1,
            height_shift_range=0.1,
            horizontal_flip=True,
            fill_mode="nearest",
        )
    ],
    # For long runs: crop-flip, then one TrivialAugment op per image, then a 16x16 cutout.
    "strong": lambda: [
        RandomCrop(padding=4, padding_mode="reflect", flip=True),
        TrivialAugmentWide(),
        Cutout(size=16),
    ],
    # The papers' CIFAR-10 pipelines: crop-flip, the policy, then a 16x16 cutout
    # (RandAugment at torchvision's N=2, M=9 of 31; AutoAugment's CIFAR-10 policy).
    "randaugment": lambda: [
        RandomCrop(padding=4, padding_mode="reflect", flip=True),
        RandAugment(num_ops=2, magnitude=9),
        Cutout(size=16),
    ],
    "autoaugment": lambda: [
        RandomCrop(padding=4, padding_mode="reflect", flip=True),
        AutoAugment(policy="cifar10"),
        Cutout(size=16),
    ],
}


def preset(name: str, seed: int = 0) -> Compose:
    """The pipeline of preset `name`."""
    if name not in PRESETS:
        raise AugtrainError(f"unknown --augment preset {name!r}; choose from {', '.join(PRESETS)}")
    return Compose(PRESETS[name](), seed=seed)
