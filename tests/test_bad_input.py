"""The bad-input matrix: everything a user can get wrong in arguments and run folders.

One table of cases (id, command line or Python call, exit code, message fragment). Each
case runs the CLI in-process (`augtrain.cli.main`) and asserts the exit code, that stderr
is a single line without a traceback holding the fragment, that the runs folder is exactly
as it was (no half-made run folder, no touched run) and that the cache holds no temp file.
Concurrency and signals need real processes: they have their own tests at the end.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fixtures import synthetic_images, write_image_folder

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError

NAN, INF = "nan", "inf"


# ------------------------------------------------------------------ fixtures, made once
def arrays(n: int = 24, size: int = 32, test: bool = True) -> dict[str, np.ndarray]:
    x, y = synthetic_images(n, size, 3, 0)
    out = {"x": x, "y": y, "classes": np.array(["r", "g", "b"])}
    if test:
        out["x_test"], out["y_test"] = synthetic_images(12, size, 3, 1)
    return out


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Data files and two small trained runs (lenet5: small checkpoints to copy)."""
    root = tmp_path_factory.mktemp("shared")
    old_cache = os.environ.get("AUGTRAIN_CACHE")
    os.environ["AUGTRAIN_CACHE"] = str(root / "cache")
    try:
        np.savez(root / "d.npz", **arrays())
        np.savez(root / "notest.npz", **arrays(test=False))
        np.savez(root / "moving.npz", **arrays())
        write_image_folder(root / "folder", per_class=4, classes=("cat", "dog", "eel"), size=8)
        write_image_folder(root / "two", per_class=4, classes=("cat", "dog"), size=8)
        write_image_folder(root / "one", per_class=3, classes=("solo",), size=8)
        (root / "empty").mkdir()
        write_image_folder(root / "badname", per_class=3, classes=("cat", "dog"), size=8)
        os.rename(os.fsencode(root / "badname" / "dog"), os.fsencode(root / "badname") + b"/d\xffg")
        (root / "garbage.npz").write_bytes(b"not a zip file at all")
        np.savez(root / "short.npz", x=np.zeros((4, 8, 8, 3), np.uint8), y=np.zeros(3))
        (root / "notes.txt").write_text("hello")
        (root / "a_file").write_text("I am a file")
        (root / "weights.pt").write_bytes(b"PK\x03\x04 cut short")
        common = ["--runs-dir", str(root / "runs"), "--epochs", "2", "--verbose", "0"]
        common += ["--model", "lenet5", "--batch-size", "8"]
        assert main(["train", "--data", str(root / "d.npz"), "--name", "r", *common]) == 0
        assert main(["train", "--data", str(root / "moving.npz"), "--name", "m", *common]) == 0
        (root / "moving.npz").unlink()  # the data of run m has moved away
    finally:
        if old_cache is None:
            os.environ.pop("AUGTRAIN_CACHE", None)
        else:
            os.environ["AUGTRAIN_CACHE"] = old_cache
    return {
        "root": root,
        "npz": root / "d.npz",
        "notest": root / "notest.npz",
        "folder": root / "folder",
        "two": root / "two",
        "one": root / "one",
        "empty": root / "empty",
        "badname": root / "badname",
        "garbage": root / "garbage.npz",
        "short": root / "short.npz",
        "txt": root / "notes.txt",
        "file": root / "a_file",
        "weights": root / "weights.pt",
        "run_src": root / "runs" / "r",
        "moved_src": root / "runs" / "m",
    }


@dataclass
class Ctx:
    """One case's paths ({name} in a case's argv) and pytest's monkeypatch."""

    paths: dict[str, str]
    monkeypatch: pytest.MonkeyPatch

    def __getitem__(self, key: str) -> Path:
        return Path(self.paths[key])


# ------------------------------------------------------------------ case set-ups
def write(rel: str, data: bytes | str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = ctx["tmp"] / rel.format(**ctx.paths)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())

    return setup


def remove(rel: str) -> Callable[[Ctx], None]:
    return lambda ctx: (ctx["tmp"] / rel.format(**ctx.paths)).unlink()


def edit_config(**changes: Any) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = ctx["run"] / "config.json"
        cfg = json.loads(path.read_text())
        cfg["config"].update(changes)
        path.write_text(json.dumps(cfg))

    return setup


def nan_weights(ctx: Ctx) -> None:
    path = ctx["run"] / "last.pt"
    ckpt = torch.load(path, weights_only=True)
    state = ckpt["trainer"]["model_state"]
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.full_like(state[key], float("nan"))
    torch.save(ckpt, path)


def pickled_object(ctx: Ctx) -> None:
    torch.save({"format": "augtrain-checkpoint", "x": Path("p")}, ctx["run"] / "last.pt")


def no_tensorboard(ctx: Ctx) -> None:
    ctx.monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)


def fail_torch_save(ctx: Ctx) -> None:
    def save(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter fa")

    ctx.monkeypatch.setattr(torch, "save", save)


def full_disk(ctx: Ctx) -> None:
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    ctx.monkeypatch.setattr(os, "fsync", fsync)


def read_only_runs(ctx: Ctx) -> None:
    """chmod does not stop root (the tests' and CI's user): mkdir refuses instead."""
    real = os.mkdir

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(ctx["runs"]) in os.fspath(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        real(path, *args, **kwargs)

    ctx.monkeypatch.setattr(os, "mkdir", mkdir)


def cache_is_file(ctx: Ctx) -> None:
    (ctx["tmp"] / "cachefile").write_text("x")
    ctx.monkeypatch.setenv("AUGTRAIN_CACHE", str(ctx["tmp"] / "cachefile"))


def home_is_file(ctx: Ctx) -> None:
    (ctx["tmp"] / "homefile").write_text("x")
    ctx.monkeypatch.delenv("AUGTRAIN_CACHE", raising=False)
    ctx.monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    ctx.monkeypatch.setenv("HOME", str(ctx["tmp"] / "homefile"))


def both(*setups: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        for s in setups:
            s(ctx)

    return setup


# ------------------------------------------------------------------ the table
@dataclass
class Case:
    id: str
    call: list[str] | Callable[[Ctx], Any]  # argv ({placeholders}) or a Python call
    code: int
    message: str
    setup: Callable[[Ctx], None] | None = None
    changes_runs: bool = False  # a successful run adds its folder


TRAIN = ["train", "--data", "{npz}", "--runs-dir", "{runs}", "--epochs", "1", "--verbose", "0"]
FOLDER = ["train", "--data", "{folder}", "--runs-dir", "{runs}", "--epochs", "1", "--verbose", "0"]
RESUME = ["train", "--resume", "{run}", "--verbose", "0"]


def flag_case(flag: str, *values: str, message: str | None = None) -> Case:
    ident = f"{flag.lstrip('-')}-{'-'.join(values)}"
    return Case(ident, [*TRAIN, flag, *values], 2, message or f"{flag} {values[0]}")


CASES: list[Case] = [
    # numbers: NaN, infinity, out of range
    flag_case("--lr", NAN, message="--lr nan: must be a finite number"),
    flag_case("--lr", INF, message="--lr inf: must be a finite number"),
    flag_case("--lr", "-1", message="--lr -1.0: must be 'auto' or a number > 0"),
    flag_case("--lr", "0", message="--lr 0.0: must be 'auto' or a number > 0"),
    flag_case("--momentum", "-0.5", message="--momentum -0.5: must be a number >= 0"),
    flag_case("--momentum", "1.5", message="< 1"),
    flag_case("--momentum", NAN),
    flag_case("--weight-decay", "-1", message="--weight-decay -1.0: must be a number >= 0"),
    flag_case("--weight-decay", NAN),
    flag_case("--step-size", "0", message="--step-size 0: must be an integer >= 1"),
    flag_case("--step-size", "-3"),
    flag_case("--seed", str(2**70), message="--seed 1180591620717411303424: must be an integer"),
    flag_case("--seed", "-1", message="--seed -1: must be an integer >= 0"),
    flag_case("--gamma", "0", message="--gamma 0.0: must be a number > 0"),
    flag_case("--gamma", NAN),
    flag_case("--warmup-epochs", "-1"),
    flag_case("--warmup-epochs", INF),
    flag_case(
        "--label-smoothing", "1", message="--label-smoothing 1.0: must be a number >= 0 and < 1"
    ),
    flag_case("--label-smoothing", NAN, message="--label-smoothing"),
    flag_case("--validation-split", "1.5"),
    flag_case("--validation-split", NAN),
    flag_case("--batch-size", "0", message="--batch-size 0: must be an integer >= 1"),
    flag_case("--epochs", "0", message="--epochs 0: must be an integer >= 1"),
    flag_case("--epochs", "-2", message="--epochs -2: must be an integer >= 1"),
    flag_case("--reduce-lr-factor", NAN, message="--reduce-lr-factor"),
    flag_case(
        "--reduce-lr-factor", "1", message="--reduce-lr-factor 1.0: must be a number > 0 and < 1"
    ),
    flag_case("--base-lr-mult", INF),
    flag_case("--base-lr-mult", "0", message="--base-lr-mult 0.0: must be a number > 0"),
    flag_case(
        "--early-stopping-patience",
        "-1",
        message="--early-stopping-patience -1: must be an integer >= 0",
    ),
    flag_case(
        "--reduce-lr-patience", "-2", message="--reduce-lr-patience -2: must be an integer >= 0"
    ),
    Case("target-size-0", [*FOLDER, "--target-size", "0", "0"], 2, "--target-size takes two"),
    Case("target-size-neg", [*FOLDER, "--target-size", "-5", "8"], 2, "--target-size takes two"),
    Case(
        "target-size-huge",
        [*FOLDER, "--target-size", "100000", "100000"],
        2,
        "12 images of 100000x100000x3 need",
    ),
    # augmentation flags: NaN or infinity would train on black images
    flag_case("--rotation-range", NAN, message="--rotation-range nan: must be a finite number"),
    flag_case("--rotation-range", INF),
    flag_case("--rotation-range", "-5", message="--rotation-range -5.0 must be >= 0"),
    flag_case("--shear-range", NAN),
    flag_case("--zoom-range", NAN),
    flag_case("--zoom-range", "0.1", "0.2", "0.3", message="--zoom-range takes one value or"),
    flag_case("--brightness-range", NAN, "1"),
    flag_case("--brightness-range", "1", message="--brightness-range takes a pair"),
    flag_case("--channel-shift-range", INF),
    flag_case("--width-shift-range", NAN),
    flag_case("--width-shift-range", "abc", message="--width-shift-range 'abc' is not a number"),
    flag_case("--height-shift-range", INF),
    flag_case("--gaussian-noise", NAN),
    flag_case("--mixup", NAN),
    flag_case("--cutmix", INF),
    flag_case("--random-erasing", NAN),
    flag_case("--grayscale", NAN),
    flag_case("--color-jitter", NAN),
    flag_case("--color-jitter", "-1", message="--color-jitter takes up to four values >= 0"),
    flag_case("--cval", NAN),
    flag_case("--fill-mode", "bogus", message="--fill-mode 'bogus' is not one of"),
    flag_case("--warp-interpolation", "cubic", message="--warp-interpolation 'cubic' is not"),
    flag_case("--augment", "wild", message="unknown --augment preset 'wild'"),
    # optimizer, model, monitor: names and combinations
    Case(
        "nesterov-adam",
        [*TRAIN, "--nesterov", "--optimizer", "adam"],
        2,
        "--nesterov needs --optimizer sgd",
    ),
    Case(
        "nesterov-no-momentum",
        [*TRAIN, "--nesterov", "--optimizer", "sgd", "--momentum", "0"],
        2,
        "--nesterov needs --momentum > 0",
    ),
    flag_case("--optimizer", "adagrad", message="invalid choice: 'adagrad'"),
    flag_case("--amp", "fp8", message="invalid choice: 'fp8'"),
    flag_case("--tta", "spin", message="invalid choice: 'spin'"),
    flag_case("--epochs", "two", message="invalid int value: 'two'"),
    flag_case("--model", "nonet", message="unknown model 'nonet'"),
    flag_case("--model", "cnn", message="did you mean 'cnn4'?"),
    flag_case("--monitor", "val_acc", message="did you mean 'val_accuracy'?"),
    flag_case(
        "--save-freq",
        "often",
        message="--save-freq 'often': must be 'epoch', 'end' or an integer >= 1",
    ),
    flag_case("--unfreeze-after", "2", message="--unfreeze-after needs --freeze base"),
    flag_case("--head", "logistic", message="--head logistic needs --features"),
    flag_case("--features", "{tmp}/none.npz", message="none.npz"),
    flag_case("--model-option", "nokey", message="expected KEY=VALUE"),
    flag_case("--model-option", "width=3", message="model 'speednet'"),  # the default job's
    Case(
        "model-too-small-input",
        [*FOLDER, "--model", "lenet5"],
        2,
        "model 'lenet5' cannot take 8x8 images (Calculated padded input size",
    ),
    flag_case("--validation", "split", message="--validation split needs --validation-split"),
    Case(
        "validation-test-none",
        ["train", "--data", "{notest}", "--runs-dir", "{runs}", "--validation", "test"],
        2,
        "--validation test: the data has no test split",
    ),
    Case("no-tensorboard", [*TRAIN, "--tensorboard"], 2, "pip install tensorboard", no_tensorboard),
    flag_case("--init-from", "{tmp}/nothing.pt", message="no such run folder or weights file"),
    flag_case("--init-from", "{empty}", message="run folder has no checkpoint (last.pt)"),
    flag_case("--init-from", "{weights}", message="damaged or truncated file"),
    # run names and folders
    flag_case("--name", "a/b", message="a run name must be a plain folder name"),
    flag_case("--name", "..", message="a run name must be a plain folder name"),
    flag_case("--name", "x" * 300, message="too long for a folder name"),
    Case(
        "name-is-file",
        [*TRAIN, "--name", "f"],
        2,
        "is a file, not a run folder",
        write("runs/f", ""),
    ),
    Case("name-taken", [*TRAIN, "--name", "r"], 2, "already exists; pass --overwrite"),
    Case(
        "overwrite-bad-monitor",
        [*TRAIN, "--name", "r", "--overwrite", "--monitor", "val_acc"],
        2,
        "--monitor 'val_acc' is never logged",
    ),
    Case("overwrite-nan-lr", [*TRAIN, "--name", "r", "--overwrite", "--lr", NAN], 2, "--lr nan"),
    Case(
        "overwrite-bad-classes",
        [*FOLDER, "--name", "r", "--overwrite", "--classes", "cat", "cow"],
        2,
        "class folder 'cow' not found",
    ),
    Case(
        "runs-dir-is-file",
        ["train", "--data", "{npz}", "--runs-dir", "{file}"],
        2,
        "is a file, not a folder",
    ),
    Case(
        "runs-dir-under-file",
        [*TRAIN, "--runs-dir", "{file}/runs"],
        2,
        "is a file, not a folder",
    ),
    Case("runs-read-only", TRAIN, 2, "Permission denied", read_only_runs),
    Case("disk-full", TRAIN, 2, "config.json: No space left on device", full_disk),
    Case("checkpoint-write-fails", TRAIN, 2, ".pt: the write failed", fail_torch_save),
    Case("cache-is-file", FOLDER, 0, "not cached", cache_is_file, changes_runs=True),
    Case("home-is-file", FOLDER, 0, "not cached", home_is_file, changes_runs=True),
    # data
    Case("data-missing", [*TRAIN[:2], "{tmp}/nowhere", *TRAIN[3:]], 2, "no such file or folder"),
    Case("data-empty-folder", [*TRAIN[:2], "{empty}", *TRAIN[3:]], 2, "no class subfolders"),
    Case("data-one-class", [*TRAIN[:2], "{one}", *TRAIN[3:]], 2, "only one class folder"),
    Case("data-garbage-npz", [*TRAIN[:2], "{garbage}", *TRAIN[3:]], 2, "garbage.npz"),
    Case("data-short-npz", [*TRAIN[:2], "{short}", *TRAIN[3:]], 2, "4 images but y has 3"),
    Case("data-text-file", [*TRAIN[:2], "{txt}", *TRAIN[3:]], 2, "not a folder, .npz or CIFAR"),
    Case("data-empty-string", [*TRAIN[:2], "", *TRAIN[3:]], 2, "--data is empty"),
    Case("data-bad-class-name", [*TRAIN[:2], "{badname}", *TRAIN[3:]], 2, "is not valid UTF-8"),
    Case("classes-missing", [*FOLDER, "--classes", "cat", "cow"], 2, "class folder 'cow'"),
    # resume
    Case("resume-missing", ["train", "--resume", "{tmp}/nowhere"], 2, "no such run folder"),
    Case(
        "resume-file", ["train", "--resume", "{run}/last.pt"], 2, "is a file; pass the run folder"
    ),
    Case("resume-not-run", ["train", "--resume", "{empty}"], 2, "not a run folder"),
    Case("resume-truncated", RESUME, 2, "damaged or truncated file", write("{run}/last.pt", b"PK")),
    Case("resume-objects", RESUME, 2, "holds a Python object (pathlib.PosixPath)", pickled_object),
    Case("resume-model", [*RESUME, "--model", "cnn4"], 2, "--model cannot change"),
    Case("resume-fewer-epochs", [*RESUME, "--epochs", "1"], 2, "has trained 2 epochs already"),
    Case("resume-lr-nan", [*RESUME, "--lr", NAN], 2, "--lr nan"),
    Case(
        "resume-other-classes",
        [*RESUME, "--data", "{two}", "--epochs", "3"],
        2,
        "the data has 2 classes (cat, dog) but the run was trained on 3",
    ),
    Case(
        "resume-other-size",
        [*RESUME, "--data", "{folder}", "--epochs", "3", "--classes", "r", "g"],
        2,
        "--classes cannot change",
    ),
    Case(
        "resume-edited-model", RESUME, 2, "model was changed to 'cnn4'", edit_config(model="cnn4")
    ),
    Case(
        "resume-config-damaged",
        RESUME,
        2,
        "config.json: damaged file",
        write("{run}/config.json", "{"),
    ),
    Case(
        "resume-data-moved",
        ["train", "--resume", "{moved}"],
        2,
        "which is no longer there: pass --data",
    ),
    # reading runs back
    Case("evaluate-missing", ["evaluate", "{tmp}/nowhere"], 2, "no such run folder"),
    Case("evaluate-file", ["evaluate", "{file}"], 2, "a_file: not a readable checkpoint"),
    Case("evaluate-not-run", ["evaluate", "{empty}"], 2, "not a run folder (no config.json)"),
    Case(
        "evaluate-no-last",
        ["evaluate", "{run}"],
        2,
        "has no checkpoint last.pt",
        remove("{run}/last.pt"),
    ),
    Case(
        "evaluate-no-best",
        ["evaluate", "{run}", "--checkpoint", "best.pt"],
        2,
        "no checkpoint best.pt (it has last.pt)",
        remove("{run}/best.pt"),
    ),
    Case("evaluate-tta", ["evaluate", "{run}", "--tta", "spin"], 2, "spin"),
    Case("evaluate-batch", ["evaluate", "{run}", "--batch-size", "0"], 2, "--batch-size >= 1"),
    Case("evaluate-data-moved", ["evaluate", "{moved}"], 2, "its config.json) is no longer there"),
    Case(
        "evaluate-bad-class-name",
        ["evaluate", "{run}", "--data", "{badname}"],
        2,
        "is not valid UTF-8",
    ),
    Case(
        "evaluate-empty-checkpoint",
        ["evaluate", "{run}"],
        2,
        "last.pt: not a readable checkpoint (empty or truncated file)",
        write("{run}/last.pt", b""),
    ),
    Case(
        "evaluate-objects",
        ["evaluate", "{run}"],
        2,
        "holds a Python object (pathlib.PosixPath)",
        pickled_object,
    ),
    Case(
        "evaluate-out-dir-file",
        ["evaluate", "{run}", "--out-dir", "{file}"],
        2,
        "a_file: it is a file, not a folder",
    ),
    Case(
        "preview-save-to-file",
        ["preview", "--data", "{npz}", "--save-to-dir", "{file}/x", "--images", "2"],
        2,
        "a_file is a file, not a folder",
    ),
    Case(
        "preview-nan",
        ["preview", "--data", "{npz}", "--rotation-range", "nan", "--out", "{tmp}/p.png"],
        2,
        "--rotation-range nan: must be a finite number",
    ),
    Case("export-format", ["export", "{run}", "--format", "tflite"], 2, "unknown export format"),
    Case(
        "export-nan",
        ["export", "{run}", "--format", "torchscript"],
        2,
        "holds NaN or infinity",
        nan_weights,
    ),
    Case(
        "export-out-folder",
        ["export", "{run}", "--format", "torchscript", "--out", "{empty}"],
        2,
        "it is a folder",
    ),
    Case(
        "export-out-under-file",
        ["export", "{run}", "--format", "torchscript", "--out", "{file}/m.pt"],
        2,
        "is a file, not a folder",
    ),
    Case(
        "report-config",
        ["report", "{run}"],
        2,
        "config.json: damaged file",
        write("{run}/config.json", "[1,"),
    ),
    Case(
        "report-metrics",
        ["report", "{run}"],
        2,
        "metrics.json: damaged file",
        write("{run}/metrics.json", b"\xff\xfe"),
    ),
    Case("report-out-folder", ["report", "{run}", "--out", "{empty}"], 2, "it is a folder"),
    Case(
        "compare-config",
        ["compare", "{run}"],
        2,
        "config.json: damaged file",
        write("{run}/config.json", ""),
    ),
    Case(
        "compare-metrics",
        ["compare", "{run}"],
        2,
        "metrics.json: damaged file",
        write("{run}/metrics.json", "[]"),
    ),
    Case(
        "compare-history",
        ["compare", "{run}"],
        2,
        "history.csv: damaged file",
        write("{run}/history.csv", b"epoch\n\xff\n"),
    ),
    Case("compare-out-suffix", ["compare", "{run}", "--out", "{tmp}/c.txt"], 2, "use a .png"),
    Case(
        "compare-out-folder",
        ["compare", "{run}", "--out", "{tmp}/x.png"],
        2,
        "x.png: it is a folder",
        lambda ctx: (ctx["tmp"] / "x.png").mkdir(),
    ),
    Case("compare-missing", ["compare", "{tmp}/nowhere"], 2, "no such run folder"),
    Case("runs-missing", ["runs", "{tmp}/nowhere"], 2, "no such folder"),
    Case("runs-damaged", ["runs", "{runs}"], 0, "", write("runs/r/config.json", "{")),
    Case("models-size", ["models", "--input-size", "0"], 2, "--input-size takes S or H W"),
    Case("predict-missing", ["predict", "{run}", "{tmp}/nowhere"], 2, "nowhere"),
    # the Python API
    Case(
        "api-data-list",
        lambda c: augtrain.train(data=[1, 2], runs_dir=c.paths["runs"]),
        2,
        "data= takes",
    ),
    Case(
        "api-data-none",
        lambda c: augtrain.train(data=None, runs_dir=c.paths["runs"]),
        2,
        "got NoneType",
    ),
    Case(
        "api-augment-int", lambda c: augtrain.train(augment=123), 2, "augment= takes a preset name"
    ),
    Case(
        "api-unknown",
        lambda c: augtrain.train(epoch=3),
        2,
        "unknown keyword 'epoch'; did you mean 'epochs'?",
    ),
    Case("api-unknown-far", lambda c: augtrain.train(zzz=1), 2, "unknown keyword 'zzz'"),
    Case(
        "api-config-str", lambda c: augtrain.train("cifar10"), 2, "takes a TrainConfig or keywords"
    ),
    Case(
        "api-lr-nan", lambda c: augtrain.train(lr=math.nan), 2, "--lr nan: must be a finite number"
    ),
    Case("api-seed-float", lambda c: augtrain.train(seed=1.5), 2, "--seed 1.5: must be an integer"),
    Case(
        "api-epochs-bool",
        lambda c: augtrain.train(epochs=True),
        2,
        "--epochs True: must be an integer",
    ),
    Case(
        "api-augment-nan",
        lambda c: augtrain.train(augment=[{"op": "RandomAffine", "rotation_range": math.nan}]),
        2,
        "rotation_range must be a finite number",
    ),
    Case(
        "api-augment-op",
        lambda c: augtrain.train(data=c.paths["npz"], augment=[{"op": "Spin"}]),
        2,
        "Spin",
    ),
    Case(
        "api-model-option-nan", lambda c: augtrain.train(model_options={"w": math.inf}), 2, "finite"
    ),
    Case(
        "api-network",
        lambda c: augtrain.train(network="net"),
        2,
        "network= takes a torch.nn.Module",
    ),
    Case(
        "api-resume-unknown",
        lambda c: augtrain.train(resume=c.paths["run"], epoch=3),
        2,
        "--resume: unknown keyword 'epoch'",
    ),
    Case(
        "api-target-size", lambda c: augtrain.train(target_size=(8,)), 2, "--target-size takes two"
    ),
    Case("api-classes-str", lambda c: augtrain.train(classes="cat"), 2, "--classes takes a list"),
]


def test_the_matrix_is_large_and_unique() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below `folder`, with size and modification time."""
    if not folder.exists():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = (st.st_size if p.is_file() else -1, st.st_mtime_ns)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case,
    shared: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    paths = {k: str(v) for k, v in shared.items()}
    paths.update(tmp=str(tmp_path), runs=str(runs), run=str(runs / "r"), moved=str(runs / "m"))
    text = json.dumps(case.call) if isinstance(case.call, list) else ""
    if "{run}" in text or case.setup or callable(case.call) or "{runs}" in text:
        shutil.copytree(shared["run_src"], runs / "r")
    if "{moved}" in text:
        shutil.copytree(shared["moved_src"], runs / "m")
    ctx = Ctx(paths, monkeypatch)
    monkeypatch.chdir(tmp_path)  # compare's default out file and the like land here
    if case.setup:
        case.setup(ctx)
    before = snapshot(runs)
    cache = Path(os.environ.get("AUGTRAIN_CACHE", tmp_path / "cache"))

    if callable(case.call):
        with pytest.raises(AugtrainError) as info:
            case.call(ctx)
        code, err = 2, f"augtrain: error: {info.value}\n"
    else:
        code = main([a.format(**paths) for a in case.call])
        err = capsys.readouterr().err
    monkeypatch.undo()  # before looking at files: os.mkdir and friends are real again

    assert code == case.code, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) <= 1 and (case.code == 0 or len(lines) == 1), err
    assert case.message in err, err
    after = snapshot(runs)
    if case.changes_runs:
        added = sorted(set(after) - set(before))
        assert any(p.endswith("last.pt") for p in added), added
    else:
        assert after == before, "the runs folder changed"
    assert not list(cache.rglob("*.tmp")) if cache.is_dir() else True
    assert not [p for p in runs.rglob("*") if p.name.endswith(".tmp") or p.name == ".claim"]


# ------------------------------------------------------------------ real processes
ROOT = Path(__file__).resolve().parent.parent


def augtrain_process(args: list[str], cwd: Path, **kw: Any) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "augtrain", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_two_runs_one_name_exactly_one_wins(shared: dict[str, Path], tmp_path: Path) -> None:
    args = ["train", "--data", str(shared["npz"]), "--runs-dir", str(tmp_path / "runs")]
    args += ["--epochs", "1", "--verbose", "0", "--model", "lenet5"]
    procs = [augtrain_process([*args, "--name", "same"], tmp_path) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "Traceback" not in loser and len(loser.strip().splitlines()) == 1, loser
    assert "already exists" in loser
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["same"]
    assert (tmp_path / "runs" / "same" / "last.pt").exists()
    assert not (tmp_path / "runs" / "same" / ".claim").exists()


def test_default_names_in_one_second_get_two_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from augtrain.training import run as run_module
    from augtrain.training.config import TrainConfig

    monkeypatch.setattr(run_module.time, "strftime", lambda fmt: "20260101-120000")
    config = TrainConfig(runs_dir=str(tmp_path), model="cnn4")
    names = [run_module.claim_run_dir(config).path.name for _ in range(3)]
    assert names == ["cnn4-20260101-120000", "cnn4-20260101-120000-2", "cnn4-20260101-120000-3"]


def test_two_runs_without_name_get_two_folders(shared: dict[str, Path], tmp_path: Path) -> None:
    args = ["train", "--data", str(shared["npz"]), "--runs-dir", str(tmp_path / "runs")]
    args += ["--epochs", "1", "--verbose", "0", "--model", "lenet5"]
    procs = [augtrain_process(args, tmp_path) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert [code for code, _ in results] == [0, 0], results
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all((f / "last.pt").exists() for f in folders)


def test_overwrite_keeps_the_old_run_until_the_new_one_saves(
    shared: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(shared["run_src"], runs / "r")
    old = (runs / "r" / "last.pt").read_bytes()
    base = ["train", "--data", str(shared["npz"]), "--runs-dir", str(runs), "--name", "r"]
    # fails after set-up (no test split to validate on): the old run is put back whole
    assert (
        main([*base, "--overwrite", "--data", str(shared["notest"]), "--validation", "test"]) == 2
    )
    assert (runs / "r" / "last.pt").read_bytes() == old
    assert sorted(p.name for p in runs.iterdir()) == ["r"]
    assert main([*base, "--overwrite", "--epochs", "1", "--verbose", "0"]) == 0
    assert (runs / "r" / "last.pt").read_bytes() != old
    assert sorted(p.name for p in runs.iterdir()) == ["r"]  # no aside copy left
    config = json.loads((runs / "r" / "config.json").read_text())
    assert config["config"]["epochs"] == 1 and config["model"]["name"] == "speednet"


def test_resume_applies_config_json_edits(
    shared: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(shared["run_src"], runs / "r")
    edit = runs / "r" / "config.json"
    cfg = json.loads(edit.read_text())
    cfg["config"]["epochs"] = 3
    edit.write_text(json.dumps(cfg))
    assert main(["train", "--resume", str(runs / "r")]) == 0
    err = capsys.readouterr().err
    assert "applying config.json's epochs=3 (was 2)" in err
    history = (runs / "r" / "history.csv").read_text().splitlines()
    assert len(history) == 4  # header + 3 epochs
    assert json.loads(edit.read_text())["config"]["epochs"] == 3
    ckpt = torch.load(runs / "r" / "last.pt", weights_only=True)
    assert ckpt["config"]["epochs"] == 3 and ckpt["trainer"]["epoch"] == 3


def test_logistic_run_is_listed_as_logistic(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.normal(size=(40, 4)) + y[:, None] * 3
    np.savez(tmp_path / "f.npz", x=x, y=y, x_test=x[:10], y_test=y[:10])
    runs = tmp_path / "runs"
    argv = ["train", "--head", "logistic", "--features", str(tmp_path / "f.npz")]
    assert main([*argv, "--runs-dir", str(runs), "--name", "lr", "--verbose", "0"]) == 0
    capsys.readouterr()
    assert main(["runs", str(runs)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:4] == ["lr", "logistic", "-", "1"], row


def test_models_list_no_stale_parameter_counts(capsys: pytest.CaptureFixture) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    googlenet = next(line for line in out.splitlines() if line.startswith("googlenet "))
    assert "5,983,402" in googlenet and "7M" not in googlenet


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_start_up_is_one_line(
    shared: dict[str, Path], tmp_path: Path, signum: int, code: int
) -> None:
    """A signal before training stops with one line and the shell's exit code for it
    (128 + the signal), and leaves no run folder. The start-up is held where it reads
    --init-from: a FIFO without a writer, whose open() waits (Linux: in wait_for_partner)."""
    fifo = tmp_path / "weights.pt"
    os.mkfifo(fifo)
    runs = tmp_path / "runs"
    argv = ["train", "--data", str(shared["npz"]), "--runs-dir", str(runs), "--verbose", "0"]
    proc = augtrain_process([*argv, "--init-from", str(fifo)], tmp_path)
    try:
        wait_for_fifo_open(proc, 120)
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == code, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "augtrain train: interrupted" in err
    assert not runs.exists() or not list(runs.iterdir())


def wait_for_fifo_open(proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if Path(f"/proc/{proc.pid}/wchan").read_text().strip() == "wait_for_partner":
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the run never opened --init-from")
