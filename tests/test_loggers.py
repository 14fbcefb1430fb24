"""--logger: W&B through a recording fake wandb module (the real packages, in their offline /
local-file modes: test_loggers_real.py), csv, tensorboard as --tensorboard, and one-line
errors for an unknown logger or a missing package."""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures import synthetic_arrays

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError
from augtrain.training.callbacks import Callback, CSVLogger, TensorBoard
from augtrain.training.config import TrainConfig
from augtrain.training.loggers import build_loggers


def arrays() -> dict[str, np.ndarray]:
    return synthetic_arrays(32, 16, 12, 0)


def train(tmp_path: Path, **kw: Any) -> Any:
    opts = dict(
        data=arrays(),
        model="cnn4",  # the tutorials' recipe: Adam, the test split evaluated each epoch
        epochs=2,
        batch_size=8,
        runs_dir=str(tmp_path),
        name="run",
        verbose=0,
    )
    return augtrain.train(**{**opts, **kw})


def metrics_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


# ------------------------------------------------------------------ W&B, a recording fake
class FakeWandb:
    """What WandbLogger calls of the wandb module, recorded."""

    def __init__(self) -> None:
        self.inits: list[dict[str, Any]] = []
        self.runs: list[Any] = []

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("wandb")
        mod.init = self.init
        mod.Settings = lambda **kw: ("settings", kw)
        return mod

    def init(self, **kwargs: Any) -> Any:
        self.inits.append(kwargs)
        run = types.SimpleNamespace(
            id=kwargs.get("id") or f"id{len(self.runs)}",
            config_updates=[],
            logged=[],
            summary={},
            exit_code=None,
        )
        run.config = types.SimpleNamespace(update=lambda d, **kw: run.config_updates.append(d))
        run.commits = []
        run.log = lambda d, step, commit=None: (
            run.logged.append((step, dict(d))) or run.commits.append(commit)
        )
        run.finish = lambda exit_code=0: setattr(run, "exit_code", exit_code)
        self.runs.append(run)
        return run


@pytest.fixture
def fake_wandb(monkeypatch) -> FakeWandb:
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake.module())
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    return fake


def test_wandb_logs_config_epochs_lr_and_final_metrics(tmp_path, fake_wandb):
    run = train(tmp_path, loggers=["wandb"])
    (init,) = fake_wandb.inits
    assert init["name"] == "run" and init["project"] == "augtrain"
    assert init["dir"] == str(tmp_path / "run")  # its files stay in the run folder
    (tracked,) = fake_wandb.runs
    (config,) = tracked.config_updates
    assert config["epochs"] == 2 and config["batch_size"] == 8 and config["loggers"] == ["wandb"]
    assert [step for step, _ in tracked.logged] == [0, 1]
    assert tracked.commits == [True, True]  # each epoch's row written then, not at finish
    for (_, logged), epoch in zip(tracked.logged, run.history):
        for key in ("loss", "accuracy", "test_loss", "test_accuracy", "lr"):
            assert logged[key] == epoch[key]
    metrics = metrics_of(tmp_path / "run")
    assert tracked.summary["test_accuracy"] == metrics["accuracy"]
    assert tracked.summary["test_loss"] == metrics["loss"]
    assert tracked.exit_code == 0


def test_wandb_resume_goes_on_in_the_same_tracked_run(tmp_path, fake_wandb):
    train(tmp_path, loggers=["wandb"], epochs=1)
    augtrain.train(resume=str(tmp_path / "run"), data=arrays(), epochs=2, verbose=0)
    first, second = fake_wandb.inits
    assert second["id"] == fake_wandb.runs[0].id and second["resume"] == "allow"
    assert [s for s, _ in fake_wandb.runs[1].logged] == [1]  # epoch 2 only
    assert fake_wandb.runs[1].config_updates == []  # the config is logged once


def test_a_failed_run_ends_its_tracked_run_as_failed(tmp_path, fake_wandb):
    class Boom(Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train(tmp_path, loggers=["wandb"], callbacks=[Boom()])
    assert fake_wandb.runs[0].exit_code == 1


# ------------------------------------------------------------------ csv and tensorboard
def test_csv_logger_writes_log_csv(tmp_path):
    run = train(tmp_path, loggers=["csv"])
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert [float(r["loss"]) for r in rows] == [e["loss"] for e in run.history]


def test_logger_tensorboard_is_tensorboard_flag():
    def kinds(**kw: Any) -> list[type]:
        return [type(cb) for cb in build_loggers(TrainConfig(**kw))]

    assert kinds(tensorboard=True) == [TensorBoard]
    assert kinds(loggers=["tensorboard"]) == [TensorBoard]
    assert kinds(tensorboard=True, loggers=["tensorboard", "csv"]) == [TensorBoard, CSVLogger]
    assert kinds() == []


def test_cli_logger_flag_is_repeatable_and_comma_separated(tmp_path, monkeypatch):
    import augtrain.training.run as run_module

    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        run_module, "train", lambda **kw: seen.update(kw) or types.SimpleNamespace(path=None)
    )
    assert main(["train", "--logger", "csv,wandb", "--logger", "csv", "--logger", "mlflow"]) == 0
    assert seen["loggers"] == ["csv", "wandb", "mlflow"]


# ------------------------------------------------------------------ mistakes: one line
def test_missing_package_names_the_extra(tmp_path, monkeypatch, capsys):
    np.savez(tmp_path / "d.npz", **arrays())
    for name in ("wandb", "mlflow"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
        code = main(
            ["train", "--data", str(tmp_path / "d.npz"), "--logger", name]
            + ["--runs-dir", str(tmp_path / "runs")]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        assert f"--logger {name} needs the {name} package: pip install {name}" in err
        assert f"pip install 'augtrain[{name}]'" in err
        assert not (tmp_path / "runs").exists()
    from augtrain.training.loggers.wandb_logger import WandbLogger

    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(AugtrainError, match=r"augtrain\[wandb\]"):
        WandbLogger()


def test_unknown_logger_suggests_the_nearest(tmp_path, capsys):
    code = main(["train", "--logger", "wandbb", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "unknown --logger 'wandbb'; did you mean 'wandb'?" in err
    with pytest.raises(AugtrainError, match="--logger takes names"):
        TrainConfig(loggers="csv").validate()
