"""Predictions and the metrics computed from them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..augment.functional import to_float


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    device: torch.device | str = "cpu",
    batch_size: int = 500,
) -> torch.Tensor:
    """Logits (N, classes) on the CPU for uint8 NHWC images."""
    model.eval()
    device = torch.device(device)
    x = torch.as_tensor(images)
    out = []
    for i in range(0, len(x), batch_size):
        batch = to_float(x[i : i + batch_size].to(device).permute(0, 3, 1, 2))
        if device.type == "cuda":
            batch = batch.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out.append(model(batch).float().cpu())
        else:
            out.append(model(batch).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: rows are true classes, columns predicted classes."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def classification_metrics(
    logits: torch.Tensor, labels: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    """Loss, accuracy, top-5 (more than 5 classes), per-class accuracy, confusion matrix."""
    labels_t = torch.as_tensor(labels, dtype=torch.int64)
    pred = logits.argmax(1).numpy()
    cm = confusion_matrix(np.asarray(labels), pred, len(classes))
    per_class = np.diag(cm) / np.maximum(cm.sum(1), 1)
    out: dict[str, Any] = {
        "loss": float(F.cross_entropy(logits, labels_t)),
        "accuracy": float((pred == labels).mean()),
        "samples": int(len(labels)),
    }
    if len(classes) > 5:
        top5 = logits.topk(5, dim=1).indices
        out["top5_accuracy"] = float((top5 == labels_t[:, None]).any(1).float().mean())
    out["per_class_accuracy"] = {name: float(a) for name, a in zip(classes, per_class)}
    out["confusion_matrix"] = cm.tolist()
    return out
