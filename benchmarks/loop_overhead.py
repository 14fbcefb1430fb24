"""Loop overhead: epoch time of augtrain's training loop against a plain hand-written
PyTorch loop: same model (cnn4), same data (a slice of the JPEG CIFAR-10), same augmentation (4-pixel
reflect pad + random crop + horizontal flip, per sample), same batch size, same threads.

    python benchmarks/loop_overhead.py [--images 10000] [--batch-size 32] [--repeats 3]

The plain loop is what a tutorial would write: shuffle with torch.randperm, slice the batch,
pad with F.pad(reflect), crop by per-sample slicing in a Python loop over offsets, flip with
torch.where, forward, loss, backward, step. Epochs alternate between the two so that machine
noise falls on both alike; the medians are compared.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from _common import CIFAR_JPEG, machine, record, today

from augtrain.augment import preset
from augtrain.data import load_data
from augtrain.models import create_model
from augtrain.models.classifier import Classifier
from augtrain.training.config import TrainConfig
from augtrain.training.loop import DeviceSplit, Trainer, channel_stats


def plain_epoch(model, opt, x, y, mean, std, batch, seed) -> float:
    """A hand-written epoch; returns seconds."""
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    model.train()
    perm = torch.randperm(len(y), generator=g)
    for i in range(0, len(y), batch):
        idx = perm[i : i + batch]
        xb = x[idx].permute(0, 3, 1, 2).float().div_(255)
        padded = F.pad(xb, (4, 4, 4, 4), mode="reflect")
        dy = torch.randint(0, 9, (len(idx),), generator=g)
        dx = torch.randint(0, 9, (len(idx),), generator=g)
        xb = torch.stack(
            [padded[k, :, dy[k] : dy[k] + 32, dx[k] : dx[k] + 32] for k in range(len(idx))]
        )
        flip = torch.rand(len(idx), generator=g) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
        xb = (xb - mean) / std
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = load_data(str(CIFAR_JPEG))
    xs, ys = data.train.x[: args.images], data.train.y[: args.images]
    mean, std = channel_stats(xs)
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    m_t, s_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)

    torch.manual_seed(0)
    plain_model = create_model("cnn4")
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    torch.manual_seed(0)
    ours = Classifier(create_model("cnn4"), mean, std)
    config = TrainConfig(epochs=10**6, batch_size=args.batch_size, optimizer="adam", verbose=0)
    trainer = Trainer(ours, DeviceSplit(x, y), None, config, preset("crop-flip"), num_classes=10)

    plain_s, ours_s = [], []
    plain_epoch(
        plain_model, plain_opt, x[:2000], y[:2000], m_t, s_t, args.batch_size, 99
    )  # warm-up
    for r in range(args.repeats):
        plain_s.append(plain_epoch(plain_model, plain_opt, x, y, m_t, s_t, args.batch_size, r))
        ours_s.append(trainer.train_epoch()["seconds"])
    p, o = statistics.median(plain_s), statistics.median(ours_s)
    print(
        f"{today()} - {machine()} - cnn4, {args.images} JPEG CIFAR-10 images, batch {args.batch_size}, crop-flip"
    )
    print(f"| loop | epoch seconds (median of {args.repeats}) | images/s |")
    print("|---|---|---|")
    print(
        f"| plain PyTorch loop | {p:.2f} ({', '.join(f'{t:.2f}' for t in plain_s)}) | {args.images / p:.0f} |"
    )
    print(
        f"| augtrain Trainer | {o:.2f} ({', '.join(f'{t:.2f}' for t in ours_s)}) | {args.images / o:.0f} |"
    )
    print(f"| ratio augtrain / plain | {o / p:.3f} | |")
    figures = {"model": "cnn4", "images": args.images, "batch_size": args.batch_size}
    figures.update(plain_s=plain_s, augtrain_s=ours_s, augtrain_over_plain=o / p)
    print(f"record: {record('loop_overhead', figures)}")


if __name__ == "__main__":
    main()
