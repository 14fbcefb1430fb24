"""A run: config -> data -> model -> Trainer.fit -> evaluation -> run folder.

    runs/<name>/config.json           resolved configuration, command line, versions, data fingerprint
                history.csv           one row per epoch
                last.pt / best.pt     checkpoints (model, optimizer, schedule, epoch, RNG, callbacks)
                metrics.json          test loss, accuracy, per-class accuracy, confusion matrix
                learning_curves.png, confusion_matrix.png

Only rank 0 writes. Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..augment import Compose, build_pipeline, preset
from ..data import Dataset, load_data
from ..errors import AugtrainError
from ..io import read_json, write_json, write_text
from ..report.metrics import classification_metrics, predict_logits
from ..report.plots import confusion_matrix_plot, learning_curves
from . import checkpoint, distributed
from .callbacks import Callback, History
from .config import TrainConfig
from .loop import DeviceSplit, Trainer, channel_stats, resolve_device


@dataclass
class Run:
    """What `augtrain.train()` returns."""

    path: Path | None
    config: TrainConfig
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    model: torch.nn.Module
    classes: list[str]
    trainer: Trainer | None = field(default=None, repr=False)

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("accuracy")


def make_pipeline(config: TrainConfig) -> Compose:
    if isinstance(config.augment, str):
        return preset(config.augment, seed=config.seed)
    return build_pipeline(config.augment, seed=config.seed)


def pick_validation(config: TrainConfig, data: Dataset) -> tuple[str | None, Any]:
    """Which split validates each epoch: ('val'|'test'|None, arrays)."""
    mode = config.validation
    if mode == "auto":
        mode = "split" if data.val is not None else ("test" if data.test is not None else "none")
    if mode == "split":
        if data.val is None:
            raise AugtrainError("--validation split needs --validation-split > 0 or a val/ folder")
        return "val", data.val
    if mode == "test":
        if data.test is None:
            raise AugtrainError("--validation test: the data has no test split")
        return "test", data.test
    return None, None


def resolve_monitor(config: TrainConfig, has_val: bool) -> tuple[str, str]:
    monitor = (
        config.monitor if config.monitor != "auto" else ("val_accuracy" if has_val else "accuracy")
    )
    return monitor, ("min" if "loss" in monitor else "max")


def new_run_dir(config: TrainConfig) -> Path:
    name = config.name or f"{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if "/" in name or name in ("", ".", ".."):
        raise AugtrainError(f"--name {name!r}: a run name must be a plain folder name")
    path = Path(config.runs_dir) / name
    if path.exists() and any(path.iterdir()):
        if not config.overwrite:
            raise AugtrainError(
                f"run {path} already exists; pass --overwrite or choose another --name"
            )
        for f in path.iterdir():
            if f.is_file():
                f.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


class RunFolder(Callback):
    """Writes the run folder as training goes: history.csv each epoch, last.pt, best.pt."""

    def __init__(
        self,
        path: Path,
        model_spec: dict,
        classes: list[str],
        config: TrainConfig,
        monitor: str,
        mode: str,
    ):
        self.path, self.model_spec, self.classes, self.config = path, model_spec, classes, config
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None

    def save(self, trainer: Trainer, name: str) -> None:
        checkpoint.save(
            self.path / name,
            self.model_spec,
            self.classes,
            self.config.to_dict(),
            trainer.state_dict(),
        )

    def __call__(self, trainer: Trainer, reason: str) -> None:  # the trainer's checkpoint hook
        if not trainer.dist.is_main:
            return
        if reason == "epoch":
            logs = trainer.history[-1]
            value = logs.get(self.monitor)
            if value is not None and (
                self.best is None
                or (value < self.best if self.mode == "min" else value > self.best)
            ):
                self.best = value
                self.save(trainer, "best.pt")
            write_history(self.path / "history.csv", trainer.history)
        self.save(trainer, "last.pt")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    if not history:
        return
    keys = list(history[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in keys})
    write_text(path, buf.getvalue())


def environment() -> dict[str, Any]:
    import numpy

    return {
        "augtrain": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
    }


def train(
    config: TrainConfig | None = None,
    callbacks: list[Callback] | None = None,
    resume: str | Path | None = None,
    network: torch.nn.Module | None = None,
    **overrides: Any,
) -> Run:
    """Train a classifier and write its run folder; see `TrainConfig` for the settings.

    `augtrain.train(data="cifar10", model="cnn4", epochs=10)` or with a config.
    `resume=` a run folder continues it from last.pt (overrides may raise epochs).
    `network=` an nn.Module trains that network instead of a registered one
    (its run folder then holds weights that only that code can rebuild).
    """
    if resume is not None:
        run_dir = Path(resume)
        ckpt = checkpoint.load(run_dir)
        config = TrainConfig.from_dict({**ckpt["config"], **overrides})
        if isinstance(overrides.get("data"), (tuple, dict)):
            config.data = overrides["data"]
    else:
        config = (
            (config or TrainConfig()).replace(**overrides)
            if overrides
            else (config or TrainConfig())
        )
        ckpt, run_dir = None, None
    config.validate()

    device = resolve_device(config.device)
    dist_info = distributed.init(device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)

    data = load_data(
        config.data,
        config.target_size,
        config.color_mode,
        config.interpolation,
        config.classes,
        config.validation_split,
        config.cache_dir,
    )
    if dist_info.is_main and config.verbose:
        print(f"data: {data.summary()}", flush=True)
    val_name, val_arrays = pick_validation(config, data)
    h, w, c = data.image_shape
    if config.input_norm == "standardize":
        mean, std = channel_stats(data.train.x)
    else:
        mean, std = [0.0] * c, [1.0] * c
    model_spec = {
        "name": config.model if network is None else type(network).__name__,
        "options": config.model_options,
        "num_classes": data.num_classes,
        "in_channels": c,
        "input_size": [h, w],
        "mean": mean,
        "std": std,
    }
    if network is None:
        classifier = checkpoint.build_model(model_spec, mean, std)
    else:
        from ..models.classifier import Classifier

        classifier = Classifier(network, mean, std)
    classifier.to(device)
    if config.sync_bn and dist_info.enabled:
        classifier = torch.nn.SyncBatchNorm.convert_sync_batchnorm(classifier)
    if device.type == "cuda":
        classifier = classifier.to(memory_format=torch.channels_last)

    if run_dir is None and dist_info.is_main:
        run_dir = new_run_dir(config)
    monitor, mode = resolve_monitor(config, val_arrays is not None)
    history_cb = History()
    folder = (
        RunFolder(run_dir, model_spec, data.classes, config, monitor, mode)
        if run_dir is not None
        else None
    )
    all_callbacks: list[Callback] = [history_cb, *(callbacks or [])] + ([folder] if folder else [])
    trainer = Trainer(
        classifier,
        DeviceSplit.from_arrays(data.train, device),
        None if val_arrays is None else DeviceSplit.from_arrays(val_arrays, device),
        config,
        make_pipeline(config),
        all_callbacks,
        device,
        dist_info=dist_info,
        num_classes=data.num_classes,
    )
    trainer.checkpoint_hook = folder
    check_monitors(trainer, val_arrays is not None)
    if ckpt is not None:
        trainer.load_state_dict(ckpt["trainer"])
    if dist_info.is_main and run_dir is not None:
        write_config(run_dir, config, data, model_spec, val_name)

    try:
        trainer.fit()
    except KeyboardInterrupt:
        if folder is not None and dist_info.is_main:
            folder.save(trainer, "last.pt")
        raise AugtrainError(
            f"interrupted at epoch {trainer.epoch + 1}, batch {trainer.batch_in_epoch}; last.pt saved. "
            f"Resume with: augtrain train --resume {run_dir}"
        ) from None

    metrics: dict[str, Any] = {}
    if dist_info.is_main:
        metrics = final_evaluation(classifier, data, device, run_dir, trainer.history, config)
    distributed.cleanup() if dist_info.enabled else None
    return Run(run_dir, config, trainer.history, metrics, classifier, data.classes, trainer)


def check_monitors(trainer: Trainer, has_val: bool) -> None:
    """A callback monitoring a metric that is never logged is an error now, not a silent no-op."""
    logged = {"loss", "accuracy", "lr", "seconds", "images_per_s", "epoch"}
    if has_val:
        logged |= {"val_loss", "val_accuracy"}
    for cb in trainer.callbacks:
        for name in cb.monitors():
            if name not in logged:
                raise AugtrainError(
                    f"{type(cb).__name__}: monitor {name!r} is never logged; available: {', '.join(sorted(logged))}"
                )


def write_config(
    path: Path, config: TrainConfig, data: Dataset, model_spec: dict, val_name: str | None
) -> None:
    write_json(
        path / "config.json",
        {
            "config": config.to_dict(),
            "model": model_spec,
            "classes": data.classes,
            "data": {**data.source, "summary": data.summary(), "validation": val_name},
            "augment": make_pipeline(config).config(),
            "command": sys.argv,
            "environment": environment(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )


def final_evaluation(
    model: torch.nn.Module,
    data: Dataset,
    device: torch.device,
    run_dir: Path | None,
    history: list[dict[str, Any]],
    config: TrainConfig,
) -> dict[str, Any]:
    """Test metrics of the final model (metrics.json) and the run's plots."""
    split_name, split = ("test", data.test) if data.test is not None else ("val", data.val)
    metrics: dict[str, Any] = {}
    if split is not None:
        logits = predict_logits(model, split.x, device)
        metrics = {
            "split": split_name,
            "checkpoint": "last.pt",
            **classification_metrics(logits, split.y, data.classes),
        }
        if config.verbose:
            print(
                f"{split_name}: loss {metrics['loss']:.4f} - accuracy {metrics['accuracy']:.4f}",
                flush=True,
            )
    if run_dir is not None:
        write_json(run_dir / "metrics.json", metrics)
        if history:
            learning_curves(history, run_dir / "learning_curves.png", title=run_dir.name)
        if metrics:
            confusion_matrix_plot(
                np.asarray(metrics["confusion_matrix"]),
                data.classes,
                run_dir / "confusion_matrix.png",
            )
    return metrics


def load_run_config(run_dir: Path) -> dict[str, Any]:
    if not (run_dir / "config.json").exists():
        raise AugtrainError(f"{run_dir}: not a run folder (no config.json)")
    return read_json(run_dir / "config.json")
