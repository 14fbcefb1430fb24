"""Issue 6, scaling: training images/s of 2 gloo processes (torchrun, DDP) against 1
process, on the CPU cores of this machine; cnn4 on synthetic 32x32x3 data.

    flock /tmp/augtrain-bench.lock python benchmarks/ddp_scaling.py [--images 8192] [--epochs 4] [--repeats 2]

Each configuration is a real `augtrain train` run (1 process; or `--gpus 2 --device cpu`,
which starts torchrun with 2 gloo processes) with the same global batch, crop-flip
augmentation, no per-epoch validation. Images/s is the run's own `images_per_s` of the
epochs after the first (the first pays for warm-up), median over the runs (the
configurations alternate, so machine noise falls on all alike); for 2 processes it is
global (the whole dataset over rank 0's epoch wall time). Threads: 1 process uses all
cores; 2 processes get cores / 2 threads each; a 1-process, cores/2-thread run shows what
one rank alone does.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
from _common import machine, run_cli, today


def images_per_s(run_dir: Path) -> list[float]:
    with open(run_dir / "history.csv") as f:
        return [float(row["images_per_s"]) for row in csv.DictReader(f)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8192)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each configuration")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    configs = [
        ("1 process", cores, []),
        ("1 process", max(1, cores // 2), []),
        ("2 processes (torchrun, gloo, DDP)", max(1, cores // 2), ["--gpus", "2"]),
    ]
    speeds: list[list[float]] = [[] for _ in configs]
    walls: list[list[float]] = [[] for _ in configs]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synthetic.npz"
        np.savez(
            data,
            x=rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8),
            y=rng.integers(0, 10, args.images),
        )
        common = ["train", "--data", str(data), "--model", "cnn4", "--device", "cpu"]
        common += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
        common += ["--validation", "none", "--verbose", "0", "--runs-dir", tmp]
        for r in range(args.repeats):  # configurations alternate: machine noise hits all alike
            for i, (_, threads, extra) in enumerate(configs):
                name = f"r{i}-{r}"
                env = {"OMP_NUM_THREADS": str(threads)}
                wall, _ = run_cli([*common, "--name", name, *extra], env=env)
                speeds[i] += images_per_s(Path(tmp) / name)[1:]
                walls[i].append(wall)

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"{today()} - {machine()} - cnn4, {args.images} synthetic 32x32x3 images, global batch "
        f"{args.batch_size}, crop-flip, {args.epochs} epochs x {args.repeats} runs each "
        f"(load average at the end: {load})"
    )
    print(
        "| configuration | threads per process | images/s (median) | epochs 2+ of each run | wall s |"
    )
    print("|---|---|---|---|---|")
    medians = [statistics.median(s) for s in speeds]
    for (label, threads, _), median, per_epoch, wall in zip(configs, medians, speeds, walls):
        epochs = ", ".join(f"{v:.0f}" for v in per_epoch)
        print(
            f"| {label} | {threads} | {median:.0f} | {epochs} | {', '.join(f'{w:.1f}' for w in wall)} |"
        )
    print(
        f"| ratio 2 processes / 1 process ({cores} threads) | | {medians[2] / medians[0]:.3f} | | |"
    )
    print(f"| ratio 2 processes / 1 process (1 thread) | | {medians[2] / medians[1]:.3f} | | |")
    if not torch_cuda():
        print(
            "| GPU: resnet18 with vs without DDP wrapping | not measured (no GPU in this session) | | | |"
        )


def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
