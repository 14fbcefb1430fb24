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


def table_csv(rows: list[dict[str, Any]]) -> str:
    """Rows of one table (per-class figures, predictions) as CSV, the first row's keys as
    the header."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


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


# ------------------------------------------------------------------- multi-label figures
def multilabel_scores(predicted: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Precision, recall and F1 of (N, K) 0/1 predictions against 0/1 targets: micro
    (every (image, label) pair pooled) and macro (the mean over labels); 0 where undefined,
    as scikit-learn's zero_division=0. Also per label, for the report."""
    predicted, targets = np.asarray(predicted, bool), np.asarray(targets, bool)
    tp = (predicted & targets).sum(0).astype(np.float64)
    fp = (predicted & ~targets).sum(0).astype(np.float64)
    fn = (~predicted & targets).sum(0).astype(np.float64)

    def prf(tp: Any, fp: Any, fn: Any) -> tuple[Any, Any, Any]:
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
        recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
        return precision, recall, f1

    p, r, f = prf(tp, fp, fn)
    mp, mr, mf = prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    return {
        "micro": {"precision": float(mp[0]), "recall": float(mr[0]), "f1": float(mf[0])},
        "macro": {"precision": float(p.mean()), "recall": float(r.mean()), "f1": float(f.mean())},
        "per_label": {"precision": p, "recall": r, "f1": f, "support": targets.sum(0)},
    }


def average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Average precision of each label (column): the area under its precision-recall
    curve as scikit-learn's average_precision_score computes it (precision at each
    positive, ranked by score, ties together); NaN for a label with no positive image."""
    from sklearn.metrics import average_precision_score

    scores, targets = np.asarray(scores, np.float64), np.asarray(targets) > 0.5
    out = np.full(scores.shape[1], np.nan)
    for k in range(scores.shape[1]):
        if targets[:, k].any():
            out[k] = average_precision_score(targets[:, k], scores[:, k])
    return out


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP: the mean of `average_precision` over the labels that have a positive image
    (the others have none to rank); NaN when none has."""
    ap = average_precision(scores, targets)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
