"""What model EMA and RandAugment add to one short recipe, and what gradient accumulation
costs in time: cnn4 on a subset of the JPEG CIFAR-10, all runs in one process, one after
the other, test accuracy on the full 10,000 test images.

    python benchmarks/staples_effect.py            # 5,000 train images, 2 epochs

Recipe: cnn4, Adam lr 1e-3 (constant), batch 64, crop-flip, seed 0, no per-epoch
validation; the training subset is the first N of a fixed random permutation (seed 0).
The three accuracy trainings run side by side (--jobs, 1 torch thread each).
- EMA: the recipe with --ema DECAY (0.99: a horizon of ~100 of the run's ~160 steps);
  metrics.json gives the EMA's accuracy and the trained weights' beside it, and the plain
  recipe is trained too (its accuracy should equal the latter: the EMA never touches
  training).
- RandAugment: --augment randaugment (crop-flip, RandAugment N=2 M=9, 16x16 cutout: the
  paper's CIFAR-10 pipeline) against the recipe's crop-flip.
- Accumulation: time per epoch of --batch-size 64 --accumulate 4 against --batch-size 256
  (the same update to float rounding, tests/test_staples.py), alternated A B B A, 1 epoch
  each on --timing-images images, 2 torch threads, after the accuracy trainings.
Writes benchmarks/results/staples_effect.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from _common import CIFAR_JPEG, machine, record, today

import augtrain
from augtrain.data import load_data

HERE = Path(__file__).resolve().parent
RECIPE = dict(
    model="cnn4",
    optimizer="adam",
    lr=1e-3,
    batch_size=64,
    schedule="constant",
    augment="crop-flip",
    validation="none",
    seed=0,
    device="cpu",
    verbose=0,
)


def subset(data, n: int, n_test: int | None = None) -> dict:
    keep = np.random.default_rng(0).permutation(len(data.train.y))[:n]
    test = np.random.default_rng(1).permutation(len(data.test.y))[:n_test]  # folders are by class
    return {
        "x": data.train.x[keep],
        "y": data.train.y[keep],
        "x_test": data.test.x[np.sort(test)],
        "y_test": data.test.y[np.sort(test)],
        "classes": data.classes,
    }


def train(name: str, data: dict, runs: Path, threads: int, **changes) -> dict:
    """One training of the recipe with `changes`; its metrics, history and wall time."""
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    run = augtrain.train(data=data, runs_dir=str(runs), name=name, **{**RECIPE, **changes})
    seconds = time.perf_counter() - t0
    print(f"{name}: test accuracy {run.metrics['accuracy']:.4f} ({seconds:.0f} s)", flush=True)
    return {"metrics": run.metrics, "history": run.history, "seconds": seconds}


def train_subset(name: str, args: argparse.Namespace, runs: Path, **changes) -> dict:
    """`train` in a worker process, on its own copy of the subset."""
    data = subset(load_data(args.data), args.train_images, args.test_images)
    return train(name, data, runs, args.threads, epochs=args.epochs, **changes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--train-images", type=int, default=5_000)
    ap.add_argument("--test-images", type=int, help="default: all 10,000")
    ap.add_argument("--timing-images", type=int, default=2_500)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--jobs", type=int, default=3, help="accuracy trainings run side by side")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training")
    ap.add_argument("--out", default=str(HERE / "results" / "staples_effect.json"))
    args = ap.parse_args()
    started = time.strftime("%H:%M")
    runs = Path(tempfile.mkdtemp(prefix="staples-runs-"))
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {
            "recipe": pool.submit(train_subset, "recipe", args, runs),
            "ema": pool.submit(train_subset, "ema", args, runs, ema=args.ema),
            "randaugment": pool.submit(
                train_subset, "randaugment", args, runs, augment="randaugment"
            ),
        }
        done = {name: job.result() for name, job in jobs.items()}
    plain, ema, rand = done["recipe"], done["ema"], done["randaugment"]
    plain_s, ema_s, rand_s = plain["seconds"], ema["seconds"], rand["seconds"]
    effects = {
        "recipe": {"test_accuracy": plain["metrics"]["accuracy"], "seconds": plain_s},
        "ema": {
            "decay": args.ema,
            "test_accuracy_ema": ema["metrics"]["accuracy"],
            "test_accuracy_trained_weights": ema["metrics"]["accuracy_without_ema"],
            "seconds": ema_s,
        },
        "randaugment": {"test_accuracy": rand["metrics"]["accuracy"], "seconds": rand_s},
    }

    # the timings: one after the other in this process, after the others have finished
    torch.set_num_threads(2)
    full = load_data(args.data)
    timing_data = subset(full, args.timing_images, 1000)  # a short test pass: time is the point
    timings: dict[str, list[float]] = {"accumulate": [], "big_batch": []}
    accuracy: dict[str, list[float]] = {"accumulate": [], "big_batch": []}
    settings = {
        "accumulate": dict(batch_size=64, accumulate=4),
        "big_batch": dict(batch_size=256),
    }
    for i, which in enumerate(["accumulate", "big_batch", "big_batch", "accumulate"]):
        run = train(f"{which}-{i}", timing_data, runs, 2, epochs=1, **settings[which])
        timings[which].append(run["history"][-1]["seconds"])
        accuracy[which].append(run["metrics"]["accuracy"])

    print(
        f"\n{today()} {started}-{time.strftime('%H:%M')} - {machine()} (2 cores shared with "
        f"other work) - cnn4, {args.train_images} train images, {args.epochs} epochs"
    )
    print("| run | test accuracy | against the recipe | wall time |")
    print("|---|---|---|---|")
    base = plain["metrics"]["accuracy"]
    print(f"| recipe (crop-flip) | {base:.2%} | | {plain_s:.0f} s |")
    print(
        f"| + EMA {args.ema} (EMA weights) | {ema['metrics']['accuracy']:.2%} | "
        f"{(ema['metrics']['accuracy'] - base) * 100:+.2f} pts | {ema_s:.0f} s |"
    )
    print(
        f"| + EMA {args.ema} (its trained weights) | {ema['metrics']['accuracy_without_ema']:.2%} | "
        f"{(ema['metrics']['accuracy_without_ema'] - base) * 100:+.2f} pts | |"
    )
    print(
        f"| randaugment instead of crop-flip | {rand['metrics']['accuracy']:.2%} | "
        f"{(rand['metrics']['accuracy'] - base) * 100:+.2f} pts | {rand_s:.0f} s |"
    )
    print(f"\nepoch seconds, {args.timing_images} images (A B B A):")
    for which, values in timings.items():
        print(f"  {which}: {', '.join(f'{v:.1f}' for v in values)}")
    ratio = statistics.median(timings["accumulate"]) / statistics.median(timings["big_batch"])
    print(f"  accumulate 4 x 64 / batch 256: {ratio:.2f}x")
    record(
        path=args.out,
        name="staples_effect",
        figures={
            "shared_cores": True,
            "recipe": {**RECIPE, "epochs": args.epochs, "train_images": args.train_images},
            "effects": effects,
            "accumulation": {
                "images": args.timing_images,
                "epoch_seconds": timings,
                "test_accuracy_on_1000": accuracy,
                "ratio_accumulate_over_big_batch": ratio,
            },
        },
    )
    print(f"wrote {args.out}; runs in {runs}")


if __name__ == "__main__":
    main()
