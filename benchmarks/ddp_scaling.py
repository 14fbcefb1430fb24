"""DDP scaling: training images/s of 2 gloo processes (torchrun, DDP) against 1 process,
on the CPU cores of this machine; cnn4 on synthetic 32x32x3 data.

    flock /tmp/augtrain-bench.lock python benchmarks/ddp_scaling.py [--images 8192] [--epochs 4] [--repeats 2]

Each configuration is a real `augtrain train` run (1 process; or `--gpus 2 --device cpu`,
which starts torchrun with 2 gloo processes) with the same global batch, crop-flip
augmentation, no per-epoch validation. Images/s is the run's own `images_per_s` of the
epochs after the first (the first pays for warm-up), median over the runs (the
configurations alternate, so machine noise falls on all alike); for 2 processes it is
global (the whole dataset over rank 0's epoch wall time). Threads: 1 process uses all
cores; 2 processes get cores / 2 threads each; a 1-process, cores/2-thread run shows what
one rank alone does.

    python benchmarks/ddp_scaling.py --wrapper [--model resnet18] [--device cuda] [--json PATH]

measures instead what augtrain's distributed path costs on one device: the same run,
in this process, plain against wrapped as one rank of a DDP job (a process group of
world size 1: NCCL on a GPU, gloo on the CPU; every step then pays DDP's gradient
all-reduce and augtrain's per-batch stop agreement), alternating, after a warm-up run
of each. `augtrain train --gpus 1` cannot show this: one process trains unwrapped.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, record, run_cli, today


def images_per_s(run_dir: Path) -> list[float]:
    with open(run_dir / "history.csv") as f:
        return [float(row["images_per_s"]) for row in csv.DictReader(f)]


def one_rank_ddp(train, *args, **kwargs):
    """`train(*args, **kwargs)` as rank 0 of a 1-process DDP job: augtrain's
    `distributed.init` is swapped, for this call, for one that joins a world-size-1
    process group (an in-memory store: no port, no launcher) and says it is distributed."""
    import torch
    import torch.distributed as dist

    from augtrain.training import distributed

    class OneRank(distributed.DistInfo):
        @property
        def enabled(self) -> bool:
            return True

    def init(device: torch.device) -> distributed.DistInfo:
        if device.type == "cuda":
            torch.cuda.set_device(device.index or 0)  # set_device refuses a bare "cuda"
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
        return OneRank()

    plain_init, distributed.init = distributed.init, init
    try:
        return train(*args, **kwargs)
    finally:
        distributed.init = plain_init
        distributed.cleanup()


def wrapper_overhead(args: argparse.Namespace) -> None:
    import torch
    from torch.nn.parallel import DistributedDataParallel as DDP

    import augtrain

    if args.epochs < 2 or args.repeats < 1:
        raise SystemExit("--wrapper needs --epochs >= 2 (the first warms up) and --repeats >= 1")
    device = args.device or ("cuda:0" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    data = {"x": x, "y": rng.integers(0, 10, args.images), "classes": [str(i) for i in range(10)]}
    report = {"model": args.model, "device": device}
    report.update(images=args.images, epochs=args.epochs, batch_size=args.batch_size)
    speeds: dict[str, list[float]] = {"plain": [], "ddp": []}
    walls: dict[str, list[float]] = {"plain": [], "ddp": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = dict(data=data, model=args.model, device=device, epochs=args.epochs)
        settings.update(batch_size=args.batch_size, validation="none", verbose=0, runs_dir=tmp)
        settings.update(augment="crop-flip", save_freq="end")
        first = 1 - args.warmup_rounds  # rounds < 1 warm up (cuDNN autotuning, NCCL start)
        for r in range(first, args.repeats + 1):
            for label in ("plain", "ddp"):
                name = f"{label}-{r}"
                t0 = time.perf_counter()
                if label == "ddp":
                    run = one_rank_ddp(augtrain.train, name=name, **settings)
                else:
                    run = augtrain.train(name=name, **settings)
                wall = time.perf_counter() - t0
                wrapped = isinstance(run.trainer.forward_model, DDP)
                if wrapped != (label == "ddp"):
                    raise SystemExit(f"{name}: the model was {'' if wrapped else 'not '}wrapped")
                if r < 1:
                    continue
                speeds[label] += [h["images_per_s"] for h in run.history[1:]]
                walls[label].append(wall)
                print(f"{name}: {speeds[label][-1]:.0f} images/s, wall {wall:.1f} s", flush=True)
                medians = {k: statistics.median(v) for k, v in speeds.items() if v}
                report.update(images_per_s=speeds, median_images_per_s=medians, wall_s=walls)
                if len(medians) == 2:
                    report["ddp_over_plain"] = medians["ddp"] / medians["plain"]
                record("ddp_wrapper", report, args.json)  # a run cut short keeps its figures
    print(
        f"{today()} - {machine()} - {args.model} on {device}, {args.images} synthetic 32x32x3 "
        f"images, batch {args.batch_size}, crop-flip, {args.epochs} epochs x {args.repeats} runs"
    )
    print("| configuration | images/s (median, epochs 2+) | wall s |")
    print("|---|---|---|")
    for label, text in (("plain", "plain (no wrapper)"), ("ddp", "1-process DDP")):
        wall = ", ".join(f"{w:.1f}" for w in walls[label])
        print(f"| {text} | {medians[label]:.0f} | {wall} |")
    print(f"| ratio DDP / plain | {report['ddp_over_plain']:.3f} | |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8192)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each configuration")
    ap.add_argument("--wrapper", action="store_true", help="1-process DDP against plain")
    ap.add_argument("--model", default="resnet18", help="--wrapper: the model")
    ap.add_argument("--device", help="--wrapper: the device (default cuda when present)")
    ap.add_argument("--json", help="the JSON record's path (default .bench/ddp_*.json)")
    ap.add_argument("--warmup-rounds", type=int, default=1, help="--wrapper: untimed rounds")
    args = ap.parse_args()
    if args.wrapper:
        return wrapper_overhead(args)
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
    figures = {"images": args.images, "epochs": args.epochs, "batch_size": args.batch_size}
    figures.update(repeats=args.repeats, load_average=os.getloadavg())
    figures["rows"] = [
        {"configuration": label, "threads": threads, "images_per_s": per_epoch, "wall_s": wall}
        for (label, threads, _), per_epoch, wall in zip(configs, speeds, walls)
    ]
    figures.update(median_images_per_s=medians, two_over_one=medians[2] / medians[0])
    figures["two_over_one_half_threads"] = medians[2] / medians[1]
    print(f"record: {record('ddp_scaling', figures, args.json)}")


def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
