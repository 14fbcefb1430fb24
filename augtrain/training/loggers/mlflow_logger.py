"""MLflowLogger: MLflow tracking (`--logger mlflow`, `pip install 'augtrain[mlflow]'`).

Logs to MLflow's tracking URI (MLFLOW_TRACKING_URI, `mlflow.set_tracking_uri`, or MLflow's
default) in experiment $MLFLOW_EXPERIMENT_NAME (default "augtrain"), one MLflow run per
augtrain run, named after the run folder. It uses an MlflowClient, not MLflow's global
active run, so a run already active in the caller's process is left alone.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ...errors import missing_package
from .base import TrackingLogger, flat_params

# MLflow takes at most this many parameters per log_batch call.
PARAMS_PER_BATCH = 100


class MLflowLogger(TrackingLogger):
    """`experiment` (name), `tracking_uri` (else MLflow's current one) and run `tags`."""

    what = "--logger mlflow"

    def __init__(
        self,
        experiment: str | None = None,
        tracking_uri: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise missing_package("MLflowLogger", "mlflow", "mlflow") from None
        self.experiment, self.tracking_uri, self.tags = experiment, tracking_uri, tags or {}
        self.client: Any = None
        self.last_timestamp = 0  # ms, of the latest metrics this logger sent

    def start(self, resume_id: str | None) -> str:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        if resume_id is not None:
            self.client.update_run(resume_id, status="RUNNING")
            return resume_id
        name = self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "augtrain"
        found = self.client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else self.client.create_experiment(name)
        run = self.client.create_run(experiment_id, run_name=self.run_name, tags=self.tags)
        return run.info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in flat_params(params).items()]
        for i in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + PARAMS_PER_BATCH])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        # strictly later than what came before: of two values at one step MLflow takes the
        # later one as the metric's latest, and milliseconds can tie
        self.last_timestamp = max(int(time.time() * 1000), self.last_timestamp + 1)
        batch = [Metric(k, v, self.last_timestamp, step) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def log_final(self, metrics: dict[str, float]) -> None:
        # at the last epoch's step, after that epoch's own figures (so they are MLflow's
        # latest); not one step past it, where a resumed run logs its next epoch
        last_epoch = int(getattr(self.trainer, "epoch", 0)) - 1
        self.log_metrics(metrics, max(last_epoch, 0))

    def finish(self, success: bool) -> None:
        self.client.set_terminated(self.run_id, "FINISHED" if success else "FAILED")
