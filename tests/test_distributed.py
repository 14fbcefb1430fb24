"""Distributed training under torchrun, on the CPU with gloo: 2 processes train like 1
process with the same global batch (same loss curve within float rounding), only rank 0
writes and prints, a run killed under DDP resumes, and `augtrain train --gpus N` starts
torchrun itself.

The model has neither batch norm nor dropout: with those, 2 ranks legitimately differ
from 1 process (per-rank BN statistics without --sync-bn, per-rank dropout masks).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
GLOO_ABORT = "terminate called without an active exception"  # see the --gpus test
EPOCHS = 3  # 96 images, global batch 16: 6 steps per epoch; last.pt every 4 steps


class TinyNet(nn.Module):
    """conv - relu - pool - linear: no batch norm, no dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.max_pool2d(torch.relu(self.conv(x)), 4), 1))


def write_data(folder: Path) -> Path:
    sys.path.insert(0, str(HERE))
    from fixtures import synthetic_images

    x, y = synthetic_images(96, 16, 3, 0)
    xt, yt = synthetic_images(40, 16, 3, 1)  # 40: ranks get 20 each, summed over both
    path = folder / "d.npz"
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt, classes=np.array(["r", "g", "b"]))
    return path


def train_tiny(
    workdir: Path, name: str, callbacks=(), resume: bool = False, verbose: int = 0, **kw
):
    import augtrain

    torch.manual_seed(0)
    network = TinyNet()
    if resume:
        return augtrain.train(resume=workdir / name, network=network, callbacks=list(callbacks))
    opts = dict(
        data=str(workdir / "d.npz"),
        network=network,
        epochs=EPOCHS,
        batch_size=16,
        optimizer="sgd",
        lr=0.05,
        momentum=0.9,
        save_freq=4,
        seed=3,
        runs_dir=str(workdir),
        name=name,
        verbose=verbose,
        callbacks=list(callbacks),
    )
    return augtrain.train(**{**opts, **kw})


# 2 ranks, micro-batches of 8 (4 a rank), 2 a step vs 1 process, batch 16: the same steps
STAPLES = dict(clip_grad_norm=0.5, ema=0.9)


def child(workdir: Path, mode: str, kill_at: int) -> None:
    """One rank of a torchrun job: start (and stop at step `kill_at`) or resume run 'ddp'."""
    from augtrain.training.callbacks import Callback

    class HoldAt(Callback):
        def on_batch_end(self, batch, logs=None):
            if self.trainer.global_step == kill_at:
                # written whole, then renamed: the test reads it as soon as it exists
                pid_file = workdir / f"pid-{self.trainer.dist.rank}"
                pid_file.with_suffix(".tmp").write_text(str(os.getpid()))
                pid_file.with_suffix(".tmp").rename(pid_file)
                time.sleep(600)

    if mode == "accumulate":
        train_tiny(workdir, "acc", batch_size=8, accumulate=2, **STAPLES)
        return
    train_tiny(workdir, "ddp", [HoldAt()], resume=mode == "resume", verbose=1)


def torchrun(workdir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    return subprocess.Popen(
        [*command, __file__, "child", str(workdir), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed as a whole
    )


def torchrun_to_end(workdir: Path, *args: str, fresh: Path | None = None) -> str:
    """`torchrun(...)` run to its end; its stdout. A rank that dies at once with GLOO_ABORT
    (the open bug of the --gpus test below; in 2 of 3 full runs of 2026-12-01 it hit the
    accumulation test's ranks too, never a rerun alone) gets one more try, `fresh` (its run
    folder) removed first."""
    for attempt in (1, 2):
        proc = torchrun(workdir, *args)
        out, err = proc.communicate(timeout=300)
        if proc.returncode == 0 or GLOO_ABORT not in err or attempt == 2:
            break
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
    assert proc.returncode == 0, err[-6000:]
    return out


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


def test_two_gloo_processes_match_one_and_resume(tmp_path):
    write_data(tmp_path)
    one = train_tiny(tmp_path, "one")

    # 2 ranks, killed (SIGKILL, the whole torchrun job) at step 9: last.pt is from step 8,
    # in the middle of epoch 2, with the epoch's partial sums over both ranks.
    proc = torchrun(tmp_path, "start", "9")
    pids = [tmp_path / "pid-0", tmp_path / "pid-1"]
    deadline = time.monotonic() + 240
    while not all(p.exists() for p in pids):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the DDP job never reached step 9"
        time.sleep(0.05)
    # torchrun starts each worker in a session of its own: kill them one by one, then torchrun
    for pid in pids:
        os.kill(int(pid.read_text()), signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    state = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)["trainer"]
    assert (state["global_step"], state["epoch"], state["batch_in_epoch"]) == (8, 1, 2)
    assert state["partial"][2].item() == 32  # 2 batches of 16 seen, over both ranks

    out = torchrun_to_end(tmp_path, "resume", "0")  # a second try resumes from last.pt again
    assert out.count("epoch 3/3") == 1  # only rank 0 prints

    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    ref = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert ddp["samples"] == ref["samples"] == 40
    history = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)["trainer"]["history"]
    assert len(history) == len(one.history) == EPOCHS
    for h_ddp, h_one in zip(history, one.history):
        for key in ("loss", "accuracy", "test_loss", "test_accuracy", "lr"):  # test each epoch
            assert close(h_ddp[key], h_one[key]), (key, h_ddp, h_one)
    weights = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)["trainer"]["model_state"]
    for k, v in one.model.state_dict().items():
        torch.testing.assert_close(weights[k], v.cpu(), rtol=1e-4, atol=1e-5)
    assert abs(ddp["accuracy"] - ref["accuracy"]) < 1e-9


def test_two_gloo_processes_accumulating_match_one(tmp_path):
    """Gradient accumulation under DDP (gradients all-reduced once a step), with clipping
    of the averaged gradients and the EMA: as one process with the step's whole batch."""
    write_data(tmp_path)
    one = train_tiny(tmp_path, "one", **STAPLES)
    torchrun_to_end(tmp_path, "accumulate", "0", fresh=tmp_path / "acc")
    state = torch.load(tmp_path / "acc" / "last.pt", weights_only=True)["trainer"]
    assert state["global_step"] == one.trainer.global_step == EPOCHS * 6
    for k, v in one.trainer.model.state_dict().items():
        torch.testing.assert_close(state["model_state"][k], v.cpu(), rtol=1e-4, atol=1e-5)
    for k, v in one.trainer.ema.module.state_dict().items():
        torch.testing.assert_close(state["ema"]["state"][k], v.cpu(), rtol=1e-4, atol=1e-5)
    for h_ddp, h_one in zip(state["history"], one.history):
        for key in ("loss", "accuracy", "test_accuracy_ema", "lr"):
            assert close(h_ddp[key], h_one[key]), (key, h_ddp, h_one)


def test_gpus_flag_launches_torchrun_on_cpu(tmp_path):
    data = write_data(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    args = ["--data", str(data), "--model", "lenet5", "--epochs", "1", "--batch-size", "16"]
    args += ["--runs-dir", str(tmp_path), "--name", "g", "--augment", "flip"]
    command = [sys.executable, "-m", "augtrain", "train", "--gpus", "2", "--device", "cpu", *args]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and proc.stderr.startswith(GLOO_ABORT):
        # An open bug, not yet explained: in about half of the full CI runs of 2026-12-01 a
        # rank of this command died in C++ with this line before printing anything, never
        # in 12 runs alone. One more try, in a fresh folder, must then pass whole.
        shutil.rmtree(tmp_path / "g", ignore_errors=True)
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert "launching: " in proc.stdout and "torch.distributed.run" in proc.stdout
    assert (
        "--nproc_per_node=2" in proc.stdout
        and "--gpus" not in proc.stdout.split("launching:")[1].splitlines()[0]
    )
    assert proc.stdout.count("epoch 1/1") == 1 and proc.stdout.count("run folder:") == 1
    assert {"last.pt", "best.pt", "metrics.json", "history.csv"} <= {
        p.name for p in (tmp_path / "g").iterdir()
    }
    assert json.loads((tmp_path / "g" / "metrics.json").read_text())["samples"] == 40


def test_gpus_flag_errors(tmp_path, capsys):
    from augtrain.cli import main

    if torch.cuda.device_count() < 64:
        assert main(["train", "--gpus", "64", "--data", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "--gpus 64: this machine has" in err and "--device cpu" in err
    assert main(["train", "--gpus", "0", "--data", str(tmp_path)]) == 2
    assert "--gpus must be >= 1" in capsys.readouterr().err


def test_command_line_rebuilt_for_torchrun():
    from augtrain.cli import build_parser
    from augtrain.training.launch import argv_from_args, torchrun_command

    argv = ["train", "--data", "d.npz", "--target-size", "8", "9", "--nesterov", "--gpus", "2"]
    argv += ["--lr", "0.1", "--save-freq", "5", "--model-option", "a=1", "--model-option", "b=2"]
    args = build_parser().parse_args(argv)
    rebuilt = argv_from_args(args.parser, args, drop=("gpus",))
    again = build_parser().parse_args(["train", *rebuilt])
    for key, value in vars(args).items():
        if key not in ("gpus", "parser", "func"):
            assert getattr(again, key) == value, key
    assert again.gpus is None
    command = torchrun_command(2, ["train", *rebuilt])
    assert command[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def test_shard_and_loss_weighting_equal_one_process():
    """The weighting of uneven shards: the sum of the ranks' weighted gradients (what DDP
    averages) is the gradient of the mean over the global batch."""
    from augtrain.training import distributed

    index = torch.arange(7)
    shards = [distributed.shard(index, distributed.DistInfo(r, 3)) for r in range(3)]
    assert [s.tolist() for s in shards] == [[0, 1, 2], [3, 4], [5, 6]]
    w = torch.randn(5, requires_grad=True)
    x = torch.randn(7, 5)
    (x @ w).pow(2).mean().backward()
    expected, w.grad = w.grad.clone(), None
    total = torch.zeros(5)
    for s in shards:
        loss = (x[s] @ w).pow(2).mean() * (len(s) * 3 / 7)
        (grad,) = torch.autograd.grad(loss, w)
        total += grad / 3  # DDP's average
    torch.testing.assert_close(total, expected)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("what")
    parser.add_argument("workdir", type=Path)
    parser.add_argument("mode")
    parser.add_argument("kill_at", type=int)
    a = parser.parse_args()
    child(a.workdir, a.mode, a.kill_at)


def test_only_rank_0_refuses_a_taken_run_name(tmp_path, monkeypatch):
    """Rank 0 makes the run folder; a slower rank checking the name after that must not
    take it for someone else's run (it left alone and the others aborted)."""
    from augtrain.errors import AugtrainError
    from augtrain.training.config import TrainConfig
    from augtrain.training.run import check_run_name

    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "config.json").write_text("{}")
    config = TrainConfig(runs_dir=str(tmp_path), name="g")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert check_run_name(config) == tmp_path / "g"
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(AugtrainError, match="already exists"):
        check_run_name(config)
