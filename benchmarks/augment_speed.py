"""Augmentation throughput: augtrain against keras-preprocessing and Kornia, one run.

Same 32x32 uint8 CIFAR-10 batches for everyone (the JPEG CIFAR-10 tree, or random
images with --quick), same transforms:

  affine     rotation 10 deg, width/height shift 0.1, horizontal flip, fill 'nearest',
             bilinear (keras-basic)
               augtrain  RandomAffine on uint8 (out uint8), keyed per-sample params
               keras     ImageDataGenerator(...).flow(x, batch_size) (float32 NHWC)
               kornia    RandomAffine(degrees=10, translate=(0.1, 0.1),
                         padding_mode='border') + RandomHorizontalFlip on float,
                         uint8 -> float conversion included
  crop-flip  4-pixel reflect padding, random 32x32 crop, horizontal flip
               augtrain  RandomCrop(padding=4, flip=True) (crop-flip preset)
               kornia    RandomCrop((32, 32), padding=4, padding_mode='reflect')
                         + RandomHorizontalFlip

CPU numbers use torch.set_num_threads(--threads, default 2). On a machine with
CUDA, both transforms are also measured on the GPU (augtrain, augtrain float and
Kornia, batch 1024). Run under the shared benchmark lock:

    AUGTRAIN_CACHE=/tmp/augtrain-cache flock /tmp/augtrain-bench.lock \\
        python benchmarks/augment_speed.py

`--device-only` measures only that device section (on `--device`, default cuda; cpu for a
dry run), without keras-preprocessing; Kornia is then optional (its rows are left out, and
the record says why, when it is not installed). The JSON record (_common.record) goes to
.bench/augment_speed.json, or to `--json PATH`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CIFAR_JPEG, machine, record, today  # noqa: E402


def load_images(quick: bool, n: int) -> np.ndarray:
    if quick:
        return np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    from augtrain.data import load_data

    data = load_data(str(CIFAR_JPEG))
    return np.ascontiguousarray(data.train.x[:n])


def timed(fn, batches: int, warmup: int = 2, sync=None, rounds: int = 3) -> float:
    """Seconds per call: the best of `rounds` rounds of `batches` calls."""
    for _ in range(warmup):
        fn(0)
    if sync:
        sync()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(batches):
            fn(i)
        if sync:
            sync()
        best = min(best, (time.perf_counter() - t0) / batches)
    return best


IDLE_GAP = 0.02  # seconds between rounds: see interleaved()


def interleaved(fns: dict, calls: dict, rounds: int, sync=None) -> dict:
    """Best seconds per call of each fn, measured in alternating short rounds.

    The machine these run on is shared: alternating the peers round by round and
    keeping each one's best round gives every peer the same chances of a quiet moment.
    Each round starts after IDLE_GAP seconds of rest, so that no peer runs beside the
    previous one's worker threads: torch's OpenMP workers spin on after Kornia's last op
    and took the second core from augtrain's kernel threads (back to back, augtrain's
    1024-image affine was slower than alone, while Kornia's figure was the same alone and
    interleaved: BENCHMARKS.md).
    """
    for fn in fns.values():
        fn(0)
        fn(1)
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            if sync:
                sync()
            time.sleep(IDLE_GAP)
            t0 = time.perf_counter()
            for i in range(calls[name]):
                fn(i)
            if sync:
                sync()
            best[name] = min(best[name], (time.perf_counter() - t0) / calls[name])
    return best


def augtrain_fn(name: str, x: torch.Tensor, batch: int, float_io: bool = False):
    """uint8 in, uint8 out; or float_io: the uint8 batch scaled to float [0, 1] first and
    float out, exactly Kornia's task below."""
    from augtrain.augment import preset

    pipe = preset({"affine": "keras-basic", "crop-flip": "crop-flip"}[name], seed=0)
    n = x.shape[0]
    starts = list(range(0, n - batch + 1, batch))

    def fn(i: int):
        s = starts[i % len(starts)]
        idx = torch.arange(s, s + batch, device=x.device)
        images = x[s : s + batch].float().div_(255.0) if float_io else x[s : s + batch]
        return pipe(images, idx, epoch=i)

    return fn


def kornia_fn(name: str, x: torch.Tensor, batch: int):
    import kornia.augmentation as K

    if name == "affine":
        aug = torch.nn.Sequential(
            K.RandomAffine(degrees=10, translate=(0.1, 0.1), padding_mode="border", p=1.0),
            K.RandomHorizontalFlip(p=0.5),
        )
    else:
        aug = torch.nn.Sequential(
            K.RandomCrop((32, 32), padding=4, padding_mode="reflect", p=1.0),
            K.RandomHorizontalFlip(p=0.5),
        )
    aug = aug.to(x.device)
    n = x.shape[0]
    starts = list(range(0, n - batch + 1, batch))

    def fn(i: int):
        s = starts[i % len(starts)]
        with torch.no_grad():
            return aug(x[s : s + batch].float().div_(255.0))

    return fn


def keras_fn(x_nhwc: np.ndarray, batch: int):
    from keras_preprocessing.image import ImageDataGenerator

    gen = ImageDataGenerator(
        rotation_range=10,
        width_shift_range=0.1,
        height_shift_range=0.1,
        horizontal_flip=True,
        fill_mode="nearest",
    )
    it = gen.flow(x_nhwc, batch_size=batch, shuffle=False, seed=0)  # converts to float32 once

    def fn(i: int):
        return next(it)

    return fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="random images, fewer batches")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[128, 1024], help="CPU batch sizes")
    ap.add_argument("--keras-images", type=int, default=512, help="images keras augments a round")
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds per peer")
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--device-only", action="store_true", help="only the --device section")
    ap.add_argument("--device", help="device of that section (default cuda when present)")
    ap.add_argument("--device-batch", type=int, default=1024)
    ap.add_argument("--device-calls", type=int, default=20, help="timed calls per round")
    ap.add_argument("--images", type=int, help="images to draw batches from")
    ap.add_argument("--json", help="the JSON record's path (default .bench/augment_speed.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.images or (8192 if args.quick else 10240)
    x_nhwc = load_images(args.quick, n)
    x = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).contiguous()
    rows = []
    notes: dict[str, str] = {}

    def add(transform, peer, device, batch, seconds):
        rows.append((transform, peer, device, batch, batch / seconds))

    cpu = f"cpu x{args.threads}"
    rounds = 3 if args.quick else args.rounds
    for name in () if args.device_only else ("affine", "crop-flip"):
        for b in args.batches:
            fns = {"augtrain": augtrain_fn(name, x, b), "kornia": kornia_fn(name, x, b)}
            calls = {"augtrain": max(2, 2048 // b), "kornia": max(1, 1024 // b)}
            if name == "affine":  # the float task is Kornia's; crop-flip's target is on uint8
                fns["augtrain float"] = augtrain_fn(name, x, b, float_io=True)
                calls["augtrain float"] = calls["augtrain"]
            if name == "affine" and b == min(args.batches):
                fns["keras-preprocessing"] = keras_fn(x_nhwc, 32)  # the tutorials' batch size
                calls["keras-preprocessing"] = max(1, args.keras_images // 32)
            best = interleaved(fns, calls, rounds)
            for peer, seconds in best.items():
                if peer == "keras-preprocessing":
                    add(name, peer, cpu + " (1 thread)", 32, seconds)
                else:
                    add(name, peer, cpu, b, seconds)
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.no_gpu else None)
    if device:
        xg = x.to(device)
        sync = torch.cuda.synchronize if xg.is_cuda else None
        b, calls = args.device_batch, args.device_calls
        try:
            import kornia

            notes["kornia"] = kornia.__version__
        except ImportError as e:
            if not args.device_only:
                raise
            notes["kornia"] = f"not installed ({e})"
        peers = {"augtrain": lambda name, xs, b: augtrain_fn(name, xs, b)}
        peers["augtrain float"] = lambda name, xs, b: augtrain_fn(name, xs, b, float_io=True)
        if "not installed" not in notes["kornia"]:
            peers["kornia"] = kornia_fn
        for name in ("affine", "crop-flip"):
            for peer, make in peers.items():
                add(name, peer, device, b, timed(make(name, xg, b), calls, 3, sync))

    print(
        f"# augment_speed {today()} on {machine()}; data: {'random' if args.quick else 'CIFAR-10 JPEG train'}"
    )
    print("augtrain: uint8 in and out; augtrain float: float [0, 1] in and out, as Kornia")
    print("| transform | peer | device | batch | img/s | augtrain is | augtrain float is |")
    print("|---|---|---|---|---|---|---|")
    rate = {(r[1], r[0], r[2], r[3]): r[4] for r in rows}  # (peer, transform, device, batch)
    best: dict[tuple, float] = {}  # (peer, transform, device): augtrain's best batch size
    for transform, peer, device, _, ips in rows:
        best[(peer, transform, device)] = max(best.get((peer, transform, device), 0.0), ips)
    for transform, peer, device, batch, ips in rows:
        base = device.split(" (")[0]  # keras-preprocessing: compare with augtrain on that device
        ratios = []
        for ours in ("augtrain", "augtrain float"):
            ref = rate.get((ours, transform, base, batch)) or best.get((ours, transform, base))
            mine = peer.startswith("augtrain") or not ref
            ratios.append("" if mine else f"{ref / ips:.1f}x faster")
        print(f"| {transform} | {peer} | {device} | {batch} | {ips:,.0f} | {' | '.join(ratios)} |")
    keys = ("transform", "peer", "device", "batch", "images_per_s")
    figures = {"data": "random" if args.quick else "CIFAR-10 JPEG train", **notes}
    figures["rows"] = [dict(zip(keys, r)) for r in rows]
    print(f"record: {record('augment_speed', figures, args.json)}")
    sys.stdout.flush()
    os._exit(0)  # keras' iterator threads


if __name__ == "__main__":
    main()
