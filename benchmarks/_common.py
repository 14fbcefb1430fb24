"""Shared helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CIFAR_JPEG = Path(
    os.environ.get("CIFAR_JPEG", Path(__file__).resolve().parents[2] / "shared/data/cifar10-jpeg")
)


def machine() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), torch {torch.__version__}"


def run_cli(args: list[str], env: dict | None = None) -> tuple[float, str]:
    """Run `python -m augtrain ARGS`; return (wall seconds, stdout). Raises on failure."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "augtrain", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"augtrain {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def write_json(path: str | Path, obj: object) -> None:
    """Write `obj` as JSON atomically: a reader never sees half a file, even when a time
    limit kills the benchmark mid-write."""
    from augtrain.io import write_json as atomic_write_json

    atomic_write_json(path, obj)


def today() -> str:
    return time.strftime("%Y-%m-%d")


def quick_cnn4_run(data, runs_dir: str) -> Path:
    """A 1-epoch cnn4 run on every 10th image of `data` (a loaded Dataset), for benchmarks
    whose speed does not depend on the weights; returns the run folder."""
    import augtrain

    return augtrain.train(
        data={
            "x": data.train.x[::10],
            "y": data.train.y[::10],
            "x_test": data.test.x[::10],
            "y_test": data.test.y[::10],
            "classes": data.classes,
        },
        model="cnn4",
        epochs=1,
        batch_size=64,
        runs_dir=runs_dir,
        name="speed",
        verbose=0,
    ).path
