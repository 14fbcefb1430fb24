"""--logger wandb and --logger mlflow with the real packages, offline: W&B in its offline
mode (read back from the run's .wandb log) and MLflow in a local file store (read back with
MlflowClient). Each is skipped where its package is not installed (the `test` extra has both).
"""

from __future__ import annotations

import glob
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_loggers import arrays, train  # the same tiny run as the fake-module tests

import augtrain
from augtrain.cli import main


def resume(tmp_path: Path, epochs: int) -> Any:
    return augtrain.train(resume=str(tmp_path / "run"), data=arrays(), epochs=epochs, verbose=0)


def metrics_of(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


def child_processes() -> list[str]:
    """The command lines of this process's children (Linux; [] elsewhere)."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid():
                out.append(Path(stat).with_name("cmdline").read_bytes().replace(b"\0", b" "))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return [c.decode(errors="replace") for c in out]


# ------------------------------------------------------------------ W&B, offline mode
@pytest.fixture
def wandb_offline(tmp_path, monkeypatch) -> Path:
    """W&B offline, every file under tmp_path, nothing that reaches the network (no update
    check, git, code or requirements capture, system metrics); its service process is
    stopped after the test, and none may survive."""
    wandb = pytest.importorskip("wandb")
    pytest.importorskip("wandb.proto.wandb_internal_pb2")
    for name in list(os.environ):
        if name.startswith("WANDB_"):
            monkeypatch.delenv(name)
    root = tmp_path / "wandb"
    root.mkdir()
    for name, value in {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(root),
        "WANDB_CONFIG_DIR": str(root / "config"),
        "WANDB_CACHE_DIR": str(root / "cache"),
        "WANDB_DATA_DIR": str(root / "data"),
        "WANDB_SILENT": "true",
        "WANDB_CONSOLE": "off",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
        "WANDB__DISABLE_UPDATE_CHECK": "true",
        "WANDB__DISABLE_STATS": "true",
        "WANDB__DISABLE_MACHINE_INFO": "true",
        "WANDB__SAVE_REQUIREMENTS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    before = child_processes()
    yield root
    # finish() leaves W&B's service running for the process's next run; teardown stops it
    wandb.teardown()
    assert [c for c in child_processes() if c not in before] == []


def wandb_records(path: str) -> list[Any]:
    """The protobuf Records of an offline run's .wandb file. W&B has no public reader of
    it: it is a LevelDB-style log (a 7-byte header, then 32 KiB blocks of chunks, each
    crc32, length, type) of wandb.proto Records."""
    from wandb.proto import wandb_internal_pb2 as pb

    raw, block, pos = Path(path).read_bytes(), 32768, 7
    assert raw[:4] == b":W&B", "not a W&B transaction log"
    chunks, out = b"", []
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
        if length == 0 and kind == 0:
            break
        chunks += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = pb.Record()
            record.ParseFromString(chunks)
            out.append(record)
            chunks = b""
    return out


def offline_run(path: str) -> dict[str, Any]:
    """What an offline run's log holds: run (id, name, project), config, history rows,
    the summary as W&B ends up with it (its updates applied in order), exit code, and
    the order of the record kinds."""

    def items(entries: Any) -> dict[str, Any]:  # a key is in `key` or in `nested_key`
        return {e.key or "/".join(e.nested_key): json.loads(e.value_json) for e in entries}

    out: dict[str, Any] = {"runs": [], "config": {}, "history": [], "summary": {}, "order": []}
    out["exit"] = None
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out["runs"].append((run.run_id, run.display_name, run.project))
        elif kind == "config":
            out["config"].update(items(record.config.update))
        elif kind == "history":
            out["history"].append(items(record.history.item))
        elif kind == "summary":
            update = items(record.summary.update)
            out["summary"].update(update)
            kind = "final summary" if "test_samples" in update else kind
        elif kind == "exit":
            out["exit"] = record.exit.exit_code
        out["order"].append(kind)
    return out


def offline_runs(root: Path) -> list[dict[str, Any]]:
    """The offline runs under WANDB_DIR `root`, in the order they ran. W&B's service writes
    a run's .wandb file on its own time, even after finish(): stopping it writes all out."""
    import wandb

    wandb.teardown()
    paths = sorted(glob.glob(str(root / "wandb" / "offline-run-*" / "run-*.wandb")))
    return [offline_run(p) for p in paths]


def epochs_logged(tracked: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((h for h in tracked["history"] if "loss" in h), key=lambda h: h["_step"])


def test_real_wandb_offline_logs_config_epochs_and_final_metrics(
    tmp_path, wandb_offline, monkeypatch
):
    monkeypatch.delenv("WANDB_DIR")  # so W&B's files go in the run folder
    run = train(tmp_path, loggers=["wandb"])
    (tracked,) = offline_runs(tmp_path / "run")
    ((run_id, name, project),) = tracked["runs"]
    assert name == "run" and project == "augtrain"
    config = tracked["config"]
    assert config["epochs"] == 2 and config["batch_size"] == 8 and config["optimizer"] == "adam"
    assert config["loggers"] == ["wandb"] and config["model"] == "cnn4"
    logged = epochs_logged(tracked)
    assert [h["_step"] for h in logged] == [0, 1] and [h["epoch"] for h in logged] == [1, 2]
    for key in ("loss", "accuracy", "test_loss", "test_accuracy", "lr"):
        assert [h[key] for h in logged] == [e[key] for e in run.history], key
    # the final evaluation's figures are the summary W&B keeps, after the epochs' own
    metrics = metrics_of(tmp_path)
    assert tracked["summary"]["test_loss"] == metrics["loss"]
    assert tracked["summary"]["test_accuracy"] == metrics["accuracy"]
    assert tracked["summary"]["test_samples"] == metrics["samples"]
    order = tracked["order"]
    last_history = max(i for i, kind in enumerate(order) if kind == "history")
    assert last_history < order.index("final summary"), order
    assert tracked["exit"] == 0


def test_real_wandb_offline_resume_goes_on_in_the_same_run(tmp_path, wandb_offline, monkeypatch):
    train(tmp_path, loggers=["wandb"], epochs=1)
    (first,) = offline_runs(wandb_offline)
    # offline, each part gets a folder named by run id and start time in whole seconds: a
    # second part started within the first's second would share its folder
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb2"))
    (tmp_path / "wandb2").mkdir()
    run = resume(tmp_path, epochs=2)
    (second,) = offline_runs(tmp_path / "wandb2")
    assert not (tmp_path / "run" / "wandb").exists()  # WANDB_DIR says where, not the run
    assert first["runs"][0][0] == second["runs"][0][0]  # the same W&B run id
    assert [h["_step"] for h in epochs_logged(second)] == [1]  # epoch 2 only
    assert epochs_logged(second)[0]["loss"] == run.history[1]["loss"]
    assert "epochs" in first["config"] and "epochs" not in second["config"]  # logged once
    assert second["summary"]["test_loss"] == metrics_of(tmp_path)["loss"]


# ------------------------------------------------------------------ MLflow, local file store
def import_mlflow(monkeypatch) -> Any:
    # MLflow 3 sends usage telemetry from a thread it starts on import (it also stays quiet
    # under pytest, by PYTEST_CURRENT_TEST; this says so outright)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return pytest.importorskip("mlflow")


@pytest.fixture
def mlflow_local(tmp_path, monkeypatch) -> Any:
    """MLflow tracking into a file store under tmp_path (mlflow-skinny has no SQLAlchemy
    for a sqlite store; MLflow 3 refuses the file store unless MLFLOW_ALLOW_FILE_STORE)."""
    mlflow = import_mlflow(monkeypatch)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    yield mlflow
    mlflow.set_tracking_uri(previous)


def mlflow_run(mlflow: Any) -> tuple[Any, dict[str, list[tuple[int, float]]]]:
    """The one MLflow run of experiment augtrain, and each metric's (step, value) history
    in the order logged."""
    (tracked,) = mlflow.search_runs(experiment_names=["augtrain"], output_format="list")
    client = mlflow.tracking.MlflowClient()
    history = {}
    for key in tracked.data.metrics:
        points = client.get_metric_history(tracked.info.run_id, key)
        points = sorted(points, key=lambda m: (m.timestamp, m.step))
        history[key] = [(m.step, m.value) for m in points]
    return tracked, history


def test_real_mlflow_logs_params_epochs_and_final_metrics(tmp_path, mlflow_local):
    run = train(tmp_path, loggers=["mlflow"])
    tracked, history = mlflow_run(mlflow_local)
    assert tracked.info.run_name == "run" and tracked.info.status == "FINISHED"
    params = tracked.data.params
    assert params["epochs"] == "2" and params["batch_size"] == "8"
    assert params["optimizer"] == "adam" and json.loads(params["loggers"]) == ["mlflow"]
    for key in ("loss", "accuracy", "lr"):
        assert history[key] == [(i, e[key]) for i, e in enumerate(run.history)], key
    # the final evaluation's figures: at the last epoch's step, after that epoch's own
    metrics = metrics_of(tmp_path)
    assert history["test_loss"][:2] == [(i, e["test_loss"]) for i, e in enumerate(run.history)]
    assert history["test_loss"][2:] == [(1, metrics["loss"])]
    assert history["test_samples"] == [(1, metrics["samples"])]
    assert tracked.data.metrics["test_loss"] == metrics["loss"]  # MLflow's latest value
    assert tracked.data.metrics["test_accuracy"] == metrics["accuracy"]


def test_real_mlflow_resume_goes_on_in_the_same_run(tmp_path, mlflow_local):
    train(tmp_path, loggers=["mlflow"], epochs=1)
    first_final = metrics_of(tmp_path)["loss"]
    run = resume(tmp_path, epochs=2)
    tracked, history = mlflow_run(mlflow_local)  # one MLflow run, not two
    assert tracked.info.status == "FINISHED"
    assert tracked.data.params["epochs"] == "1"  # as the run started; params are logged once
    assert history["loss"] == [(i, e["loss"]) for i, e in enumerate(run.history)]
    # each part's final figures at its own last epoch: none at a step a later epoch takes
    final = metrics_of(tmp_path)
    assert history["test_samples"] == [(0, final["samples"]), (1, final["samples"])]
    steps = [step for step, _ in history["test_loss"]]
    assert steps == [0, 0, 1, 1], history["test_loss"]
    assert history["test_loss"][1] == (0, first_final)
    assert tracked.data.metrics["test_loss"] == final["loss"]


def test_a_tracker_that_cannot_start_is_one_line_and_no_run_folder(tmp_path, capsys, monkeypatch):
    mlflow = import_mlflow(monkeypatch)
    np.savez(tmp_path / "d.npz", **arrays())
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri("nosuchscheme://x")
    try:
        code = main(
            ["train", "--data", str(tmp_path / "d.npz"), "--logger", "mlflow", "--epochs", "1"]
            + ["--runs-dir", str(tmp_path / "runs"), "--verbose", "0"]
        )
    finally:
        mlflow.set_tracking_uri(previous)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--logger mlflow: could not start the tracked run" in err
    assert not [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
