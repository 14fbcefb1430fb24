"""Training staples: gradient accumulation, gradient clipping, model EMA, and per-epoch
figures on the test split named test_* (never used to choose or stop)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from fixtures import synthetic_images

import augtrain
from augtrain.errors import AugtrainError
from augtrain.training.callbacks import Callback, EarlyStopping, ModelCheckpoint
from augtrain.training.checkpoint import load_model
from augtrain.training.ema import ModelEma

HERE = Path(__file__).resolve().parent


def arrays(n=64, size=8, test=True):
    x, y = synthetic_images(n, size, 3, 0)
    out = {"x": x, "y": y, "classes": np.array(["r", "g", "b"])}
    if test:
        xt, yt = synthetic_images(24, size, 3, 1)
        out.update(x_test=xt, y_test=yt)
    return out


def mlp(size=8, seed=0):
    """No batch norm, no dropout: a batch's update does not depend on how it is split."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 16), nn.ReLU(), nn.Linear(16, 3))


def train(tmp_path, name, **kw):
    opts = dict(
        data=arrays(),
        model="cnn4",  # the tutorials' recipe: every epoch evaluates, as Keras' fit
        epochs=1,
        batch_size=16,
        augment="none",
        runs_dir=str(tmp_path),
        name=name,
        verbose=0,
        device="cpu",
    )
    opts.update(kw)
    return augtrain.train(**opts)


def weights(run):
    return {k: v.clone() for k, v in run.trainer.model.state_dict().items()}


# -------------------------------------------------------------------- accumulation
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_accumulate_equals_a_batch_n_times_larger(tmp_path, optimizer):
    # 64 images: (8 x 4) gives 2 steps of 32 per epoch, as batch 32 does; 70 images leave a
    # last step of 6 (a micro-batch of 6 only), weighted by its share
    for n in (64, 70):
        common = dict(data=arrays(n), epochs=2, optimizer=optimizer, lr=0.05, momentum=0.0, seed=3)
        if optimizer == "sgd":
            common["momentum"] = 0.9
        common["schedule"] = "onecycle"  # steps per optimizer step, not per micro-batch
        small = train(
            tmp_path, f"a{n}{optimizer}", network=mlp(), batch_size=8, accumulate=4, **common
        )
        big = train(tmp_path, f"b{n}{optimizer}", network=mlp(), batch_size=32, **common)
        assert small.trainer.global_step == big.trainer.global_step == 2 * -(-n // 32)
        for k, v in weights(big).items():
            assert torch.allclose(weights(small)[k], v, atol=1e-5, rtol=0), k
        # the same history: epoch loss and accuracy over the same samples, the same lrs
        for a, b in zip(small.history, big.history):
            assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
            assert a["accuracy"] == b["accuracy"] and a["lr"] == pytest.approx(b["lr"])
        # and it is not trivially so: without accumulation, batch 8 trains differently
        plain = train(tmp_path, f"c{n}{optimizer}", network=mlp(), batch_size=8, **common)
        w = weights(plain)
        assert any(not torch.allclose(w[k], v, atol=1e-4) for k, v in weights(big).items())


def test_accumulate_counts_optimizer_steps_for_callbacks_and_lookahead(tmp_path):
    seen = []

    class Steps(Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append((batch, logs["size"], self.trainer.global_step))

    run = train(
        tmp_path,
        "s",
        network=mlp(),
        batch_size=8,
        accumulate=3,
        lookahead=True,
        callbacks=[Steps()],
    )
    # 64 images, steps of 24: 24, 24, 16
    assert seen == [(0, 24, 1), (1, 24, 2), (2, 16, 3)]
    assert run.trainer.steps_per_epoch == 3
    la = next(cb for cb in run.trainer.callbacks if type(cb).__name__ == "Lookahead")
    assert la.total_steps() == 3
    with pytest.raises(AugtrainError, match="--accumulate 0: must be an integer >= 1"):
        train(tmp_path, "bad", accumulate=0)


def test_accumulate_cannot_change_on_resume(tmp_path):
    train(tmp_path, "r", network=mlp(), accumulate=2)
    with pytest.raises(AugtrainError, match="--accumulate cannot change in a resumed run"):
        augtrain.train(resume=tmp_path / "r", data=arrays(), network=mlp(), accumulate=4)


# ----------------------------------------------------------------------- clipping
def test_clip_grad_norm_clips_and_still_trains(tmp_path):
    norms = []

    class GradNorm(Callback):
        def on_batch_end(self, batch, logs=None):
            grads = [p.grad for p in self.trainer.model.parameters() if p.grad is not None]
            after = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g) for g in grads])
            )
            before = self.trainer.grad_norm  # None without --clip-grad-norm
            norms.append((None if before is None else float(before), float(after)))

    run = train(
        tmp_path, "clip", epochs=4, lr=0.05, optimizer="sgd", clip_grad_norm=0.05,
        network=mlp(), callbacks=[GradNorm()],
    )  # fmt: skip
    assert len(norms) == 16
    assert all(after <= 0.05 * (1 + 1e-4) for _, after in norms)
    assert all(before > 0.05 for before, _ in norms)  # it did clip: the raw norms are larger
    assert run.history[-1]["loss"] < run.history[0]["loss"]  # and training still works
    # without the flag the gradients are left as they are
    norms.clear()
    train(tmp_path, "noclip", optimizer="sgd", network=mlp(), callbacks=[GradNorm()])
    assert all(after > 0.05 for _, after in norms)
    with pytest.raises(AugtrainError, match="--clip-grad-norm 0: must be a number > 0"):
        train(tmp_path, "bad", clip_grad_norm=0)


def test_clip_under_fp16_clips_the_unscaled_gradients(tmp_path):
    norms = []

    class GradNorm(Callback):
        def on_batch_end(self, batch, logs=None):
            grads = [p.grad for p in self.trainer.model.parameters() if p.grad is not None]
            after = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g) for g in grads])
            )
            norms.append(
                (float(self.trainer.grad_norm), float(after), self.trainer.scaler.get_scale())
            )

    train(
        tmp_path, "fp16", model="cnn4", batch_size=8, accumulate=2, clip_grad_norm=0.1, amp="fp16",
        callbacks=[GradNorm()],
    )  # fmt: skip
    assert len(norms) == 4
    for before, after, scale in norms:
        assert scale > 1  # the loss was scaled: the clip must see the gradients unscaled
        assert before > 0.1 and after == pytest.approx(0.1, rel=1e-3)


# ---------------------------------------------------------------------------- EMA
def test_model_ema_follows_timm():
    model = nn.Linear(3, 2)
    ema = ModelEma(model, 0.9)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # the first update copies (timm: decay 0 at step 1)
    assert torch.equal(ema.module.weight, model.weight)
    before = ema.module.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, 0.9 * before + 0.1 * model.weight)
    assert not ema.module.weight.requires_grad
    warm = ModelEma(model, 0.9999, warmup=True)
    assert warm.decay_at(1) == 0.0
    assert warm.decay_at(2) == pytest.approx(1 - 2 ** (-2 / 3))
    assert warm.decay_at(10**9) == 0.9999  # capped at DECAY
    bn = nn.BatchNorm1d(2)
    ema_bn = ModelEma(bn, 0.5)
    bn.train()(torch.randn(4, 2))
    ema_bn.update(bn)
    assert ema_bn.module.num_batches_tracked == 1  # integer buffers are copied


def test_ema_logged_saved_chosen_and_used(tmp_path):
    data = arrays(96)
    run = train(tmp_path, "ema", data=data, epochs=2, ema=0.5, validation_split=0.25)
    h = run.history[-1]
    assert {"val_loss", "val_accuracy", "val_loss_ema", "val_accuracy_ema"} <= set(h)
    ckpt = torch.load(run.path / "last.pt", weights_only=True)
    ema_state = ckpt["trainer"]["ema"]["state"]
    assert ckpt["trainer"]["ema"]["updates"] == run.trainer.global_step
    trained = ckpt["trainer"]["model_state"]
    key = next(k for k in trained if k.endswith("weight"))
    assert not torch.equal(ema_state[key], trained[key])  # a separate average, not the model
    # the EMA is the run's model: Run.model, load_model (evaluate/export/predict), metrics.json
    assert torch.equal(run.model.state_dict()[key], ema_state[key])
    assert torch.equal(load_model(run.path)[0].state_dict()[key], ema_state[key])
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["weights"] == "ema" and "accuracy_without_ema" in metrics
    # best.pt by val_accuracy_ema: the RunFolder's monitor
    folder = next(cb for cb in run.trainer.callbacks if type(cb).__name__ == "RunFolder")
    assert folder.monitor == "val_accuracy_ema"
    header = (run.path / "history.csv").read_text().splitlines()[0]
    assert "val_accuracy_ema" in header.split(",")
    # --no-use-ema: the trained weights stay the model; the EMA is still logged and saved
    plain = train(tmp_path, "ema2", data=data, ema=0.5, use_ema=False, validation_split=0.25)
    folder = next(cb for cb in plain.trainer.callbacks if type(cb).__name__ == "RunFolder")
    assert folder.monitor == "val_accuracy"
    m = json.loads((plain.path / "metrics.json").read_text())
    assert m["weights"] == "trained" and "accuracy_ema" in m
    w = torch.load(plain.path / "last.pt", weights_only=True)["trainer"]["model_state"]
    assert all(torch.equal(load_model(plain.path)[0].state_dict()[k], v) for k, v in w.items())
    with pytest.raises(AugtrainError, match="--ema 1.0: must be a number >= 0 and < 1"):
        train(tmp_path, "bad", ema=1.0)


# --------------------------------------------------------- exact resume, kill mid-way
def child(workdir: Path, mode: str, kill_at: int) -> None:
    """Train or resume; SIGKILLed by the test in the `kill_at`-th training forward of this
    process: the middle of an accumulation (3 micro-batches a step)."""
    import time

    class KillSwitch(Callback):
        def on_train_begin(self, logs=None):
            count = [0]

            def hook(module, inputs):
                if module.training:
                    count[0] += 1
                    if count[0] == kill_at:
                        (workdir / "marker").write_text(str(self.trainer.global_step))
                        time.sleep(600)

            self.trainer.model.register_forward_pre_hook(hook)

    opts = dict(callbacks=[KillSwitch()])
    if mode == "start":
        train(
            workdir / "runs", "run", data=arrays(80), model="cnn4", epochs=2, batch_size=8,
            accumulate=3, clip_grad_norm=1.0, ema=0.8, ema_warmup=True, lookahead=True,
            save_freq=2, seed=4, validation_split=0.2, augment="crop-flip", **opts,
        )  # fmt: skip
    else:
        augtrain.train(resume=workdir / "runs" / "run", data=arrays(80), **opts)


def spawn(workdir: Path, mode: str, kill_at: int = -1) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{HERE.parent}:{HERE}"}
    return subprocess.Popen(
        [sys.executable, __file__, "child", str(workdir), mode, str(kill_at)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_at_marker(workdir: Path, mode: str, kill_at: int) -> None:
    import time

    marker = workdir / "marker"
    marker.unlink(missing_ok=True)
    proc = spawn(workdir, mode, kill_at)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.kill()
    proc.wait()


def finish(workdir: Path, mode: str) -> None:
    proc = spawn(workdir, mode)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]


def test_kill_during_accumulation_then_resume_is_bit_exact(tmp_path):
    from test_resume import assert_same, strip_timing

    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    finish(tmp_path / "a", "start")
    wd = tmp_path / "b"
    # 64 training images, steps of 24: 3 steps an epoch; last.pt at steps 2, 4, 6 and epochs.
    # Killed in step 4's 2nd micro-batch (forward 3 * 3 + 2): last.pt is step 3's (epoch 1)
    kill_at_marker(wd, "start", 11)
    state = torch.load(wd / "runs" / "run" / "last.pt", weights_only=True)["trainer"]
    assert state["global_step"] == 3 and state["ema"]["updates"] == 3
    # resumed at step 3, killed in step 6's 2nd micro-batch (forward 2 * 3 + 2): step 4's
    kill_at_marker(wd, "resume", 8)
    state = torch.load(wd / "runs" / "run" / "last.pt", weights_only=True)["trainer"]
    assert state["global_step"] == 4 and state["batch_in_epoch"] == 1
    finish(wd, "resume")
    a = torch.load(tmp_path / "a" / "runs" / "run" / "last.pt", weights_only=True)["trainer"]
    b = torch.load(wd / "runs" / "run" / "last.pt", weights_only=True)["trainer"]
    assert a["global_step"] == 6
    for key in ("model_state", "optimizer_state", "ema", "callbacks"):
        assert_same(strip_timing(a[key]), strip_timing(b[key]), key)
    assert_same(strip_timing(a["history"]), strip_timing(b["history"]), "history")


# -------------------------------------------------- the test split is not validation
def test_test_split_each_epoch_is_named_test_and_chooses_nothing(tmp_path, capsys):
    run = train(tmp_path, "t", epochs=2, model="cnn4", verbose=1)
    out = capsys.readouterr().out
    assert "test_accuracy" in out and "val_accuracy" not in out  # the printed epoch lines
    h = run.history[-1]
    assert {"test_loss", "test_accuracy"} <= set(h) and "val_accuracy" not in h
    with open(run.path / "history.csv") as f:
        assert {"test_loss", "test_accuracy"} <= set(next(csv.reader(f)))
    folder = next(cb for cb in run.trainer.callbacks if type(cb).__name__ == "RunFolder")
    assert folder.monitor == "accuracy"  # the training accuracy chooses best.pt, not the test
    config = json.loads((run.path / "config.json").read_text())
    assert config["data"]["validation"] == "test"
    # monitoring test_* is an error with a hint; val_* too, since it is never logged
    with pytest.raises(AugtrainError, match="is the test split.*--validation-split"):
        train(tmp_path, "m", monitor="test_accuracy")
    with pytest.raises(AugtrainError, match="EarlyStopping: monitor 'test_loss' is the test"):
        train(tmp_path, "m", callbacks=[EarlyStopping(monitor="test_loss")])
    with pytest.raises(AugtrainError, match="'val_loss' is never logged.*--validation-split"):
        train(tmp_path, "m", callbacks=[EarlyStopping()])  # Keras' default monitor
    with pytest.raises(AugtrainError, match="ModelCheckpoint: monitor 'test_accuracy' is the"):
        cb = ModelCheckpoint("b.pt", monitor="test_accuracy", save_best_only=True)
        train(tmp_path, "m", callbacks=[cb])
    # a file name may still show a test figure: it chooses nothing
    train(tmp_path, "n", callbacks=[ModelCheckpoint("w-{test_accuracy:.2f}.pt")])
    assert list((tmp_path / "n").glob("w-*.pt"))


def test_validation_split_keeps_val_names_and_selects_on_them(tmp_path):
    run = train(tmp_path, "v", validation_split=0.25, early_stopping_patience=3)
    assert {"val_loss", "val_accuracy"} <= set(run.history[0])
    assert not any(k.startswith("test_") for k in run.history[0])
    es = next(cb for cb in run.trainer.callbacks if isinstance(cb, EarlyStopping))
    assert es.monitor == "val_accuracy"


def test_run_summary_of_old_runs_that_logged_test_as_val(tmp_path):
    from augtrain.report.evaluation import read_run_summary

    run = train(tmp_path, "old", validation="test")
    # an older augtrain named these figures val_*: the summary must not call them validation
    text = (run.path / "history.csv").read_text().replace("test_", "val_")
    (run.path / "history.csv").write_text(text)
    summary = read_run_summary(run.path)
    assert summary["best_val_accuracy"] is None and summary["test_accuracy"] is not None
    val = train(tmp_path, "new", validation_split=0.25)
    assert read_run_summary(val.path)["best_val_accuracy"] is not None


def test_tensorboard_writes_test_figures_under_test(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(tmp_path, "tb", tensorboard=True)
    board = run.path / "tensorboard"
    assert not (board / "validation").exists()
    events = EventAccumulator(str(board / "test")).Reload()
    assert {"epoch_loss", "epoch_accuracy"} <= set(events.Tags()["scalars"])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--accumulate", "0"], "--accumulate 0: must be an integer >= 1"),
        (["--clip-grad-norm", "-1"], "--clip-grad-norm -1.0: must be a number > 0"),
        (["--clip-grad-norm", "nan"], "--clip-grad-norm nan: must be a finite number"),
        (["--ema", "1.5"], "--ema 1.5: must be a number >= 0 and < 1"),
        (["--monitor", "test_accuracy"], "--monitor 'test_accuracy' is the test split"),
    ],
)
def test_cli_refuses_bad_staples_in_one_line(tmp_path, capsys, flags, message):
    from augtrain.cli import main

    np.savez(tmp_path / "d.npz", **arrays())
    args = ["train", "--data", str(tmp_path / "d.npz"), "--runs-dir", str(tmp_path / "runs")]
    assert main([*args, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_cli_flags_reach_the_run(tmp_path, capsys):
    from augtrain.cli import main

    np.savez(tmp_path / "d.npz", **arrays())
    args = ["train", "--data", str(tmp_path / "d.npz"), "--runs-dir", str(tmp_path), "--name", "c"]
    args += ["--epochs", "1", "--verbose", "0", "--accumulate", "2", "--clip-grad-norm", "1"]
    args += ["--ema", "0.9", "--ema-warmup", "--no-use-ema"]
    assert main(args) == 0
    config = json.loads((tmp_path / "c" / "config.json").read_text())["config"]
    assert (config["accumulate"], config["clip_grad_norm"]) == (2, 1.0)
    assert (config["ema"], config["ema_warmup"], config["use_ema"]) == (0.9, True, False)
    state = torch.load(tmp_path / "c" / "last.pt", weights_only=True)["trainer"]
    # 64 images, batch 32 (the default) x 2: one optimizer step
    assert state["global_step"] == 1 and state["ema"]["updates"] == 1


if __name__ == "__main__":
    if sys.argv[1] == "child":
        child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
