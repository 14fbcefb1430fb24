"""A run: config -> data -> model -> Trainer.fit -> evaluation -> run folder.

The run folder's layout and file formats are `augtrain.runfolder`'s; this module decides
what goes into them. Only rank 0 writes. Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import difflib
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
from ..data import Dataset, load_data
from ..device import DevicePolicy, resolve_device
from ..errors import AugtrainError
from ..io import write_text
from ..report import multilabel
from ..report.metrics import classification_metrics, confusion_matrix_csv, predict_logits
from ..report.plots import confusion_matrix_plot, learning_curves
from ..runfolder import RunDirClaim
from . import checkpoint, distributed
from .budget import apply_choice, command_start, fit_to_budget, given_settings
from .callbacks import Callback, History, MonitorCallback
from .callbacks import from_config as config_callbacks
from .config import TrainConfig, unknown_keywords
from .loggers import check_installed as check_loggers_installed
from .loop import (
    Trainer,
    TrainingInterrupted,
    channel_stats,
    check_not_test,
    evaluation_metrics,
    place_splits,
)
from .presets import init_from_data, recipe_setup, with_preset
from .resolved import check_class_names, make_pipeline, resolve_monitor, to_target  # noqa: F401
from .results import Run


def model_input_shape(config: TrainConfig, data: Dataset) -> tuple[int, int, int]:
    """(H, W, C) the model takes: the data's, or --target-size under --cache-size."""
    h, w, c = data.image_shape
    if config.cache_size is not None:
        h, w = config.target_size
    return h, w, c


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


def check_run_name(config: TrainConfig) -> Path | None:
    """Before any data is read: is the run folder's name usable, and free (or --overwrite)?
    The folder itself is claimed only when training starts (`claim_run_dir`)."""
    is_main = distributed.from_env().is_main  # under torchrun only rank 0 makes the folder
    return runfolder.check_run_name(config.runs_dir, config.name, config.overwrite, is_main)


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


# Settings a resumed run cannot change: its checkpoint would not load, or the run would
# silently become a different one.
FIXED_ON_RESUME = (
    "model",
    "model_options",
    "optimizer",
    "batch_size",
    "accumulate",
    "target_size",
    "cache_size",
    "keep_aspect_ratio",
    "labels",
    "label_delim",
    "color_mode",
    "input_norm",
    "classes",
    "label_mode",
    "pretrained",
)


def resume_run(run_dir: Path, overrides: dict[str, Any]) -> tuple[Path, dict | None, TrainConfig]:
    """What `--resume RUN` continues: last.pt with its config, plus `overrides` (e.g. more
    epochs). A run killed before its first checkpoint starts again from config.json.

    config.json's settings win over last.pt's (an edit there, or a resume killed before its
    first checkpoint), and flags over both; a setting that cannot change is an error."""
    unknown_keywords(overrides, "--resume")
    if run_dir.is_file():
        raise AugtrainError(
            f"--resume {run_dir}: is a file; pass the run folder that holds it ({run_dir.parent})"
        )
    if not run_dir.is_dir():
        raise AugtrainError(f"--resume {run_dir}: no such run folder")
    if distributed.from_env().is_main:
        runfolder.remove_temp_files(run_dir)  # left by a killed write; never read
    written = runfolder.read_config(run_dir)["config"] if runfolder.is_run_dir(run_dir) else None
    if (run_dir / runfolder.LAST).exists() or written is None:
        ckpt: dict | None = runfolder.load_checkpoint(run_dir)
        saved = ckpt["config"]
    else:
        ckpt, saved = None, written
    if not isinstance(written, dict):
        written = saved
    ignored = ("data", "name", "runs_dir", "overwrite")
    edited = {
        k: v
        for k, v in written.items()
        if k not in ignored and k in saved and _plain(v) != _plain(saved[k])
    }
    for key in FIXED_ON_RESUME:
        new = overrides.get(key)
        if new is not None and _plain(new) != _plain(saved.get(key)):
            raise AugtrainError(
                f"--resume: --{key.replace('_', '-')} cannot change in a resumed run "
                f"(it is {saved.get(key)!r}); start a new run instead"
            )
        if key in edited:
            raise AugtrainError(
                f"{run_dir / runfolder.CONFIG}: {key} was changed to {edited[key]!r} but it cannot "
                f"change in a resumed run (last.pt has {saved.get(key)!r}); undo the edit"
            )
    applied = {k: v for k, v in edited.items() if k not in overrides}
    if applied and distributed.from_env().is_main:
        changes = ", ".join(f"{k}={v!r} (was {saved.get(k)!r})" for k, v in applied.items())
        print(f"--resume: applying config.json's {changes}", file=sys.stderr, flush=True)
    data = overrides.get("data")
    config = TrainConfig.from_dict(
        {**saved, **applied, **{k: v for k, v in overrides.items() if k not in ignored}}
    )
    if data is not None:
        config.data = data
    if config.data == "<arrays>":
        raise AugtrainError(
            f"{run_dir} was trained on in-memory arrays: resume it from Python with "
            f"augtrain.train(resume={str(run_dir)!r}, data=...)"
        )
    if (
        data is None
        and isinstance(config.data, str)
        and config.data != "cifar10"
        and not Path(config.data).expanduser().exists()
    ):
        raise AugtrainError(
            f"{run_dir} was trained on {config.data}, which is no longer there: "
            f"pass --data with its new place"
        )
    done = int(ckpt["trainer"].get("epoch", 0)) if ckpt is not None else 0
    if isinstance(config.epochs, int) and config.epochs < done:
        raise AugtrainError(
            f"--epochs {config.epochs}: {run_dir} has trained {done} epochs already; "
            f"pass --epochs {done} or more"
        )
    return run_dir, ckpt, config


def check_resumed_data(
    run_dir: Path, ckpt: dict, data: Dataset, shape: tuple[int, int, int] | None = None
) -> None:
    """The data of a resumed run must fit its model: the same classes and image shape."""
    spec, classes = ckpt["model"], list(ckpt.get("classes") or [])
    h, w, c = shape or data.image_shape
    if classes and list(data.classes) != classes:
        shown = lambda names: ", ".join(map(str, names[:5])) + (", ..." if len(names) > 5 else "")  # noqa: E731
        raise AugtrainError(
            f"--resume {run_dir}: the data has {len(data.classes)} classes ({shown(data.classes)}) "
            f"but the run was trained on {len(classes)} ({shown(classes)}); start a new run"
        )
    if [h, w] != list(spec["input_size"]) or c != spec["in_channels"]:
        raise AugtrainError(
            f"--resume {run_dir}: the data's images are {h}x{w}x{c} but the run's model takes "
            f"{spec['input_size'][0]}x{spec['input_size'][1]}x{spec['in_channels']}; "
            f"pass --target-size or start a new run"
        )


def _plain(value: Any) -> Any:
    """A value as JSON would give it back (tuples as lists), for comparing configs."""
    import json

    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return value


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
    if config is not None and not isinstance(config, TrainConfig):
        raise AugtrainError(
            f"augtrain.train() takes a TrainConfig or keywords, got {type(config).__name__}; "
            f"pass data=... as a keyword"
        )
    if network is not None and not isinstance(network, torch.nn.Module):
        raise AugtrainError(f"network= takes a torch.nn.Module, got {type(network).__name__}")
    if network is None and network_factory is not None:
        from ..models.factory import reference_of

        reference = (
            network_factory if isinstance(network_factory, str) else reference_of(network_factory)
        )
        if reference is None:
            raise AugtrainError(
                f"network_factory={network_factory!r} cannot be imported again; give a "
                "module-level function or 'module:function'"
            )
        overrides["model"] = reference
    started = command_start(time.monotonic())  # --time-budget's clock (budget.py)
    given = given_settings(config, overrides)
    if resume is not None:
        run_dir, ckpt, config = resume_run(Path(resume), overrides)
        if network is None and ckpt is not None:
            checkpoint.check_rebuildable(ckpt["model"], "resume it with network= the same network")
    else:
        unknown_keywords(overrides)
        overrides = with_preset(
            config, overrides, lambda d: resolve_device(d).type in ("cuda", "mps")
        )
        config = (
            (config or TrainConfig()).replace(**overrides)
            if overrides
            else (config or TrainConfig())
        )
        ckpt, run_dir = None, None
    config.validate()
    # The device and its precision are checked before anything is read or created: an
    # unknown or unavailable --device, or bf16 on a GPU without it, is one line at once.
    device = resolve_device(config.device)
    precision = DevicePolicy.resolve(device, config.amp, config.channels_last)
    if config.head == "logistic" or config.features:  # no network: scikit-learn on features
        from .features import train_logistic

        return train_logistic(config)
    resumed = ckpt is not None or run_dir is not None
    weights_cfg, config = pretrained_settings(config, network, resumed)
    check_before_data(config, network, callbacks, resumed=resumed)
    if weights_cfg is not None and not resumed:  # a download fails before any decoding
        from ..models.pretrained import weights_file

        weights_file(config.model, config.cache_dir)

    dist_info = distributed.init(device)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)

    check_memory(config)
    data = load_data(
        config.data,
        config.target_size,
        config.color_mode,
        config.interpolation,
        config.classes,
        config.validation_split,
        config.cache_dir,
        cache_size=config.cache_size,
        labels=config.labels,
        fn_col=config.fn_col,
        label_col=config.label_col,
        keep_aspect_ratio=config.keep_aspect_ratio,
        label_delim=config.label_delim,
        multi_label=config.label_mode == "multi",
    )
    check_class_names(data, config.data)
    config = multilabel.resolve_label_mode(config, data)  # several labels a row: multi
    if config.label_mode == "binary" and data.num_classes != 2:
        raise AugtrainError(
            f"--label-mode binary needs 2 classes; the data has {data.num_classes} "
            f"({', '.join(map(str, data.classes[:5]))}{', ...' if data.num_classes > 5 else ''})"
        )
    if ckpt is not None:
        check_resumed_data(run_dir, ckpt, data, model_input_shape(config, data))
    if dist_info.is_main and config.verbose:
        print(f"data: {data.summary()}", flush=True)
    val_name, val_arrays = pick_validation(config, data)
    h, w, c = model_input_shape(config, data)
    if weights_cfg is not None:  # the weights' own normalisation, not the data's
        mean, std = list(weights_cfg["mean"]), list(weights_cfg["std"])
    elif config.input_norm == "standardize":
        mean, std = channel_stats(data.train, config.cache_dir)
    else:
        mean, std = [0.0] * c, [1.0] * c
    model_spec = {
        "name": config.model,
        "options": config.model_options,
        # binary: one output, the logit of the second class (report.metrics.class_logits)
        "num_classes": 1 if config.label_mode == "binary" else data.num_classes,
        "in_channels": c,
        "input_size": [h, w],
        "mean": mean,
        "std": std,
        "label_mode": config.label_mode,
    }
    if config.time_budget is not None and config.budget_choice is None and not resumed:
        # the recipe's scale for the budget, from a calibration on this data and machine
        # (rank 0's under torchrun: every rank must train the same recipe)
        fitted = (
            fit_to_budget(config, given, data, model_spec, device, started)
            if dist_info.is_main
            else None
        )
        config = distributed.broadcast_object(fitted, dist_info)
        model_spec["options"] = config.model_options
    data = apply_choice(config, data)  # the budget's threads; short of an epoch: part of the data
    if weights_cfg is not None:  # the layout the weights belong to; what they are
        model_spec["options"] = {**weights_cfg["options"], **config.model_options}
        model_spec["pretrained"] = weights_cfg
    if network is not None:
        config, model_spec = record_network(config, model_spec, network, network_factory)
    if network is None:  # create_model refuses images too small for the model
        classifier = checkpoint.build_model(model_spec, mean, std)
    else:
        from ..models.classifier import Classifier

        classifier = Classifier(network, mean, std)
    if config.init_from and ckpt is None:  # a resumed run has its weights in last.pt
        from ..models.weights import init_from

        verbose = config.verbose if dist_info.is_main else 0
        init_from(classifier.net, config.init_from, model_spec["name"], verbose)
    if weights_cfg is not None and ckpt is None:
        from ..models.pretrained import load_pretrained

        verbose = config.verbose if dist_info.is_main else 0
        load_pretrained(classifier.net, config.model, config.cache_dir, verbose)
    classifier.to(device)
    if config.sync_bn and dist_info.enabled:
        if device.type != "cuda":
            raise AugtrainError("--sync-bn needs CUDA devices (torch's SyncBatchNorm is GPU-only)")
        classifier = torch.nn.SyncBatchNorm.convert_sync_batchnorm(classifier)
    classifier = precision.prepare_model(classifier)

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
    from .unfreeze import setup as transfer_setup

    groups, transfer_callbacks = transfer_setup(getattr(classifier, "net", classifier), config)
    groups, recipe_callbacks = recipe_setup(getattr(classifier, "net", classifier), config, groups)
    all_callbacks: list[Callback] = [history_cb, *transfer_callbacks, *recipe_callbacks]
    all_callbacks += flag_callbacks
    all_callbacks += callbacks or []
    all_callbacks += [folder]
    announce = bool(dist_info.is_main and config.verbose)
    placed = place_splits(
        {"train": data.train, val_name or "val": val_arrays},
        device,
        announce,
        config.placement,
        config.cache_dir,
    )
    train_split, val_split = placed["train"], placed[val_name or "val"]
    if ckpt is None and not config.init_from and weights_cfg is None:
        init_from_data(classifier, train_split.x)  # speednet: patch whitening from the data
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


def pretrained_settings(
    config: TrainConfig, network: torch.nn.Module | None, resumed: bool
) -> tuple[dict[str, Any] | None, TrainConfig]:
    """--pretrained: the weights' cfg (None without), and the config with the model's input
    size as --target-size where none was given (a resumed run has it already)."""
    if not config.pretrained:
        return None, config
    if network is not None:
        raise AugtrainError(
            "--pretrained loads a registered model's weights; with network= load them yourself"
        )
    from ..models.pretrained import pretrained_cfg

    cfg = pretrained_cfg(config.model)
    if config.target_size is None and not resumed:
        config = config.replace(target_size=tuple(cfg["input_size"][1:]))
    return cfg, config


def record_network(
    config: TrainConfig,
    spec: dict[str, Any],
    network: torch.nn.Module,
    factory: str | Any | None,
) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and model spec of a run trained with `network=`: its rebuild reference
    as the model (so config.json and last.pt rebuild it), or its class name marked as not
    rebuildable."""
    from ..models.factory import is_reference, rebuild_reference

    if factory is None and is_reference(config.model):  # a resumed run: its own reference
        factory = config.model
    size = (spec["input_size"][0], spec["input_size"][1])
    reference = rebuild_reference(
        network, factory, spec["num_classes"], spec["in_channels"], size, config.model_options
    )
    if reference is None:
        if config.verbose:
            print(
                f"note: network={type(network).__name__} cannot be rebuilt from its class "
                "(its constructor needs arguments); pass network_factory='module:function' "
                "so evaluate, predict and export can load this run",
                file=sys.stderr,
                flush=True,
            )
        return config, {**spec, "name": type(network).__name__, "rebuildable": False}
    return config.replace(model=reference), {**spec, "name": reference}


def check_before_data(
    config: TrainConfig,
    network: torch.nn.Module | None,
    callbacks: list[Callback] | None,
    resumed: bool = False,
) -> None:
    """What can be checked without the data, checked before it is read: decoding a large
    folder takes minutes, and a typo found after it costs them."""
    from ..models import MODELS

    if network is None and ":" in config.model:
        from ..models.factory import import_factory

        import_factory(config.model)  # not importable: one line now
    elif network is None and config.model not in MODELS:
        near = difflib.get_close_matches(config.model, list(MODELS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise AugtrainError(
            f"unknown model {config.model!r}{hint}; choose from {', '.join(sorted(MODELS))}"
        )
    make_pipeline(config)  # an unknown op or bad op parameter
    if not resumed:
        check_run_name(config)
    if config.init_from:
        source = Path(config.init_from).expanduser()
        if not source.exists():
            raise AugtrainError(
                f"--init-from {config.init_from}: no such run folder or weights file"
            )
        if source.is_dir() and not (source / runfolder.LAST).exists():
            raise AugtrainError(f"--init-from {source}: run folder has no checkpoint (last.pt)")
    check_loggers_installed(config)  # --tensorboard, --logger wandb, ...
    if config.monitor != "auto":
        check_not_test(config.monitor, "--monitor")
        known = {"epoch", "loss", "accuracy", "lr", "seconds", "images_per_s"}
        known |= set(evaluation_metrics("val", ema=True))
        for cb in callbacks or []:
            known |= set(cb.provides())
        if config.monitor not in known:
            near = difflib.get_close_matches(config.monitor, sorted(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise AugtrainError(
                f"--monitor {config.monitor!r} is never logged{hint}; "
                f"available: {', '.join(sorted(known))}"
            )


def available_memory() -> int | None:
    """Bytes this process can still allocate: MemAvailable, or the cgroup's limit less
    its use when that is lower; None where neither can be read."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            found.append(max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_memory(config: TrainConfig) -> None:
    """--target-size H W: the decoded images (N x H x W x C bytes, N from listing the
    folder, which is cheap) must fit in memory; else one line now, not the OOM killer later."""
    if config.target_size is None or not isinstance(config.data, (str, os.PathLike)):
        return
    from ..data.folder import COLOR_MODES, walk_image_files

    h, w = config.cache_size or config.target_size  # images are decoded at the cache size
    c = COLOR_MODES.get(config.color_mode, ("", 3))[1]
    path = Path(config.data).expanduser()
    n = len(walk_image_files(path)) if path.is_dir() else 1
    need = max(n, 1) * h * w * c
    available = available_memory()
    if available is not None and need > available:
        raise AugtrainError(
            f"--target-size {h} {w}: {n} images of {h}x{w}x{c} need {need / 1e9:,.1f} GB of "
            f"memory, more than the {available / 1e9:,.1f} GB available; choose a smaller size"
        )


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
    (report.multilabel) has its own figures, and no TTA or confusion matrix."""
    precision = precision or DevicePolicy.for_run(device, config.to_dict())
    multi = config.label_mode == "multi"
    split_name, split = ("test", data.test) if data.test is not None else ("val", data.val)
    metrics: dict[str, Any] = {}
    other = None
    if ema is not None and config.use_ema:
        model, other = ema, model
    elif ema is not None:
        other = ema
    if split is not None and multi:  # sigmoid per label: no TTA, no second model's figures
        logits = predict_logits(model, split.x, device, policy=precision)
        metrics = multilabel.final_metrics(
            logits, split_name, split.y, data.classes, config, ema is not None
        )
    elif split is not None:
        logits = predict_logits(model, split.x, device, policy=precision)
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
