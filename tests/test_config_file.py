"""`augtrain train --config FILE`: YAML, TOML, JSON and a run's own config.json fill every
setting, typed flags win (argparse defaults never do), mistakes are one line, and a run's
config.json trains that run again bit for bit."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures import synthetic_images

import augtrain.training.run as run_module
from augtrain.cli import given_dests, main
from augtrain.errors import AugtrainError
from augtrain.training.config_file import load_config_file

TIMING = ("seconds", "images_per_s")


def write_data(folder: Path) -> Path:
    x, y = synthetic_images(32, 16, 3, 0)
    xt, yt = synthetic_images(12, 16, 3, 1)
    path = folder / "d.npz"
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt, classes=np.array(["r", "g", "b"]))
    return path


@pytest.fixture
def captured(monkeypatch) -> dict[str, Any]:
    """`augtrain train` up to the call of training.run.train, whose keywords are kept."""
    seen: dict[str, Any] = {}

    def fake_train(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return argparse.Namespace(path=None)

    monkeypatch.setattr(run_module, "train", fake_train)
    return seen


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


# ------------------------------------------------------------------ what the file sets
def test_yaml_fills_settings_and_typed_flags_win(tmp_path, captured):
    path = tmp_path / "recipe.yaml"
    path.write_text(
        "model: lenet5\nepochs: 7\nbatch-size: 8\nlr: 1e-3\noptimizer: sgd\n"
        "momentum: 0.9\ntarget_size: [20, 24]\nmodel_options: {width: 2}\n"
        "augment:\n  - {op: RandomFlip, p: 0.5}\n"
    )
    assert main(["train", "--config", str(path), "--epochs", "2", "--model-option", "x=1"]) == 0
    assert captured["epochs"] == 2  # the flag
    assert captured["model"] == "lenet5" and captured["batch_size"] == 8  # the file
    assert captured["lr"] == 1e-3 and isinstance(captured["lr"], float)  # YAML 1.1's '1e-3'
    assert captured["target_size"] == (20, 24)
    assert captured["model_options"] == {"width": 2, "x": 1}  # merged, the flag's win
    assert captured["augment"] == [{"op": "RandomFlip", "p": 0.5}]
    assert captured["optimizer"] == "sgd" and captured["momentum"] == 0.9


def test_toml_and_json_files(tmp_path, captured):
    toml = tmp_path / "c.toml"
    toml.write_text('model = "cnn4"\nbatch_size = 16\nvalidation_split = 0.25\nlr = 0.002\n')
    assert main(["train", "--config", str(toml)]) == 0
    assert captured["batch_size"] == 16 and captured["validation_split"] == 0.25
    assert captured["lr"] == 0.002
    captured.clear()
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"epochs": 3, "seed": 5, "loggers": ["csv"]}))
    assert main(["train", "--config", str(js), "--seed", "6"]) == 0
    assert captured["epochs"] == 3 and captured["seed"] == 6 and captured["loggers"] == ["csv"]


def test_argparse_defaults_never_override_the_file(tmp_path, captured, monkeypatch):
    """A flag with an argparse default that was not typed leaves the file's value alone."""
    from augtrain.commands import train as train_command

    real_register = train_command.register

    def register_with_default(sub: Any) -> None:
        real_register(sub)
        parser = sub.choices["train"]
        for action in parser._actions:
            if action.dest == "batch_size":
                action.default = 64  # as a flag with a default would

    monkeypatch.setattr(train_command, "register", register_with_default)
    path = tmp_path / "c.yaml"
    path.write_text("batch_size: 8\nepochs: 4\n")
    assert main(["train", "--config", str(path)]) == 0
    assert captured["batch_size"] == 8
    captured.clear()
    assert main(["train", "--config", str(path), "--batch-s", "12"]) == 0  # abbreviated
    assert captured["batch_size"] == 12 and captured["epochs"] == 4


def test_given_dests_tells_typed_flags_from_defaults():
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=int, default=5)
    parser.add_argument("--beta", action="store_true")
    parser.add_argument("--gamma", action="append")
    assert given_dests(parser, []) == set()
    assert given_dests(parser, ["--beta", "--gamma", "x"]) == {"beta", "gamma"}
    assert given_dests(parser, ["--alpha", "5"]) == {"alpha"}  # typed, though equal
    assert parser.parse_args([]).alpha == 5  # the defaults are put back


def test_a_run_folder_or_its_config_json(tmp_path):
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    config = {"data": "d.npz", "epochs": 3, "name": "r", "overwrite": True, "lr": 0.01}
    (run / "config.json").write_text(
        json.dumps({"config": config, "model": {}, "classes": ["a"], "command": ["x"]})
    )
    settings = load_config_file(run)
    assert settings == {"data": "d.npz", "epochs": 3, "lr": 0.01}  # no name: a new run folder
    assert load_config_file(run / "config.json") == settings


# ------------------------------------------------------------------ mistakes: one line
@pytest.mark.parametrize(
    "name, text, fragment",
    [
        (
            "c.yaml",
            "epochs: 2\nbatchsize: 3\n",
            "unknown setting 'batchsize'; did you mean 'batch_size'?",
        ),
        ("c.toml", "lrr = 0.1\n", "unknown setting 'lrr'; did you mean 'lr'?"),
        ("c.json", '{"epochs": 1, "zzzz": 1}', "unknown setting 'zzzz'"),
        ("c.yaml", "epochs: [1\n", "not valid YAML (line"),
        ("c.toml", "epochs = \n", "not valid TOML"),
        ("c.json", "{epochs: 1}", "not valid JSON (line 1"),
        ("c.yaml", "- 1\n- 2\n", "must hold a mapping of settings"),
        ("c.ini", "epochs=1", "unknown file type .ini"),
        ("c.yaml", b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_files_are_one_line(tmp_path, capsys, name, text, fragment):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    err = one_line_error(
        capsys, main(["train", "--config", str(path), "--runs-dir", str(tmp_path)])
    )
    assert fragment in err and err.startswith("augtrain train: error: --config")
    assert not (tmp_path / "runs").exists()


def test_missing_file_resume_and_arrays(tmp_path, capsys):
    err = one_line_error(capsys, main(["train", "--config", str(tmp_path / "nope.yaml")]))
    assert "no such file" in err
    (tmp_path / "c.yaml").write_text("epochs: 1\n")
    err = one_line_error(
        capsys, main(["train", "--config", str(tmp_path / "c.yaml"), "--resume", "runs/x"])
    )
    assert "--config and --resume" in err
    (tmp_path / "config.json").write_text(json.dumps({"config": {"data": "<arrays>"}}))
    err = one_line_error(capsys, main(["train", "--config", str(tmp_path / "config.json")]))
    assert "in-memory arrays; pass --data" in err


def test_missing_yaml_or_tomli_names_the_package(tmp_path, monkeypatch):
    (tmp_path / "c.yaml").write_text("epochs: 1\n")
    (tmp_path / "c.toml").write_text("epochs = 1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if not installed
    with pytest.raises(AugtrainError, match=r"needs the PyYAML package: pip install pyyaml"):
        load_config_file(tmp_path / "c.yaml")
    monkeypatch.setattr(sys, "version_info", (3, 10, 0))
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(AugtrainError, match=r"TOML on Python 3.10 needs the tomli package"):
        load_config_file(tmp_path / "c.toml")


# ------------------------------------------------------------------ a run trained again
def history_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def test_rerun_from_config_json_is_exact(tmp_path):
    data = write_data(tmp_path)
    runs = tmp_path / "runs"
    base = ["--runs-dir", str(runs), "--verbose", "0"]
    first = [
        "train", "--data", str(data), "--model", "cnn4", "--epochs", "2", "--batch-size", "8",
        "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9", "--schedule", "cosine",
        "--seed", "3", "--name", "a", *base,
    ]  # fmt: skip
    assert main(first) == 0
    assert main(["train", "--config", str(runs / "a" / "config.json"), "--name", "b", *base]) == 0
    a, b = history_rows(runs / "a" / "history.csv"), history_rows(runs / "b" / "history.csv")
    assert len(a) == 2 and a == b  # losses, accuracies and lr alike, to the last digit
    ca = json.loads((runs / "a" / "config.json").read_text())["config"]
    cb = json.loads((runs / "b" / "config.json").read_text())["config"]
    assert {k for k in ca if ca[k] != cb[k]} == {"name"}
    ma = json.loads((runs / "a" / "metrics.json").read_text())
    mb = json.loads((runs / "b" / "metrics.json").read_text())
    assert ma["loss"] == mb["loss"] and ma["accuracy"] == mb["accuracy"]
    # and a flag given beside it changes that setting only
    assert main(["train", "--config", str(runs / "a"), "--name", "c", "--epochs", "1", *base]) == 0
    cc = json.loads((runs / "c" / "config.json").read_text())["config"]
    assert cc["epochs"] == 1 and {k for k in ca if ca[k] != cc[k]} == {"name", "epochs"}
