"""The names transfer learning was first written under, kept importable.

The code lives by concern: `models.heads` (head and base, freezing), `models.weights`
(reading weights, loading what fits), `models.registry.parse_options`; the unfreeze
callback is `training.unfreeze.FreezeBase`, feature extraction and the logistic head are
`training.features` (models import nothing from training).
"""

from __future__ import annotations

from .heads import freeze_base, head_names, in_head, param_groups, split_parameters
from .pretrained import IMAGENET_MEAN, IMAGENET_STD
from .registry import parse_options
from .weights import LoadReport, Weights, init_from, load_weights, read_weights

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LoadReport",
    "Weights",
    "freeze_base",
    "head_names",
    "in_head",
    "init_from",
    "load_weights",
    "param_groups",
    "parse_options",
    "read_weights",
    "split_parameters",
]
