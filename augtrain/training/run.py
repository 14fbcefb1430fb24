"""A run: config -> data -> model -> Trainer.fit -> evaluation -> run folder.

The run folder's layout and file formats are `augtrain.runfolder`'s; this module decides
what goes into them. Only rank 0 writes. Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import runfolder
from .._version import __version__
from ..data import Dataset
from ..device import DevicePolicy, keeping_freed_memory, resolve_device
from ..errors import AugtrainError
from ..io import write_text
from ..report import multilabel
from ..report.metrics import classification_metrics, confusion_matrix_csv, predict_logits
from ..report.plots import confusion_matrix_plot, learning_curves
from ..runfolder import RunDirClaim
from . import distributed
from .callbacks import Callback, History, MonitorCallback
from .callbacks import from_config as config_callbacks
from .config import TrainConfig
from .job import (  # noqa: F401  (re-exported: their old home)
    FIXED_ON_RESUME,
    TrainingJob,
    _plain,
    available_memory,
    check_before_data,
    check_memory,
    check_resumed_data,
    check_run_name,
    model_input_shape,
    pick_validation,
    prepare_job,
    pretrained_settings,
    record_network,
    resume_run,
    settle_config,
)
from .loop import (
    Trainer,
    TrainingInterrupted,
)
from .resolved import check_class_names, make_pipeline, resolve_monitor, to_target  # noqa: F401
from .results import Run


def default_run_name(config: TrainConfig, prefix: str | None = None) -> str:
    model = config.model.rsplit(":", 1)[-1].rsplit(".", 1)[-1]  # a factory: its own name
    return runfolder.default_run_name(prefix or model)


def claim_run_dir(config: TrainConfig, prefix: str | None = None) -> RunDirClaim:
    """Take the run folder for this run, atomically (`runfolder.claim_run_dir`): of two
    runs started together with the same --name exactly one gets it; without --name the
    second gets NAME-2. Only the process that makes the folder (rank 0) calls it."""
    base = default_run_name(config, prefix)
    return runfolder.claim_run_dir(config.runs_dir, config.name, base, bool(config.overwrite))


def new_run_dir(config: TrainConfig) -> Path:
    """A claimed, committed run folder (for writers that finish at once)."""
    claim = claim_run_dir(config)
    claim.commit()
    return claim.path


def _or_error(fn: Any, *args: Any) -> Any:
    """fn(*args), or the AugtrainError it raised (to hand to the other ranks)."""
    try:
        return fn(*args)
    except AugtrainError as e:
        return e


def _unless_error(value: Any) -> Any:
    if isinstance(value, AugtrainError):
        raise value
    return value


def interrupted_message(error: BaseException, trainer: Trainer, run_dir: Path) -> str:
    where = f"epoch {trainer.epoch + 1}/{trainer.config.epochs}, batch {trainer.batch_in_epoch}"
    if isinstance(error, TrainingInterrupted):
        head = f"interrupted ({error}) at {where}; saved {run_dir / runfolder.LAST}."
    else:  # a second Ctrl-C: stopped mid-step, nothing saved now
        head = f"interrupted at once; {run_dir / runfolder.LAST} holds the last checkpoint."
    if os.environ.get("AUGTRAIN_GPUS"):  # started by `augtrain train --gpus N`
        return f"{head} Resume with: augtrain train --gpus {os.environ['AUGTRAIN_GPUS']} --resume {run_dir}"
    if trainer.dist.enabled:
        return f"{head} Resume with: torchrun <same options> -m augtrain train --resume {run_dir}"
    return f"{head} Resume with: augtrain train --resume {run_dir}"


class RunFolder(MonitorCallback):
    """Writes the run folder as training goes: history.csv each epoch, last.pt, best.pt
    (when `monitor` improves: its `best` is a MonitorCallback's). The Trainer's checkpoint
    hook, and its run folder once claimed (`path`)."""

    def __init__(
        self,
        path: Path | None,
        model_spec: dict,
        classes: list[str],
        config: TrainConfig,
        monitor: str,
        mode: str,
    ):
        # path: None until the run folder is claimed, when training starts
        super().__init__(monitor, mode)
        self.path, self.model_spec, self.classes, self.config = path, model_spec, classes, config
        self.claim: RunDirClaim | None = None  # --overwrite's old run goes at the first save

    def save(self, trainer: Trainer, name: str) -> None:
        trainer.save_checkpoint(self.path / name)  # every rank calls it; rank 0 writes
        if self.claim is not None:
            self.claim.commit()
            self.claim = None

    def __call__(self, trainer: Trainer, reason: str) -> None:  # the trainer's checkpoint hook
        if trainer.config is not self.config:  # re-planned (Trainer.replan): config.json too
            self.config = trainer.config
            if trainer.dist.is_main:
                record = runfolder.read_config(self.path)
                runfolder.write_config(self.path, {**record, "config": self.config.to_dict()})
        if reason == "epoch" and self.config.save_freq == "end":
            if trainer.dist.is_main:
                runfolder.write_history(self.path, trainer.history)
            if trainer.epoch < self.config.epochs and not trainer.stop_training:
                return  # --save-freq end: only the final last.pt (interrupts still save)
            self.save(trainer, runfolder.LAST)
            return
        if reason == "epoch":
            value = self.current(trainer.history[-1])
            if value is not None and self.improves(value):
                self.best = value
                self.save(trainer, runfolder.BEST)
            if trainer.dist.is_main:
                runfolder.write_history(self.path, trainer.history)
        self.save(trainer, runfolder.LAST)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best = state.get("best")  # None: nothing was logged yet (older checkpoints)
        self.best = self.worst if best is None else best


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


@keeping_freed_memory  # each step's activations reuse the last's pages (device.py)
def train(
    config: TrainConfig | None = None,
    callbacks: list[Callback] | None = None,
    resume: str | Path | None = None,
    network: torch.nn.Module | None = None,
    network_factory: str | Any | None = None,
    **overrides: Any,
) -> Run:
    """Train a classifier and write its run folder; see `TrainConfig` for the settings.

    `augtrain.train(data="cifar10", model="cnn4", epochs=10)` or with a config.
    `resume=` a run folder continues it from last.pt (overrides may raise epochs).
    `network=` an nn.Module trains that network instead of a registered one
    (its run folder then holds weights that only that code can rebuild).
    The run records how to rebuild it, for `evaluate`, `predict`, `export`, `summary` and
    `resume=`: `network_factory=` ('module:function' or an importable function, called as
    `--model module:function` is), else the network's own class when calling it with the
    data's `num_classes`/`in_channels`/`input_size` (where it takes them) builds the same
    layout. Without `network=`, `network_factory=` is `model='module:function'`.

    Every setting is checked before any data is read, and the run folder is made only
    when training starts: a mistake costs no decoding and leaves no half-made folder.
    """
    config, run_dir, ckpt, started, given = settle_config(
        config, resume, network, network_factory, overrides
    )
    if resume is not None and config.lr == "auto":
        raise AugtrainError(
            "--lr auto searches before training starts; a resumed run keeps its learning "
            "rate (pass --lr NUMBER to change it)"
        )
    # The device and its precision are checked before anything is read or created: an
    # unknown or unavailable --device, or bf16 on a GPU without it, is one line at once.
    device = resolve_device(config.device)
    precision = DevicePolicy.resolve(device, config.amp, config.channels_last)
    if config.head == "logistic" or config.features:  # no network: scikit-learn on features
        from .features import train_logistic

        return train_logistic(config)
    job = prepare_job(
        config,
        device,
        precision,
        callbacks,
        network,
        network_factory,
        run_dir,
        ckpt,
        started=started,
        given=given,
    )
    if job.config.lr == "auto":  # the range test on this model and data, then train with its lr
        from .lr_find import resolve_auto_lr

        job.config = resolve_auto_lr(job)
    config, data, classifier, dist_info = job.config, job.data, job.classifier, job.dist_info
    precision = job.precision  # the budget's calibration may have chosen it
    model_spec, val_name, val_arrays = job.model_spec, job.val_name, job.val_arrays
    train_split, val_split, groups = job.train_split, job.val_split, job.groups
    monitor, mode = resolve_monitor(config, val_name)
    plateau = config.early_stopping_patience is not None or config.reduce_lr_patience is not None
    if plateau and val_name != "val" and config.monitor == "auto" and dist_info.is_main:
        if config.verbose:
            print(
                "note: early stopping / plateau watch the training accuracy: the run has no "
                "validation split (pass --validation-split F)",
                file=sys.stderr,
                flush=True,
            )
    flag_callbacks = config_callbacks(config, monitor, mode)  # --early-stopping-patience, ...
    history_cb = History()
    folder = RunFolder(run_dir, model_spec, data.classes, config, monitor, mode)
    all_callbacks: list[Callback] = [history_cb, *job.setup_callbacks]
    all_callbacks += flag_callbacks
    all_callbacks += callbacks or []
    all_callbacks += [job.budget_guard] if job.budget_guard is not None else []
    all_callbacks += [folder]
    trainer = Trainer(
        classifier,
        train_split,
        val_split,
        config,
        make_pipeline(config),
        all_callbacks,
        device,
        param_groups=groups,
        dist_info=dist_info,
        num_classes=data.num_classes,
        eval_name=val_name or "val",
        checkpoint=folder,  # its path (the trainer's run_dir) is set once claimed
        checkpoint_meta={"model": model_spec, "classes": data.classes, "config": config.to_dict()},
        run_end_follows=True,  # callbacks' on_run_end comes after the final evaluation
    )
    check_monitors(trainer, val_arrays is not None)
    if ckpt is not None:
        trainer.load_state_dict(ckpt["trainer"])

    claim: RunDirClaim | None = None
    if run_dir is None:  # set-up is done: only now the run folder is made (rank 0 makes it;
        # every rank needs its name: checkpoints are collective)
        made = _or_error(claim_run_dir, config) if dist_info.is_main else None
        claim = made if isinstance(made, RunDirClaim) else None
        shared = made.path if claim is not None else made
        run_dir = _unless_error(distributed.broadcast_object(shared, dist_info))
    folder.path = run_dir
    folder.claim = claim
    try:
        if dist_info.is_main:
            write_config(run_dir, config, data, model_spec, val_name)
            if job.lr_finder is not None:  # --lr auto: the curve its number came from
                job.lr_finder.save(run_dir)
        if claim is not None:
            claim.release()
        trainer.fit()
    except BaseException as e:
        kept = claim is None or runfolder.has_checkpoint(run_dir)
        if isinstance(e, KeyboardInterrupt) and dist_info.is_main:
            # Ctrl-C or SIGTERM: say where we are and how to go on
            message = (
                interrupted_message(e, trainer, run_dir)
                if kept
                else "interrupted before the first checkpoint; the run folder was removed."
            )
            print(message, file=sys.stderr, flush=True)
        if claim is not None:
            claim.commit() if kept else claim.abort()
        with contextlib.suppress(Exception):  # the run's own error is the one to report
            trainer.callbacks.run_end(None)
        raise
    if claim is not None:
        claim.commit()
    config = trainer.config  # with the epochs a --time-budget guard re-planned

    metrics: dict[str, Any] = {}
    ema = None if trainer.ema is None else trainer.ema.module
    if dist_info.is_main:
        metrics = final_evaluation(
            classifier, data, device, run_dir, trainer.history, config, precision, ema
        )
    trainer.callbacks.run_end(metrics)
    distributed.cleanup() if dist_info.enabled else None
    model = ema if ema is not None and config.use_ema else classifier
    return Run(run_dir, config, trainer.history, metrics, model, data.classes, trainer, data)


def check_monitors(trainer: Trainer, has_val: bool) -> None:
    """A callback monitoring a metric that is never logged is an error now, not a silent no-op."""
    trainer.check_monitors()


def write_config(
    path: Path, config: TrainConfig, data: Dataset, model_spec: dict, val_name: str | None
) -> None:
    runfolder.write_config(
        path,
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


def finite(logits: torch.Tensor, split_name: str) -> torch.Tensor:
    """The final model's outputs, or one line saying that training diverged (a NaN or an
    infinity there would otherwise surface as a metric library's traceback)."""
    if not bool(torch.isfinite(torch.as_tensor(logits)).all()):
        raise AugtrainError(
            f"the trained model's outputs on the {split_name} split are not finite: training "
            "diverged (try a lower --lr or --lr auto, a larger --batch-size, or --preset tutorial)"
        )
    return logits


def final_evaluation(
    model: torch.nn.Module,
    data: Dataset,
    device: torch.device,
    run_dir: Path | None,
    history: list[dict[str, Any]],
    config: TrainConfig,
    precision: DevicePolicy | None = None,
    ema: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """Test metrics of the final model (metrics.json) and the run's plots, in the run's
    precision (`precision`, or the one its config resolves to on `device`). With an `ema`
    model and --use-ema the figures are the EMA's (`weights: ema`), with the trained
    weights' accuracy beside them; without --use-ema the other way round. A multi-label run
    (report.multilabel) has its own figures (TTA: each label's sigmoid averaged over the
    views) and no confusion matrix."""
    precision = precision or DevicePolicy.for_run(device, config.to_dict())
    multi = config.label_mode == "multi"
    split_name, split = ("test", data.test) if data.test is not None else ("val", data.val)
    metrics: dict[str, Any] = {}
    other = None
    if ema is not None and config.use_ema:
        model, other = ema, model
    elif ema is not None:
        other = ema
    if split is not None and multi:  # sigmoid per label: no second model's figures
        logits = finite(predict_logits(model, split.x, device, policy=precision), split_name)
        tta_logits = None
        if config.tta != "none":  # the same views as `augtrain evaluate --tta`
            from ..report.tta import predict_tta

            tta_logits = predict_tta(model, split.x, device, config.tta, policy=precision)
        metrics = multilabel.final_metrics(
            logits, split_name, split.y, data.classes, config, ema is not None, tta_logits
        )
    elif split is not None:
        logits = finite(predict_logits(model, split.x, device, policy=precision), split_name)
        metrics = {
            "split": split_name,
            "checkpoint": runfolder.LAST,
            **classification_metrics(logits, split.y, data.classes),
        }
        if other is not None:
            other_logits = predict_logits(other, split.x, device, policy=precision)
            other_accuracy = classification_metrics(other_logits, split.y, data.classes)
            if config.use_ema:
                metrics.update(weights="ema", accuracy_without_ema=other_accuracy["accuracy"])
            else:
                metrics.update(weights="trained", accuracy_ema=other_accuracy["accuracy"])
        if config.tta != "none":  # the same views as `augtrain evaluate --tta`
            from ..report.tta import predict_tta

            plain = metrics["accuracy"]
            logits = predict_tta(model, split.x, device, config.tta, policy=precision)
            metrics.update(classification_metrics(logits, split.y, data.classes))
            metrics.update(tta=config.tta, accuracy_without_tta=plain)
        if config.verbose:
            tta = (
                f" (TTA {config.tta}; {metrics['accuracy_without_tta']:.4f} without)"
                if config.tta != "none"
                else ""
            )
            print(
                f"{split_name}: loss {metrics['loss']:.4f} - accuracy {metrics['accuracy']:.4f}{tta}",
                flush=True,
            )
    if run_dir is not None:
        runfolder.write_metrics(run_dir, metrics)
        if history:
            learning_curves(history, run_dir / runfolder.LEARNING_CURVES, title=run_dir.name)
        if metrics and not multi:
            confusion_matrix_plot(
                np.asarray(metrics["confusion_matrix"]),
                data.classes,
                run_dir / runfolder.CONFUSION_MATRIX_PNG,
            )
            write_text(
                run_dir / runfolder.CONFUSION_MATRIX_CSV,
                confusion_matrix_csv(np.asarray(metrics["confusion_matrix"]), data.classes),
            )
    return metrics
