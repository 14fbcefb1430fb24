"""Start-up time: from starting a run to its first training step, cold cache (decoding
all 60,000 JPEGs) against warm cache (reading the uint8 cache).

    python benchmarks/cache_start.py [--data DIR] [--repeats 3]

Each start is a fresh Python process (imports included) that runs `augtrain.train` and
exits at the first training batch; the parent measures from spawn to that moment. A third
process measures the floor every PyTorch program pays before its first step: importing
torch and building an optimizer (whose first method call imports torch._dynamo).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import CIFAR_JPEG, machine, record, today

CHILD = """
import os, sys, time
import augtrain
import augtrain.training.run as run_module
from augtrain.training.callbacks import Callback

_load = run_module.load_data
def timed_load(*args, **kwargs):
    t = time.perf_counter()
    data = _load(*args, **kwargs)
    print(f"DATA_SECONDS {time.perf_counter() - t}", flush=True)
    return data
run_module.load_data = timed_load

class StopAtFirstStep(Callback):
    def on_batch_begin(self, batch, logs=None):
        print(f"FIRST_STEP {time.time()}", flush=True)
        os._exit(0)

print(f"TRAIN_CALL {time.time()}", flush=True)
augtrain.train(data=sys.argv[1], model="cnn4", epochs=1, batch_size=32, runs_dir=sys.argv[2],
               name="start", overwrite=True, verbose=0, callbacks=[StopAtFirstStep()])
"""


FLOOR = """
import time, torch
optimizer = torch.optim.Adamax(torch.nn.Conv2d(3, 16, 3).parameters(), lr=5e-3)
print(f"FIRST_STEP {time.time()}", flush=True)
"""


def floor_seconds() -> float:
    """Spawn to the point where a plain PyTorch script could take its first step."""
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", FLOOR], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[1]) - t0


def time_to_first_step(data: str, cache: str, runs: str) -> tuple[float, float, float]:
    """Seconds to the first training step from spawn and from the train() call (imports
    done), and seconds inside load_data."""
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, data, runs],
        capture_output=True,
        text=True,
        env={**os.environ, "AUGTRAIN_CACHE": cache},
    )
    found = dict(
        line.split()
        for line in out.stdout.splitlines()
        if line.startswith(("FIRST", "DATA", "TRAIN"))
    )
    if "FIRST_STEP" in found:
        step = float(found["FIRST_STEP"])
        return step - t0, step - float(found["TRAIN_CALL"]), float(found["DATA_SECONDS"])
    raise SystemExit(f"child failed:\n{out.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cold, warm, floor = [], [], []
    for _ in range(args.repeats):
        floor.append(floor_seconds())
        cache = tempfile.mkdtemp(prefix="cold-cache-")
        runs = tempfile.mkdtemp(prefix="runs-")
        cold.append(time_to_first_step(args.data, cache, runs))
        warm.append(time_to_first_step(args.data, cache, runs))
    med = [[statistics.median(t[i] for t in runs_) for i in range(3)] for runs_ in (cold, warm)]
    print(f"{today()} - {machine()} - {args.data}, median of {args.repeats}")
    print("| start | spawn to first step | train() call to first step | of which load_data |")
    print("|---|---|---|---|")
    for label, m in (("first (cold cache: decode)", med[0]), ("second (warm cache)", med[1])):
        print(f"| {label} | {m[0]:.2f} s | {m[1]:.2f} s | {m[2]:.2f} s |")
    ratios = " | ".join(f"{a / b:.1f}x" for a, b in zip(med[0], med[1]))
    print(f"| ratio first / second | {ratios} |")
    base = statistics.median(floor)
    print(
        f"\nfloor (spawn, import torch, build an optimizer): {base:.2f} s; above it, "
        f"first {med[0][0] - base:.2f} s, second {med[1][0] - base:.2f} s: "
        f"{(med[0][0] - base) / (med[1][0] - base):.1f}x"
    )
    keys = ("spawn_to_first_step_s", "call_to_first_step_s", "load_data_s")
    figures = {"data": args.data, "repeats": args.repeats, "floor_s": floor}
    figures["cold"] = [dict(zip(keys, t)) for t in cold]
    figures["warm"] = [dict(zip(keys, t)) for t in warm]
    print(f"record: {record('cache_start', figures)}")


if __name__ == "__main__":
    main()
