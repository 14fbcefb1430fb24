"""LeNet-5 with batch normalisation, as in the Keras CIFAR-10 tutorial.

conv 6@5x5 -> BN -> ReLU -> max-pool -> BN -> conv 16@5x5 -> BN -> ReLU ->
max-pool -> BN -> dense 120 (ReLU) + BN -> dense 84 (ReLU) + BN -> dense classes.
At 32x32x3 it has 62,998 parameters in Keras' count (496 of them batch-norm
moving statistics).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .registry import pair, register_model


@register_model("lenet5", "LeNet-5 with batch norm (Keras CIFAR-10 tutorial)")
class LeNet5(nn.Module):
    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, input_size: int | tuple = 32
    ) -> None:
        super().__init__()
        h, w = pair(input_size)
        # Two 'valid' 5x5 convs, each followed by a 2x2 pool: (s - 4) // 2, twice.
        fh, fw = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            nn.BatchNorm2d(6),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(6),
            nn.Conv2d(6, 16, 5),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(16),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * fh * fw, 120),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(120),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(84),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
