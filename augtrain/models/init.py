"""torchvision's weight initialisation, shared by the networks that copy its layouts."""

from __future__ import annotations

import math

import torch.nn as nn


def torchvision_init(net: nn.Module, linear: str = "normal") -> None:
    """Convs kaiming-normal (fan_out, ReLU gain) with zero bias; batch and group norms one
    and zero; linear layers N(0, 0.01) with zero bias, or with linear="uniform"
    U(-1/sqrt(out), 1/sqrt(out)) as torchvision's EfficientNet does."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear == "uniform":
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
            else:
                nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
