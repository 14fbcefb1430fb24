"""The main job end to end: train -> run folder -> evaluate, through the API and the CLI."""

import json

import numpy as np
import pytest
import torch
from fixtures import synthetic_arrays, synthetic_images, write_cifar_tarball, write_image_folder

import augtrain
from augtrain.cli import main
from augtrain.training.config import TrainConfig
from augtrain.training.optim import build_schedule


def arrays(n=96, size=16, seed=0):
    return synthetic_arrays(n, size, 48, seed)


def train_small(tmp_path, name="run", **kw):
    opts = dict(
        data=arrays(),
        model="cnn4",
        epochs=2,
        batch_size=16,
        runs_dir=str(tmp_path),
        name=name,
        verbose=0,
    )
    opts.update(kw)
    return augtrain.train(**opts)


def without_timing(history):
    return [{k: v for k, v in h.items() if k not in ("seconds", "images_per_s")} for h in history]


def test_run_folder_contents(tmp_path):
    run = train_small(tmp_path, epochs=3, lr=3e-3)
    files = {p.name for p in run.path.iterdir()}
    assert {
        "config.json",
        "history.csv",
        "best.pt",
        "last.pt",
        "metrics.json",
        "learning_curves.png",
        "confusion_matrix.png",
    } <= files
    assert not [f for f in files if f.endswith(".tmp")]
    config = json.loads((run.path / "config.json").read_text())
    assert config["config"]["epochs"] == 3 and config["classes"] == ["r", "g", "b"]
    assert (
        config["augment"][0]["op"] == "RandomCrop"
        and config["environment"]["torch"] == torch.__version__
    )
    assert config["data"]["fingerprint"]
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert set(metrics["per_class_accuracy"]) == {"r", "g", "b"}
    assert np.asarray(metrics["confusion_matrix"]).sum() == 48
    rows = (run.path / "history.csv").read_text().splitlines()
    # no validation split: the per-epoch figures are the test split's, and named so
    assert rows[0].startswith("epoch,loss,accuracy,test_loss,test_accuracy,lr,seconds,images_per_s")
    assert len(rows) == 4
    # the task is easy: training must actually learn
    assert run.history[-1]["accuracy"] > 0.6 and metrics["accuracy"] > 0.6


def test_same_seed_same_history(tmp_path):
    a = train_small(tmp_path, "a", seed=3)
    b = train_small(tmp_path, "b", seed=3)
    c = train_small(tmp_path, "c", seed=4)
    assert without_timing(a.history) == without_timing(b.history)
    assert without_timing(a.history) != without_timing(c.history)


def test_evaluate_prints_metrics_json_accuracy(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", **arrays())
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "d.npz"),
                "--model",
                "lenet5",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--runs-dir",
                str(tmp_path),
                "--name",
                "r",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "r")]) == 0
    assert f"accuracy {metrics['accuracy']:.4f}" in capsys.readouterr().out


def test_cli_trains_on_folder_and_cifar_tarball(tmp_path, capsys):
    write_image_folder(tmp_path / "ds" / "train", per_class=8)
    write_image_folder(tmp_path / "ds" / "test", per_class=3)
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "ds"),
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--runs-dir",
                str(tmp_path / "runs"),
                "--name",
                "f",
                "--augment",
                "flip",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "test: loss" in out
    tar = write_cifar_tarball(tmp_path / "cifar-10-python.tar.gz")
    assert (
        main(
            [
                "train",
                "--data",
                str(tar),
                "--model",
                "resnet18",
                "--epochs",
                "1",
                "--batch-size",
                "25",
                "--runs-dir",
                str(tmp_path / "runs"),
                "--name",
                "c",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "runs" / "c" / "metrics.json").read_text())["samples"] == 10


def test_validation_split_and_recipe_flags(tmp_path):
    run = train_small(
        tmp_path,
        validation_split=0.25,
        optimizer="adamax",
        lr=5e-3,
        schedule="exponential",
        gamma=0.9,
        epochs=3,
        augment="none",
    )
    assert run.trainer.val is not None and len(run.trainer.val) == 24
    assert [round(h["lr"], 8) for h in run.history] == [5e-3, 4.5e-3, 4.05e-3]


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "adamax", "rmsprop"])
def test_each_optimizer_steps(tmp_path, name):
    run = train_small(tmp_path, optimizer=name, epochs=1, momentum=0.9 if name == "sgd" else 0.0)
    assert np.isfinite(run.history[0]["loss"])


def test_schedules():
    assert build_schedule("step", 10, gamma=0.5, step_size=3)(6.5) == 0.25
    cos = build_schedule("cosine", 10)
    assert cos(0) == 1.0 and abs(cos(5) - 0.5) < 1e-9 and cos(10) < 1e-9
    one = build_schedule("triangle", 10, warmup_epochs=2)
    assert one(1) == 0.5 and one(2) == 1.0 and one(6) == 0.5 and one(10) == 0.0


def test_mixed_targets_loss_path(tmp_path):
    """An op that mixes labels goes through soft-target cross-entropy."""
    from augtrain.augment import ops
    from augtrain.augment.pipeline import Op

    @ops.register_op
    class SwapHalf(Op):
        mixes_labels = True

        def mix(self, images, targets, draw):
            return images.flip(0), 0.5 * targets + 0.5 * targets.flip(0)

    run = train_small(tmp_path, augment=[{"op": "SwapHalf"}], epochs=1)
    assert np.isfinite(run.history[0]["loss"])


def cli(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "nonet"], "unknown model 'nonet'"),
        (["--optimizer", "adagrad"], "invalid choice: 'adagrad'"),
        (["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
        (["--batch-size", "0"], "--batch-size 0: must be an integer >= 1"),
        (["--augment", "wild"], "unknown --augment preset 'wild'"),
        (["--validation-split", "1.5"], "--validation-split 1.5"),
    ],
)
def test_cli_bad_arguments(tmp_path, capsys, extra, message):
    np.savez(tmp_path / "d.npz", **arrays(24, 8))
    code, err = cli(
        ["train", "--data", str(tmp_path / "d.npz"), "--runs-dir", str(tmp_path), *extra], capsys
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_bad_data(tmp_path, capsys):
    code, err = cli(["train", "--data", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "nowhere: no such file" in err
    write_image_folder(tmp_path / "one", classes=("solo",))
    code, err = cli(["train", "--data", str(tmp_path / "one")], capsys)
    assert code == 2 and "only one class" in err
    np.savez(tmp_path / "short.npz", x=np.zeros((4, 8, 8, 3), np.uint8), y=np.zeros(3))
    code, err = cli(["train", "--data", str(tmp_path / "short.npz")], capsys)
    assert code == 2 and "4 images but y has 3 labels" in err


def test_existing_run_name_needs_overwrite(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", **arrays(24, 8))
    args = [
        "train",
        "--data",
        str(tmp_path / "d.npz"),
        "--runs-dir",
        str(tmp_path),
        "--name",
        "same",
        "--epochs",
        "1",
        "--verbose",
        "0",
    ]
    assert main(args) == 0
    before = (tmp_path / "same" / "last.pt").read_bytes()
    code, err = cli(args, capsys)
    assert code == 2 and "already exists; pass --overwrite" in err
    assert (tmp_path / "same" / "last.pt").read_bytes() == before  # nothing touched
    assert main([*args, "--overwrite"]) == 0


def test_config_round_trip():
    cfg = TrainConfig(target_size=(8, 9), augment=[{"op": "RandomHorizontalFlip", "p": 0.5}])
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_channel_stats_are_kept_beside_a_cached_split(tmp_path, monkeypatch):
    from augtrain.data import ImageArrays
    from augtrain.training import loop

    x = np.random.default_rng(0).integers(0, 256, (20, 5, 6, 3), dtype=np.uint8)
    y = np.zeros(20, dtype=np.int64)
    exact = loop.channel_stats(x)
    np.testing.assert_allclose(exact[0], x.reshape(-1, 3).mean(0) / 255, rtol=1e-12)
    np.testing.assert_allclose(exact[1], x.reshape(-1, 3).std(0) / 255, rtol=1e-12)

    cached = ImageArrays(x, y, fingerprint="abc")
    assert loop.channel_stats(cached, tmp_path) == exact  # computed, then written
    assert len(list(tmp_path.glob("stats-*.json"))) == 1
    monkeypatch.setattr(loop.torch, "bincount", None)  # a second start must not recompute
    assert loop.channel_stats(cached, tmp_path) == exact
    # other content (another fingerprint, or the same entry's other split) is its own entry
    with pytest.raises(TypeError):
        loop.channel_stats(ImageArrays(x[:10], y[:10], fingerprint="abc"), tmp_path)
    with pytest.raises(TypeError):  # arrays from memory have no key: always computed
        loop.channel_stats(ImageArrays(x, y), tmp_path)


def test_a_diverged_run_says_so_in_one_line_and_keeps_its_folder(tmp_path, capsys):
    x, y = synthetic_images(32, 8, 3, 0)
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:8], y_test=y[:8])
    args = ["train", "--data", str(tmp_path / "d.npz"), "--model", "cnn4", "--epochs", "1"]
    args += ["--optimizer", "sgd", "--lr", "1e30", "--runs-dir", str(tmp_path / "runs")]
    assert main([*args, "--name", "nan", "--verbose", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "outputs on the test split are not finite: training diverged" in err
    assert (tmp_path / "runs" / "nan" / "last.pt").is_file()  # the run is kept, to look at
