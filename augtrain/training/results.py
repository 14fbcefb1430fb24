"""`Run`: what `augtrain.train()` returns and `augtrain.load_run(path)` reads back.

A thin layer over the commands' own routines, so that Python and the CLI give the same
numbers: `evaluate` is `augtrain evaluate`'s `evaluate_run`, `predict` its `predict_files`,
`export` its `export_run`; `interpret` and the `show_*` figures draw from the same
evaluation. Every method reads the run folder's checkpoint (last.pt unless told), the
file the commands read, not the object left in memory by training.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import runfolder
from ..errors import AugtrainError
from ..runfolder import LAST
from .config import TrainConfig


@dataclass
class Run:
    """A trained run: its folder, settings, per-epoch history, test metrics, model and
    class names, with the commands of a run folder as methods."""

    path: Path | None
    config: TrainConfig
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    model: torch.nn.Module
    classes: list[str]
    trainer: Any = field(default=None, repr=False)
    # the data trained on, kept by `train()` (a run on in-memory arrays has no other)
    dataset: Any = field(default=None, repr=False)
    # the checkpoint's {"model", "classes", "config"}, set by `load_run`
    info: dict[str, Any] | None = field(default=None, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ summary
    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("accuracy")

    @property
    def model_name(self) -> str:
        """The registered name, the class of a `network=` module, or the logistic head."""
        meta = self.info or getattr(self.trainer, "checkpoint_meta", None)
        if meta:
            return str(meta["model"]["name"])
        return "logistic" if self.config.head == "logistic" else self.config.model

    @property
    def epochs_done(self) -> int:
        return int(self.history[-1].get("epoch", len(self.history))) if self.history else 0

    def _summary(self) -> list[tuple[str, str]]:
        """(label, value) pairs both reprs show; the dataclass's own repr printed every
        tensor of the model and every config field."""
        split = self.metrics.get("split", "test")
        accuracy = self.test_accuracy
        logistic = self.config.head == "logistic"  # one fit, not epochs
        epochs = "-" if logistic else f"{self.epochs_done}/{self.config.epochs}"
        return [
            ("model", self.model_name),
            ("epochs", epochs),
            (f"{split} accuracy", "-" if accuracy is None else f"{accuracy:.4f}"),
            ("path", "-" if self.path is None else str(self.path)),
        ]

    def __repr__(self) -> str:
        *fields, (_, path) = self._summary()
        return "Run(" + ", ".join([repr(path), *(f"{k} {v}" for k, v in fields)]) + ")"

    def _repr_html_(self) -> str:
        """The table a notebook shows when a cell ends with a Run."""
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
            f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
            for label, value in self._summary()
        )
        return f"<table class='augtrain-run'><caption>augtrain Run</caption>{rows}</table>"

    # ------------------------------------------------------------------ what the methods read
    def _folder(self) -> Path:
        if self.path is None:
            raise AugtrainError("this Run has no run folder (only the main process writes one)")
        return runfolder.check_run_dir(self.path)

    def _checkpoint(self, checkpoint: str) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The model of `checkpoint` and its checkpoint's metadata, loaded once per file
        version (a resumed run rewrites last.pt)."""
        from ..models.saved import load_run_model

        folder = self._folder()
        file = folder / runfolder.checkpoint_name(checkpoint)
        stamp = (str(file), file.stat().st_mtime_ns if file.exists() else None)
        cached = self._cache.get("model")
        if cached is None or cached[0] != stamp:
            model, ckpt = load_run_model(folder, checkpoint)
            meta = {k: ckpt[k] for k in ("model", "classes", "config")}
            self._cache["model"] = cached = (stamp, model, meta)
        return cached[1], cached[2]

    def _dataset(self, data: str | None, checkpoint: str = LAST) -> Any:
        """The run's own data (kept from training, else read as `evaluate` reads it), or
        `data` read for this model."""
        from .evaluate import load_dataset

        if data is None and self.dataset is not None:
            return self.dataset
        dataset = load_dataset(self._checkpoint(checkpoint)[1], data)
        if data is None:
            self.dataset = dataset
        return dataset

    def _evaluation(
        self, tta: str | None, data: str | None, checkpoint: str, device: str, batch_size: int
    ) -> Any:
        """`augtrain evaluate`'s Evaluation; the last one is kept for `interpret` and
        `show_results` with the same settings."""
        from ..report.tta import tta_views
        from .evaluate import evaluate_run

        if tta is not None:
            tta_views(tta)  # an unknown mode fails before anything is loaded
        folder = self._folder()
        file = folder / runfolder.checkpoint_name(checkpoint)
        key = (tta, data, checkpoint, device, file.stat().st_mtime_ns if file.exists() else None)
        cached = self._cache.get("evaluation")
        if cached is not None and cached[0] == key:
            return cached[1]
        dataset = self._dataset(None, checkpoint) if data is None else None
        ev = evaluate_run(folder, data, tta, checkpoint, device, batch_size, dataset=dataset)
        self._cache["evaluation"] = (key, ev)
        return ev

    # ------------------------------------------------------------------ the commands
    def evaluate(
        self,
        tta: str | None = None,
        data: str | None = None,
        checkpoint: str = LAST,
        device: str = "auto",
        batch_size: int = 500,
        out_dir: str | os.PathLike | None = None,
    ) -> dict[str, Any]:
        """`augtrain evaluate`: loss, accuracy, top-5, per-class precision / recall / F1,
        averages and the confusion matrix, as a dict (evaluation.json's content).

        tta: None (the run's own, as metrics.json), "none", "flip" or "flip-translate";
        data: another .npz or image folder instead of the run's test split; out_dir: also
        write the command's files (confusion matrices, per_class.csv, grids) there."""
        ev = self._evaluation(tta, data, checkpoint, device, batch_size)
        if out_dir is not None:
            from ..report.evaluation import write_evaluation

            write_evaluation(ev, Path(out_dir))
        return ev.metrics

    def predict(
        self,
        inputs: Any,
        top_k: int = 3,
        checkpoint: str = LAST,
        device: str = "auto",
        batch_size: int = 128,
        workers: int | None = None,
    ) -> list[dict[str, Any]]:
        """Class probabilities of images: a file, a folder (its image files, recursively,
        sorted), a list of those, one uint8 image (H x W [x C]), a uint8 batch (N x H x W x
        C) or a list of images. Images of any size are resized as training read its files.

        Returns one dict per image, in order: file (None for arrays), index, class and
        probability (the top class), top ([(class, probability)] of the `top_k` best),
        probs (every class's, an array in `run.classes` order) and error (None, or why a
        file could not be read: then class, probability and probs are None)."""
        from ..device import DevicePolicy, resolve_device
        from ..report.evaluation import color_mode_for
        from ..report.predict import as_model_images, decode_options, expand_inputs, predict_files
        from ..report.tta import predict_tta

        if not isinstance(top_k, int) or top_k < 1:
            raise AugtrainError(f"top_k must be an integer >= 1, got {top_k!r}")
        dev = resolve_device(device)
        model, meta = self._checkpoint(checkpoint)
        classes = list(meta["classes"])
        size = tuple(meta["model"]["input_size"])
        color_mode = color_mode_for(meta["config"], meta["model"]["in_channels"])
        interpolation = meta["config"].get("interpolation", "bilinear")
        policy = DevicePolicy.for_run(dev, meta["config"])
        model = model.to(dev)
        k = min(top_k, len(classes))

        def row(index: int, file: str | None, probs: np.ndarray | None, error: str | None) -> dict:
            top = (
                []
                if probs is None
                else [(classes[i], float(probs[i])) for i in probs.argsort()[::-1][:k]]
            )
            return {
                "file": file,
                "index": index,
                "class": top[0][0] if top else None,
                "probability": top[0][1] if top else None,
                "top": top,
                "probs": probs,
                "error": error,
            }

        arrays = _as_arrays(inputs)
        if arrays is None:
            items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
            files = expand_inputs(items)
            preds = predict_files(
                model,
                files,
                size,
                color_mode,
                interpolation,
                dev,
                batch_size,
                workers,
                policy,
                **decode_options(meta["config"]),
            )
            return [row(i, p.file, p.probs, p.error) for i, p in enumerate(preds)]
        x = np.concatenate([as_model_images(a, size, color_mode, interpolation) for a in arrays])
        logits = predict_tta(model, x, dev, "none", batch_size, policy=policy)
        multi = getattr(model, "label_mode", None) == "multi"  # each label's own sigmoid
        probs = (torch.sigmoid if multi else lambda z: torch.softmax(z, 1))(logits.float())
        return [row(i, None, p, None) for i, p in enumerate(probs.numpy())]

    def export(
        self, format: str, path: str | os.PathLike | None = None, checkpoint: str = LAST
    ) -> dict[str, Any]:
        """`augtrain export`: the model (normalisation included) as "torchscript" or
        "onnx", by default in the run folder; returns {"path", "sidecar", "max_abs_diff"}
        (the sidecar JSON names the classes and input format)."""
        from ..report.export import export_run

        return export_run(self._folder(), format, path, checkpoint)

    def interpret(
        self,
        tta: str | None = None,
        data: str | None = None,
        checkpoint: str = LAST,
        device: str = "auto",
    ) -> Any:
        """fastai's ClassificationInterpretation: `top_losses`, `most_confused`,
        `per_class`, `confusion_matrix`, and `plot_top_losses()` /
        `plot_confusion_matrix()` figures (see `augtrain.report.interpret`)."""
        from ..report.interpret import Interpretation

        return Interpretation.from_evaluation(self._evaluation(tta, data, checkpoint, device, 500))

    def show_batch(
        self,
        n: int = 16,
        augment: bool = True,
        epoch: int = 1,
        data: str | None = None,
        cols: int = 8,
    ) -> Any:
        """A figure of `n` training images taken in turn from each class, captioned with
        their class (multi-label: the first `n` images, captioned with all their labels);
        `augment`: as the pipeline made them in epoch `epoch` (1-based, as training logs
        it; the variants training saw, randomness being keyed by seed, epoch and image)."""
        from ..augment.preview import mixing_targets
        from ..report import grids
        from .resolved import make_pipeline

        if not isinstance(n, int) or n < 1 or not isinstance(epoch, int) or epoch < 1:
            raise AugtrainError(f"show_batch: n and epoch must be integers >= 1, got {n}, {epoch}")
        train = self._dataset(data).train
        index = grids.class_spread_indices(train.y, n)
        images, labels = train.x[index], train.y[index]
        captions = [grids.label_caption(y, self.classes) for y in labels]
        pipeline = make_pipeline(self.config) if augment else None
        if pipeline is not None and len(pipeline):
            x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
            idx = torch.as_tensor(index, dtype=torch.int64)
            if pipeline.mixes_labels:
                targets = mixing_targets(labels, len(self.classes), len(index))
                x, targets = pipeline(x, idx, epoch - 1, targets)
                multi = np.ndim(labels) == 2
                captions = [grids.mixed_caption(t, self.classes, multi) for t in targets]
            else:
                x = pipeline(x, idx, epoch - 1)
            images = grids._displayable(x)
            title = f"training images as augmented in epoch {epoch}"
        else:
            title = "training images"
        return grids.image_grid(images, captions, title, cols=cols)

    def show_results(
        self,
        n: int = 16,
        tta: str | None = None,
        data: str | None = None,
        checkpoint: str = LAST,
        device: str = "auto",
        cols: int = 8,
    ) -> Any:
        """A figure of `n` evaluated images (the same sample as `augtrain evaluate`'s
        sample_predictions.png): predicted class / probability / true class, wrong in red
        (multi-label: the labels predicted above the threshold / the true ones, an image
        with any label wrong in red)."""
        from ..report import grids, multilabel

        ev = self._evaluation(tta, data, checkpoint, device, 500)
        sample = grids.sample_indices(len(ev.labels), n)
        if isinstance(ev, multilabel.MultiLabelEvaluation):
            title = f"{ev.split} predictions: labels above threshold / true"
            return multilabel.prediction_grid(ev, sample, title, cols, empty="no images")
        return grids.prediction_grid(
            ev.images,
            ev.probs,
            ev.labels,
            ev.classes,
            sample,
            f"{ev.split} predictions: pred / score / true",
            cols=cols,
        )


def _as_arrays(inputs: Any) -> list[np.ndarray] | None:
    """`inputs` as a list of image arrays (each one image or a batch), or None for paths."""
    if isinstance(inputs, (str, os.PathLike)):
        return None
    if isinstance(inputs, (np.ndarray, torch.Tensor)) or hasattr(inputs, "getbands"):
        return [_array(inputs)]
    items = list(inputs)
    if not items:
        raise AugtrainError("predict: no images given")
    kinds = {isinstance(i, (str, os.PathLike)) for i in items}
    if kinds == {True}:
        return None
    if kinds == {False}:
        return [_array(i) for i in items]
    raise AugtrainError("predict: pass either paths or image arrays, not both in one list")


def _array(item: Any) -> np.ndarray:
    """A NumPy array of an array, a CPU tensor or a PIL image (which has `getbands`)."""
    if isinstance(item, torch.Tensor):
        return item.detach().cpu().numpy()
    return np.asarray(item)


def load_run(path: str | os.PathLike, checkpoint: str = LAST) -> Run:
    """A finished (or interrupted) run folder as the `Run` that `augtrain.train()`
    returned: settings, history, metrics, the model of `checkpoint` and the methods
    evaluate, predict, export, interpret, show_batch and show_results."""
    folder = runfolder.check_run_dir(Path(path).expanduser())
    written = runfolder.read_config(folder)
    settings = written.get("config", {}) if isinstance(written, dict) else {}
    if isinstance(settings, dict) and settings.get("head") == "logistic":
        raise AugtrainError(
            f"{folder}: a logistic-regression run (--head logistic) has no network "
            "checkpoint; its model is model.pkl (scikit-learn)"
        )
    run = Run(folder, TrainConfig(), [], {}, torch.nn.Module(), [])
    model, meta = run._checkpoint(checkpoint)
    metrics = runfolder.read_metrics(folder, strict=False)
    run.config = TrainConfig.from_dict(meta["config"])
    run.history = runfolder.read_history(folder)
    run.metrics = metrics
    run.model = model
    run.classes = list(meta["classes"])
    run.info = meta
    return run
