"""The callbacks that CLI flags ask for."""

from __future__ import annotations

from typing import Any

from .base import Callback
from .early_stopping import EarlyStopping
from .reduce_lr_on_plateau import ReduceLROnPlateau


def from_config(config: Any, monitor: str, mode: str) -> list[Callback]:
    """The callbacks that CLI flags ask for (--early-stopping-patience, --reduce-lr-patience,
    --tensorboard, --logger), on the run's monitor. Rebuilt from config.json on --resume."""
    from ..loggers import build_loggers  # lazily: the loggers import callbacks.base

    verbose = 1 if config.verbose else 0
    out: list[Callback] = []
    if getattr(config, "reduce_lr_patience", None) is not None:
        out.append(
            ReduceLROnPlateau(
                monitor,
                factor=config.reduce_lr_factor,
                patience=config.reduce_lr_patience,
                mode=mode,
                verbose=verbose,
            )
        )
    if getattr(config, "early_stopping_patience", None) is not None:
        out.append(
            EarlyStopping(
                monitor, patience=config.early_stopping_patience, mode=mode, verbose=verbose
            )
        )
    out += build_loggers(config)
    return out
