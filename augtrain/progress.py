"""Progress bars: the one place that decides where a bar can be drawn.

A terminal gets tqdm's bar on stderr, redrawn in place. A Jupyter kernel gets tqdm's
widget when ipywidgets is installed, else tqdm's plain bar on stderr (the notebook honours
the carriage returns, so it also redraws in place). Anything else (a pipe, a log file, CI)
gets no bar: the callers' one line per epoch is all a log should hold.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

BarKind = Literal["terminal", "notebook-widget", "notebook-text"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (not a terminal IPython, not plain Python)."""
    ipython = sys.modules.get("IPython")  # never imported here: a kernel has done it already
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # a half-imported or stubbed IPython
        return False
    if shell is None:
        return False
    # tqdm.autonotebook's test, plus the kernel attribute every ipykernel shell has
    return (
        "IPKernelApp" in getattr(shell, "config", {}) or getattr(shell, "kernel", None) is not None
    )


def _widgets_available() -> bool:
    try:
        from tqdm.notebook import IProgress
    except ImportError:
        return False
    return IProgress is not None


def bar_kind() -> BarKind | None:
    """Which bar this process can show now, or None where nobody watches it redraw."""
    if in_notebook():
        return "notebook-widget" if _widgets_available() else "notebook-text"
    isatty = getattr(sys.stderr, "isatty", None)
    return "terminal" if isatty is not None and isatty() else None


def progress_bar(
    total: int | float | None, desc: str, unit: str, *, leave: bool = False, **kwargs: Any
) -> Any:
    """A tqdm bar of the kind `bar_kind` picks; a disabled one (every call a no-op, `.disable`
    true) where no bar can be shown. Extra keywords go to tqdm (`initial`, `unit_scale`)."""
    kind = bar_kind()
    if kind == "notebook-widget":
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(total=total, desc=desc, unit=unit, leave=leave, **kwargs)
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        file=sys.stderr,
        # a terminal's width can change; a notebook's stderr has none, tqdm's default fits
        dynamic_ncols=kind == "terminal",
        disable=kind is None,
        **kwargs,
    )
