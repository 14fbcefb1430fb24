"""Small tutorial CNNs."""

from __future__ import annotations

import torch
import torch.nn as nn

from .registry import pair, register_model


@register_model("cnn4", "4 conv LeakyReLU net of the Keras CIFAR-10 tutorial")
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


@register_model(
    "shallowvgg", "ShallowVGGNet of the lecture: 2x conv 32, pool, 2x conv 64, pool, dense 512"
)
class ShallowVGG(nn.Module):
    """conv 32, conv 32, max-pool 2, conv 64, conv 64, max-pool 2, dense 512, dense classes;
    3x3 'same' convs and ReLU, no batch norm or dropout (2,168,362 params at 32x32x3, 10
    classes). The lecture trains it with SGD lr 0.01, batch 16, 25 epochs,
    validation_split 0.1, keeping the best val_loss checkpoint."""

    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, input_size: int | tuple = 32
    ) -> None:
        super().__init__()
        h, w = pair(input_size)

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(in_channels, 32),
            *conv(32, 32),
            nn.MaxPool2d(2),
            *conv(32, 64),
            *conv(64, 64),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * (h // 4) * (w // 4), 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
