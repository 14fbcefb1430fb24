"""Transfer learning from a cnn4 trained on other CIFAR-10 classes, through the CLI.

    python benchmarks/transfer.py [--pretrain-epochs 4] [--epochs 15] [--seeds 0 1 2]

Source task: cnn4 trained on the 8 classes other than airplane and ship (40,000 images),
with the tutorial's recipe (Adamax lr 5e-3, x0.9 per epoch, batch 32, crop-flip).
Target task: airplane vs ship with 500 training images per class (the first 500 of each
class folder), tested on the 2,000 test images of the two classes. Side by side, each
with the same recipe (Adam lr 1e-3, batch 32, crop-flip, --epochs) and seeds:

  from scratch         cnn4, random initialisation
  frozen base          --init-from the source run --freeze base (the dense head trains)
  fine-tuned           the same, then --unfreeze-after E/3 --base-lr-mult 0.1
  features + logistic  `augtrain features` (the source network's penultimate layer, and
                       its conv base output) then `augtrain train --head logistic`
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
from _common import CIFAR_JPEG, machine, record, run_cli, today

from augtrain.data import load_data

TARGET = ("airplane", "ship")


def write_tasks(data_dir: str, out: Path, per_class: int) -> tuple[Path, Path]:
    data = load_data(data_dir)
    target = [data.classes.index(c) for c in TARGET]
    source = [i for i in range(len(data.classes)) if i not in target]

    def subset(split, labels, limit=None):
        idx = np.concatenate([np.flatnonzero(split.y == c)[:limit] for c in labels])
        idx.sort()
        remap = np.full(len(data.classes), -1)
        remap[labels] = np.arange(len(labels))
        return split.x[idx], remap[split.y[idx]]

    x, y = subset(data.train, source)
    xt, yt = subset(data.test, source)
    names = np.array([data.classes[i] for i in source])
    np.savez(out / "source.npz", x=x, y=y, x_test=xt, y_test=yt, classes=names)
    x, y = subset(data.train, target, per_class)
    xt, yt = subset(data.test, target)
    np.savez(out / "target.npz", x=x, y=y, x_test=xt, y_test=yt, classes=np.array(TARGET))
    return out / "source.npz", out / "target.npz"


def accuracy(run: Path) -> float:
    return json.loads((run / "metrics.json").read_text())["accuracy"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--per-class", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", help="the record (default .bench/transfer.json)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="transfer-bench-"))
    runs = work / "runs"
    source, target = write_tasks(args.data, work, args.per_class)

    pre = [
        "train", "--data", str(source), "--model", "cnn4", "--optimizer", "adamax",
        "--lr", "5e-3", "--schedule", "exponential", "--gamma", "0.9", "--batch-size", "32",
        "--epochs", str(args.pretrain_epochs), "--runs-dir", str(runs), "--name", "source",
        "--verbose", "2",
    ]  # fmt: skip
    pre_s, _ = run_cli(pre)
    src_run = runs / "source"
    print(f"source task (8 classes): test accuracy {accuracy(src_run):.4f}, {pre_s / 60:.1f} min")

    recipe = ["--model", "cnn4", "--optimizer", "adam", "--lr", "1e-3", "--batch-size", "32"]
    recipe += ["--epochs", str(args.epochs), "--runs-dir", str(runs), "--verbose", "0"]
    init = ["--init-from", str(src_run), "--freeze", "base"]
    variants = {
        "from scratch": [],
        "frozen base (dense head trains)": init,
        f"fine-tuned (unfrozen after {args.epochs // 3} epochs, base lr x0.1)": init
        + ["--unfreeze-after", str(args.epochs // 3), "--base-lr-mult", "0.1"],
    }
    results: dict[str, list[tuple[float, float]]] = {}
    figures = {"source_accuracy": accuracy(src_run), "source_s": round(pre_s, 1), "targets": {}}

    def save() -> None:
        figures["targets"] = {
            label: [{"accuracy": a, "wall_s": round(s, 1)} for a, s in rs]
            for label, rs in results.items()
        }
        record("transfer", figures, args.json)

    for label, extra in variants.items():
        for seed in args.seeds:
            name = f"{len(results)}-{seed}"
            cmd = ["train", "--data", str(target), *recipe, *extra, "--seed", str(seed)]
            seconds, _ = run_cli([*cmd, "--name", name])
            results.setdefault(label, []).append((accuracy(runs / name), seconds))
            print(label, seed, results[label][-1], flush=True)
            save()
    for layer, what in ((None, "penultimate layer, 256-d"), ("features", "conv base, 4096-d")):
        label = f"features ({what}) + logistic regression"
        feats = work / f"features-{layer}.npz"
        cmd = ["features", "--from", str(src_run), "--data", str(target), "--out", str(feats)]
        f_s, _ = run_cli(cmd + (["--layer", layer] if layer else []))
        name = f"logistic-{layer}"
        l_s, _ = run_cli(
            ["train", "--features", str(feats), "--runs-dir", str(runs), "--name", name]
        )
        results[label] = [(accuracy(runs / name), f_s + l_s)]  # deterministic: one run
        print(label, results[label], flush=True)
        save()

    print(
        f"\n{today()} - {machine()} - cnn4 source run on 8 CIFAR-10 classes "
        f"({args.pretrain_epochs} epochs, test accuracy {accuracy(src_run):.4f}); target: "
        f"{' vs '.join(TARGET)}, {args.per_class} training images per class, 2,000 test images; "
        f"{args.epochs} epochs, seeds {' '.join(map(str, args.seeds))}"
    )
    print("| target model | test accuracy (mean ± sd over seeds) | wall time per run |")
    print("|---|---|---|")
    for label, rs in results.items():
        accs = [a for a, _ in rs]
        sd = f" ± {statistics.stdev(accs):.4f}" if len(accs) > 1 else ""
        secs = statistics.mean(s for _, s in rs)
        print(f"| {label} | {statistics.mean(accs):.4f}{sd} | {secs:.0f} s |")


if __name__ == "__main__":
    main()
