"""The model zoo's reference table at 32x32: parameters, multiply-adds, training
speed on 2 CPU cores (and the GPU when there is one) and, for the models cheap enough to
train on a CPU, test accuracy on the JPEG CIFAR-10 after a stated recipe.

    python benchmarks/models.py [--device cpu|cuda] [--accuracy lenet5 shallowvgg ...]

Speed: augtrain's own Trainer (crop-flip augmentation included) on random uint8 images,
one warm-up epoch, then the best of five timed epochs of --speed-images images (the best,
as timeit does: on a shared machine the other processes only ever slow an epoch down); CPU
runs use 2 threads (torch.set_num_threads(2)), CUDA runs bf16 autocast and channels_last
(the defaults there). Accuracy: `augtrain train` through the CLI with the RECIPES below.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from _common import CIFAR_JPEG, machine, record, run_cli, today

from augtrain.augment import preset
from augtrain.models import create_model
from augtrain.models.classifier import Classifier
from augtrain.models.summary import human, summarize_model
from augtrain.training.config import TrainConfig
from augtrain.training.loop import DeviceSplit, Trainer

ZOO = ["lenet5", "cnn4", "shallowvgg", "vgg16", "resnet18", "googlenet"]

# Recipes short enough to train on a CPU; flags of `augtrain train`.
RECIPES = {
    "lenet5": "--optimizer adam --lr 1e-3 --batch-size 64 --epochs 5",
    "cnn4": "--optimizer adamax --lr 5e-3 --schedule exponential --gamma 0.9 --batch-size 32 "
    "--epochs 5",
    "shallowvgg": "--optimizer sgd --lr 0.01 --batch-size 16 --epochs 3 --augment none",
}


def speed(name: str, device: torch.device, batch: int, images: int) -> float:
    torch.manual_seed(0)
    net = create_model(name, 10, 3, 32)
    model = Classifier(net, [0.5] * 3, [0.25] * 3).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    x = torch.randint(0, 256, (images, 32, 32, 3), dtype=torch.uint8, device=device)
    y = torch.randint(0, 10, (images,), device=device)
    config = TrainConfig(epochs=10**6, batch_size=batch, optimizer="sgd", momentum=0.9, verbose=0)
    trainer = Trainer(model, DeviceSplit(x, y), None, config, preset("crop-flip"), device=device)
    trainer.train_epoch()  # warm-up (cudnn autotuning, allocator)
    rates = []
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        trainer.train_epoch()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(images / (time.perf_counter() - t0))
    return max(rates)


def accuracy(name: str, data: str, runs: Path) -> tuple[float, float]:
    args = ["train", "--data", data, "--model", name, *RECIPES[name].split()]
    seconds, _ = run_cli([*args, "--runs-dir", str(runs), "--name", name, "--verbose", "0"])
    return json.loads((runs / name / "metrics.json").read_text())["accuracy"], seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", nargs="+", default=ZOO)
    ap.add_argument("--accuracy", nargs="*", default=list(RECIPES), help="models to train")
    ap.add_argument("--speed-images", type=int, default=0, help="default 256 CPU, 8192 GPU")
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(2)
    images = args.speed_images or (8192 if device.type == "cuda" else 256)
    batch = 256 if device.type == "cuda" else 32
    runs = Path(tempfile.mkdtemp(prefix="models-bench-"))
    rows, figures = [], []
    for name in args.models:
        s = summarize_model(name, 10, 3, 32)
        rate = speed(name, device, batch, images)
        acc = ""
        if name in args.accuracy and name in RECIPES:
            a, seconds = accuracy(name, args.data, runs)
            acc = f"{a:.4f} ({seconds / 60:.1f} min)"
        rows.append((name, s.params, s.keras_total, s.macs, rate, acc))
        print(rows[-1], flush=True)
        figures.append(
            {"model": name, "params": s.params, "keras_params": s.keras_total, "macs": s.macs}
        )
        figures[-1].update(images_per_s=rate, accuracy=a if acc else None)
        figures[-1].update(wall_s=seconds if acc else None, recipe=RECIPES.get(name))
        record("models", {"device": str(device), "batch": batch, "images": images, "rows": figures})
    where = f"{machine()}, {'2 threads, ' if device.type == 'cpu' else 'bf16, channels_last, '}"
    print(f"\n{today()} - {where}batch {batch}, 32x32x3, 10 classes")
    print(
        "| model | params (PyTorch) | params (Keras) | MACs / image | train img/s | test accuracy |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name, params, keras, macs, rate, acc in rows:
        recipe = f"{acc} `{RECIPES[name]}`" if acc else "not run"
        print(f"| {name} | {params:,} | {keras:,} | {human(macs)} | {rate:,.0f} | {recipe} |")


if __name__ == "__main__":
    main()
