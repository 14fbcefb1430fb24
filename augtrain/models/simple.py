"""Small tutorial CNNs."""

from __future__ import annotations

import torch
import torch.nn as nn

from .registry import pair, register_model


@register_model("cnn4", "4 conv LeakyReLU net of the Keras CIFAR-10 tutorial, ~1.1M params")
class CNN4(nn.Module):
    """conv 16, conv 32, pool, dropout .25, conv 32, conv 64, pool, dropout .25,
    dense 256, dropout .5, dense classes; all 3x3 'same' convs, LeakyReLU(0.1)."""

    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, input_size: int | tuple = 32
    ) -> None:
        super().__init__()
        h, w = pair(input_size)

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1)]

        self.features = nn.Sequential(
            *conv(in_channels, 16),
            *conv(16, 32),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            *conv(32, 32),
            *conv(32, 64),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * (h // 4) * (w // 4), 256),
            nn.LeakyReLU(0.1),
            nn.Dropout(0.5),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
