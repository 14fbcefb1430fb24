"""Keras-named callbacks: their arguments, decisions and printed lines, their files, their
state across a resume, and the start-of-training check of what they monitor."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch
from fixtures import synthetic_arrays

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError
from augtrain.training.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
)
from augtrain.training.checkpoint import load_model


def arrays(n=64, size=16):
    return synthetic_arrays(n, size, 32, 0, n_val=24)  # a validation split: val_* is monitored


def train(tmp_path, callbacks=(), name="run", **kw):
    opts = dict(
        data=arrays(),
        model="cnn4",
        epochs=3,
        batch_size=16,
        runs_dir=str(tmp_path),
        name=name,
        verbose=0,
        callbacks=list(callbacks),
    )
    opts.update(kw)
    return augtrain.train(**opts)


class FakeTrainer:
    """Just what the epoch-level callbacks touch, to replay a sequence of logs."""

    def __init__(self, lr=0.1):
        self.model = torch.nn.Linear(2, 1)
        self.stop_training = False
        self.current_lr = lr
        self.dist = types.SimpleNamespace(is_main=True)

    def set_current_lr(self, lr):
        self.current_lr = lr


def replay(cb, values, monitor="val_loss", trainer=None):
    """Feed per-epoch values of `monitor` until the callback stops training; returns the
    number of epochs run."""
    trainer = trainer or FakeTrainer()
    cb.set_trainer(trainer)
    cb.on_train_begin({})
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {monitor: value})
        if trainer.stop_training:
            return epoch + 1
    return len(values)


# ---------------------------------------------------------------------------- EarlyStopping
def test_early_stopping_follows_keras():
    # patience 2: stops at the 2nd epoch in a row without improvement (as Keras)
    assert replay(EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.96, 0.5]) == 4
    # patience 0: stops at the first epoch without improvement (never at epoch 0)
    assert replay(EarlyStopping(patience=0), [1.0, 1.1, 0.5]) == 2
    # min_delta: an improvement must exceed it
    assert replay(EarlyStopping(patience=1, min_delta=0.05), [1.0, 0.97, 0.5]) == 2
    # mode auto: accuracy is maximised
    es = EarlyStopping(monitor="val_accuracy", patience=1)
    assert es.mode == "max" and replay(es, [0.5, 0.6, 0.55], "val_accuracy") == 3
    # baseline: waiting restarts only once the baseline is beaten
    assert replay(EarlyStopping(patience=2, baseline=0.5), [0.9, 0.95, 0.97]) == 2
    assert replay(EarlyStopping(patience=2), [0.9, 0.95, 0.97]) == 3
    # start_from_epoch: the first epochs are not counted
    assert replay(EarlyStopping(patience=0, start_from_epoch=2), [1.0, 2.0, 3.0, 4.0]) == 4


def test_early_stopping_restores_best_weights_and_prints(capsys):
    trainer = FakeTrainer()
    es = EarlyStopping(patience=1, restore_best_weights=True, verbose=1)
    es.set_trainer(trainer)
    es.on_train_begin({})
    weights = []
    for epoch, value in enumerate([1.0, 0.5, 0.7, 0.8]):
        with torch.no_grad():
            trainer.model.weight.fill_(float(epoch))
        weights.append(float(epoch))
        es.on_epoch_end(epoch, {"val_loss": value})
        if trainer.stop_training:
            break
    es.on_train_end({})
    assert epoch == 2 and trainer.model.weight.flatten().tolist() == [1.0, 1.0]
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Restoring model weights from the end of the best epoch: 2.",
        "Epoch 00003: early stopping",
    ]


def test_early_stopping_in_training_stops_and_state_round_trips(tmp_path):
    es = EarlyStopping(monitor="loss", patience=0, min_delta=10.0)  # never "improves" after epoch 1
    run = train(tmp_path, [es], epochs=5)
    assert len(run.history) == 2 and es.stopped_epoch == 1
    clone = EarlyStopping(monitor="loss")
    clone.load_state_dict(es.state_dict())
    assert clone.state_dict() == es.state_dict()


# ------------------------------------------------------------------------ ReduceLROnPlateau
def test_reduce_lr_on_plateau_follows_keras(capsys):
    trainer = FakeTrainer(lr=0.1)
    cb = ReduceLROnPlateau(patience=2, factor=0.5, cooldown=2, min_lr=0.02, verbose=1)
    lrs = []
    cb.set_trainer(trainer)
    cb.on_train_begin({})
    for epoch, value in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        cb.on_epoch_end(epoch, {"val_loss": value})
        lrs.append(trainer.current_lr)
    # waits 2, reduces; cooldown (2 counts the reducing epoch, as in Keras); ...; >= min_lr
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02]
    assert capsys.readouterr().out.splitlines()[0] == (
        "Epoch 00003: ReduceLROnPlateau reducing learning rate to 0.05."
    )
    with pytest.raises(AugtrainError, match="factor must lie in"):
        ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_acts_on_the_trainer_lr(tmp_path):
    cb = ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=10.0)
    run = train(tmp_path, [cb], lr=1e-3, schedule="constant")
    assert [h["lr"] for h in run.history] == pytest.approx([1e-3, 1e-3, 5e-4])
    assert run.trainer.lr_scale == 0.25


# -------------------------------------------------------------------- LearningRateScheduler
def test_learning_rate_scheduler_replaces_the_schedule(tmp_path, capsys):
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return 0.01 if epoch == 0 else lr * 0.1

    cb = LearningRateScheduler(schedule, verbose=1)
    run = train(tmp_path, [cb], schedule="cosine", optimizer="sgd", lr=0.5)
    assert [h["lr"] for h in run.history] == pytest.approx([0.01, 0.001, 0.0001])
    assert seen[0] == (0, 0.5) and seen[1][1] == pytest.approx(0.01)
    assert "Epoch 00002: LearningRateScheduler setting learning rate to" in capsys.readouterr().out
    one_arg = LearningRateScheduler(lambda epoch: 0.002 * (epoch + 1))
    run = train(tmp_path, [one_arg], name="one", epochs=2)
    assert [h["lr"] for h in run.history] == pytest.approx([0.002, 0.004])


# -------------------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_keras_lines_and_files(tmp_path, capsys):
    best = ModelCheckpoint(
        "weights.{epoch:02d}-{val_loss:.2f}.pt", monitor="val_loss", save_best_only=True, verbose=1
    )
    every = ModelCheckpoint("w{epoch}.pt", save_weights_only=True, verbose=1)
    run = train(tmp_path, [best, every], lr=3e-3, epochs=3)
    out = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch 0")]
    losses = [h["val_loss"] for h in run.history]
    expected, low = [], math.inf
    for e, v in enumerate(losses, 1):
        name = tmp_path / "run" / f"weights.{e:02d}-{v:.2f}.pt"
        if v < low:
            expected.append(
                f"Epoch {e:05d}: val_loss improved from {low:0.5f} to {v:0.5f}, saving model to {name}"
            )
            low = v
        else:
            expected.append(f"Epoch {e:05d}: val_loss did not improve from {low:0.5f}")
        expected.append(f"Epoch {e:05d}: saving model to {tmp_path / 'run' / f'w{e}.pt'}")
    assert out == expected
    assert expected[0].startswith("Epoch 00001: val_loss improved from inf to ")
    # weights only: a state_dict; full: an augtrain checkpoint that load_model reads
    state = torch.load(tmp_path / "run" / "w3.pt", weights_only=True)
    assert torch.equal(state["net.classifier.4.weight"], run.model.net.classifier[4].weight)
    first = tmp_path / "run" / f"weights.01-{losses[0]:.2f}.pt"
    model, ckpt = load_model(first)
    assert ckpt["trainer"]["epoch"] == 1 and ckpt["classes"] == ["r", "g", "b"]
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 3)
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_model_checkpoint_every_n_steps_and_max_mode(tmp_path):
    steps = ModelCheckpoint("s{epoch}-{batch}-{loss:.3f}.pt", save_freq=3, save_weights_only=True)
    best_acc = ModelCheckpoint("best.acc.pt", monitor="val_accuracy", save_best_only=True)
    assert best_acc.mode == "max"
    train(tmp_path, [steps, best_acc], epochs=2)  # 4 steps per epoch: steps 3 and 6
    names = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "run").glob("s*-*.pt"))
    assert names == ["s1-3", "s2-2"]
    assert (tmp_path / "run" / "best.acc.pt").exists() and best_acc.best > 0


def test_model_checkpoint_bad_arguments():
    with pytest.raises(AugtrainError, match="val_loss is per epoch"):
        ModelCheckpoint("w-{val_loss}.pt", save_freq=10)
    with pytest.raises(AugtrainError, match="mode must be auto, min or max"):
        ModelCheckpoint("w.pt", mode="up")
    with pytest.raises(AugtrainError, match="save_freq must be"):
        ModelCheckpoint("w.pt", save_freq=0)


# ---------------------------------------------------------------- monitors checked at start
@pytest.mark.parametrize(
    "callback, message",
    [
        (EarlyStopping(monitor="val_f1"), "EarlyStopping: monitor 'val_f1' is never logged"),
        (ModelCheckpoint("w-{val_acc:.2f}.pt"), "ModelCheckpoint: monitor 'val_acc' is never"),
        (ReduceLROnPlateau(monitor="acc"), "ReduceLROnPlateau: monitor 'acc' is never logged"),
    ],
)
def test_unknown_monitor_is_an_error_at_start(tmp_path, callback, message):
    class Count(Callback):
        batches = 0

        def on_batch_end(self, batch, logs=None):
            Count.batches += 1

    with pytest.raises(AugtrainError, match=message) as err:
        train(tmp_path, [callback, Count()])
    assert "available: accuracy, epoch, images_per_s, loss, lr, seconds, val_accuracy" in str(
        err.value
    )
    assert Count.batches == 0


def test_val_metric_without_validation_and_provided_metrics(tmp_path):
    with pytest.raises(AugtrainError, match="monitor 'val_loss' is never logged"):
        train(tmp_path, [EarlyStopping()], validation="none")

    class F1(Callback):
        def provides(self):
            return ["val_f1"]

        def on_epoch_end(self, epoch, logs=None):
            logs["val_f1"] = [0.5, 0.6, 0.55][epoch]

    es = EarlyStopping(monitor="val_f1", mode="max", patience=0)
    run = train(tmp_path, [F1(), es], name="f1")
    assert len(run.history) == 3 and es.best == 0.6 and es.stopped_epoch == 2


# ---------------------------------------------------------------- stopping from a callback
def test_user_callbacks_stop_training(tmp_path):
    class StopAt(Callback):
        def on_batch_end(self, batch, logs=None):
            if self.trainer.global_step == 6:
                self.trainer.stop_training = True

    class KerasStyle(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True  # Keras' spelling

    run = train(tmp_path, [StopAt()], epochs=4)
    assert len(run.history) == 2 and run.trainer.global_step == 6  # epoch 2 ends early
    run = train(tmp_path, [KerasStyle()], name="k", epochs=4)
    assert len(run.history) == 1


def test_terminate_on_nan(tmp_path, capsys):
    class Poison(Callback):  # runs before TerminateOnNaN, on the same logs dict
        def on_batch_end(self, batch, logs=None):
            if batch == 2:
                logs["loss"] = torch.tensor(float("nan"))

    run = train(tmp_path, [Poison(), TerminateOnNaN()], epochs=3)
    assert len(run.history) == 1 and run.trainer.global_step == 3
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


# ------------------------------------------------------------------------------- CSVLogger
def test_csv_logger_keras_layout_append_and_state(tmp_path):
    run = train(tmp_path, [CSVLogger("log.csv")], epochs=2)
    lines = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert lines[0] == "epoch,accuracy,images_per_s,loss,lr,seconds,val_accuracy,val_loss"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1"]
    assert float(lines[2].split(",")[3]) == run.history[1]["loss"]
    # append, with another separator, to a file outside the run folder
    out = tmp_path / "shared.tsv"
    train(tmp_path, [CSVLogger(out, separator="\t", append=True)], name="a", epochs=1)
    train(tmp_path, [CSVLogger(out, separator="\t", append=True)], name="b", epochs=2)
    rows = out.read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("epoch\taccuracy") and rows[3].startswith("1\t")
    cb = CSVLogger("x.csv")
    cb.load_state_dict({"prefix": "", "keys": ["loss"], "rows": [{"epoch": 0, "loss": 1.0}]})
    assert cb.state_dict()["rows"] == [{"epoch": 0, "loss": 1.0}]


# ----------------------------------------------------------------------------- TensorBoard
def test_tensorboard_missing_package_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(AugtrainError, match="needs the tensorboard package: pip install"):
        TensorBoard()
    np.savez(tmp_path / "d.npz", **arrays())
    code = main(
        ["train", "--data", str(tmp_path / "d.npz"), "--tensorboard", "--runs-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "pip install tensorboard" in err
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "cache"]  # no run folder


def test_tensorboard_writes_keras_layout(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(tmp_path, [TensorBoard(update_freq=2)], epochs=2)
    train_events = EventAccumulator(str(tmp_path / "run" / "tensorboard" / "train")).Reload()
    val_events = EventAccumulator(str(tmp_path / "run" / "tensorboard" / "validation")).Reload()
    tags = set(train_events.Tags()["scalars"])
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "batch_loss"} <= tags
    assert [e.step for e in train_events.Scalars("epoch_loss")] == [0, 1]
    assert {"epoch_loss", "epoch_accuracy"} <= set(val_events.Tags()["scalars"])


# ------------------------------------------------------------------- CLI flags and resume
def test_cli_callback_flags_and_their_state_on_resume(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", **arrays())
    args = ["train", "--data", str(tmp_path / "d.npz"), "--runs-dir", str(tmp_path), "--name", "c"]
    args += ["--epochs", "2", "--monitor", "loss", "--early-stopping-patience", "0"]
    args += ["--reduce-lr-patience", "0", "--reduce-lr-factor", "0.5", "--batch-size", "16"]
    assert main(args) == 0
    out = capsys.readouterr().out
    ckpt = torch.load(tmp_path / "c" / "last.pt", weights_only=True)
    config = ckpt["config"]
    assert config["early_stopping_patience"] == 0 and config["reduce_lr_factor"] == 0.5
    states = ckpt["trainer"]["callbacks"]
    assert {"History#0", "ReduceLROnPlateau#0", "EarlyStopping#0", "RunFolder#0"} <= set(states)
    assert (
        "ReduceLROnPlateau reducing learning rate" in out or states["EarlyStopping#0"]["wait"] == 0
    )
    assert main(["train", "--resume", str(tmp_path / "c"), "--epochs", "3", "--verbose", "0"]) == 0
    resumed = torch.load(tmp_path / "c" / "last.pt", weights_only=True)["trainer"]["callbacks"]
    assert resumed["EarlyStopping#0"]["best"] <= states["EarlyStopping#0"]["best"]
    code = main([*args[:-2], "--name", "bad", "--reduce-lr-factor", "2"])
    assert (
        code == 2
        and "--reduce-lr-factor 2.0: must be a number > 0 and < 1" in capsys.readouterr().err
    )


def test_callback_state_is_matched_by_name():
    from augtrain.training.callbacks import CallbackList, History

    a, b = EarlyStopping(), EarlyStopping()
    a.best, b.best = 1.0, 2.0
    saved = CallbackList([History(), a, b], None).state_dict()
    assert list(saved) == ["History#0", "EarlyStopping#0", "EarlyStopping#1"]
    x, y, z = EarlyStopping(), EarlyStopping(), CSVLogger("f.csv")
    CallbackList([z, x, y], None).load_state_dict(saved)
    assert (x.best, y.best, x.resumed, z.resumed) == (1.0, 2.0, True, False)
