"""WandbLogger: Weights & Biases tracking (`--logger wandb`, `pip install 'augtrain[wandb]'`).

The run is named after the run folder and logged to project $WANDB_PROJECT (default
"augtrain"); W&B's own settings come from its environment (WANDB_MODE=offline,
WANDB_ENTITY, WANDB_API_KEY, ...). Its local files go in RUN/wandb unless WANDB_DIR says
where, so a run folder holds what its run wrote.
"""

from __future__ import annotations

import os
from typing import Any

from ...errors import missing_package
from .base import TrackingLogger


class WandbLogger(TrackingLogger):
    """`project`, `entity` and further `wandb.init` keywords (`tags=`, `group=`, ...)."""

    what = "--logger wandb"

    def __init__(
        self, project: str | None = None, entity: str | None = None, **init_kwargs: Any
    ) -> None:
        super().__init__()
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise missing_package("WandbLogger", "wandb", "wandb") from None
        self.project, self.entity, self.init_kwargs = project, entity, init_kwargs
        self.run: Any = None

    def start(self, resume_id: str | None) -> str:
        import wandb

        kwargs: dict[str, Any] = {
            "project": self.project or os.environ.get("WANDB_PROJECT") or "augtrain",
            "entity": self.entity,
            "name": self.run_name,
        }
        run_dir = getattr(self.trainer, "run_dir", None)
        if "WANDB_DIR" not in os.environ and run_dir is not None:
            kwargs["dir"] = str(run_dir)
        if resume_id is not None:
            kwargs.update(id=resume_id, resume="allow", allow_val_change=True)
        if not self.trainer.config.verbose:
            kwargs["settings"] = wandb.Settings(quiet=True)
        self.run = wandb.init(**{**kwargs, **self.init_kwargs})
        return self.run.id

    def log_params(self, params: dict[str, Any]) -> None:
        self.run.config.update(params, allow_val_change=True)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        # commit=True: with `step=` W&B otherwise holds the row until the next step or
        # finish(), and the summary it then derives from the row would overwrite log_final's
        self.run.log({**metrics, "epoch": step + 1}, step=step, commit=True)

    def log_final(self, metrics: dict[str, float]) -> None:
        self.run.summary.update(metrics)

    def finish(self, success: bool) -> None:
        self.run.finish(exit_code=0 if success else 1)
        self.run = None
