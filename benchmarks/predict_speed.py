"""`augtrain predict` throughput on a folder of 10,000 JPEG files (the CIFAR-10
test folder) for a cnn4 run, against the same model called from a hand-written PIL +
PyTorch loop, in the same process and run.

    python benchmarks/predict_speed.py [--repeats 3] [--batch-size 128]

The model only has to exist: a 1-epoch cnn4 run on every 10th training image is made first
(in a temp folder). Each repeat times, alternately:
  - `augtrain predict RUN test/ --format csv` called in-process (output to /dev/null),
    everything from listing the folder to the last CSV row;
  - the same as a fresh `python -m augtrain predict` process (adds interpreter + torch start);
  - the hand-written loop a tutorial would write: sorted glob, PIL open + convert("RGB")
    (+ resize when the size differs), np.asarray, batches of --batch-size, torch.from_numpy
    / 255, model, softmax, top-3.
Both sides read the same warmed-up files and must agree on every top-1 class.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import CIFAR_JPEG, machine, quick_cnn4_run, record, today
from PIL import Image

from augtrain.cli import main as cli_main
from augtrain.data import load_data
from augtrain.training.checkpoint import load_model


def hand_loop(run: Path, folder: Path, batch_size: int) -> tuple[float, list[int]]:
    model, ckpt = load_model(run)
    h, w = ckpt["model"]["input_size"]
    t0 = time.perf_counter()
    files = sorted(folder.rglob("*.jpg"))
    top1: list[int] = []
    with torch.no_grad():
        for i in range(0, len(files), batch_size):
            batch = []
            for f in files[i : i + batch_size]:
                with Image.open(f) as im:
                    im = im.convert("RGB")
                    if im.size != (w, h):
                        im = im.resize((w, h), Image.Resampling.BILINEAR)
                    batch.append(np.asarray(im))
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255
            probs = torch.softmax(model(x), 1)
            top = probs.topk(3, 1)
            top1 += top.indices[:, 0].tolist()
    return time.perf_counter() - t0, top1


def augtrain_inprocess(run: Path, folder: Path, batch_size: int) -> tuple[float, list[str]]:
    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        code = cli_main(
            ["predict", str(run), str(folder), "--format", "csv", "--batch-size", str(batch_size)]
        )
    seconds = time.perf_counter() - t0
    assert code == 0, code
    rows = buf.getvalue().splitlines()[1:]
    return seconds, [r.split(",")[1] for r in rows]


def augtrain_process(run: Path, folder: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "augtrain", "predict", str(run), str(folder), "--format", "csv"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--folder", type=Path, default=CIFAR_JPEG / "test")
    args = ap.parse_args()
    n = sum(1 for _ in args.folder.rglob("*.jpg"))

    data = load_data(str(CIFAR_JPEG))
    with tempfile.TemporaryDirectory() as tmp:
        run = quick_cnn4_run(data, tmp)
        hand_loop(run, args.folder, args.batch_size)  # warm-up: file cache, allocator
        ours, ours_proc, plain = [], [], []
        for _ in range(args.repeats):
            s, ours_top = augtrain_inprocess(run, args.folder, args.batch_size)
            ours.append(s)
            s, plain_top = hand_loop(run, args.folder, args.batch_size)
            plain.append(s)
            ours_proc.append(augtrain_process(run, args.folder))
        agree = sum(data.classes[p] == o for p, o in zip(plain_top, ours_top))
        assert len(ours_top) == len(plain_top) == n, (len(ours_top), len(plain_top), n)

    def row(name: str, times: list[float]) -> str:
        m = statistics.median(times)
        return f"| {name} | {m:.2f} ({', '.join(f'{t:.2f}' for t in times)}) | {n / m:,.0f} |"

    print(
        f"{today()} - {machine()}, {os.cpu_count()} cores - cnn4 (32x32), {n:,} JPEG files of "
        f"{args.folder}, batch {args.batch_size}; top-1 agreement {agree}/{n}"
    )
    print(f"| predictor | seconds (median of {args.repeats}) | images/s |")
    print("|---|---|---|")
    print(row("hand-written PIL + PyTorch loop (in-process)", plain))
    print(row("`augtrain predict` (in-process)", ours))
    print(row("`augtrain predict` (new process, with start-up)", ours_proc))
    print(
        f"| ratio augtrain in-process / hand loop | {statistics.median(ours) / statistics.median(plain):.3f} | |"
    )
    figures = {"model": "cnn4", "files": n, "folder": str(args.folder), "batch": args.batch_size}
    figures.update(hand_loop_s=plain, predict_s=ours, predict_process_s=ours_proc)
    figures.update(top1_agreement=agree)
    print(f"record: {record('predict_speed', figures)}")


if __name__ == "__main__":
    main()
