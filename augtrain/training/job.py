"""A training job set up up to its Trainer: the settled config (a preset filled in, or a
resumed run's own), every check made before data is read, the data read and placed, the
model built. `run.train` makes its Trainer and run folder from a `TrainingJob`; the
learning-rate finder (lr_find.py) runs its range test on one."""

from __future__ import annotations

import difflib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import runfolder
from ..data import Dataset, load_data
from ..device import DevicePolicy, resolve_device
from ..errors import AugtrainError
from ..report import multilabel
from . import checkpoint, distributed
from .budget import apply_choice, command_start, fit_to_budget, given_settings, guard_for
from .callbacks import Callback
from .config import TrainConfig, unknown_keywords
from .loggers import check_installed as check_loggers_installed
from .loop import (
    channel_stats,
    check_not_test,
    evaluation_metrics,
    place_splits,
)
from .presets import init_from_data, recipe_setup, with_preset
from .resolved import check_class_names, make_pipeline, resolve_monitor, to_target  # noqa: F401


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


def settle_config(
    config: TrainConfig | None,
    resume: str | Path | None,
    network: torch.nn.Module | None,
    network_factory: str | Any | None,
    overrides: dict[str, Any],
) -> tuple[TrainConfig, Path | None, dict | None, float, set[str]]:
    """The validated config of `train`'s arguments (a preset filled in, or a resumed run's
    own), with the resumed run's folder and checkpoint (None, None for a new run), and for
    --time-budget the command's start and the settings the user gave."""
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
            config,
            overrides,
            lambda d: resolve_device(d).type in ("cuda", "mps"),
            own_network=network is not None,
        )
        config = (
            (config or TrainConfig()).replace(**overrides)
            if overrides
            else (config or TrainConfig())
        )
        ckpt, run_dir = None, None
    config.validate()
    return config, run_dir, ckpt, started, given


@dataclass
class TrainingJob:
    """A run set up up to its Trainer: the model built and placed, the data on the device,
    the optimizer groups and the callbacks the model and transfer settings need. `train`
    makes its Trainer and run folder from it; the learning-rate finder (lr_find.py) runs
    its range test on it and leaves the model as it found it."""

    config: TrainConfig
    data: Dataset
    device: torch.device
    precision: DevicePolicy
    dist_info: distributed.DistInfo
    classifier: torch.nn.Module
    model_spec: dict[str, Any]
    val_name: str | None
    val_arrays: Any
    train_split: Any
    val_split: Any
    groups: list[dict] | None
    setup_callbacks: list[Callback]  # transfer learning's and the recipe's
    run_dir: Path | None
    ckpt: dict | None
    lr_finder: Any = None  # --lr auto: the range test's result (lr_find.LRFinderResult)
    budget_guard: Callback | None = None  # --time-budget: re-plans the epochs as they run


def csv_reading(config: TrainConfig, given: set[str] | None, resumed: bool) -> bool | None:
    """How a --labels CSV's cells are read (data.labels_csv): split with --label-mode
    multi; whole with --label-mode categorical given (or a resumed run's mode, already
    decided); else (no --label-mode, or binary: cells of several labels are then its
    one-line error) None, decided from the cells."""
    if config.label_mode == "multi":
        return True
    chosen = resumed or (config.label_mode == "categorical" and "label_mode" in (given or set()))
    return False if chosen else None


def prepare_job(
    config: TrainConfig,
    device: torch.device,
    precision: DevicePolicy,
    callbacks: list[Callback] | None,
    network: torch.nn.Module | None,
    network_factory: str | Any | None,
    run_dir: Path | None,
    ckpt: dict | None,
    claims_folder: bool = True,
    started: float | None = None,
    given: set[str] | None = None,
) -> TrainingJob:
    """Read the data, build the model and place both on `device` (`train`'s set-up before
    its Trainer). `claims_folder` False (the lr finder): the run name is not checked.
    `started`, `given`: --time-budget's clock and the user's settings (`settle_config`);
    without them no calibration runs."""
    resumed = ckpt is not None or run_dir is not None
    weights_cfg, config = pretrained_settings(config, network, resumed)
    check_before_data(config, network, callbacks, resumed=resumed or not claims_folder)
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
        multi_label=csv_reading(config, given, resumed),
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
    budget = config.time_budget is not None and config.budget_choice is None
    guard = None
    if budget and not resumed and started is not None:
        # the recipe's scale for the budget, from a calibration on this data and machine
        # (rank 0's under torchrun: every rank must train the same recipe)
        fitted = (
            fit_to_budget(config, given or set(), data, model_spec, device, started)
            if dist_info.is_main
            else None
        )
        config = distributed.broadcast_object(fitted, dist_info)
        model_spec["options"] = config.model_options
        guard = guard_for(config, given or set(), started)
        # the calibration may have chosen the other CPU precision (budget.precisions_for)
        precision = DevicePolicy.resolve(device, config.amp, config.channels_last)
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

    from .unfreeze import setup as transfer_setup

    groups, transfer_callbacks = transfer_setup(getattr(classifier, "net", classifier), config)
    groups, recipe_callbacks = recipe_setup(getattr(classifier, "net", classifier), config, groups)
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
    return TrainingJob(
        config,
        data,
        device,
        precision,
        dist_info,
        classifier,
        model_spec,
        val_name,
        val_arrays,
        train_split,
        val_split,
        groups,
        [*transfer_callbacks, *recipe_callbacks],
        run_dir,
        ckpt,
        budget_guard=guard,
    )


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
