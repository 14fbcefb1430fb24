"""Issue 19 item 4: a network of your own, end to end. A run trained with `--model
module:function` or `network=` records how to rebuild it, so evaluate, predict, export,
summary and --resume work on it; what cannot be rebuilt or imported is one line."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from fixtures import write_image_folder

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError
from augtrain.training.checkpoint import load_model

NETS = '''
import torch.nn as nn

def make_net(num_classes, in_channels, input_size, width=4):
    h, w = input_size
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Linear(4 * width, num_classes),
    )

class Plain(nn.Module):
    """Constructor with defaults only: its class is its factory."""
    def __init__(self, num_classes=10):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(5, num_classes)
    def forward(self, x):
        return self.head(self.body(x))

class NeedsArgs(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, hidden), nn.Linear(hidden, 3))
    def forward(self, x):
        return self.net(x)

def needs_args_factory(hidden=7):
    return NeedsArgs(hidden)
'''


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """A module `own_nets_<n>` on sys.path (a fresh name per test: no cached import)."""
    folder = tmp_path / "code"
    folder.mkdir()
    name = f"own_nets_{abs(hash(str(tmp_path))) % 10**8}"
    (folder / f"{name}.py").write_text(textwrap.dedent(NETS))
    monkeypatch.syspath_prepend(str(folder))
    yield name, folder
    sys.modules.pop(name, None)


@pytest.fixture
def data(tmp_path):
    write_image_folder(tmp_path / "ds" / "train", per_class=6, size=12)
    write_image_folder(tmp_path / "ds" / "test", per_class=2, size=12)
    return tmp_path / "ds"


def fresh_cli(folder, *args):
    """The CLI in a new process: nothing imported beforehand, the factory's folder on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": f"{folder}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "augtrain", *args], capture_output=True, text=True, env=env
    )


def small(tmp_path, data, **kw):
    base = dict(
        data=str(data),
        epochs=1,
        batch_size=8,
        runs_dir=str(tmp_path / "runs"),
        verbose=0,
        augment="none",
    )
    return augtrain.train(**{**base, **kw})


def test_model_factory_trains_and_every_command_rebuilds_it(tmp_path, data, nets, capsys):
    name, folder = nets
    code = main(
        ["train", "--data", str(data), "--model", f"{name}:make_net", "--model-option", "width=6"]
        + ["--epochs", "1", "--batch-size", "8", "--runs-dir", str(tmp_path / "runs")]
        + ["--name", "own", "--verbose", "0", "--augment", "none"]
    )
    assert code == 0
    run = tmp_path / "runs" / "own"
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["name"] == f"{name}:make_net"
    assert config["model"]["options"] == {"width": 6}
    model, _ = load_model(run)
    assert model.net[0].out_channels == 6  # the option reached the factory
    metrics = json.loads((run / "metrics.json").read_text())

    # a new process, which has imported nothing: only the recorded reference rebuilds it
    done = fresh_cli(folder, "evaluate", str(run), "--out-dir", str(tmp_path / "ev"))
    assert done.returncode == 0, done.stderr
    evaluation = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(metrics["accuracy"])
    image = next((data / "test" / "cat").iterdir())
    done = fresh_cli(folder, "predict", str(run), str(image), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "cat" in done.stdout or "dog" in done.stdout or "eel" in done.stdout
    done = fresh_cli(folder, "summary", str(run), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_params"] == sum(p.numel() for p in model.parameters())
    done = fresh_cli(
        folder, "export", str(run), "--format", "torchscript", "--out", str(tmp_path / "m.pt")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.pt").exists() or list(tmp_path.glob("m*"))

    assert main(["train", "--resume", str(run), "--epochs", "2", "--verbose", "0"]) == 0
    assert len(json.loads((run / "config.json").read_text())) > 0
    assert (run / "history.csv").read_text().count("\n") == 3  # header + 2 epochs


def test_network_instance_with_default_constructor_is_rebuilt(tmp_path, data, nets):
    name, folder = nets
    module = __import__(name)
    run = small(tmp_path, data, network=module.Plain(num_classes=3), name="plain")
    assert run.config.model == f"{name}:Plain"
    rebuilt, ckpt = load_model(run.path)
    assert ckpt["model"]["name"] == f"{name}:Plain"
    x = torch.rand(2, 3, 12, 12)
    assert torch.equal(rebuilt(x), run.model.cpu().eval()(x))
    done = fresh_cli(folder, "evaluate", str(run.path), "--out-dir", str(tmp_path / "ev"))
    assert done.returncode == 0, done.stderr
    # and resume= needs no network= either
    again = augtrain.train(resume=run.path, epochs=2, verbose=0)
    assert len(again.history) == 2


def test_network_needing_arguments_says_it_cannot_be_rebuilt(tmp_path, data, nets, capsys):
    name, folder = nets
    module = __import__(name)
    run = small(tmp_path, data, network=module.NeedsArgs(5), name="needs", verbose=1)
    assert "cannot be rebuilt" in capsys.readouterr().err
    with pytest.raises(AugtrainError, match="network=NeedsArgs, which cannot be rebuilt"):
        load_model(run.path)
    done = fresh_cli(folder, "evaluate", str(run.path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "network_factory=" in done.stderr
    with pytest.raises(AugtrainError, match="cannot be rebuilt"):
        augtrain.train(resume=run.path, epochs=2, verbose=0)


def test_network_factory_makes_such_a_network_rebuildable(tmp_path, data, nets):
    name, folder = nets
    module = __import__(name)
    run = small(
        tmp_path,
        data,
        network=module.NeedsArgs(7),
        network_factory=module.needs_args_factory,
        name="factory",
    )
    assert run.config.model == f"{name}:needs_args_factory"
    rebuilt, _ = load_model(run.path)
    x = torch.rand(2, 3, 12, 12)
    assert torch.equal(rebuilt(x), run.model.cpu().eval()(x))
    # a factory building other weights than the network's is refused before training
    with pytest.raises(AugtrainError, match="do not match network="):
        small(tmp_path, data, network=module.NeedsArgs(3), network_factory=f"{name}:make_net")
    with pytest.raises(AugtrainError, match="cannot be imported again"):
        small(tmp_path, data, network=module.NeedsArgs(7), network_factory=lambda: None)


def test_factory_that_cannot_be_imported_is_one_line(tmp_path, data, nets, capsys):
    name, folder = nets
    code = main(["train", "--data", str(data), "--model", "no_such_module_xyz:make"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot import module 'no_such_module_xyz'" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()
    code = main(["train", "--data", str(data), "--model", f"{name}:missing"])
    assert code == 2 and f"module {name!r} has no 'missing'" in capsys.readouterr().err

    run = small(tmp_path, data, model=f"{name}:make_net", name="gone")
    (folder / f"{name}.py").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "augtrain", "evaluate", str(run.path)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"cannot import module {name!r}" in done.stderr
