"""Predictions and the metrics computed from them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import DevicePolicy
from ..models.classifier import class_logits as class_logits  # re-exported: older callers
from ..models.classifier import is_binary as is_binary
from .inference import predict_images


def predict_logits(
    model: nn.Module,
    images: np.ndarray | torch.Tensor,
    device: torch.device | str = "cpu",
    batch_size: int = 500,
    policy: DevicePolicy | None = None,
) -> torch.Tensor:
    """Logits (N, classes) on the CPU for uint8 NHWC images (a binary model's as
    `class_logits` gives them).

    `policy` is the run's precision and memory format (`DevicePolicy.for_run`); by default
    amp and channels_last 'auto' on `device`. The model is expected on that device already."""
    policy = policy or DevicePolicy.for_run(device, None)
    return predict_images(model, torch.as_tensor(images), policy, batch_size)


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


def per_class_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]
) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class (scikit-learn; 0 where undefined)."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(
        np.asarray(y_true),
        np.asarray(y_pred),
        labels=list(range(len(classes))),
        zero_division=0,
    )
    return [
        {
            "class": name,
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, name in enumerate(classes)
    ]


def averages(report: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Macro and support-weighted averages of a `per_class_report`."""
    support = np.array([r["support"] for r in report], dtype=np.float64)
    out = {}
    for name, weights in (("macro", np.ones_like(support)), ("weighted", support)):
        total = weights.sum() or 1.0
        out[name] = {
            k: float(sum(w * r[k] for w, r in zip(weights, report)) / total)
            for k in ("precision", "recall", "f1")
        }
    return out


def confusion_matrix_csv(cm: np.ndarray, classes: list[str], normalize: bool = False) -> str:
    """The matrix as CSV: a header of predicted classes, one row per true class.

    Counts are integers; `normalize` divides each row by its total (recall per cell).
    """
    import csv
    import io

    cm = np.asarray(cm, dtype=np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["true \\ predicted", *classes])
    for name, row in zip(classes, shown):
        w.writerow([name, *(f"{v:.6f}" if normalize else str(int(v)) for v in row)])
    return buf.getvalue()
