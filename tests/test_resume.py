"""Exact resume: a run killed (SIGKILL) at any moment, even in the middle of a checkpoint
write, then resumed from last.pt, ends bit for bit where an uninterrupted run ends; Ctrl-C
stops cleanly, says how to resume, and resuming is exact too.

The runs happen in child processes (this file run as a script, see `child()`), so that
they can be killed for real. Kill points are chosen by a callback that writes a marker
file and then sleeps until the test kills it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
TIMING = ("seconds", "images_per_s")
# 96 images, batch 16: 6 steps per epoch, 18 in all; last.pt every 4 steps and every epoch.
EPOCHS, STEPS_PER_EPOCH, SAVE_FREQ = 3, 6, 4


def write_data(folder: Path) -> Path:
    sys.path.insert(0, str(HERE))
    from fixtures import synthetic_arrays

    path = folder / "d.npz"
    np.savez(path, **synthetic_arrays(96, 16, 48, 0, n_val=24))  # val: what val_loss monitors
    return path


# ----------------------------------------------------------------------------- the child
def child(workdir: Path, mode: str, kill_at: int, kill_epoch_end: int, hang_save: int) -> None:
    """Train (mode 'start') or resume (mode 'resume') run workdir/runs/run."""
    import augtrain
    from augtrain.training.callbacks import Callback

    marker = workdir / "marker"

    class KillSwitch(Callback):
        """Signal the test, then wait to be killed: after step `kill_at`, or at the end of
        epoch `kill_epoch_end` once the other callbacks ran and before last.pt is written."""

        def hold(self) -> None:
            marker.write_text(str(self.trainer.global_step))
            time.sleep(600)

        def on_batch_end(self, batch, logs=None):
            if self.trainer.global_step == kill_at:
                self.hold()

        def on_epoch_end(self, epoch, logs=None):
            if epoch == kill_epoch_end:
                self.hold()

    if hang_save:  # the hang_save-th write of last.pt stops half-way: kill it there
        real_save, count = torch.save, [0]

        def slow_save(obj, f, *args, **kwargs):
            if isinstance(f, (str, os.PathLike)) and Path(f).name.startswith(".last.pt."):
                count[0] += 1
                if count[0] == hang_save:
                    import io

                    buf = io.BytesIO()
                    real_save(obj, buf, *args, **kwargs)
                    Path(f).write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
                    marker.write_text("saving")
                    time.sleep(600)
            return real_save(obj, f, *args, **kwargs)

        torch.save = slow_save

    callbacks = [
        augtrain.ModelCheckpoint("best-{epoch:02d}.pt", monitor="val_loss", save_best_only=True),
        augtrain.ModelCheckpoint("steps-{epoch}-{batch}.pt", save_freq=5, save_weights_only=True),
        augtrain.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
        # min_delta larger than any change: the lr halves after every epoch but the first
        augtrain.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=10.0),
        augtrain.CSVLogger("log.csv"),
        KillSwitch(),
    ]
    if mode == "start":
        augtrain.train(
            data=str(workdir / "d.npz"),
            model="cnn4",  # has dropout: its masks must be reproduced too
            epochs=EPOCHS,
            batch_size=16,
            lr=3e-3,
            save_freq=SAVE_FREQ,
            seed=5,
            runs_dir=str(workdir / "runs"),
            name="run",
            verbose=0,
            callbacks=callbacks,
        )
    else:
        augtrain.train(resume=str(workdir / "runs" / "run"), callbacks=callbacks)


def spawn(workdir: Path, mode: str, kill_at=0, kill_epoch_end=-1, hang_save=0):
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(HERE.parent)}
    args = [str(a) for a in (workdir, mode, kill_at, kill_epoch_end, hang_save)]
    return subprocess.Popen(
        [sys.executable, __file__, "child", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_until_marker(workdir: Path, mode: str, timeout: float = 240, **kill) -> str:
    """Start a child, wait for its marker, SIGKILL it; returns the marker's text."""
    marker = workdir / "marker"
    marker.unlink(missing_ok=True)
    proc = spawn(workdir, mode, **kill)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child ended before its kill point:\n{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("child never reached its kill point")
        time.sleep(0.02)
    time.sleep(0.05)  # let the marker's content land
    proc.kill()  # SIGKILL: no handler, no cleanup
    proc.wait()
    return marker.read_text()


def run_to_end(workdir: Path, mode: str) -> None:
    proc = spawn(workdir, mode)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def strip_timing(obj):
    """The state with wall-clock entries removed (they differ between any two runs)."""
    if isinstance(obj, dict):
        return {k: strip_timing(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [strip_timing(v) for v in obj]
    return obj


def assert_same(a, b, where="state"):
    """Equal, bit for bit: tensors with torch.equal, floats with ==."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: {a.keys()} != {b.keys()}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def csv_without_timing(path: Path) -> list[list[str]]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if name not in TIMING]
    return [[r[i] for i in keep] for r in rows]


def compare_runs(a: Path, b: Path) -> None:
    sa, sb = load(a / "last.pt")["trainer"], load(b / "last.pt")["trainer"]
    assert sa["epoch"] == EPOCHS and sa["global_step"] == EPOCHS * STEPS_PER_EPOCH
    for key in ("model_state", "optimizer_state", "partial", "lr_scale", "global_step"):
        assert_same(sa[key], sb[key], key)
    assert_same(strip_timing(sa["history"]), strip_timing(sb["history"]), "history")
    assert_same(strip_timing(sa["callbacks"]), strip_timing(sb["callbacks"]), "callbacks")
    assert sa["lr_scale"] == 0.25  # ReduceLROnPlateau acted twice, in both runs
    best_a = sorted(p.name for p in a.glob("best-*.pt"))
    assert best_a == sorted(p.name for p in b.glob("best-*.pt")) and best_a
    for name in best_a:
        assert_same(
            load(a / name)["trainer"]["model_state"], load(b / name)["trainer"]["model_state"]
        )
    steps_a = sorted(p.name for p in a.glob("steps-*.pt"))
    assert steps_a == sorted(p.name for p in b.glob("steps-*.pt"))
    assert steps_a == ["steps-1-5.pt", "steps-2-4.pt", "steps-3-3.pt"]  # global steps 5, 10, 15
    for name in steps_a:
        assert_same(load(a / name), load(b / name), name)
    assert csv_without_timing(a / "log.csv") == csv_without_timing(b / "log.csv")
    assert csv_without_timing(a / "history.csv") == csv_without_timing(b / "history.csv")
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (a, b))
    assert ma == mb
    assert not list(b.glob(".*.tmp"))


def test_sigkill_anywhere_then_resume_is_bit_exact(tmp_path):
    # A: never interrupted.
    (tmp_path / "a").mkdir()
    write_data(tmp_path / "a")
    run_to_end(tmp_path / "a", "start")

    # B: the same run, killed five times.
    wd = tmp_path / "b"
    wd.mkdir()
    write_data(wd)
    run = wd / "runs" / "run"

    # 1. before the first checkpoint: no last.pt yet; resume starts over from config.json
    run_until_marker(wd, "start", kill_at=2)
    assert (run / "config.json").exists() and not (run / "last.pt").exists()

    # 2. mid-epoch, one step after the step-4 checkpoint (epoch 1, batch 4 of 6)
    run_until_marker(wd, "resume", kill_at=5)
    state = load(run / "last.pt")["trainer"]
    assert (state["global_step"], state["epoch"], state["batch_in_epoch"]) == (4, 0, 4)

    # 3. mid-epoch again, in epoch 2 (checkpoint at step 8 = epoch 2, batch 2)
    run_until_marker(wd, "resume", kill_at=10)
    state = load(run / "last.pt")["trainer"]
    assert (state["global_step"], state["epoch"], state["batch_in_epoch"]) == (8, 1, 2)
    before = (run / "last.pt").read_bytes()

    # 4. during a write of last.pt (the step-12 one): half a file under a temp name
    assert run_until_marker(wd, "resume", hang_save=1) == "saving"
    temps = list(run.glob(".last.pt.*.tmp"))
    assert len(temps) == 1 and 0 < temps[0].stat().st_size < len(before)
    with pytest.raises(RuntimeError):
        load(temps[0])  # truncated: unreadable, and never looked at by resume
    assert (run / "last.pt").read_bytes() == before  # the previous checkpoint is intact
    assert load(run / "last.pt")["trainer"]["global_step"] == 8

    # 5. at the end of the last epoch, after the callbacks ran, before last.pt is written
    run_until_marker(wd, "resume", kill_epoch_end=EPOCHS - 1)
    assert load(run / "last.pt")["trainer"]["global_step"] == 16
    assert not list(run.glob(".*.tmp"))  # the resume cleaned the killed write's temp file

    # 6. to the end
    run_to_end(wd, "resume")
    compare_runs(tmp_path / "a" / "runs" / "run", run)


# ----------------------------------------------------------------------------- Ctrl-C
def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "augtrain", "train", *args]


def test_ctrl_c_saves_says_how_to_resume_and_resume_is_exact(tmp_path):
    data = write_data(tmp_path)
    common = [
        "--data",
        str(data),
        "--model",
        "cnn4",
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--seed",
        "2",
        "--runs-dir",
        str(tmp_path),
        "--early-stopping-patience",
        "3",
        "--reduce-lr-patience",
        "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(HERE.parent)}
    ref = subprocess.run(
        cli(*common, "--name", "ref", "--verbose", "0"), env=env, capture_output=True, text=True
    )
    assert ref.returncode == 0, ref.stderr[-2000:]

    proc = subprocess.Popen(
        cli(*common, "--name", "c", "--verbose", "1"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:  # wait for the first epoch, then press Ctrl-C
        if line.startswith("epoch 1/4"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    run = tmp_path / "c"
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert "SIGINT: stopping after this batch and saving last.pt" in err
    assert f"saved {run / 'last.pt'}. Resume with: augtrain train --resume {run}" in err
    state = load(run / "last.pt")["trainer"]
    assert 1 <= state["epoch"] < 4  # stopped during training, after epoch 1
    assert not (run / "metrics.json").exists()

    resumed = subprocess.run(
        cli("--resume", str(run), "--verbose", "0"), env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = load(tmp_path / "ref" / "last.pt")["trainer"], load(run / "last.pt")["trainer"]
    assert_same(a["model_state"], b["model_state"], "model_state")
    assert_same(a["optimizer_state"], b["optimizer_state"], "optimizer_state")
    assert_same(strip_timing(a["history"]), strip_timing(b["history"]), "history")
    assert_same(strip_timing(a["callbacks"]), strip_timing(b["callbacks"]), "callbacks")


def small_arrays():
    sys.path.insert(0, str(HERE))
    from fixtures import synthetic_arrays

    return synthetic_arrays(64, 16, 32, 0)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_at_a_batch_boundary_in_process(tmp_path, capsys, signum):
    """The same through the Python API: SIGTERM (as torchrun and cluster schedulers send)
    stops as Ctrl-C does; KeyboardInterrupt reaches the caller after last.pt is saved."""
    from fixtures import signal_at

    import augtrain

    opts = dict(
        data=small_arrays(),
        model="cnn4",
        epochs=2,
        batch_size=16,
        runs_dir=str(tmp_path),
        verbose=0,
    )
    ref = augtrain.train(name="ref", **opts)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        augtrain.train(name="x", callbacks=[signal_at(5, signum)], **opts)
    err = capsys.readouterr().err
    assert f"Resume with: augtrain train --resume {tmp_path / 'x'}" in err
    state = load(tmp_path / "x" / "last.pt")["trainer"]
    assert (state["epoch"], state["batch_in_epoch"], state["global_step"]) == (1, 1, 5)
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    run = augtrain.train(resume=tmp_path / "x", data=small_arrays())
    assert_same(ref.trainer.state_dict()["model_state"], run.trainer.state_dict()["model_state"])
    assert strip_timing(ref.history) == strip_timing(run.history)


def test_resume_guards(tmp_path, capsys):
    from augtrain.cli import main

    data = write_data(tmp_path)
    base = [
        "train",
        "--data",
        str(data),
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--runs-dir",
        str(tmp_path),
    ]
    assert main([*base, "--name", "r", "--verbose", "0"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "r"), "--model", "lenet5"]) == 2
    assert "--model cannot change in a resumed run" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "r" / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    assert main(["train", "--resume", str(tmp_path / "r")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    # a finished run resumed with more epochs goes on from where it stopped
    assert main([*base, "--name", "s", "--verbose", "0"]) == 0
    assert main(["train", "--resume", str(tmp_path / "s"), "--epochs", "2", "--verbose", "0"]) == 0
    history = (tmp_path / "s" / "history.csv").read_text().splitlines()
    assert len(history) == 3 and history[2].startswith("2,")


if __name__ == "__main__":
    if sys.argv[1] == "child":
        workdir, mode, kill_at, kill_epoch_end, hang_save = sys.argv[2:7]
        child(Path(workdir), mode, int(kill_at), int(kill_epoch_end), int(hang_save))
