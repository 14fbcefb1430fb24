"""`augtrain runs [DIR]`: list the run folders in DIR (default runs/), oldest first.

Shows model, augmentation, epochs trained (of those planned), best validation
accuracy, test accuracy (metrics.json; '-' while a run is unfinished) and the date.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("runs", help="list runs", description=__doc__)
    p.add_argument("dir", nargs="?", type=Path, default=Path("runs"), help="default runs/")
    p.set_defaults(func=run)


def find_runs(root: Path) -> list[Path]:
    """Run folders: DIR itself if it is one, else its subfolders holding config.json
    (hidden ones skipped: a run --overwrite holds aside until its replacement saves)."""
    from ..runfolder import run_dirs

    return run_dirs(root)


def run(args: argparse.Namespace) -> int:
    from ..errors import AugtrainError
    from ..report.evaluation import read_run_summary
    from .compare import fmt

    if not args.dir.is_dir():
        raise AugtrainError(f"{args.dir}: no such folder")
    summaries = []
    for path in find_runs(args.dir):
        try:
            summaries.append(read_run_summary(path))
        except (OSError, ValueError, AugtrainError) as e:  # a damaged run is listed, not fatal
            summaries.append({"name": path.name, "error": str(e).splitlines()[0][:60]})
    if not summaries:
        print(f"no runs in {args.dir}")
        return 0
    summaries.sort(key=lambda s: (s.get("created", ""), s["name"]))
    header = ["run", "model", "augment", "epochs", "best val", "test acc", "date"]
    rows = []
    for s in summaries:
        if "error" in s:
            rows.append([s["name"], f"(unreadable: {s['error']})", "", "", "", "", ""])
            continue
        planned = s["epochs_planned"]
        rows.append(
            [
                s["name"],
                s["model"],
                s["augment"],
                f"{s['epochs']}/{planned}"
                if planned and planned != s["epochs"]
                else str(s["epochs"]),
                fmt(s["best_val_accuracy"]),
                fmt(s["test_accuracy"]),
                s["created"].replace("T", " ")[:16],
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        cells = [
            c.rjust(w) if i in (3, 4, 5) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ]
        print("  ".join(cells).rstrip())
    return 0
