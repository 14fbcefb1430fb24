"""How a --time-budget calibration step's size and precision change the rate it measures:
speednet's training rate per image against the images a timed step holds.

    python benchmarks/calibration_steps.py [--widths 16 32] [--sizes 128 256 512 1024]

For each width W (W/4W/4W) and each CPU precision the calibration can choose (float32 and
bf16, both channels_last), `training.budget.measure` (the calibration's own timing: the
Trainer's step on real JPEG CIFAR-10 images through the speed preset's augmentation) at
each step size, in both of speednet's step kinds: the later epochs' and the first
epochs' (whitening bias still training). A step of 128 images is the calibration's screen;
the batch a run trains with (1,024) is what its epochs cost. Compare within one run.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import CIFAR_JPEG, machine, record, today

from augtrain.data import load_data
from augtrain.training import budget
from augtrain.training.config import TrainConfig
from augtrain.training.presets import apply_preset

PRECISIONS = {"fp32+NHWC": ("off", "on"), "bf16+NHWC": ("bf16", "on")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    ap.add_argument("--steps", type=int, default=2, help="timed steps of each kind")
    ap.add_argument("--json", help="the record (default .bench/calibration_steps.json)")
    args = ap.parse_args()
    budget.TIMED_STEPS = args.steps
    data = load_data(args.data)
    values = apply_preset("speed", {"time_budget": 600.0, "data": args.data}, cuda=False)
    config = TrainConfig(**values)
    c = data.train.x.shape[-1]
    spec = {
        "name": "speednet",
        "options": config.model_options,
        "num_classes": data.num_classes,
        "in_channels": c,
        "input_size": list(data.train.x.shape[1:3]),
        "mean": [0.5] * c,
        "std": [0.25] * c,
    }
    n = len(data.train.y)
    rows = []
    for width in args.widths:
        candidate = budget.Candidate((width, 4 * width, 4 * width))
        for label, precision in PRECISIONS.items():
            for size in args.sizes:
                pick = torch.linspace(0, n - 1, size).long().numpy()
                x = torch.from_numpy(data.train.x[pick])
                y = torch.from_numpy(data.train.y[pick])
                t0 = time.perf_counter()
                m = budget.measure(
                    candidate,
                    config,
                    spec,
                    x,
                    y,
                    x[:256],
                    torch.device("cpu"),
                    1024,
                    precision_setting=precision,
                )
                row = {
                    "widths": candidate.label,
                    "precision": label,
                    "step_images": size,
                    "later_img_per_s": round(1 / m.train_s_per_image, 1),
                    "early_img_per_s": round(1 / m.early_s_per_image, 1)
                    if m.early_s_per_image
                    else None,
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                rows.append(row)
                print(row, flush=True)
                record(
                    "calibration_steps",
                    {"threads": torch.get_num_threads(), "rows": rows},
                    args.json,
                )
    print(f"\n{today()} - {machine()} - speednet training rate against the timed step's size")
    print("| widths | precision | images a step | later epochs img/s | first epochs img/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['widths']} | {r['precision']} | {r['step_images']} | "
            f"{r['later_img_per_s']:.0f} | {r['early_img_per_s'] or 0:.0f} |"
        )


if __name__ == "__main__":
    main()
