"""Shared helpers for the benchmark scripts (not part of the package).

Every script prints its table and writes a JSON record beside it with `record(name,
figures)`: .bench/NAME.json (git-ignored) unless a path is given, holding the commit,
machine, date and command line with the figures. Measured figures go in BENCHMARKS.md.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / ".bench"

CIFAR_JPEG = Path(
    os.environ.get("CIFAR_JPEG", Path(__file__).resolve().parents[2] / "shared/data/cifar10-jpeg")
)


# the CPU flags that change a recipe's speed several-fold (BENCHMARKS.md names them per figure)
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """The CPU's model name and which of SPEED_FLAGS it has, as lscpu shows them."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:  # not Linux: the model name alone
        pass
    return model, [f for f in SPEED_FLAGS if f in flags]


def machine() -> str:
    """The GPU's name, or the CPU's model, core count and speed-relevant flags; torch version."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    model, flags = cpu_model_and_flags()
    return (
        f"{os.cpu_count()} CPU cores ({model}; {' '.join(flags) or 'no avx2'}), "
        f"torch {torch.__version__}"
    )


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


def commit() -> str:
    """The checkout's commit, with "-dirty" when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:  # no git here (an installed copy)
        return "unknown"
    return (head + ("-dirty" if dirty else "")) if head else "unknown"


def record(name: str, figures: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write the JSON record of a benchmark run: its figures with the commit, machine, date
    and command that made them, to `path` (default .bench/NAME.json). Call it again as
    figures come in: a run cut short keeps what it measured."""
    path = Path(path) if path else RECORDS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(
        path,
        {
            "benchmark": name,
            "commit": commit(),
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "figures": figures,
        },
    )
    return path


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
