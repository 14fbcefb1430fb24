"""What keeping freed host memory (`augtrain.device.freed_memory_kept`) does to a CPU step.

    python benchmarks/heap_reuse.py [--data DIR] [--rounds 3] [--widths 24 32] [--steps 10]

Each round runs two fresh processes one after the other: one with augtrain's setting (the
heap reused) and one with glibc as it is (every block over 32 MiB a fresh mmap, unmapped
when freed: AUGTRAIN_KEEP_FREED_MEMORY=0). Each process loads
the JPEG CIFAR-10 cache as `augtrain train --preset speed` does and times `--steps`
full-batch (1,024-image) later-epoch speednet steps per width, after two untimed ones, by
the --time-budget calibration's own `measure`, with the process's user and system CPU
seconds over them. Alternating the two settings within a round is what makes the ratio
mean something on cores whose pace drifts by a third within an hour.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import CIFAR_JPEG, record

DEFAULT_GLIBC = {"AUGTRAIN_KEEP_FREED_MEMORY": "0"}


class Timed(Exception):
    """Raised with the child's figures once they are measured: nothing trains."""


def child(data: str, widths: list[int], steps: int) -> dict[str, Any]:
    """Time full-batch steps of each width in this process (the settings its parent gave)."""
    import torch

    import augtrain.training.budget as budget
    import augtrain.training.job as job
    from augtrain.cli import main as cli
    from augtrain.device import freed_memory_kept

    def timed_widths(config, given, data, spec, device, started, *a, **kw):
        n = len(data.train.y)
        pick = torch.linspace(0, n - 1, 1024).long().numpy()
        x = torch.from_numpy(data.train.x[pick]).to(device)
        y = torch.from_numpy(data.train.y[pick]).to(device)
        eval_x = torch.from_numpy(data.test.x[:256]).to(device)
        figures = {}
        with freed_memory_kept() as kept:  # inside train() already; says whether it could
            for w in widths:
                candidate = budget.Candidate((w, 4 * w, 4 * w))
                marks: list[float] = []

                def clock(marks: list[float] = marks) -> float:
                    marks.append(time.perf_counter())
                    return marks[-1]

                t0 = os.times()
                budget.measure(
                    candidate, config, spec, x, y, eval_x, device, 1024, clock, ("off", "on"),
                    steps=steps, warmup=2, early_ratio=1.25,
                )  # fmt: skip
                t1 = os.times()
                step_s = [b - a for a, b in zip(marks[::2], marks[1::2])][:steps]
                figures[candidate.label] = {
                    "img_per_s": round(1024 / statistics.median(step_s), 1),
                    "steps_s": [round(s, 3) for s in step_s],
                    "user_s": round(t1.user - t0.user, 2),
                    "system_s": round(t1.system - t0.system, 2),
                }
        raise Timed({"kept": kept, "widths": figures})

    job.fit_to_budget = timed_widths
    runs = tempfile.mkdtemp(prefix="heap-reuse-")
    try:
        cli(["train", "--data", data, "--preset", "speed", "--time-budget", "10m"]
            + ["--runs-dir", runs, "--verbose", "0"])  # fmt: skip
    except Timed as done:
        return done.args[0]
    raise RuntimeError("the calibration was not reached")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--widths", type=int, nargs="+", default=[24, 32])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", help="the record (default .bench/heap_reuse.json)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.data, args.widths, args.steps)), flush=True)
        return
    runs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        for setting, extra in (("kept", {}), ("glibc default", DEFAULT_GLIBC)):
            env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
            env.pop("AUGTRAIN_KEEP_FREED_MEMORY", None)
            cmd = [sys.executable, __file__, "--child", "--data", args.data, "--steps"]
            cmd += [str(args.steps), "--widths", *map(str, args.widths)]
            out = subprocess.run(cmd, env={**env, **extra}, capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr[-2000:])
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            runs.append({"round": r, "setting": setting, **figures})
            rates = ", ".join(
                f"{w} {f['img_per_s']:.0f} img/s (user {f['user_s']:.1f} s, system "
                f"{f['system_s']:.1f} s)"
                for w, f in figures["widths"].items()
            )
            print(f"round {r} {setting:13s} {rates}", flush=True)
    summary = {}
    for w in runs[0]["widths"]:
        ratios = [
            a["widths"][w]["img_per_s"] / b["widths"][w]["img_per_s"]
            for a, b in zip(runs[::2], runs[1::2])
        ]
        summary[w] = {"kept_over_default": [round(x, 2) for x in ratios]}
        print(f"{w}: kept / glibc default = {', '.join(f'{x:.2f}' for x in ratios)}")
    record("heap_reuse", {"steps": args.steps, "runs": runs, "summary": summary}, args.json)


if __name__ == "__main__":
    main()
