"""What model EMA and RandAugment add to one short recipe, and what gradient accumulation
costs in time: cnn4 on a subset of the JPEG CIFAR-10, all runs in one process, one after
the other, test accuracy on the full 10,000 test images.

    python benchmarks/staples_effect.py            # 10,000 train images, 2 epochs

Recipe: cnn4, Adam lr 1e-3 (constant), batch 64, crop-flip, seed 0, no per-epoch
validation; the training subset is the first N of a fixed random permutation (seed 0).
- EMA: the recipe with --ema DECAY (0.99: a horizon of ~100 of the run's ~310 steps);
  metrics.json gives the EMA's accuracy and the trained weights' beside it, and the plain
  recipe is trained too (its accuracy should equal the latter: the EMA never touches
  training).
- RandAugment: --augment randaugment (crop-flip, RandAugment N=2 M=9, 16x16 cutout: the
  paper's CIFAR-10 pipeline) against the recipe's crop-flip.
- Accumulation: time per epoch of --batch-size 64 --accumulate 4 against --batch-size 256
  (the same update to float rounding, tests/test_staples.py), alternated A B B A, 1 epoch
  each on the first --timing-images of the subset, lr 1e-3.
Writes benchmarks/results/staples_effect.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import CIFAR_JPEG, machine, today, write_json

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--train-images", type=int, default=10_000)
    ap.add_argument("--test-images", type=int, help="default: all 10,000")
    ap.add_argument("--timing-images", type=int, default=5_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--out", default=str(HERE / "results" / "staples_effect.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    started = time.strftime("%H:%M")
    full = load_data(args.data)
    data = subset(full, args.train_images, args.test_images)
    runs = Path(tempfile.mkdtemp(prefix="staples-runs-"))

    def train(name: str, data: dict = data, **changes) -> tuple[augtrain.Run, float]:
        t0 = time.perf_counter()
        opts = {**RECIPE, "epochs": args.epochs, **changes}
        run = augtrain.train(data=data, runs_dir=str(runs), name=name, **opts)
        seconds = time.perf_counter() - t0
        print(f"{name}: test accuracy {run.metrics['accuracy']:.4f} ({seconds:.0f} s)", flush=True)
        return run, seconds

    plain, plain_s = train("recipe")
    ema, ema_s = train("ema", ema=args.ema)
    rand, rand_s = train("randaugment", augment="randaugment")
    effects = {
        "recipe": {"test_accuracy": plain.metrics["accuracy"], "seconds": plain_s},
        "ema": {
            "decay": args.ema,
            "test_accuracy_ema": ema.metrics["accuracy"],
            "test_accuracy_trained_weights": ema.metrics["accuracy_without_ema"],
            "seconds": ema_s,
        },
        "randaugment": {"test_accuracy": rand.metrics["accuracy"], "seconds": rand_s},
    }

    timing_data = subset(full, args.timing_images, 1000)  # a short test pass: time is the point
    timings: dict[str, list[float]] = {"accumulate": [], "big_batch": []}
    accuracy: dict[str, list[float]] = {"accumulate": [], "big_batch": []}
    settings = {
        "accumulate": dict(batch_size=64, accumulate=4),
        "big_batch": dict(batch_size=256),
    }
    for i, which in enumerate(["accumulate", "big_batch", "big_batch", "accumulate"]):
        run, _ = train(f"{which}-{i}", timing_data, epochs=1, **settings[which])
        timings[which].append(run.history[-1]["seconds"])
        accuracy[which].append(run.metrics["accuracy"])

    print(
        f"\n{today()} {started}-{time.strftime('%H:%M')} - {machine()} (2 cores shared with "
        f"other work) - cnn4, {args.train_images} train images, {args.epochs} epochs"
    )
    print("| run | test accuracy | against the recipe | wall time |")
    print("|---|---|---|---|")
    base = plain.metrics["accuracy"]
    print(f"| recipe (crop-flip) | {base:.2%} | | {plain_s:.0f} s |")
    print(
        f"| + EMA {args.ema} (EMA weights) | {ema.metrics['accuracy']:.2%} | "
        f"{(ema.metrics['accuracy'] - base) * 100:+.2f} pts | {ema_s:.0f} s |"
    )
    print(
        f"| + EMA {args.ema} (its trained weights) | {ema.metrics['accuracy_without_ema']:.2%} | "
        f"{(ema.metrics['accuracy_without_ema'] - base) * 100:+.2f} pts | |"
    )
    print(
        f"| randaugment instead of crop-flip | {rand.metrics['accuracy']:.2%} | "
        f"{(rand.metrics['accuracy'] - base) * 100:+.2f} pts | {rand_s:.0f} s |"
    )
    print(f"\nepoch seconds, {args.timing_images} images (A B B A):")
    for which, values in timings.items():
        print(f"  {which}: {', '.join(f'{v:.1f}' for v in values)}")
    ratio = statistics.median(timings["accumulate"]) / statistics.median(timings["big_batch"])
    print(f"  accumulate 4 x 64 / batch 256: {ratio:.2f}x")
    write_json(
        args.out,
        {
            "benchmark": "staples_effect",
            "date": today(),
            "machine": machine(),
            "shared_cores": True,
            "commit": _commit(),
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


def _commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    except OSError:
        return None


if __name__ == "__main__":
    main()
