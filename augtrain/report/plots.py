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

_FIGURE_CLASS: Any = None


def _figure_class() -> Any:
    """matplotlib's Figure plus `_repr_png_`: a figure made off pyplot has no manager, so
    IPython shows it inline only when its inline backend is active; with this method a
    notebook cell ending in one draws it whatever the backend."""
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        from matplotlib.figure import Figure

        class NotebookFigure(Figure):
            def _repr_png_(self) -> bytes:
                return png_bytes(self)

        NotebookFigure.__qualname__ = "NotebookFigure"
        _FIGURE_CLASS = NotebookFigure
    return _FIGURE_CLASS


def new_figure(**kwargs: Any) -> Any:
    """A figure with its own Agg canvas, outside pyplot: drawing and saving it never
    switch the user's backend nor leave a figure for their next `plt.show()`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = _figure_class()(**kwargs)
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


# How a history key's prefix is named in legends: `val_loss` is "validation loss".
SPLIT_LABELS = {"val": "validation", "test": "test"}


def metric_series(history: list[dict[str, Any]], metric: str) -> list[tuple[str, str]]:
    """(legend label, history key) of each logged series of `metric`: the training one
    (`loss`), then every evaluated split's (`val_loss`, `test_loss`, ...), whatever the
    splits are called, in the order first logged; an EMA's (`val_loss_ema`, --ema) too."""
    keys: list[str] = []
    for row in history:
        for key in row:
            if key not in keys and (key == metric or _base(key).endswith("_" + metric)):
                keys.append(key)
    keys.sort(key=lambda k: k != metric)  # training first; the others as logged
    series = []
    for key in keys:
        if all(_number(row.get(key)) is None for row in history):
            continue
        prefix = _base(key)[: -len(metric) - 1]
        label = SPLIT_LABELS.get(prefix, prefix) + (" (EMA)" if key != _base(key) else "")
        series.append(("train" if key == metric else label, key))
    return series


def _base(key: str) -> str:
    """A history key without the EMA's suffix: `val_loss_ema` -> `val_loss`."""
    return key.removesuffix("_ema")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _points(history: list[dict[str, Any]], key: str) -> tuple[list[Any], list[float]]:
    """(epochs, values) of the rows where `key` holds a number."""
    pairs = [(h["epoch"], _number(h.get(key))) for h in history]
    kept = [(e, v) for e, v in pairs if v is not None]
    return [e for e, _ in kept], [v for _, v in kept]


def learning_curves_figure(history: list[dict[str, Any]], title: str = "") -> Any:
    """Loss and accuracy per epoch (training and each evaluated split), and the learning
    rate when the history logs it."""
    metrics = ["loss", "accuracy"]
    if any(_number(h.get("lr")) is not None for h in history):
        metrics.append("lr")
    fig = new_figure(figsize=(5 * len(metrics), 4))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        if metric == "lr":
            epochs, lr = _points(history, "lr")
            ax.plot(epochs, lr, "o-", color="#7f7f7f", label="learning rate (end of epoch)")
            if lr and min(lr) > 0 and max(lr) / min(lr) > 20:
                ax.set_yscale("log")
            ax.set_ylabel("learning rate")
        else:
            for label, key in metric_series(history, metric):
                ax.plot(*_points(history, key), "o-", label=f"{label} {metric}")
            ax.set_ylabel(metric)
        ax.set_xlabel("epoch")
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


def compare_title(names: list[str], width: int = 90) -> str:
    """'runs compared: a, b, c' shortened to about `width` characters."""
    shown = ", ".join(names)
    if len(shown) > width:
        shown = shown[: width - 1].rstrip(", ") + "…"
    return f"{len(names)} runs compared: {shown}"


def compare_figure(runs: list[tuple[str, list[dict[str, Any]]]], title: str | None = None) -> Any:
    """Learning curves of several runs overlaid: one colour per run, evaluated splits
    solid, training dashed; loss on the left, accuracy on the right. `title` defaults to
    the runs' names."""
    import matplotlib

    fig = new_figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, history) in enumerate(runs):
        color = colors[k % len(colors)]
        for ax, metric in zip(axes, ("loss", "accuracy")):
            for label, key in metric_series(history, metric):
                train = key == metric
                ax.plot(
                    *_points(history, key),
                    "--" if train else "o-",
                    color=color,
                    alpha=0.7 if train else 1.0,
                    label=f"{name} {label}",
                )
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.suptitle(title if title is not None else compare_title([name for name, _ in runs]))
    fig.tight_layout()
    return fig
