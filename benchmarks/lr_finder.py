"""Does the learning-rate finder's suggestion train well? cnn4 on a subset of the JPEG
CIFAR-10: the range test (`augtrain.lr_find`, its default rule) on the recipe, then the same
short schedule trained at each lr of a fixed grid and at the suggestion, test accuracy on
the full 10,000 test images. It passes when the grid lr nearest to the suggestion (on a
log scale) is one of the two best of the grid.

    python benchmarks/lr_finder.py            # 5,000 train images, 2 epochs, 3 trainings at once
    python benchmarks/lr_finder.py --train-images 10000 --epochs 3 --grid 1e-4 1e-3 1e-2 1e-1
    python benchmarks/lr_finder.py --reuse-grid benchmarks/results/lr_finder_adam.json

Recipe: cnn4, Adam (--optimizer, --momentum, --nesterov, --batch-size), batch 64, constant
lr, crop-flip, seed 0, no per-epoch validation; the training subset is the first N of a
fixed random permutation (seed 0) of the 50,000 training images. The grid's trainings run side by side (--jobs, 1 torch thread each) while
the finder runs, then the suggestion's: the accuracies compare, the wall times do not.
--reuse-grid RECORD takes the grid's accuracies from an earlier record of the same recipe
(they are deterministic: seeded, on the CPU, one thread each) and trains only the
suggestion. --fastai-cost times fastai's range (1e-7 -> 10 over 100 steps) beside the
default one, both before the suggestion trains. Writes benchmarks/results/lr_finder.json.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
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
    batch_size=64,
    schedule="constant",
    augment="crop-flip",
    validation="none",  # the test split is evaluated once, at the end
    seed=0,
    device="cpu",
)


def subset(data, n: int, n_test: int | None = None) -> dict:
    keep = np.random.default_rng(0).permutation(len(data.train.y))[:n]
    test = np.sort(np.random.default_rng(1).permutation(len(data.test.y))[:n_test])
    return {
        "x": data.train.x[keep],
        "y": data.train.y[keep],
        "x_test": data.test.x[test],
        "y_test": data.test.y[test],
        "classes": data.classes,
    }


def train_at(
    lr: float, suggested: bool, args: argparse.Namespace, runs: Path, recipe: dict
) -> dict:
    """One training at `lr` (in a worker process: its own copy of the data)."""
    RECIPE.update(recipe)
    torch.set_num_threads(args.threads)
    data = subset(load_data(args.data), args.train_images, args.test_images)
    t0 = time.perf_counter()
    run = augtrain.train(
        data=data,
        lr=lr,
        epochs=args.epochs,
        runs_dir=str(runs),
        name=f"{'suggested' if suggested else 'grid'}-lr-{lr:.3g}",
        verbose=0,
        **RECIPE,
    )
    seconds = time.perf_counter() - t0
    print(f"lr {lr:.3g}: test accuracy {run.metrics['accuracy']:.4f} ({seconds:.0f} s)", flush=True)
    return {
        "lr": lr,
        "suggested": suggested,
        "test_accuracy": run.metrics["accuracy"],
        "train_loss": run.history[-1]["loss"],
        "seconds": seconds,
    }


def reused_grid(path: str, grid: list[float], recipe: dict) -> tuple[list[dict], dict]:
    """The grid's rows from an earlier record of the same recipe, and where they came from."""
    record_ = json.loads(Path(path).read_text())
    old = record_.get("figures", record_)  # older records kept their figures at the top
    defaults = {"momentum": 0.0, "nesterov": False, "test_images": None, "threads": 1}
    differ = {
        k: (old["recipe"].get(k, defaults.get(k)), v)
        for k, v in recipe.items()
        if old["recipe"].get(k, defaults.get(k)) != v
    }
    if differ:
        raise SystemExit(f"--reuse-grid {path}: another recipe (old, new): {differ}")
    rows = []
    for lr in grid:
        found = [r for r in old["runs"] if not r["suggested"] and math.isclose(r["lr"], lr)]
        if not found:
            raise SystemExit(f"--reuse-grid {path}: no run at lr {lr:g}")
        rows.append({**found[0], "reused": True})
    source = {"file": Path(path).name, "commit": record_.get("commit"), "date": record_.get("date")}
    return rows, source


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--train-images", type=int, default=5_000)
    ap.add_argument("--test-images", type=int, help="default: all 10,000")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--grid", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--jobs", type=int, default=3, help="trainings run side by side")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training")
    ap.add_argument(
        "--fastai-cost",
        action="store_true",
        help="also time fastai's range test (1e-7 -> 10 over 100 steps, valley) on the recipe",
    )
    ap.add_argument(
        "--reuse-grid",
        metavar="RECORD",
        help="take the grid's accuracies from this earlier record of the same recipe",
    )
    ap.add_argument("--out", default=str(HERE / "results" / "lr_finder.json"))
    args = ap.parse_args()
    RECIPE.update(
        optimizer=args.optimizer,
        momentum=args.momentum,
        nesterov=args.nesterov,
        batch_size=args.batch_size,
    )
    torch.set_num_threads(args.threads)
    started = time.strftime("%H:%M")
    runs = Path(tempfile.mkdtemp(prefix="lr-finder-runs-"))
    pool = ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"))
    # the grid trains while the finder runs here: neither depends on the other
    recipe = {
        **RECIPE,
        "epochs": args.epochs,
        "train_images": args.train_images,
        "test_images": args.test_images,
        "threads": args.threads,
    }
    reused, grid_source = [], None
    if args.reuse_grid:
        reused, grid_source = reused_grid(args.reuse_grid, args.grid, recipe)
        grid_jobs = []
    else:
        grid_jobs = [pool.submit(train_at, lr, False, args, runs, RECIPE) for lr in args.grid]

    data = subset(load_data(args.data), args.train_images, args.test_images)
    t0 = time.perf_counter()
    result = augtrain.lr_find(data=data, verbose=0, **RECIPE)
    finder_seconds = time.perf_counter() - t0
    result.save(runs / "lr_find")
    suggestion = float(result.suggestion)
    others = result.other_rules()
    print(f"{result.describe()} in {finder_seconds:.0f} s; other rules: {others}", flush=True)
    fastai = None
    if args.fastai_cost:  # before the suggestion trains, so the two tests time alike
        t0 = time.perf_counter()
        old = augtrain.lr_find(
            data=data, verbose=0, steps=100, start_lr=1e-7, end_lr=10.0, rule="valley", **RECIPE
        )
        fastai = {
            "seconds": time.perf_counter() - t0,
            "steps_taken": len(old.lrs),
            "suggestion": old.suggestion,
            "other_rules": old.other_rules(),
        }
        print(f"fastai's range: {old.describe()} in {fastai['seconds']:.0f} s", flush=True)
    suggested_job = pool.submit(train_at, suggestion, True, args, runs, RECIPE)
    rows = reused + [job.result() for job in grid_jobs] + [suggested_job.result()]
    pool.shutdown()

    grid = [r for r in rows if not r["suggested"]]
    best_two = sorted(grid, key=lambda r: -r["test_accuracy"])[:2]
    nearest = min(grid, key=lambda r: abs(math.log(r["lr"]) - math.log(suggestion)))
    passed = nearest in best_two
    print(
        f"\n{today()} {started}-{time.strftime('%H:%M')} - {machine()} - cnn4, "
        f"{args.train_images} train images, {args.epochs} epochs, {args.optimizer} "
        f"(momentum {args.momentum}{', nesterov' if args.nesterov else ''}), "
        f"batch {args.batch_size}, constant lr"
    )
    print("| lr | test accuracy | final train loss | wall time |")
    print("|---|---|---|---|")
    for r in rows:
        name = f"**{r['lr']:.3g}** (suggested)" if r["suggested"] else f"{r['lr']:.3g}"
        seconds = "reused" if r.get("reused") else f"{r['seconds']:.0f} s"
        print(f"| {name} | {r['test_accuracy']:.2%} | {r['train_loss']:.3f} | {seconds} |")
    if grid_source:
        print(f"(the grid's rows from {grid_source['file']}, commit {grid_source['commit']})")
    best = ", ".join(f"{r['lr']:.3g}" for r in best_two)
    print(
        f"suggestion {suggestion:.3g}: nearest grid lr {nearest['lr']:.3g}; best two of the "
        f"grid {best}: {'PASS' if passed else 'FAIL'}"
    )
    record(
        path=args.out,
        name="lr_finder",
        figures={
            "recipe": recipe,
            "grid_reused_from": grid_source,
            "finder": {
                "suggestion": suggestion,
                "rule": result.rule,
                "start_lr": result.start_lr,
                "end_lr": result.end_lr,
                "steps_taken": len(result.lrs),
                "steps": result.steps,
                "diverged": result.diverged,
                "seconds": finder_seconds,
                "other_rules": others,
                "curve": [list(p) for p in zip(result.lrs, result.smoothed)],
                "losses": result.losses,  # each step's raw loss
            },
            "fastai_range_test": fastai,
            "runs": rows,
            "nearest_grid_lr": nearest["lr"],
            "best_two": [r["lr"] for r in best_two],
            "passed": passed,
        },
    )
    print(f"wrote {args.out}; runs in {runs}")


if __name__ == "__main__":
    main()
