"""A run folder evaluated and reported on its own data (or data given in its place).

Loading a run's data needs its TrainConfig and `data.load_data`, so this orchestration
lives in training; `report.evaluation.evaluate_dataset` and `report.html.render_report`
get the loaded data, the model and the configuration table's rows passed in.

    evaluate_run    `augtrain evaluate`, `Run.evaluate` / `interpret` / `show_results`
    build_report    `augtrain report`
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import runfolder
from ..data import load_data
from ..errors import AugtrainError
from ..models.saved import load_run_model
from ..report.evaluation import Evaluation, color_mode_for, evaluate_dataset
from ..report.tta import tta_views
from .config import TrainConfig
from .optim import DEFAULT_LR
from .resolved import check_class_names, make_pipeline, resolve_monitor


def load_dataset(ckpt: dict[str, Any], data: str | None = None) -> Any:
    """The run's own Dataset (read with its own settings, so from the same cache entry),
    or `data` read for this model: resized to its input size, in a colour mode with
    its channel count."""
    config = TrainConfig.from_dict(ckpt["config"])
    source = data or config.data
    if source in (None, "<arrays>"):
        raise AugtrainError(
            "this run was trained on in-memory arrays: pass --data (a .npz file or image folder)"
        )
    if (
        data is None
        and isinstance(source, str)
        and source != "cifar10"
        and not Path(source).expanduser().exists()
    ):
        raise AugtrainError(
            f"the run's data {source} (its config.json) is no longer there: "
            "pass --data with its new place"
        )
    input_size = tuple(ckpt["model"]["input_size"])
    return check_class_names(
        load_data(
            source,
            config.target_size if data is None else (config.target_size or input_size),
            config.color_mode
            if data is None
            else color_mode_for(vars(config), ckpt["model"]["in_channels"]),
            config.interpolation,
            config.classes,
            config.validation_split if data is None else 0.0,
            config.cache_dir,
            cache_size=getattr(config, "cache_size", None),
            labels=config.labels if data is None else None,
            fn_col=config.fn_col,
            label_col=config.label_col,
            # files read again as training read them; other data (an .npz) has no files
            keep_aspect_ratio=config.keep_aspect_ratio
            and (data is None or Path(str(data)).expanduser().is_dir()),
            label_delim=config.label_delim,
            # the run's mode is decided: its CSV is read as training read it
            multi_label=config.label_mode == "multi" and data is None,
        ),
        source,
    )


def evaluate_run(
    run: str | Path,
    data: str | None = None,
    tta: str | None = None,
    checkpoint: str = runfolder.LAST,
    device: str = "auto",
    batch_size: int = 500,
    dataset: Any = None,
) -> Evaluation:
    """Predict the run's test split (or `data`'s; or that of an already loaded
    `dataset`) and compute every metric. `tta` None: the run's own final-evaluation
    TTA (config `tta`, 'none' unless trained with one), as in its metrics.json."""
    from ..device import resolve_device

    if tta is not None:
        tta_views(tta)  # unknown mode: one-line error before anything is loaded
    dev = resolve_device(device)  # an unusable device too
    model, ckpt = load_run_model(run, checkpoint)
    if dataset is None:
        dataset = load_dataset(ckpt, data)
    return evaluate_dataset(model, ckpt, dataset, data, tta, checkpoint, run, dev, batch_size)


# Shown whatever their value: what a reader needs to know what this run was.
ESSENTIAL_SETTINGS = (
    "model",
    "data",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "schedule",
    "augment",
    "seed",
)
# Where and how verbosely the run was written: nothing about the result.
BOOKKEEPING_SETTINGS = ("name", "runs_dir", "overwrite", "verbose", "cache_dir")
# What `pick_validation` resolved `validation: auto` to, in config.json's data.validation.
VALIDATION_SHOWN = {"val": "split", "test": "test", None: "none"}


def _plain(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def shown_settings(config: dict[str, Any], validation: Any = "unknown") -> list[tuple[str, str]]:
    """(setting, value) rows of the configuration table: the essentials, then every
    setting that differs from TrainConfig's default. 'auto' values are shown as what
    they resolved to where the run folder records it (`validation`: config.json's
    data.validation, 'val', 'test' or None; "unknown" when not recorded)."""
    defaults = TrainConfig().to_dict()
    rows: list[tuple[str, str]] = []

    def show(value: Any) -> str:
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    for key in ESSENTIAL_SETTINGS:
        value = config.get(key, defaults.get(key))
        if key == "lr" and value is None:
            default = DEFAULT_LR.get(str(config.get("optimizer", "adam")))
            rows.append((key, f"{default} ({config.get('optimizer', 'adam')}'s default)"))
        else:
            rows.append((key, show(value)))
    mode = config.get("validation", "auto")
    if validation != "unknown":
        resolved = VALIDATION_SHOWN.get(validation, str(validation))
        rows.append(("validation", resolved + (" (auto)" if mode == "auto" else "")))
        if config.get("monitor", "auto") == "auto":
            monitor, _ = resolve_monitor(TrainConfig.from_dict(config), validation)
            rows.append(("monitor", f"{monitor} (auto)"))
    elif mode != defaults["validation"]:
        rows.append(("validation", str(mode)))
    skip = {*ESSENTIAL_SETTINGS, *BOOKKEEPING_SETTINGS, "validation", "monitor"}
    for key, value in config.items():
        if key in skip or key not in defaults or _plain(value) == _plain(defaults[key]):
            continue
        rows.append((key, show(value)))
    if config.get("monitor", "auto") != "auto":
        rows.append(("monitor", str(config["monitor"])))
    return rows


def build_report(
    run: str | Path,
    data: str | None = None,
    checkpoint: str = runfolder.LAST,
    tta: str | None = None,
    device: str = "auto",
    grid_size: int = 32,
) -> str:
    """The HTML text of the report of run folder `run` (`report.html.render_report`)."""
    from ..report.html import render_report

    run = runfolder.check_run_dir(run)
    cfg = runfolder.read_config(run)
    _, ckpt = load_run_model(run, checkpoint)
    # data: one load serves the augmentation preview and the evaluation
    dataset, data_problem = None, None
    try:
        dataset = load_dataset(ckpt, data)
    except AugtrainError as e:
        data_problem = str(e)
    ev, eval_problem = None, data_problem
    if dataset is not None:
        try:
            ev = evaluate_run(run, data, tta, checkpoint, device, dataset=dataset)
        except AugtrainError as e:
            eval_problem = str(e)
    recorded = cfg.get("data", {}) if isinstance(cfg.get("data"), dict) else {}
    settings = shown_settings(ckpt["config"], recorded.get("validation", "unknown"))
    pipeline = make_pipeline(TrainConfig.from_dict(ckpt["config"]))
    return render_report(
        run, ckpt, settings, pipeline, dataset, data_problem, ev, eval_problem, grid_size
    )
