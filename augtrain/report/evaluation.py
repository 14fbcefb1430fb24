"""Evaluate a trained model on a dataset: predict, compute and write everything people
look at (metrics, per-class report, confusion matrices, image grids).

`evaluate_dataset` takes the model, its checkpoint's metadata and the data already loaded;
`training.evaluate.evaluate_run` loads them for a run folder (the run's data needs its
TrainConfig) and is what `augtrain evaluate`, `augtrain report` and `Run.evaluate` call.
With the defaults (last.pt, no TTA, the run's own data) the accuracy is the one in the
run's metrics.json, because both come from `predict_logits` on the same weights and images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import runfolder
from ..errors import AugtrainError
from ..io import make_folder, write_json, write_text
from ..models.saved import load_run_model as load_run_model  # re-exported: older callers
from ..runfolder import CHECKPOINTS as CHECKPOINTS
from ..runfolder import check_run_dir as check_run_dir
from . import multilabel
from .metrics import (
    averages,
    classification_metrics,
    confusion_matrix_csv,
    per_class_report,
    table_csv,
)
from .tta import predict_tta, tta_views


def color_mode_for(config: dict[str, Any], in_channels: int) -> str:
    """The colour mode that gives the model's channel count: the run's own when it
    matches, else the mode with that many channels; a one-line error if none has."""
    from ..data.folder import COLOR_MODES

    mode = config.get("color_mode", "rgb")
    if COLOR_MODES.get(mode, (None, None))[1] == in_channels:
        return mode
    for name, (_, channels) in COLOR_MODES.items():
        if channels == in_channels:
            return name
    raise AugtrainError(
        f"the model takes {in_channels}-channel images; image files can only be read as "
        f"1 (grayscale), 3 (rgb) or 4 (rgba) channels"
    )


def pick_split(
    dataset: Any, ckpt: dict[str, Any], source: str, whole: bool = False
) -> tuple[str, Any]:
    """(name, ImageArrays) to evaluate on: the test split, else the validation split,
    else (`whole`: data given with --data, e.g. one folder of class folders) all of it;
    checked against what the model takes."""
    split = "test" if dataset.test is not None else "val"
    arrays = getattr(dataset, split)
    if arrays is None and whole:
        split, arrays = "all", dataset.train
    if arrays is None:
        raise AugtrainError(f"{source}: no test or validation split to evaluate on")
    in_channels = ckpt["model"]["in_channels"]
    expected = (*ckpt["model"]["input_size"], in_channels)
    if tuple(arrays.x.shape[1:]) != expected:
        h, w, c = arrays.x.shape[1:]
        raise AugtrainError(
            f"{source}: images are {h}x{w} with {c} channel(s) but the model takes "
            f"{expected[0]}x{expected[1]} with {expected[2]}"
        )
    if len(dataset.classes) != len(ckpt["classes"]):
        raise AugtrainError(
            f"{source}: {len(dataset.classes)} classes but the model knows {len(ckpt['classes'])}"
        )
    return split, arrays


# ------------------------------------------------------------------ evaluation
@dataclass
class Evaluation:
    run: Path | None
    checkpoint: str
    tta: str
    split: str
    data: str
    classes: list[str]
    images: np.ndarray  # uint8 NHWC
    labels: np.ndarray
    logits: torch.Tensor  # logits, or log(mean softmax) under TTA
    metrics: dict[str, Any] = field(default_factory=dict)
    filenames: list[str] | None = None  # the images' files, when the data came from files

    @property
    def probs(self) -> np.ndarray:
        return torch.softmax(self.logits, 1).numpy()

    @property
    def pred(self) -> np.ndarray:
        return self.logits.argmax(1).numpy()


def evaluate_dataset(
    model: torch.nn.Module,
    ckpt: dict[str, Any],
    dataset: Any,
    data: str | None = None,
    tta: str | None = None,
    checkpoint: str = runfolder.LAST,
    run: str | Path | None = None,
    device: str | torch.device = "auto",
    batch_size: int = 500,
) -> Evaluation:
    """Predict `dataset`'s test split (else its validation split; else, for `data` given in
    place of the run's own, all of it) with `model` and compute every metric. `ckpt`: the
    checkpoint's metadata ({"model", "classes", "config"}); `tta` None: the run's own
    final-evaluation TTA (config `tta`, 'none' unless trained with one), as in its
    metrics.json; `run`: the run folder or checkpoint file the model came from."""
    from ..device import DevicePolicy, resolve_device

    dev = resolve_device(device)
    run_tta = ckpt["config"].get("tta", "none")
    tta = run_tta if tta is None else tta
    label = "own data" if data is None else str(data)
    split, arrays = pick_split(
        dataset, ckpt, data or ckpt["config"].get("data"), whole=data is not None
    )
    # The run's own amp and channels_last, as in training's final evaluation, so that
    # metrics.json is reproduced.
    policy = DevicePolicy.for_run(dev, ckpt["config"])
    model = policy.prepare_model(model)
    folder = run is not None and Path(run).is_dir()
    run_dir = Path(run) if folder else None
    source = checkpoint if folder or run is None else str(run)  # metrics' "checkpoint"
    # a multi-label model's views average each label's sigmoid (report/inference.py)
    logits = predict_tta(model, arrays.x, dev, tta, batch_size, policy=policy)
    header = {
        "split": split,
        "data": label,
        "checkpoint": source,
        "tta": tta,
        "tta_views": len(tta_views(tta)),
        "run_tta": run_tta,
    }
    if multilabel.is_multilabel(ckpt["model"]):  # sigmoid per label: report/multilabel.py
        return multilabel.evaluation(run_dir, ckpt, arrays, logits, header, checkpoint)
    classes = list(ckpt["classes"])
    metrics = classification_metrics(logits, arrays.y, classes)
    report = per_class_report(arrays.y, logits.argmax(1).numpy(), classes)
    metrics = {
        **header,
        **metrics,
        "per_class": report,
        "averages": averages(report),
    }
    return Evaluation(
        run_dir,
        checkpoint,
        tta,
        split,
        label,
        classes,
        arrays.x,
        arrays.y,
        logits,
        metrics,
        getattr(arrays, "filenames", None),
    )


def default_out_dir(ev: Evaluation, data: str | None) -> Path:
    """The run folder itself for the default evaluation (last.pt, the run's own TTA and
    data: what metrics.json holds); a subfolder named after the settings otherwise."""
    run, checkpoint, tta = ev.run, ev.checkpoint, ev.tta
    if checkpoint == runfolder.LAST and tta == ev.metrics.get("run_tta", "none") and data is None:
        return run
    return runfolder.evaluation_folder(run, checkpoint, tta, data)


def write_evaluation(ev: Evaluation, out_dir: Path, grid_size: int = 32) -> list[Path]:
    """evaluation.json, confusion matrices (PNG + CSV, counts and normalised), per-class CSV,
    predictions.csv and the two image grids; returns the files written."""
    from . import grids, plots

    if isinstance(ev, multilabel.MultiLabelEvaluation):
        return multilabel.write_evaluation(ev, out_dir, grid_size)
    make_folder(out_dir)
    cm = np.asarray(ev.metrics["confusion_matrix"])
    probs = ev.probs
    written = []

    def out(name: str) -> Path:
        written.append(out_dir / name)
        return out_dir / name

    write_json(out(runfolder.EVALUATION), ev.metrics)
    plots.confusion_matrix_plot(cm, ev.classes, out(runfolder.CONFUSION_MATRIX_PNG))
    plots.confusion_matrix_plot(
        cm, ev.classes, out(runfolder.CONFUSION_MATRIX_NORMALIZED_PNG), True
    )
    write_text(out(runfolder.CONFUSION_MATRIX_CSV), confusion_matrix_csv(cm, ev.classes))
    write_text(
        out(runfolder.CONFUSION_MATRIX_NORMALIZED_CSV), confusion_matrix_csv(cm, ev.classes, True)
    )
    write_text(out(runfolder.PER_CLASS), table_csv(ev.metrics["per_class"]))
    pred = probs.argmax(1)
    rows = [
        {
            "index": i,
            **({"file": ev.filenames[i]} if ev.filenames else {}),
            "true": ev.classes[int(ev.labels[i])],
            "predicted": ev.classes[int(pred[i])],
            "probability": f"{probs[i, pred[i]]:.6f}",
            "correct": int(pred[i] == ev.labels[i]),
        }
        for i in range(len(pred))
    ]
    if rows:
        write_text(out(runfolder.PREDICTIONS), table_csv(rows))
    sample = grids.sample_indices(len(ev.labels), grid_size)
    plots.save(
        grids.prediction_grid(
            ev.images,
            probs,
            ev.labels,
            ev.classes,
            sample,
            "sample predictions: pred / score / true",
        ),
        out(runfolder.SAMPLE_PREDICTIONS),
    )
    wrong = grids.most_confident_wrong(probs, ev.labels, grid_size)
    plots.save(
        grids.prediction_grid(
            ev.images,
            probs,
            ev.labels,
            ev.classes,
            wrong,
            "most confidently wrong: pred / score / true" + (" / file" if ev.filenames else ""),
            empty="no wrong predictions",
            filenames=ev.filenames,
        ),
        out(runfolder.WRONG_PREDICTIONS),
    )
    return written


def format_metrics(ev: Evaluation) -> str:
    """The evaluation as printed by `augtrain evaluate`."""
    if isinstance(ev, multilabel.MultiLabelEvaluation):
        return multilabel.format_metrics(ev)
    m = ev.metrics
    lines = [
        f"{ev.split}: loss {m['loss']:.4f} - accuracy {m['accuracy']:.4f}"
        + (f" - top-5 accuracy {m['top5_accuracy']:.4f}" if "top5_accuracy" in m else "")
        + f" ({m['samples']} images, {ev.checkpoint}, TTA {ev.tta})"
    ]
    width = max([len(c) for c in ev.classes] + [12])
    lines.append(f"  {'class':>{width}s}  precision  recall      f1  support")
    for r in m["per_class"]:
        lines.append(
            f"  {r['class']:>{width}s}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:6.4f}  {r['support']:7d}"
        )
    for name, avg in m["averages"].items():
        lines.append(
            f"  {name + ' avg':>{width}s}  {avg['precision']:9.4f}  {avg['recall']:6.4f}  {avg['f1']:6.4f}  {m['samples']:7d}"
        )
    return "\n".join(lines)


def read_run_summary(run: Path) -> dict[str, Any]:
    """What `runs` and `compare` show of a run, from its files alone (no checkpoint load)."""
    cfg = runfolder.read_config(run)
    config = cfg.get("config", {}) if isinstance(cfg, dict) else None
    history = runfolder.read_history(run)
    metrics = runfolder.read_metrics(run)
    # Runs written before the per-epoch test figures were named test_* logged them as val_*:
    # config.json says which split it was.
    data = cfg.get("data") if isinstance(cfg, dict) else None
    tested = isinstance(data, dict) and data.get("validation") == "test"
    val = (
        [] if tested else [h["val_accuracy"] for h in history if h.get("val_accuracy") is not None]
    )
    if not isinstance(config, dict):
        raise AugtrainError(f"{run / runfolder.CONFIG}: damaged file (not a run's settings)")
    logistic = cfg.get("head") == "logistic"  # scikit-learn on features: no net, no epochs
    model = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    return {
        "name": run.name,
        "path": str(run),
        "model": "logistic" if logistic else model.get("name", config.get("model", "?")),
        "augment": "-" if logistic else augment_label(config.get("augment", "?")),
        "epochs": len(history),
        "epochs_planned": None if logistic else config.get("epochs"),
        "final_val_accuracy": val[-1] if val else None,
        "best_val_accuracy": max(val) if val else None,
        "test_accuracy": metrics.get("accuracy"),
        "seconds": sum(h.get("seconds") or 0.0 for h in history),
        "created": cfg.get("created", ""),
        "history": history,
    }


def augment_label(augment: Any) -> str:
    """A preset name as is; an op list as its op names joined by '+'."""
    if isinstance(augment, str):
        return augment
    if isinstance(augment, list):
        return "+".join(str(op.get("op", "?")) for op in augment) or "none"
    return str(augment)
