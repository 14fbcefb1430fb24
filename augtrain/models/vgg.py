"""VGG-16 (Simonyan & Zisserman 2015) with torchvision's parameter names.

Thirteen 3x3 'same' convolutions in five blocks (64, 64 | 128, 128 | 256 x3 | 512 x3 |
512 x3), each block closed by a 2x2 max-pool, then a dense head. Parameter names follow
torchvision's `vgg16` / `vgg16_bn` (`features.N.*`, `classifier.N.*`), so their
ImageNet state_dicts load as they are (`--init-from vgg16-397923af.pth`).

layout="imagenet": torchvision's vgg16: adaptive average pool to 7x7, dense 4096, ReLU,
    dropout, dense 4096, ReLU, dropout, dense classes. 138,357,544 parameters and
    about 15.5 G multiply-adds at 224x224 with 1000 classes. No batch norm by default
    (`batch_norm=True` gives torchvision's vgg16_bn).
layout="cifar" (default): the usual CIFAR variant: batch norm after every conv (it does not
    train from scratch reliably without), global average pool (1x1 at 32x32), dense 512,
    ReLU, dropout 0.5, dense classes. 14,990,922 parameters and 0.31 G multiply-adds at
    32x32 with 10 classes. The convolutional base has the same names and shapes as vgg16_bn's, so its
    ImageNet weights load into the base (the head is new).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import AugtrainError
from .init import torchvision_init
from .registry import pair, register_model

# torchvision's configuration "D": channels, "M" = max-pool.
VGG16_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]
VGG16_CFG += [512, 512, 512, "M", 512, 512, 512, "M"]


def make_layers(cfg: list[int | str], in_channels: int, batch_norm: bool) -> nn.Sequential:
    """torchvision's make_layers: the same module order, hence the same features.N names."""
    layers: list[nn.Module] = []
    c = in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(c, int(v), 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(v)))
        layers.append(nn.ReLU(inplace=True))
        c = int(v)
    return nn.Sequential(*layers)


@register_model("vgg16", "VGG-16, CIFAR head (default) or ImageNet layout")
class VGG16(nn.Module):
    head_names = ("classifier",)  # what `--freeze base` leaves trainable

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | tuple = 32,
        layout: str = "cifar",
        batch_norm: bool | None = None,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if layout not in ("cifar", "imagenet"):
            raise AugtrainError(f"vgg16: layout must be 'cifar' or 'imagenet', got {layout!r}")
        h, w = pair(input_size)
        if min(h, w) < 32:
            raise AugtrainError(
                f"vgg16 needs inputs of at least 32x32 (five 2x2 pools), got {h}x{w}"
            )
        if batch_norm is None:
            batch_norm = layout == "cifar"
        self.layout = layout
        self.features = make_layers(VGG16_CFG, in_channels, batch_norm)
        if layout == "imagenet":
            self.avgpool: nn.Module = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(4096, num_classes),
            )
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(
                nn.Linear(512, 512),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(512, num_classes),
            )
        torchvision_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model("vgg16_bn", "VGG-16 with batch norm, torchvision's vgg16_bn (ImageNet layout)")
class VGG16BN(VGG16):
    """torchvision's vgg16_bn: the ImageNet layout with batch norm after every conv
    (138,365,992 parameters with 1000 classes); layout="cifar" gives vgg16's CIFAR head."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | tuple = 32,
        layout: str = "imagenet",
        batch_norm: bool | None = True,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_channels, input_size, layout, batch_norm, dropout)
