"""GoogLeNet / Inception v1 (Szegedy et al. 2015), without the auxiliary classifiers.

Each Inception module runs four branches side by side and concatenates them:
1x1 conv | 1x1 reduction -> 3x3 conv | 1x1 reduction -> 5x5 conv | 3x3 max-pool -> 1x1.
The 1x1 reductions are what make it cheap: a 3x3 conv from 28x28x256 to 192 channels costs
346,816,512 multiply-adds, with a 1x1 reduction to 128 channels first
25,690,112 + 173,408,256 = 199,098,368 (see `augtrain summary`).

Every conv is conv + batch norm + ReLU, with torchvision's names (`conv1.conv`,
`inception3a.branch2.1.bn`, ...). The paper's 5x5 convolution is used in the third branch;
torchvision's googlenet has a 3x3 there (`branch3_kernel=3` gives its exact shapes, so its
state_dict loads).

layout="imagenet": the paper's 224x224 network: 7x7/2 conv, max-pool, 1x1 + 3x3 conv,
    max-pool, inception 3a-3b, max-pool, 4a-4e, max-pool, 5a-5b, global average pool,
    dropout, dense. 7,005,832 parameters and 1.58 G multiply-adds at 224x224 with 1000
    classes (6,624,904 and 1.50 G with branch3_kernel=3, torchvision's count).
layout="cifar" (default): a 3x3 stride-1 first conv and no first max-pool, so a 32x32
    image reaches inception 3 at 16x16, 4 at 8x8 and 5 at 4x4 (5,983,402 parameters,
    0.48 G multiply-adds at 32x32 with 10 classes).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import AugtrainError
from .init import torchvision_init
from .registry import pair, register_model


class BasicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(
        self,
        cin: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        k5: int = 5,
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(cin, ch1x1, 1)
        self.branch2 = nn.Sequential(
            BasicConv2d(cin, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1)
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(cin, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, k5, padding=k5 // 2)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(cin, pool_proj, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


@register_model("googlenet", "GoogLeNet (Inception v1), CIFAR stem (default) or ImageNet")
class GoogLeNet(nn.Module):
    head_names = ("fc",)

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | tuple = 32,
        layout: str = "cifar",
        branch3_kernel: int = 5,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if layout not in ("cifar", "imagenet"):
            raise AugtrainError(f"googlenet: layout must be 'cifar' or 'imagenet', got {layout!r}")
        if branch3_kernel not in (3, 5):
            raise AugtrainError(f"googlenet: branch3_kernel must be 3 or 5, got {branch3_kernel}")
        h, w = pair(input_size)
        smallest = 32 if layout == "imagenet" else 8
        if min(h, w) < smallest:
            raise AugtrainError(
                f"googlenet ({layout}) needs inputs of at least {smallest}x{smallest}"
            )
        k5 = branch3_kernel
        if layout == "imagenet":
            self.conv1 = BasicConv2d(in_channels, 64, 7, stride=2, padding=3)
            self.maxpool1: nn.Module = nn.MaxPool2d(3, 2, ceil_mode=True)
        else:
            self.conv1 = BasicConv2d(in_channels, 64, 3, padding=1)
            self.maxpool1 = nn.Identity()
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, k5)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64, k5)
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64, k5)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64, k5)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64, k5)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64, k5)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128, k5)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128, k5)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128, k5)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        torchvision_init(self)  # no conv biases; norms keep their 1 and 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return self.fc(x)
