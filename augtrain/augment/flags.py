"""Moved: the CLI's augmentation flags are `augtrain.commands._augment_flags`, the values ->
ops function is `augtrain.augment.settings`. These names stay for callers not yet moved."""

from ..commands._augment_flags import (  # noqa: F401
    FLAG_NAMES,
    add_augment_arguments,
    augment_from_args,
)
