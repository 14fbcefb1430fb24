"""Checkpoint cost: time to save and to load last.pt for resnet18, and the share of epoch
time spent checkpointing at one checkpoint per epoch.

    flock /tmp/augtrain-bench.lock python benchmarks/checkpoint.py [--batch-size 256] [--repeats 5]

- Save: `Trainer.save_checkpoint` as the run folder calls it at every epoch end: the full
  state (model, SGD momentum buffers, callbacks, RNG) is copied off the device, written
  with torch.save to a temp file, fsynced and renamed onto last.pt.
- Load: `checkpoint.load` (torch.load, weights_only) plus `Trainer.load_state_dict`, as
  `--resume` does.
- Epoch time: not a full CIFAR-10 epoch (too long on a CPU); the images/s of
  resnet18 training on CIFAR-size (32x32x3) uint8 data with the default crop-flip
  augmentation, measured over a few steps after a warm-up step, times 50,000 images.
  The images are random: the speed of a step does not depend on their content.
The share is save / (epoch + save). Medians of `--repeats`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import machine, record, today

from augtrain.augment import preset
from augtrain.training import checkpoint
from augtrain.training.config import TrainConfig
from augtrain.training.loop import DeviceSplit, Trainer

CIFAR_TRAIN = 50_000


def make_trainer(batch_size: int, images: int) -> Trainer:
    torch.manual_seed(0)
    spec = {
        "name": "resnet18",
        "options": {},
        "num_classes": 10,
        "in_channels": 3,
        "input_size": [32, 32],
    }
    model = checkpoint.build_model(spec)
    x = torch.randint(0, 256, (images, 32, 32, 3), dtype=torch.uint8)
    y = torch.randint(0, 10, (images,))
    config = TrainConfig(
        model="resnet18",
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
        batch_size=batch_size,
        epochs=1,
        verbose=0,
    )
    trainer = Trainer(model, DeviceSplit(x, y), None, config, preset("crop-flip"), num_classes=10)
    trainer.checkpoint_meta = {"model": spec, "classes": [str(i) for i in range(10)]}
    return trainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4, help="timed training steps")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", default=".", help="where to write (the disk run folders live on)")
    args = ap.parse_args()
    bs = args.batch_size
    trainer = make_trainer(bs, bs * (args.steps + 1))

    # training speed: one warm-up step, then `steps` timed steps
    index = torch.arange(bs)
    trainer.model.train()
    trainer.train_step(index, 0, bs)
    step_s = []
    for s in range(args.steps):
        t0 = time.perf_counter()
        trainer.train_step(index + (s + 1) * bs, 0, bs)
        step_s.append(time.perf_counter() - t0)
    img_s = bs / statistics.median(step_s)
    epoch_s = CIFAR_TRAIN / img_s

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "last.pt"
        save_s, load_s = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            trainer.save_checkpoint(path)
            save_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            trainer.load_state_dict(checkpoint.load(path)["trainer"])
            load_s.append(time.perf_counter() - t0)
        size_mb = path.stat().st_size / 1e6
    save, load = statistics.median(save_s), statistics.median(load_s)
    params = sum(p.numel() for p in trainer.model.parameters())

    load_avg = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"{today()} - {machine()}, {torch.get_num_threads()} threads - resnet18 "
        f"({params / 1e6:.1f}M parameters), SGD with Nesterov momentum, batch {bs} "
        f"(load average at the end: {load_avg})"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| last.pt size | {size_mb:.1f} MB (weights + momentum buffers) |")
    print(
        f"| save last.pt (state off the device, torch.save, fsync, rename) | {save:.3f} s "
        f"(median of {args.repeats}: {', '.join(f'{t:.3f}' for t in save_s)}) |"
    )
    print(
        f"| load last.pt (torch.load weights_only + load_state_dict) | {load:.3f} s "
        f"(median of {args.repeats}: {', '.join(f'{t:.3f}' for t in load_s)}) |"
    )
    print(
        f"| training speed, 32x32x3, crop-flip | {img_s:.0f} images/s "
        f"(median of {args.steps} steps of {bs}) |"
    )
    print(f"| CIFAR-10 epoch (50,000 images) at that speed | {epoch_s:.0f} s |")
    print(
        f"| share of epoch time at 1 checkpoint per epoch | {100 * save / (epoch_s + save):.3f}% "
        "(target < 2%) |"
    )
    if not torch.cuda.is_available():
        print("| on a GPU | not measured here (no GPU in this session) |")
    figures = {"model": "resnet18", "parameters": params, "batch_size": bs}
    figures.update(threads=torch.get_num_threads(), last_pt_mb=size_mb, save_s=save_s)
    figures.update(load_s=load_s, save_s_median=save, load_s_median=load, images_per_s=img_s)
    figures.update(epoch_s=epoch_s, checkpoint_share=save / (epoch_s + save))
    print(f"record: {record('checkpoint', figures)}")


if __name__ == "__main__":
    main()
