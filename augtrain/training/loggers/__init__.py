"""Experiment trackers as callbacks: `--logger tensorboard,csv,wandb,mlflow` (TrainConfig.loggers).

    tensorboard     callbacks.TensorBoard in RUN/tensorboard (the same as --tensorboard)
    csv             callbacks.CSVLogger in RUN/log.csv (Keras' format; history.csv is always there)
    wandb           wandb_logger.WandbLogger: Weights & Biases (WANDB_MODE=offline works)
    mlflow          mlflow_logger.MLflowLogger: MLflow (MLFLOW_TRACKING_URI, MLflow's default)

The trackers log the config (hyper-parameters), every epoch's metrics and learning rate,
and the final evaluation's metrics (base.TrackingLogger). A missing package is a one-line
error before any data is read, naming the extra that installs it.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from ...errors import AugtrainError, missing_package

# name -> (module that must import, pip package, augtrain extra)
LOGGERS: dict[str, tuple[str | None, str, str]] = {
    "tensorboard": ("torch.utils.tensorboard", "tensorboard", "tensorboard"),
    "csv": (None, "", ""),
    "wandb": ("wandb", "wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow", "mlflow"),
}


def check_logger_names(names: Any) -> None:
    """One-line error for a logger that does not exist, naming the nearest one."""
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise AugtrainError(f"--logger takes names ({', '.join(LOGGERS)}), got {names!r}")
    for name in names:
        if name not in LOGGERS:
            near = difflib.get_close_matches(name, list(LOGGERS), n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise AugtrainError(
                f"unknown --logger {name!r}; {hint}choose from {', '.join(LOGGERS)}"
            )


def logger_names(config: Any) -> list[str]:
    """The loggers a config asks for: `loggers`, and tensorboard for `tensorboard=True`."""
    names = list(getattr(config, "loggers", None) or [])
    if getattr(config, "tensorboard", False) and "tensorboard" not in names:
        names.append("tensorboard")
    return names


def check_installed(config: Any) -> None:
    """Every logger's package imports, or a one-line error naming its extra."""
    for name in logger_names(config):
        module, package, extra = LOGGERS[name]
        if module is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            flag = "--tensorboard" if name == "tensorboard" and config.tensorboard else "--logger"
            what = flag if flag == "--tensorboard" else f"--logger {name}"
            raise missing_package(what, package, extra) from None


def build_loggers(config: Any) -> list[Any]:
    """The callbacks of the config's loggers, in the order given."""
    from ..callbacks.csv_logger import CSVLogger
    from ..callbacks.tensorboard import TensorBoard

    out: list[Any] = []
    for name in logger_names(config):
        if name == "tensorboard":
            out.append(TensorBoard("tensorboard"))
        elif name == "csv":
            out.append(CSVLogger("log.csv"))
        elif name == "wandb":
            from .wandb_logger import WandbLogger

            out.append(WandbLogger())
        elif name == "mlflow":
            from .mlflow_logger import MLflowLogger

            out.append(MLflowLogger())
    return out
