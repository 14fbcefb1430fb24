"""The loss objects the Trainer calls: `train(outputs, batch)` -> (mean loss to minimise,
number correct, samples with an accuracy) and `evaluate(outputs, batch)` -> (summed loss,
number correct, samples with an accuracy). Keras' losses: `augtrain.keras.fit`."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..report import multilabel
from ..report.metrics import class_logits
from .sources import Batch


# -------------------------------------------------------------------------- the loss
class ClassifierLoss:
    """augtrain's loss: cross-entropy on class logits (a binary model's one logit as two,
    `report.metrics.class_logits`), label smoothing in training only; accuracy by argmax.

    A loss object has `train(outputs, batch)` -> (mean loss to minimise, number correct,
    number of samples with an accuracy) and `evaluate(outputs, batch)` -> (summed loss,
    number correct, samples with an accuracy); see `augtrain.keras.fit` for Keras' losses.
    """

    def __init__(self, label_smoothing: float = 0.0, binary: bool = False) -> None:
        self.label_smoothing, self.binary = label_smoothing, binary

    def train(self, outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, Any, int]:
        logits = class_logits(outputs, self.binary)
        loss = F.cross_entropy(logits.float(), batch.targets, label_smoothing=self.label_smoothing)
        return loss, (logits.argmax(1) == batch.labels).sum(), batch.size

    def evaluate(self, outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, Any, int]:
        logits = class_logits(outputs.float(), self.binary)
        loss = F.cross_entropy(logits, batch.targets, reduction="sum")
        return loss, (logits.argmax(1) == batch.labels).sum(), batch.size


class MultiLabelLoss:
    """--label-mode multi's loss (report/multilabel.py): binary cross-entropy per label on
    multi-hot targets; an image counts as correct when every label is right at
    --threshold (scikit-learn's multi-label accuracy, exact match)."""

    def __init__(self, label_smoothing: float = 0.0, threshold: float = 0.5) -> None:
        self.bce, self.threshold = multilabel.criterion(label_smoothing), threshold

    def train(self, outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, Any, int]:
        outputs = outputs.float()
        correct = multilabel.correct(outputs, batch.targets, self.threshold)
        return self.bce(outputs, batch.targets), correct, batch.size

    def evaluate(self, outputs: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, Any, int]:
        outputs = outputs.float()
        loss = multilabel.loss_sum(outputs, batch.targets)
        return loss, multilabel.correct(outputs, batch.targets, self.threshold), batch.size


def default_loss(config: Any) -> ClassifierLoss | MultiLabelLoss:
    """The loss a config asks for: its --label-mode."""
    if config.label_mode == "multi":
        return MultiLabelLoss(config.label_smoothing, config.threshold)
    return ClassifierLoss(config.label_smoothing, config.label_mode == "binary")
