"""What a trained model gets wrong, as fastai's ClassificationInterpretation shows it.

`Interpretation.from_evaluation` takes the `Evaluation` that `augtrain evaluate` computes
(the same predictions, TTA and checkpoint) and adds per-image losses, the most confused
class pairs and figures of both; nothing is predicted a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from . import grids, plots
from .evaluation import Evaluation


@dataclass
class Interpretation:
    """Per-image losses and the confusion of one evaluation.

    top_losses     every image, highest loss first: dicts with index, loss, true,
                   predicted, probability (of the predicted class)
    most_confused  (true class, predicted class, count) of the off-diagonal cells of
                   the confusion matrix with count >= 1, most frequent first
    per_class      precision / recall / F1 / support per class (as per_class.csv)
    confusion_matrix, losses, probs, preds, targets, images, classes, metrics
    """

    evaluation: Evaluation
    losses: np.ndarray  # (N,) cross-entropy of each image
    top_losses: list[dict[str, Any]]
    most_confused: list[tuple[str, str, int]]
    per_class: list[dict[str, Any]]
    confusion_matrix: np.ndarray

    @classmethod
    def from_evaluation(cls, ev: Evaluation) -> Interpretation:
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
        return cls(ev, losses, top, pairs, list(ev.metrics["per_class"]), cm)

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
        """The k images with the highest loss: 'pred / score / true' and the loss."""
        index = np.asarray([row["index"] for row in self.top_losses[:k]], dtype=np.int64)
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
        return plots.confusion_matrix_figure(self.confusion_matrix, self.classes, normalize)

    def __repr__(self) -> str:
        m = self.metrics
        worst = ", ".join(f"{t}->{p} x{n}" for t, p, n in self.most_confused[:3]) or "none"
        return (
            f"Interpretation({self.evaluation.split} split, {m['samples']} images, "
            f"accuracy {m['accuracy']:.4f}, most confused: {worst})"
        )
