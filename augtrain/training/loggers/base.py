"""TrackingLogger: what the experiment trackers (W&B, MLflow) share.

A subclass implements `start(resume_id)` (returning the tracked run's id), `log_params`,
`log_metrics`, `log_final` and `finish(success)`; this class calls them on rank 0 only:
the config at the start, each epoch's numeric logs (with `lr`) at step = epoch (from 0,
as TensorBoard's), and after the run's final evaluation its scalar metrics
(`test_loss`, `test_accuracy`, ...) before the tracked run is closed.

The tracked run's id is kept in the callback's state (so in last.pt): `--resume` goes on
logging into the same tracked run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from ...errors import AugtrainError
from ..callbacks.base import Callback


class TrackingLogger(Callback):
    what = "tracking"  # for messages: "--logger wandb"

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.active = False

    # ---------------------------------------------------------------- for subclasses
    def start(self, resume_id: str | None) -> str:
        raise NotImplementedError

    def log_params(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def log_final(self, metrics: dict[str, float]) -> None:
        raise NotImplementedError

    def finish(self, success: bool) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.is_main:
            return
        resume_id = self.run_id if self.resumed else None
        try:
            self.run_id = self.start(resume_id)
        except AugtrainError:
            raise
        except Exception as e:  # a tracking URI, server or login that does not work
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise AugtrainError(f"{self.what}: could not start the tracked run: {first}") from e
        self.active = True
        if resume_id is None:
            self.log_params(config_params(self.trainer.config))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.active:
            self.log_metrics(numeric(logs), epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        # augtrain.train() evaluates after training and calls on_run_end; elsewhere (a
        # Trainer used directly, Keras-style fit) the tracked run ends here
        if self.active and not getattr(self.trainer, "run_end_follows", False):
            self._finish(True)

    def on_run_end(self, metrics: dict | None = None) -> None:
        if not self.active:
            return
        if metrics:
            self.log_final(final_metrics(metrics))
        self._finish(metrics is not None)

    def _finish(self, success: bool) -> None:
        self.active = False
        self.finish(success)

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.run_id = state.get("run_id")

    @property
    def run_name(self) -> str | None:
        run_dir = getattr(self.trainer, "run_dir", None)
        return None if run_dir is None else Path(run_dir).name


def numeric(logs: dict | None) -> dict[str, float]:
    """The finite numbers of an epoch's logs (loss, accuracy, val_*, lr, timings)."""
    out: dict[str, float] = {}
    for key, value in (logs or {}).items():
        if key == "epoch":
            continue
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                out[key] = float(value)
    return out


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """metrics.json's scalars, named by split: test_loss, test_accuracy, test_top5_accuracy
    (final_val_* where the final evaluation is on the validation split)."""
    split = metrics.get("split", "test")
    prefix = "test_" if split == "test" else f"final_{split}_"
    return {prefix + k: v for k, v in numeric(metrics).items()}


def config_params(config: Any) -> dict[str, Any]:
    """The run's settings as plain values (lists, dicts and tuples as JSON text is left to
    trackers that need flat strings: see `flat_params`)."""
    return config.to_dict() if hasattr(config, "to_dict") else dict(vars(config))


def flat_params(params: dict[str, Any], limit: int = 500) -> dict[str, str]:
    """Settings as strings of at most `limit` characters (MLflow's parameter values)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[key] = text if len(text) <= limit else text[: limit - 3] + "..."
    return out
