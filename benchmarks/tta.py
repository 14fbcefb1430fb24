"""Test-time augmentation: test accuracy of one trained run without it, with flip, and with
flip-translate (what the gain is worth, and what it costs in prediction time).

    python benchmarks/tta.py RUN [--data DATA] [--checkpoint last.pt] [--shifts 1 2]

RUN must be a trained run folder (a real CIFAR-10 run, for figures worth quoting); its own test
split is used unless --data is given. Besides the three CLI modes, flip-translate is also
measured with the other --shifts (pixels of the diagonal translations; the CLI uses 1).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import machine, record, today

from augtrain.report.evaluation import load_run_model, pick_split
from augtrain.report.metrics import classification_metrics
from augtrain.report.tta import predict_tta, tta_views
from augtrain.training.evaluate import evaluate_run, load_dataset
from augtrain.training.loop import resolve_device


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--data")
    ap.add_argument("--checkpoint", default="last.pt")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--shifts", type=int, nargs="*", default=[2])
    args = ap.parse_args()

    model, ckpt = load_run_model(args.run, args.checkpoint)
    dataset = load_dataset(ckpt, args.data)
    split, arrays = pick_split(
        dataset, ckpt, args.data or ckpt["config"]["data"], args.data is not None
    )
    device = resolve_device(args.device)
    model = model.to(device)
    classes = list(ckpt["classes"])
    predict_tta(model, arrays.x[:64], device, "flip-translate")  # warm-up
    runs = [(m, 1, m) for m in ("none", "flip", "flip-translate")]
    runs += [
        ("flip-translate", s, f"flip-translate, {s}-pixel shifts (API only)")
        for s in args.shifts
        if s != 1
    ]
    rows = []
    for mode, shift, label in runs:
        t0 = time.perf_counter()
        logits = predict_tta(model, arrays.x, device, mode, shift=shift)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        m = classification_metrics(logits, arrays.y, classes)
        rows.append((label, len(tta_views(mode)), m["accuracy"], m["loss"], seconds))
    base = rows[0][2]
    # the CLI path gives the same numbers (evaluate_run is what `augtrain evaluate` calls)
    ev = evaluate_run(args.run, args.data, "flip", args.checkpoint, args.device, dataset=dataset)
    assert abs(ev.metrics["accuracy"] - rows[1][2]) < 1e-9

    print(
        f"{today()} - {machine()} - run {args.run.name} ({ckpt['model']['name']}, {args.checkpoint}), "
        f"{split} split of {len(arrays.y):,} images"
    )
    print("| TTA | views | test accuracy | gain (points) | loss | prediction seconds |")
    print("|---|---|---|---|---|---|")
    for mode, views, acc, loss, seconds in rows:
        print(
            f"| {mode} | {views} | {acc:.4f} | {100 * (acc - base):+.2f} | {loss:.4f} | {seconds:.1f} |"
        )
    keys = ("tta", "views", "accuracy", "loss", "seconds")
    figures = {"run": str(args.run), "model": ckpt["model"]["name"], "split": split}
    figures.update(images=len(arrays.y), checkpoint=args.checkpoint)
    figures["rows"] = [dict(zip(keys, r)) for r in rows]
    print(f"record: {record('tta', figures)}")


if __name__ == "__main__":
    main()
