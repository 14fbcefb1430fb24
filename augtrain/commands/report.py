"""`augtrain report RUN`: one self-contained HTML page about a run.

Configuration, augmentation preview, learning curves, test metrics, confusion
matrices, per-class table, sample and most confidently wrong predictions; every
image is embedded, so the single file opens anywhere. Sections that need the
data (a run trained on in-memory arrays has none on disk: pass --data) are
replaced by a note when it cannot be loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..runfolder import LAST

EXAMPLES = """examples:
  augtrain report runs/cnn4-20261123-120000                  # -> RUN/report.html
  augtrain report runs/cnn4-20261123-120000 --out cnn4.html
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="run folder")
    p.add_argument("--out", type=Path, help="HTML file (default RUN/report.html)")
    p.add_argument("--data", help="data to evaluate on instead of the run's own")
    p.add_argument("--checkpoint", default=LAST, help="last.pt (default) or best.pt")
    p.add_argument("--tta", metavar="MODE", help="none, flip, flip-translate (default: the run's)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import runfolder
    from ..io import write_text
    from ..report.tta import tta_views
    from ..runfolder import check_run_dir
    from ..training.evaluate import build_report

    if args.tta is not None:
        tta_views(args.tta)
    run_dir = check_run_dir(args.run)
    page = build_report(run_dir, args.data, args.checkpoint, args.tta, args.device)
    out = args.out or run_dir / runfolder.REPORT
    write_text(out, page)
    print(f"report: {out} ({len(page.encode()) / 1e6:.1f} MB)")
    return 0
