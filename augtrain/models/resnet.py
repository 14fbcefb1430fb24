"""ResNet-18/34/50 (He et al. 2016) with torchvision's parameter names.

stem="cifar": 3x3 stride-1 conv, no max-pool (the usual CIFAR variant, ~11.2M params
for resnet18).
stem="imagenet": 7x7 stride-2 conv + 3x3 max-pool, torchvision's resnet18 / resnet34 /
resnet50 (11,689,512 / 21,797,672 / 25,557,032 params with 1000 classes), so
torchvision state_dicts load as they are (`--pretrained` picks this stem).

resnet50's bottleneck strides in its 3x3 conv, as torchvision's (ResNet v1.5).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .registry import register_model


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand to 4x the width."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    block: type[nn.Module] = BasicBlock
    depths: tuple[int, ...] = (2, 2, 2, 2)

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | tuple = 32,
        stem: str = "cifar",
    ) -> None:
        super().__init__()
        if stem not in ("cifar", "imagenet"):
            raise ValueError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        expansion = self.block.expansion
        cin = 64
        for i, (width, depth) in enumerate(zip([64, 128, 256, 512], self.depths)):
            blocks = []
            for j in range(depth):
                blocks.append(self.block(cin, width, 2 if i > 0 and j == 0 else 1))
                cin = width * expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * expansion, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("resnet18", "ResNet-18, CIFAR stem (default) or ImageNet stem")
class ResNet18(ResNet):
    depths = (2, 2, 2, 2)


@register_model("resnet34", "ResNet-34, CIFAR stem (default) or ImageNet stem")
class ResNet34(ResNet):
    depths = (3, 4, 6, 3)


@register_model("resnet50", "ResNet-50 (bottleneck blocks), CIFAR stem (default) or ImageNet")
class ResNet50(ResNet):
    block = Bottleneck
    depths = (3, 4, 6, 3)
