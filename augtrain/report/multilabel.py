"""Multi-label classification (--label-mode multi): several labels per image, as fastai's
`label_delim` CSVs give them (`--labels FILE.csv --label-delim ' '`).

    targets   multi-hot rows (N, labels) of 0/1, float32 (data.labels_csv)
    model     one logit per label; probability = sigmoid(logit), each label on its own
    loss      binary cross-entropy with logits, the mean over labels and images (Keras'
              binary_crossentropy; --label-smoothing pulls targets toward 0.5 as Keras does)
    predicted every label whose probability exceeds --threshold (0.5)
    accuracy  exact match: all of an image's labels right (scikit-learn's accuracy_score
              for multi-label data); the per-(image, label) rate is hamming_accuracy
              (fastai's accuracy_multi)
    metrics   micro and macro precision / recall / F1 at the threshold, and mAP (the mean
              over labels of average precision, threshold-free), with each label's figures
    TTA       each label's sigmoid probability averaged over the views (report.inference),
              as the single-label path averages the softmax

Everything multi-label lives here; training, evaluation, predict and the report call in
through small hooks (`is_multilabel`, `criterion`, `correct`, `loss_sum`, `evaluate`, ...).
"""

from __future__ import annotations

import base64
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import runfolder
from ..errors import AugtrainError
from .metrics import average_precision, multilabel_scores, table_csv

MODE = "multi"


def is_multilabel(what: Any) -> bool:
    """A model, model spec, config (dict or TrainConfig) or Dataset of --label-mode multi."""
    if isinstance(what, dict):
        return what.get("label_mode") == MODE
    if hasattr(what, "train") and hasattr(what, "classes"):  # a Dataset
        return np.ndim(what.train.y) == 2
    return getattr(what, "label_mode", None) == MODE


# --------------------------------------------------------------------------- the data
def resolve_label_mode(config: Any, data: Any) -> Any:
    """The config's label mode for this data: multi-label data makes the default
    categorical mode multi; binary cannot hold several labels; multi on single-label data
    turns its labels into one-hot rows. How a --labels CSV's cells were read, when its
    cells decided it (no --label-mode given), is said in one line (`reading_note`)."""
    if is_multilabel(data) and config.label_mode == "binary":
        raise AugtrainError(
            "--label-mode binary takes one label per image; these rows have several "
            "(use --label-mode multi)"
        )
    note = reading_note(data, config.label_delim)
    if note and config.verbose:
        print(note, file=sys.stderr, flush=True)
    if is_multilabel(data):
        if config.label_mode != MODE:
            config = config.replace(label_mode=MODE)
    elif config.label_mode == MODE:
        to_multi_hot(data)
    return config


def reading_note(data: Any, delim: str | None) -> str | None:
    """The line that says how a --labels CSV's cells holding the delimiter were read when
    no --label-mode was given (data.labels_csv decides), with how to choose otherwise;
    None when nothing was decided from the cells."""
    source = getattr(data, "source", None) or {}
    read, example = source.get("labels_read"), source.get("labels_example")
    if read == "multi":
        return (
            f"note: --labels cells hold several labels split at {delim!r} (e.g. {example!r}): "
            "multi-label (--label-mode multi); --label-mode categorical reads each cell as "
            "one class"
        )
    if read == "whole":
        return (
            f"note: --labels cells such as {example!r} hold {delim!r} but their parts are "
            "never found apart: one class per cell; --label-mode multi splits them into labels"
        )
    return None


def to_multi_hot(data: Any) -> None:
    """A single-label Dataset's labels as one-hot rows (multi-label training on it)."""
    k = len(data.classes)
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        if split is not None and np.ndim(split.y) == 1:
            split.y = np.eye(k, dtype=np.float32)[np.asarray(split.y, np.int64)]


# --------------------------------------------------------------------------- training
class MultiLabelLoss(nn.Module):
    """Binary cross-entropy of each label's logit, the mean over labels and images."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(logits.dtype)
        if self.label_smoothing:
            targets = targets * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return F.binary_cross_entropy_with_logits(logits, targets)


def criterion(label_smoothing: float = 0.0) -> nn.Module:
    return MultiLabelLoss(label_smoothing)


def loss_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The sum over images of each image's mean binary cross-entropy (an evaluation sum)."""
    loss = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="sum")
    return loss / max(logits.shape[1], 1)


def _logit(threshold: float) -> float:
    return math.log(threshold / (1.0 - threshold))


def correct(logits: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """How many images have every label right (probability > threshold iff a label)."""
    predicted = logits > _logit(threshold)  # sigmoid(z) > t  <=>  z > logit(t)
    return (predicted == (targets > 0.5)).all(1).sum()


# ------------------------------------------------------------------------------ figures
def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None  # JSON has no NaN


def multilabel_metrics(
    logits: torch.Tensor, targets: np.ndarray, classes: list[str], threshold: float = 0.5
) -> dict[str, Any]:
    """metrics.json of a multi-label split (see the module docstring)."""
    logits = torch.as_tensor(logits).float()
    targets = np.asarray(targets, np.float32)
    probs = torch.sigmoid(logits).numpy()
    predicted = probs > threshold
    truth = targets > 0.5
    scores = multilabel_scores(predicted, truth)
    ap = average_precision(probs, truth)
    per_label = scores["per_label"]
    per_class = [
        {
            "class": name,
            "precision": float(per_label["precision"][k]),
            "recall": float(per_label["recall"][k]),
            "f1": float(per_label["f1"][k]),
            "average_precision": _finite(ap[k]),
            "support": int(per_label["support"][k]),
        }
        for k, name in enumerate(classes)
    ]
    return {
        "label_mode": MODE,
        "threshold": threshold,
        "loss": float(loss_sum(logits, torch.from_numpy(targets)) / max(len(targets), 1)),
        "accuracy": float((predicted == truth).all(1).mean()) if len(truth) else 0.0,
        "hamming_accuracy": float((predicted == truth).mean()) if truth.size else 0.0,
        "micro_f1": scores["micro"]["f1"],
        "macro_f1": scores["macro"]["f1"],
        "micro_precision": scores["micro"]["precision"],
        "micro_recall": scores["micro"]["recall"],
        "macro_precision": scores["macro"]["precision"],
        "macro_recall": scores["macro"]["recall"],
        "mAP": _finite(float(np.nanmean(ap))) if np.isfinite(ap).any() else None,
        "samples": int(len(truth)),
        "per_class": per_class,
    }


def labels_above(
    probs: np.ndarray, classes: list[str], threshold: float
) -> list[tuple[str, float]]:
    """(label, probability) of every label above the threshold, most probable first."""
    order = np.argsort(-probs, kind="stable")
    return [(classes[k], float(probs[k])) for k in order if probs[k] > threshold]


def final_metrics(
    logits: torch.Tensor,
    split_name: str,
    targets: np.ndarray,
    classes: list[str],
    config: Any,
    with_ema: bool,
    tta_logits: torch.Tensor | None = None,
) -> dict[str, Any]:
    """metrics.json of a multi-label run's final evaluation (training.run.final_evaluation
    picks the split and the weights, the EMA's with --ema and --use-ema, and writes it).
    `tta_logits`: the same images under --tta's views; then the figures are theirs, with
    the exact-match accuracy and mAP without TTA beside them."""
    metrics = {
        "split": split_name,
        "checkpoint": runfolder.LAST,
        **multilabel_metrics(logits, targets, classes, config.threshold),
    }
    if tta_logits is not None:
        plain = metrics
        metrics = {
            **plain,
            **multilabel_metrics(tta_logits, targets, classes, config.threshold),
            "tta": config.tta,
            "accuracy_without_tta": plain["accuracy"],
            "mAP_without_tta": plain["mAP"],
        }
    if with_ema:
        metrics["weights"] = "ema" if config.use_ema else "trained"
    if config.verbose:
        print(f"{split_name}: {summary_line(metrics)}", flush=True)
    return metrics


def summary_line(m: dict[str, Any]) -> str:
    mean_ap = _shown(m.get("mAP"))
    tta = m.get("tta", "none")
    without = (
        f"; exact-match {m['accuracy_without_tta']:.4f}, mAP "
        f"{_shown(m.get('mAP_without_tta'))} without"
        if "accuracy_without_tta" in m
        else ""
    )
    return (
        f"loss {m['loss']:.4f} - exact-match accuracy {m['accuracy']:.4f} - micro F1 "
        f"{m['micro_f1']:.4f} - macro F1 {m['macro_f1']:.4f} - mAP {mean_ap} "
        f"(threshold {m['threshold']:g}" + (f", TTA {tta}{without})" if tta != "none" else ")")
    )


# --------------------------------------------------------------------------- evaluate
@dataclass
class MultiLabelEvaluation:
    """What `augtrain evaluate` computes of a multi-label run (see report.evaluation)."""

    run: Path | None
    checkpoint: str
    tta: str
    split: str
    data: str
    classes: list[str]
    images: np.ndarray
    labels: np.ndarray  # (N, labels) multi-hot
    logits: torch.Tensor
    threshold: float
    metrics: dict[str, Any] = field(default_factory=dict)
    filenames: list[str] | None = None

    @property
    def probs(self) -> np.ndarray:
        return torch.sigmoid(self.logits.float()).numpy()

    @property
    def pred(self) -> np.ndarray:
        """(N, labels) bool: each label above the threshold."""
        return self.probs > self.threshold


def evaluation(
    run_dir: Path | None,
    ckpt: dict[str, Any],
    arrays: Any,
    logits: torch.Tensor,
    header: dict[str, Any],
    checkpoint: str,
) -> MultiLabelEvaluation:
    """report.evaluation.evaluate_dataset's result for a multi-label run: `logits` its
    prediction of `arrays` (each label's sigmoid averaged over the TTA views), `header` the
    metrics every evaluation starts with (split, data, checkpoint, TTA)."""
    threshold = float(ckpt["config"].get("threshold", 0.5))
    classes = list(ckpt["classes"])
    if np.ndim(arrays.y) == 1:  # single-label data evaluated by a multi-label model
        arrays.y = np.eye(len(classes), dtype=np.float32)[np.asarray(arrays.y, np.int64)]
    metrics = {**header, **multilabel_metrics(logits, arrays.y, classes, threshold)}
    return MultiLabelEvaluation(
        run_dir,
        checkpoint,
        header["tta"],
        header["split"],
        header["data"],
        classes,
        arrays.x,
        arrays.y,
        logits,
        threshold,
        metrics,
        getattr(arrays, "filenames", None),
    )


def format_metrics(ev: MultiLabelEvaluation) -> str:
    """The evaluation as `augtrain evaluate` prints it."""
    m = ev.metrics
    lines = [f"{ev.split}: {summary_line(m)} ({m['samples']} images, {ev.checkpoint})"]
    width = max([len(c) for c in ev.classes] + [12])
    lines.append(f"  {'label':>{width}s}  precision  recall      f1      AP  support")
    for r in m["per_class"]:
        ap = f"{_shown(r['average_precision']):>6s}"
        lines.append(
            f"  {r['class']:>{width}s}  {r['precision']:9.4f}  {r['recall']:6.4f}  "
            f"{r['f1']:6.4f}  {ap}  {r['support']:7d}"
        )
    return "\n".join(lines)


def prediction_rows(ev: MultiLabelEvaluation, delim: str = " ") -> list[dict[str, Any]]:
    """predictions.csv: each image's true labels, every label predicted above the
    threshold (most probable first) with its probability, and whether all are right."""
    probs, truth = ev.probs, ev.labels > 0.5
    rows = []
    for i in range(len(probs)):
        above = labels_above(probs[i], ev.classes, ev.threshold)
        rows.append(
            {
                "index": i,
                **({"file": ev.filenames[i]} if ev.filenames else {}),
                "true": delim.join(c for c, t in zip(ev.classes, truth[i]) if t),
                "predicted": delim.join(name for name, _ in above),
                "probabilities": delim.join(f"{p:.6f}" for _, p in above),
                "correct": int(((probs[i] > ev.threshold) == truth[i]).all()),
            }
        )
    return rows


def write_evaluation(ev: MultiLabelEvaluation, out_dir: Path, grid_size: int = 32) -> list[Path]:
    """evaluation.json, per_class.csv, predictions.csv and the sample and wrong grids."""
    from ..io import make_folder, write_json, write_text
    from . import plots

    make_folder(out_dir)
    written = [out_dir / n for n in (runfolder.EVALUATION, runfolder.PER_CLASS)]
    write_json(written[0], ev.metrics)
    write_text(written[1], table_csv(ev.metrics["per_class"]))
    rows = prediction_rows(ev)
    if rows:
        written.append(out_dir / runfolder.PREDICTIONS)
        write_text(written[-1], table_csv(rows))
    for name, fig in grid_figures(ev, grid_size).items():
        written.append(out_dir / f"{name}.png")
        plots.save(fig, written[-1])
    return written


def wrong_indices(ev: MultiLabelEvaluation, k: int) -> np.ndarray:
    """Images with a label wrong, the most wrong labels first, then the surest mistakes
    (the wrong label whose probability lies furthest on the wrong side of the threshold)."""
    probs, truth = ev.probs, ev.labels > 0.5
    errors = (probs > ev.threshold) != truth
    wrong = errors.sum(1)
    confidence = np.where(errors, np.abs(probs - ev.threshold), 0.0).max(1, initial=0.0)
    order = np.lexsort((-confidence, -wrong))
    return np.asarray([i for i in order if wrong[i]][:k], dtype=np.int64)


def caption(ev: MultiLabelEvaluation, i: int, note: str = "") -> str:
    """An image's grid caption: the labels predicted above the threshold, its true ones,
    then `note` (e.g. its loss) and its file when the data came from files."""
    from . import grids

    probs, truth = ev.probs[i], ev.labels[i] > 0.5
    pred = " ".join(grids._short(c, 8) for c, _ in labels_above(probs, ev.classes, ev.threshold))
    true = " ".join(grids._short(c, 8) for c, t in zip(ev.classes, truth) if t)
    text = f"{pred or '-'}\ntrue {true or '-'}" + (f"\n{note}" if note else "")
    return text + ("\n" + grids._file_caption(ev.filenames[i]) if ev.filenames else "")


def prediction_grid(
    ev: MultiLabelEvaluation,
    index: np.ndarray,
    title: str,
    cols: int = 8,
    notes: list[str] | None = None,
    empty: str = "no wrong predictions",
) -> Any:
    """Images `index` captioned with their predicted and true labels (`caption`), those
    with any label wrong in red; `notes`: one more caption line per image."""
    from . import grids

    index = np.asarray(index, dtype=np.int64)
    probs, truth = ev.probs, ev.labels > 0.5
    ok = [bool(((probs[i] > ev.threshold) == truth[i]).all()) for i in index]
    colors = [grids.RIGHT if good else grids.WRONG for good in ok]
    captions = [caption(ev, int(i), notes[k] if notes else "") for k, i in enumerate(index)]
    return grids.image_grid(ev.images[index], captions, title, cols, colors, empty)


def grid_figures(ev: MultiLabelEvaluation, grid_size: int) -> dict[str, Any]:
    """sample_predictions and wrong_predictions: predicted labels above true ones, wrong
    images in red, the file name last when the data came from files."""
    from . import grids

    sample = grids.sample_indices(len(ev.labels), grid_size)
    return {
        "sample_predictions": prediction_grid(
            ev, sample, "sample predictions: labels above threshold / true"
        ),
        "wrong_predictions": prediction_grid(
            ev, wrong_indices(ev, grid_size), "most wrong labels: predicted / true"
        ),
    }


# ------------------------------------------------------------------------ interpretation
def image_losses(ev: MultiLabelEvaluation) -> np.ndarray:
    """(N,) each image's binary cross-entropy, the mean over its labels (under TTA of the
    views' mean probability, which the logits stand for)."""
    logits = ev.logits.float()
    targets = torch.as_tensor(ev.labels, dtype=logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(1).numpy()


def top_losses(ev: MultiLabelEvaluation, losses: np.ndarray) -> list[dict[str, Any]]:
    """Every image, highest loss first: index, loss, true (its labels), predicted (those
    above the threshold, most probable first), probabilities (theirs), and the labels it
    got wrong: false_positives (predicted, not true) and false_negatives (true, missed)."""
    probs, truth = ev.probs, ev.labels > 0.5
    rows = []
    for i in np.argsort(-losses, kind="stable"):
        above = labels_above(probs[i], ev.classes, ev.threshold)
        predicted = probs[i] > ev.threshold
        rows.append(
            {
                "index": int(i),
                "loss": float(losses[i]),
                "true": [c for c, t in zip(ev.classes, truth[i]) if t],
                "predicted": [name for name, _ in above],
                "probabilities": [p for _, p in above],
                "false_positives": [
                    c for c, p, t in zip(ev.classes, predicted, truth[i]) if p and not t
                ],
                "false_negatives": [
                    c for c, p, t in zip(ev.classes, predicted, truth[i]) if t and not p
                ],
            }
        )
    return rows


def label_confusion(ev: MultiLabelEvaluation) -> np.ndarray:
    """(labels, 2, 2) counts [[true negatives, false positives], [false negatives, true
    positives]] of each label (scikit-learn's multilabel_confusion_matrix)."""
    predicted, truth = ev.pred, ev.labels > 0.5
    tp = (predicted & truth).sum(0)
    fp = (predicted & ~truth).sum(0)
    fn = (~predicted & truth).sum(0)
    tn = len(truth) - tp - fp - fn
    return np.stack([np.stack([tn, fp], 1), np.stack([fn, tp], 1)], 1).astype(np.int64)


def most_confused(ev: MultiLabelEvaluation) -> list[tuple[str, str, int]]:
    """(missed label, label predicted in the same image but not true, count), most
    frequent first: which label the model saw where another one was. With one label per
    image this is exactly the off-diagonal of the confusion matrix."""
    predicted, truth = ev.pred, ev.labels > 0.5
    missed = (truth & ~predicted).astype(np.int64)
    extra = (predicted & ~truth).astype(np.int64)
    counts = missed.T @ extra  # [a, b]: images missing a and wrongly having b
    k = len(ev.classes)
    pairs = [
        (ev.classes[a], ev.classes[b], int(counts[a, b]))
        for a in range(k)
        for b in range(k)
        if a != b and counts[a, b] > 0
    ]
    pairs.sort(key=lambda pair: -pair[2])  # stable: ties stay in label order
    return pairs


def html_section(ev: MultiLabelEvaluation, grid_size: int = 32) -> str:
    """The report's test section for a multi-label run: the figures, a per-label table
    (precision, recall, F1, AP, support) and the two grids."""
    from html import escape

    from . import plots

    m = ev.metrics
    mean_ap = _shown(m.get("mAP"))
    rows = "".join(
        f'<tr><td class="l">{escape(str(r["class"]))}</td><td>{r["precision"]:.4f}</td>'
        f"<td>{r['recall']:.4f}</td><td>{r['f1']:.4f}</td>"
        f"<td>{_shown(r['average_precision'])}</td><td>{r['support']}</td></tr>"
        for r in m["per_class"]
    )
    parts = [
        f"<p>{escape(ev.split)} split ({m['samples']} images, {escape(ev.checkpoint)}, "
        f"TTA {escape(ev.tta)}), "
        f"multi-label at threshold {m['threshold']:g}: loss {m['loss']:.4f}, exact-match "
        f"accuracy {m['accuracy']:.4f}, per-label accuracy {m['hamming_accuracy']:.4f}, "
        f"micro F1 {m['micro_f1']:.4f}, macro F1 {m['macro_f1']:.4f}, mAP {mean_ap}.</p>",
        "<h2>Per-label results</h2>",
        '<table><tr><th class="l">label</th><th>precision</th><th>recall</th><th>F1</th>'
        f"<th>AP</th><th>support</th></tr>{rows}"
        f'<tr><th class="l">micro</th><th>{m["micro_precision"]:.4f}</th>'
        f"<th>{m['micro_recall']:.4f}</th><th>{m['micro_f1']:.4f}</th><th></th><th></th></tr>"
        f'<tr><th class="l">macro</th><th>{m["macro_precision"]:.4f}</th>'
        f"<th>{m['macro_recall']:.4f}</th><th>{m['macro_f1']:.4f}</th><th>{mean_ap}</th>"
        "<th></th></tr></table>",
    ]
    figures = grid_figures(ev, grid_size)
    for name, title in (
        ("sample_predictions", "Sample predictions"),
        ("wrong_predictions", "Most wrong labels"),
    ):
        png = base64.b64encode(plots.png_bytes(figures[name])).decode()
        parts.append(f"<h2>{title}</h2>")
        parts.append(f'<img src="data:image/png;base64,{png}" alt="{title}">')
    return "\n".join(parts)


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
