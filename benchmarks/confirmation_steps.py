"""Step by step, what the --time-budget calibration's full-batch confirmation measures.

    python benchmarks/confirmation_steps.py [--data DIR] [--steps 30]

Runs a real `augtrain train --preset speed --time-budget 10m` up to the end of its
calibration (no training): every candidate the rule picks is confirmed as usual, but first
timed for `--steps` full-batch later-epoch steps with no untimed step before them, each
step's seconds recorded. Compare them with the epochs of a whole run at that width in the
same hour (history.csv's seconds over the epoch's 49 steps): a trend over the steps is
warm-up the confirmation's two untimed steps miss; a flat gap is something else.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import torch
from _common import CIFAR_JPEG, record

import augtrain.training.budget as budget
import augtrain.training.job as job
from augtrain.cli import main as cli


class CalibrationDone(Exception):
    """Raised with the budget choice once the calibration has made it: nothing trains."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--json", help="the record (default .bench/confirmation_steps.json)")
    ap.add_argument(
        "--flush-denormal", action="store_true", help="torch.set_flush_denormal(True) first"
    )
    args = ap.parse_args()
    if args.flush_denormal:  # are denormal floats what slows a fresh net's steps? (no)
        torch.set_flush_denormal(True)
    measure, fit_to_budget = budget.measure, job.fit_to_budget
    traces: dict[str, list[float]] = {}

    def traced_measure(*a: Any, **kw: Any) -> Any:
        if kw.get("steps") == budget.CONFIRM_STEPS:  # the confirmation of a picked width
            marks: list[float] = []

            def clock() -> float:
                marks.append(time.perf_counter())
                return marks[-1]

            timed = list(a)
            timed[8] = clock  # measure's `clock`
            measure(*timed, **{**kw, "steps": args.steps, "warmup": 0})
            steps = [round(b - a, 3) for a, b in zip(marks[::2], marks[1::2])]
            label = a[0].label if a[0] is not None else "own"
            traces[label] = steps[: args.steps]  # the last pair times the inference batch
            print(label, traces[label], flush=True)
        return measure(*a, **kw)

    def fit_then_stop(*a: Any, **kw: Any) -> Any:
        raise CalibrationDone(fit_to_budget(*a, **kw).budget_choice)

    budget.measure, job.fit_to_budget = traced_measure, fit_then_stop
    runs = tempfile.mkdtemp(prefix="confirmation-steps-")
    try:
        cli(
            ["train", "--data", args.data, "--preset", "speed", "--time-budget", "10m"]
            + ["--runs-dir", runs, "--verbose", "1"]
        )
    except CalibrationDone as done:
        choice = done.args[0]
        record(
            "confirmation_steps",
            {
                "steps": traces,
                "threads": choice["threads"],
                "flush_denormal": args.flush_denormal,
                "rates": choice["rates"],
            },
            args.json,
        )


if __name__ == "__main__":
    main()
