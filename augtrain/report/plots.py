"""The plots of a run: learning curves and the confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..io import save_figure


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def learning_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, training against validation."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [h[metric] for h in history], "o-", label=f"train {metric}")
        if history and f"val_{metric}" in history[0]:
            ax.plot(
                epochs, [h[f"val_{metric}"] for h in history], "o-", label=f"validation {metric}"
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def confusion_matrix_plot(
    cm: np.ndarray, classes: list[str], path: Path, normalize: bool = False
) -> None:
    """Heat map with class names on both axes and the count (or share) in each cell."""
    plt = _pyplot()
    cm = np.asarray(cm, dtype=np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    n = len(classes)
    size = max(5.0, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (row-normalised)" if normalize else ""))
    if n <= 20:
        top = shown.max() or 1
        for i in range(n):
            for j in range(n):
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(shown[i, j])}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if shown[i, j] > top / 2 else "black",
                )
    fig.tight_layout()
    save_figure(path, fig, dpi=100)
    plt.close(fig)
