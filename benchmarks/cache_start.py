"""Issue 3, number 1: time from starting a run to its first training step, cold cache
(decoding all 60,000 JPEGs) against warm cache (reading the uint8 cache).

    python benchmarks/cache_start.py [--data DIR] [--repeats 3]

Each start is a fresh Python process (imports included) that runs `augtrain.train` and
exits at the first training batch; the parent measures from spawn to that moment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import CIFAR_JPEG, machine, today

CHILD = """
import os, sys, time
import augtrain
from augtrain.training.callbacks import Callback

class StopAtFirstStep(Callback):
    def on_batch_begin(self, batch, logs=None):
        print(f"FIRST_STEP {time.time()}", flush=True)
        os._exit(0)

augtrain.train(data=sys.argv[1], model="cnn4", epochs=1, batch_size=32, runs_dir=sys.argv[2],
               name="start", overwrite=True, verbose=0, callbacks=[StopAtFirstStep()])
"""


def time_to_first_step(data: str, cache: str, runs: str) -> float:
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, data, runs],
        capture_output=True,
        text=True,
        env={**os.environ, "AUGTRAIN_CACHE": cache},
    )
    for line in out.stdout.splitlines():
        if line.startswith("FIRST_STEP"):
            return float(line.split()[1]) - t0
    raise SystemExit(f"child failed:\n{out.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cold, warm = [], []
    for _ in range(args.repeats):
        cache = tempfile.mkdtemp(prefix="cold-cache-")
        runs = tempfile.mkdtemp(prefix="runs-")
        cold.append(time_to_first_step(args.data, cache, runs))
        warm.append(time_to_first_step(args.data, cache, runs))
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"{today()} - {machine()} - {args.data}")
    print(f"| start | time to first training step (median of {args.repeats}) |")
    print("|---|---|")
    print(f"| first (cold cache: decode) | {c:.2f} s ({', '.join(f'{t:.2f}' for t in cold)}) |")
    print(f"| second (warm cache) | {w:.2f} s ({', '.join(f'{t:.2f}' for t in warm)}) |")
    print(f"| ratio | {c / w:.1f}x |")


if __name__ == "__main__":
    main()
