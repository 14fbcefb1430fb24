"""`augtrain compare RUN RUN...`: runs side by side.

One table (final and best validation accuracy, test accuracy, epochs, training
time, augmentation) and one figure with their learning curves overlaid (validation
solid, training dashed, one colour per run), e.g. the tutorial's comparison of the
same model trained with and without augmentation. Reads only the run folders'
files (config.json, history.csv, metrics.json); nothing is recomputed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  augtrain compare runs/cnn4-none runs/cnn4-crop-flip --out compare.png
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="compare runs: table and overlaid learning curves",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders")
    p.add_argument(
        "--out", type=Path, default=Path("compare.png"), help="figure file (default compare.png)"
    )
    p.set_defaults(func=run)


def fmt(value: float | None, pattern: str = "{:.4f}") -> str:
    return "-" if value is None else pattern.format(value)


def table(summaries: list[dict[str, Any]]) -> str:
    """The comparison table as aligned text."""
    header = ["run", "model", "augment", "epochs", "time", "final val", "best val", "test acc"]
    rows = [
        [
            s["name"],
            s["model"],
            s["augment"],
            str(s["epochs"]),
            fmt(s["seconds"], "{:.1f}s"),
            fmt(s["final_val_accuracy"]),
            fmt(s["best_val_accuracy"]),
            fmt(s["test_accuracy"]),
        ]
        for s in summaries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..errors import AugtrainError
    from ..report.evaluation import read_run_summary
    from ..report.plots import compare_figure, save
    from ..runfolder import check_run_dir

    summaries = [read_run_summary(check_run_dir(r)) for r in args.runs]
    print(table(summaries))
    names = [s["name"] for s in summaries]
    if len(set(names)) < len(names):  # same folder name in different places
        names = [s["path"] for s in summaries]
    curves = [(n, s["history"]) for n, s in zip(names, summaries) if s["history"]]
    if not curves:
        raise AugtrainError("none of these runs has a history.csv to plot")
    if args.out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise AugtrainError(f"--out {args.out}: use a .png, .svg or .pdf file name")
    save(compare_figure(curves), args.out)
    print(f"learning curves: {args.out}")
    return 0
