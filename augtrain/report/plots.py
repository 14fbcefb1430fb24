"""The plots of a run: learning curves, the confusion matrix, runs compared.

Each plot has a `*_figure` function returning the matplotlib figure (the HTML
report embeds it) and a function that writes it to a file atomically.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from ..io import save_figure


def new_figure(**kwargs: Any) -> Any:
    """A figure with its own Agg canvas, outside pyplot: drawing and saving it never
    switch the user's backend nor leave a figure for their next `plt.show()`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def save(fig: Any, path: Path, dpi: int = 100) -> None:
    """Write a figure atomically (outside pyplot: it is freed with its last reference)."""
    save_figure(path, fig, dpi=dpi)


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for embedding)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def evaluation_curves(history: list[dict[str, Any]], metric: str) -> list[tuple[str, str]]:
    """(history key, legend label) of the per-epoch evaluations of `metric` a history holds:
    the validation split's (val_*) or the test split's (test_*: shown, never selected on),
    the EMA's (--ema) first when it is the run's model."""
    if not history:
        return []
    found = []
    for prefix, label in (("val", "validation"), ("test", "test")):
        for suffix, extra in (("_ema", " (EMA)"), ("", "")):
            if f"{prefix}_{metric}{suffix}" in history[0]:
                found.append((f"{prefix}_{metric}{suffix}", label + extra))
    return found


def learning_curves_figure(history: list[dict[str, Any]], title: str = "") -> Any:
    epochs = [h["epoch"] for h in history]
    fig = new_figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [h[metric] for h in history], "o-", label=f"train {metric}")
        for key, label in evaluation_curves(history, metric):
            ax.plot(epochs, [h.get(key) for h in history], "o-", label=f"{label} {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def learning_curves(history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, training against validation."""
    save(learning_curves_figure(history, title), path)


def confusion_matrix_figure(cm: np.ndarray, classes: list[str], normalize: bool = False) -> Any:
    cm = np.asarray(cm, dtype=np.float64)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    n = len(classes)
    size = max(5.0, 0.55 * n + 2)
    fig = new_figure(figsize=(size, size * 0.9))
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
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
    return fig


def confusion_matrix_plot(
    cm: np.ndarray, classes: list[str], path: Path, normalize: bool = False
) -> None:
    """Heat map with class names on both axes and the count (or share) in each cell."""
    save(confusion_matrix_figure(cm, classes, normalize), path)


def compare_figure(runs: list[tuple[str, list[dict[str, Any]]]]) -> Any:
    """Learning curves of several runs overlaid: one colour per run, validation solid,
    training dashed; loss on the left, accuracy on the right."""
    import matplotlib

    fig = new_figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, history) in enumerate(runs):
        color = colors[k % len(colors)]
        epochs = [h["epoch"] for h in history]
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(
                epochs,
                [h[metric] for h in history],
                "--",
                color=color,
                alpha=0.7,
                label=f"{name} train",
            )
            for key, label in evaluation_curves(history, metric)[:1]:  # one a run: legible
                ax.plot(
                    epochs,
                    [h.get(key) for h in history],
                    "o-",
                    color=color,
                    label=f"{name} {label}",
                )
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
