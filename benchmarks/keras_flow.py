"""Batches per second of augtrain.keras.ImageDataGenerator against keras-preprocessing
1.1.2, in the same run: flow() on arrays and flow_from_directory on the JPEG tree.

    flock /tmp/augtrain-bench.lock python benchmarks/keras_flow.py [--threads 2] [--repeats 3]

1. flow(x, y): batches per second on the same CIFAR-10 uint8 arrays with the same
   arguments, for the tutorial's generator (rotation 10, shifts 0.1) and the lecture's
   (rotation 30, shear 0.2, zoom 0.2, horizontal flip, rescale 1/255), batch size 32
   (Keras' default) and 128. augtrain is timed over whole epochs, so that its chunked
   augmentation is counted in full; keras-preprocessing over `--seconds`; best of
   `--repeats` interleaved rounds each.
2. flow_from_directory on the CIFAR-10 JPEG tree (50,000 files), lecture generator,
   target_size 32x32, batch 32: augtrain's first epoch with an empty decode cache, a
   first epoch in a new process-like iterator with the disk cache filled, and a later
   epoch (images in memory); keras-preprocessing's rate is the same for every epoch (it
   decodes every file every time), measured over `--seconds`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import CIFAR_JPEG, machine, record, today

GENERATORS = {
    "tutorial": dict(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1),
    "lecture": dict(
        rotation_range=30, shear_range=0.2, zoom_range=0.2, horizontal_flip=True, rescale=1 / 255
    ),
}


def rate_for(it, seconds: float) -> float:
    """Batches per second of next(it) over about `seconds` (after one warm-up batch)."""
    next(it)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(it)
        n += 1
    return n / (time.perf_counter() - start)


def rate_epochs(it, epochs: int) -> float:
    """Batches per second of next(it) over whole epochs (after one warm-up epoch)."""
    for _ in range(len(it)):
        next(it)
    start = time.perf_counter()
    for _ in range(epochs * len(it)):
        next(it)
    return epochs * len(it) / (time.perf_counter() - start)


def bench_flow(x: np.ndarray, y: np.ndarray, seconds: float, repeats: int) -> list[dict]:
    from keras_preprocessing.image import ImageDataGenerator as KerasGenerator

    from augtrain.keras import ImageDataGenerator

    rows = []
    for name, kwargs in GENERATORS.items():
        for bs in (32, 128):
            ours = theirs = 0.0
            for _ in range(repeats):  # interleaved, best of each: other load hits both alike
                it = ImageDataGenerator(**kwargs).flow(x, y, batch_size=bs, seed=0)
                ours = max(ours, rate_epochs(it, 2))
                it = KerasGenerator(**kwargs).flow(x, y, batch_size=bs, seed=0)
                theirs = max(theirs, rate_for(it, seconds))
            print(
                f"| flow, {name} | {bs} | {ours:,.0f} ({ours * bs:,.0f} img/s) | "
                f"{theirs:,.1f} ({theirs * bs:,.0f} img/s) | {ours / theirs:.1f}x |",
                flush=True,
            )
            rows.append(row(f"flow, {name}", bs, ours, theirs))
    return rows


def row(what: str, batch: int, ours: float, theirs: float) -> dict:
    return {
        "what": what,
        "batch": batch,
        "augtrain_batches_per_s": ours,
        "keras_batches_per_s": theirs,
    }


def bench_directory(root: Path, seconds: float, repeats: int) -> list[dict]:
    from keras_preprocessing.image import ImageDataGenerator as KerasGenerator

    from augtrain.keras import ImageDataGenerator

    kwargs = GENERATORS["lecture"]
    kw = dict(target_size=(32, 32), batch_size=32, seed=0)

    def epoch_rate(it) -> float:
        start = time.perf_counter()
        for _ in range(len(it)):
            next(it)
        return len(it) / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as cache:
        os.environ["AUGTRAIN_CACHE"] = cache  # an empty decode cache: the first epoch decodes
        gen = ImageDataGenerator(**kwargs)
        it = gen.flow_from_directory(str(root), **kw)
        cold = epoch_rate(it)
        later = max(epoch_rate(it) for _ in range(repeats))  # images in memory
        again = gen.flow_from_directory(str(root), **kw)  # a new iterator reads the disk cache
        warm = epoch_rate(again)
    keras_it = KerasGenerator(**kwargs).flow_from_directory(str(root), **kw)
    theirs = max(rate_for(keras_it, seconds) for _ in range(repeats))
    n, steps = it.samples, len(it)
    rows = []
    for label, ours in (
        ("first epoch, empty decode cache", cold),
        ("first epoch, disk cache filled", warm),
        (f"later epochs (in memory), best of {repeats}", later),
    ):
        what = f"flow_from_directory {n:,} JPEGs, lecture, {label}"
        print(
            f"| {what} | 32 | {ours:,.0f} "
            f"({ours * 32:,.0f} img/s, epoch {steps / ours:.1f} s) | {theirs:,.1f} "
            f"(epoch {steps / theirs:.0f} s) | {ours / theirs:.1f}x |",
            flush=True,
        )
        rows.append(row(what, 32, ours, theirs))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--images", type=int, default=10000, help="arrays for flow(): first N")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=3, help="flow(): best of N, interleaved")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-directory", action="store_true")
    ap.add_argument("--skip-flow", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from augtrain.data import load_data

    data = load_data(Path(args.data))
    x, y = data.train.x[: args.images], data.train.y[: args.images]
    print(f"{today()}, {machine()}, torch threads {torch.get_num_threads()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"flow on {len(x):,} CIFAR-10 training images (uint8 arrays), seed 0")
    print("| what | batch | augtrain batches/s | keras-preprocessing 1.1.2 batches/s | speed-up |")
    print("|---|---|---|---|---|")
    rows = [] if args.skip_flow else bench_flow(x, y, args.seconds, args.repeats)
    if not args.skip_directory:
        rows += bench_directory(Path(args.data) / "train", args.seconds, args.repeats)
    figures = {"images": len(x), "threads": torch.get_num_threads(), "rows": rows}
    print(f"record: {record('keras_flow', figures)}")


if __name__ == "__main__":
    main()
