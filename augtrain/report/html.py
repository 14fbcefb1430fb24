"""`augtrain report`: one self-contained HTML page about a run.

Every image is a PNG data URI and the style sheet is inline, so the file can be
mailed or opened from anywhere, with no network and no other files. Sections:
summary, configuration, augmentation preview, learning curves, test metrics with
the confusion matrices, per-class table, sample and most confidently wrong
predictions. What cannot be computed (e.g. the data of a run trained on in-memory
arrays is not at hand) is replaced by a note saying why, and the rest still renders.

`render_report` gets everything that needs training's knowledge passed in (the loaded data,
the evaluation, the configuration table's rows, the augmentation pipeline):
`training.evaluate.build_report` gathers them for a run folder.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import runfolder
from ..errors import AugtrainError
from . import grids, multilabel, plots
from .evaluation import Evaluation, read_run_summary

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       background: #f6f7f9; color: #1d2330; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e3e6ec; }
.sub { color: #5a6475; margin: 0 0 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: #eef3fb; border-radius: 8px; padding: 10px 16px; min-width: 120px; }
.card b { display: block; font-size: 22px; color: #1f4e9c; }
.card span { font-size: 12px; color: #5a6475; text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6ec; text-align: right; }
th { background: #f0f2f6; }
td.l, th.l { text-align: left; }
td.bar { width: 140px; }
td.bar div { background: #4c78c8; height: 10px; border-radius: 2px; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.note { background: #fff6e0; border-left: 4px solid #e0a800; padding: 8px 12px; font-size: 14px; }
pre { background: #f0f2f6; padding: 10px; font-size: 12px; overflow-x: auto; }
.two { display: flex; flex-wrap: wrap; gap: 12px; }
.two img { max-width: 520px; }
footer { margin-top: 40px; font-size: 12px; color: #8a93a3; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(png: bytes, alt: str) -> str:
    return f'<img src="{data_uri(png)}" alt="{html.escape(alt)}">'


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def esc(value: Any) -> str:
    return html.escape(str(value))


def card(label: str, value: str) -> str:
    return f'<div class="card"><b>{esc(value)}</b><span>{esc(label)}</span></div>'


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def config_table(settings: list[tuple[str, str]]) -> str:
    """The configuration table of (setting, value) rows (`training.evaluate.shown_settings`)."""
    rows = [
        f'<tr><td class="l">{esc(key)}</td><td class="l">{esc(value)}</td></tr>'
        for key, value in settings
    ]
    return (
        '<table><tr><th class="l">setting</th><th class="l">value</th></tr>'
        + "".join(rows)
        + "</table>"
        + '<p class="sub">Settings left at their defaults are not listed '
        "(all of them are in the run's config.json).</p>"
    )


def per_class_table(ev: Evaluation) -> str:
    rows = []
    for r in ev.metrics["per_class"]:
        rows.append(
            f'<tr><td class="l">{esc(r["class"])}</td><td>{r["precision"]:.4f}</td>'
            f"<td>{r['recall']:.4f}</td><td>{r['f1']:.4f}</td><td>{r['support']}</td>"
            f'<td class="bar"><div style="width:{100 * r["f1"]:.1f}%"></div></td></tr>'
        )
    for name, avg in ev.metrics["averages"].items():
        rows.append(
            f'<tr><th class="l">{name} avg</th><th>{avg["precision"]:.4f}</th>'
            f"<th>{avg['recall']:.4f}</th><th>{avg['f1']:.4f}</th>"
            f"<th>{ev.metrics['samples']}</th><th></th></tr>"
        )
    return (
        '<table><tr><th class="l">class</th><th>precision</th><th>recall</th><th>F1</th>'
        "<th>support</th><th>F1</th></tr>" + "".join(rows) + "</table>"
    )


def accuracy_table(per_class_accuracy: dict[str, float]) -> str:
    rows = "".join(
        f'<tr><td class="l">{esc(k)}</td><td>{v:.4f}</td></tr>'
        for k, v in per_class_accuracy.items()
    )
    return '<table><tr><th class="l">class</th><th>accuracy (recall)</th></tr>' + rows + "</table>"


def augmentation_section(
    pipeline: Any, dataset: Any, classes: list[str], rows: int = 6, epochs: int = 6
) -> str:
    """The pipeline's description and what it made of a few training images, epoch by epoch."""
    described = "; ".join(repr(op) for op in pipeline) or "none (images are used as they are)"
    if not len(pipeline):
        return f"<p>Pipeline: {esc(described)}</p>"
    multi = multilabel.is_multilabel(dataset)  # no one class to name or spread over
    index = (
        np.arange(min(rows, len(dataset.train)))
        if multi
        else grids.class_spread_indices(dataset.train.y, rows)
    )
    fig = grids.augmentation_grid(
        dataset.train.x[index],
        index,
        pipeline,
        epochs,
        len(classes),
        labels=dataset.train.y[index],  # multi-hot rows: every label named
        classes=list(classes),
    )
    picked = (
        "the first ones, their labels on the left"
        if multi
        else "taken in turn from each class, named on the left"
    )
    return (
        f"<p>Pipeline: <code>{esc(described)}</code>. Each row is one training image ({picked}) "
        "and what "
        f"the pipeline made of it in epochs 1–{epochs}: randomness is keyed by (seed, epoch, "
        "sample), so these are the variants training saw.</p>"
        + img(plots.png_bytes(fig), "augmentation preview")
    )


def render_report(
    run: Path,
    ckpt: dict[str, Any],
    settings: list[tuple[str, str]],
    pipeline: Any,
    dataset: Any = None,
    data_problem: str | None = None,
    ev: Evaluation | None = None,
    eval_problem: str | None = None,
    grid_size: int = 32,
) -> str:
    """The HTML text of the report of run folder `run`: `ckpt` its checkpoint's metadata,
    `settings` the configuration table's rows, `pipeline` its augmentation; `dataset` and
    `ev` the loaded data and its evaluation, or None with the reason in `data_problem` /
    `eval_problem`."""
    cfg = runfolder.read_config(run)
    summary = read_run_summary(run)
    metrics = runfolder.read_metrics(run, strict=False)
    parts: list[str] = []

    test_acc = ev.metrics["accuracy"] if ev else metrics.get("accuracy")
    parts.append(f"<h1>{esc(run.name)}</h1>")
    parts.append(
        f'<p class="sub">{esc(summary["model"])} · augmentation {esc(summary["augment"])} · '
        f"{esc(cfg.get('data', {}).get('summary', ''))} · created {esc(summary['created'])}</p>"
    )
    parts.append(
        '<div class="cards">'
        + card("test accuracy", fmt(test_acc))
        + card("best val accuracy", fmt(summary["best_val_accuracy"]))
        + card("final val accuracy", fmt(summary["final_val_accuracy"]))
        + card("epochs", str(summary["epochs"]))
        + card("training time", f"{summary['seconds']:.1f} s")
        + "</div>"
    )

    parts.append("<h2>Configuration</h2>")
    parts.append(config_table(settings))
    if cfg.get("environment"):
        env = ", ".join(f"{k} {v}" for k, v in cfg["environment"].items() if v is not None)
        parts.append(f'<p class="sub">{esc(env)}</p>')

    parts.append("<h2>Augmentation preview</h2>")
    if dataset is None:
        parts.append(note(f"Skipped: the training data could not be loaded ({data_problem})."))
    else:
        try:
            parts.append(augmentation_section(pipeline, dataset, list(ckpt["classes"])))
        except AugtrainError as e:
            parts.append(note(f"Skipped: {e}"))

    parts.append("<h2>Learning curves</h2>")
    if summary["history"]:
        parts.append(
            img(
                plots.png_bytes(plots.learning_curves_figure(summary["history"])), "learning curves"
            )
        )
    else:
        parts.append(note("No history.csv in this run folder."))

    parts.append("<h2>Test metrics</h2>")
    if isinstance(ev, multilabel.MultiLabelEvaluation) or (
        ev is None and metrics.get("label_mode") == multilabel.MODE
    ):
        if ev is not None:
            parts.append(multilabel.html_section(ev, grid_size))
        else:
            parts.append(note(f"From metrics.json only ({eval_problem})."))
            parts.append(f"<p>{esc(multilabel.summary_line(metrics))}</p>")
        return page(run, parts)
    if ev is not None:
        m = ev.metrics
        top5 = f", top-5 accuracy {m['top5_accuracy']:.4f}" if "top5_accuracy" in m else ""
        parts.append(
            f"<p>{esc(ev.split)} split ({m['samples']} images, {esc(ev.checkpoint)}, TTA {esc(ev.tta)}): "
            f"loss {m['loss']:.4f}, accuracy {m['accuracy']:.4f}{top5}.</p>"
        )
        cm = np.asarray(m["confusion_matrix"])
    elif metrics:
        parts.append(
            note(f"From metrics.json only; the test images are not at hand ({eval_problem}).")
        )
        parts.append(f"<p>loss {metrics['loss']:.4f}, accuracy {metrics['accuracy']:.4f}</p>")
        cm = np.asarray(metrics["confusion_matrix"])
    else:
        parts.append(note(f"No test metrics: {eval_problem or 'the run has no metrics.json'}"))
        cm = None
    classes = list(ckpt["classes"])
    if cm is not None:
        parts.append("<h2>Confusion matrix</h2>")
        parts.append(
            '<div class="two">'
            + img(plots.png_bytes(plots.confusion_matrix_figure(cm, classes)), "confusion matrix")
            + img(
                plots.png_bytes(plots.confusion_matrix_figure(cm, classes, True)),
                "normalised confusion matrix",
            )
            + "</div>"
        )
    parts.append("<h2>Per-class results</h2>")
    if ev is not None:
        parts.append(per_class_table(ev))
    elif metrics.get("per_class_accuracy"):
        parts.append(accuracy_table(metrics["per_class_accuracy"]))
    else:
        parts.append(note("Not available."))

    parts.append("<h2>Sample predictions</h2>")
    if ev is not None:
        probs = ev.probs
        sample = grids.sample_indices(len(ev.labels), grid_size)
        fig = grids.prediction_grid(ev.images, probs, ev.labels, classes, sample)
        parts.append(
            "<p>Above each image: predicted class / its probability, then the true class; wrong ones are red.</p>"
        )
        parts.append(img(plots.png_bytes(fig), "sample predictions"))
        parts.append("<h2>Most confidently wrong</h2>")
        wrong = grids.most_confident_wrong(probs, ev.labels, grid_size)
        if len(wrong):
            fig = grids.prediction_grid(
                ev.images, probs, ev.labels, classes, wrong, filenames=ev.filenames
            )
            parts.append(img(plots.png_bytes(fig), "most confidently wrong predictions"))
        else:
            parts.append("<p>No wrong predictions.</p>")
    else:
        parts.append(note(f"Skipped: {eval_problem}"))

    return page(run, parts)


def page(run: Path, parts: list[str]) -> str:
    """The report's sections as one HTML page, with its footer."""
    parts = [
        *parts,
        f"<footer>augtrain report of {esc(run.resolve())}, written "
        f"{time.strftime('%Y-%m-%d %H:%M')}</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(run.name)} · augtrain report</title><style>{STYLE}</style></head>"
        "<body><main>\n" + "\n".join(parts) + "\n</main></body></html>\n"
    )
