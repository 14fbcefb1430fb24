"""What a trained model gets wrong, as fastai's ClassificationInterpretation shows it.

`Interpretation.from_evaluation` takes the `Evaluation` that `augtrain evaluate` computes
(the same predictions, TTA and checkpoint) and adds per-image losses, the most confused
class pairs, each class's false positives and negatives, and figures of them; nothing is
predicted a second time.

A multi-label evaluation (report/multilabel.py) has several labels per image, as fastai's
`MultiCategory`: each image's loss is its binary cross-entropy (the mean over labels),
`top_losses` lists its true labels, those predicted above the threshold and the ones it
got wrong, `most_confused` pairs a missed label with one predicted in its place in the
same image, `confusion_matrix` is one 2 x 2 table per label, and `label_errors` (every
mode) counts each label's false positives and false negatives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import AugtrainError
from . import grids, multilabel, plots
from .evaluation import Evaluation


@dataclass
class Interpretation:
    """Per-image losses and the confusion of one evaluation.

    top_losses     every image, highest loss first: dicts with index, loss, true,
                   predicted, probability (of the predicted class); multi-label: true
                   and predicted are lists of labels, with probabilities (of the
                   predicted ones), false_positives and false_negatives
    most_confused  (true class, predicted class, count) of the off-diagonal cells of
                   the confusion matrix with count >= 1, most frequent first;
                   multi-label: (missed label, label wrongly predicted in the same image,
                   count)
    label_errors   per class: false_positives, false_negatives, true_positives and
                   support, the most errors first
    per_class      precision / recall / F1 / support per class (as per_class.csv)
    confusion_matrix  classes x classes; multi-label: (labels, 2, 2), each label's
                   [[TN, FP], [FN, TP]]
    losses, probs, preds, targets, images, classes, metrics, multi_label
    """

    evaluation: Evaluation
    losses: np.ndarray  # (N,) cross-entropy of each image
    top_losses: list[dict[str, Any]]
    most_confused: list[tuple[str, str, int]]
    per_class: list[dict[str, Any]]
    confusion_matrix: np.ndarray
    label_errors: list[dict[str, Any]]

    @classmethod
    def from_evaluation(cls, ev: Evaluation) -> Interpretation:
        if isinstance(ev, multilabel.MultiLabelEvaluation):
            losses = multilabel.image_losses(ev)
            confusion = multilabel.label_confusion(ev)
            return cls(
                ev,
                losses,
                multilabel.top_losses(ev, losses),
                multilabel.most_confused(ev),
                list(ev.metrics["per_class"]),
                confusion,
                label_errors(confusion, ev.classes),
            )
        labels = torch.as_tensor(ev.labels, dtype=torch.int64)
        # logits, or log(mean softmax) under TTA: cross-entropy is right for both
        losses = F.cross_entropy(ev.logits, labels, reduction="none").numpy()
        probs, pred = ev.probs, ev.pred
        order = np.argsort(-losses, kind="stable")
        top = [
            {
                "index": int(i),
                "loss": float(losses[i]),
                "true": ev.classes[int(ev.labels[i])],
                "predicted": ev.classes[int(pred[i])],
                "probability": float(probs[i, pred[i]]),
            }
            for i in order
        ]
        cm = np.asarray(ev.metrics["confusion_matrix"])
        pairs = [
            (ev.classes[t], ev.classes[p], int(cm[t, p]))
            for t in range(len(cm))
            for p in range(len(cm))
            if t != p and cm[t, p] > 0
        ]
        pairs.sort(key=lambda pair: -pair[2])  # stable: ties stay in class order
        per_label = one_vs_rest(cm)
        return cls(
            ev, losses, top, pairs, list(ev.metrics["per_class"]), cm,
            label_errors(per_label, ev.classes),
        )  # fmt: skip

    @property
    def multi_label(self) -> bool:
        return isinstance(self.evaluation, multilabel.MultiLabelEvaluation)

    @property
    def classes(self) -> list[str]:
        return self.evaluation.classes

    @property
    def metrics(self) -> dict[str, Any]:
        return self.evaluation.metrics

    @property
    def probs(self) -> np.ndarray:
        return self.evaluation.probs

    @property
    def preds(self) -> np.ndarray:
        return self.evaluation.pred

    @property
    def targets(self) -> np.ndarray:
        return self.evaluation.labels

    @property
    def images(self) -> np.ndarray:
        return self.evaluation.images

    def plot_top_losses(self, k: int = 16, cols: int = 8) -> Any:
        """The k images with the highest loss: 'pred / score / true' (multi-label: the
        labels predicted above the threshold, the true ones and the loss)."""
        index = np.asarray([row["index"] for row in self.top_losses[:k]], dtype=np.int64)
        if self.multi_label:
            return multilabel.prediction_grid(
                self.evaluation,
                index,
                f"top {len(index)} losses ({self.evaluation.split} split): predicted / true / loss",
                cols,
                [f"loss {row['loss']:.2f}" for row in self.top_losses[:k]],
                empty="no images",
            )
        return grids.prediction_grid(
            self.images,
            self.probs,
            self.targets,
            self.classes,
            index,
            f"top {len(index)} losses ({self.evaluation.split} split): pred / score / true",
            cols=cols,
        )

    def plot_confusion_matrix(self, normalize: bool = False) -> Any:
        """Counts (or each true class's shares, `normalize`) of true against predicted."""
        if self.multi_label:
            raise AugtrainError(
                "a multi-label run has no class-by-class confusion matrix: see "
                "label_errors (each label's false positives and negatives) and most_confused"
            )
        return plots.confusion_matrix_figure(self.confusion_matrix, self.classes, normalize)

    def __repr__(self) -> str:
        m = self.metrics
        worst = ", ".join(f"{t}->{p} x{n}" for t, p, n in self.most_confused[:3]) or "none"
        accuracy = "exact-match accuracy" if self.multi_label else "accuracy"
        return (
            f"Interpretation({self.evaluation.split} split, {m['samples']} images, "
            f"{accuracy} {m['accuracy']:.4f}, most confused: {worst})"
        )


def one_vs_rest(cm: np.ndarray) -> np.ndarray:
    """(classes, 2, 2) [[TN, FP], [FN, TP]] of each class from a confusion matrix (rows
    true, columns predicted), the layout of a multi-label run's per-label tables."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    tn = cm.sum() - tp - fp - fn
    return np.stack([np.stack([tn, fp], 1), np.stack([fn, tp], 1)], 1)


def label_errors(per_label: np.ndarray, classes: list[str]) -> list[dict[str, Any]]:
    """Each class's false positives (predicted, not true), false negatives (true, missed),
    true positives and support, the most errors first (ties in class order)."""
    rows = [
        {
            "class": name,
            "false_positives": int(per_label[k, 0, 1]),
            "false_negatives": int(per_label[k, 1, 0]),
            "true_positives": int(per_label[k, 1, 1]),
            "support": int(per_label[k, 1].sum()),
        }
        for k, name in enumerate(classes)
    ]
    rows.sort(key=lambda r: -(r["false_positives"] + r["false_negatives"]))
    return rows
