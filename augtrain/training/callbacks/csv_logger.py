"""CSVLogger: one row per epoch, in Keras' format."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch

from ...io import write_text
from .base import Callback


class CSVLogger(Callback):
    """One row per epoch in a CSV file, as Keras: an `epoch` column counted from 0, then the
    logged metrics in sorted order. `append=True` keeps the rows of an earlier file.

    The whole file is rewritten atomically each epoch (rows are kept in the callback's
    state), so a killed and resumed run leaves exactly one row per epoch.
    """

    def __init__(self, filename: str | Path, separator: str = ",", append: bool = False) -> None:
        self.filename, self.sep, self.append = filename, separator, append
        self.prefix = ""
        self.keys: list[str] | None = None
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.resumed:
            return
        self.keys, self.rows, self.prefix = None, [], ""
        path = self.resolve_path(self.filename)
        if self.append and path.exists():
            text = path.read_text(encoding="utf-8")
            self.prefix = text if not text or text.endswith("\n") else text + "\n"
            header = next(csv.reader(io.StringIO(text), delimiter=self.sep), None)
            self.keys = [k for k in header[1:]] if header else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {k: v for k, v in (logs or {}).items() if k != "epoch"}
        if self.keys is None:
            self.keys = sorted(logs)
        self.rows.append({"epoch": epoch, **{k: _csv_value(logs.get(k, "NA")) for k in self.keys}})
        if not self.is_main:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf,
            ["epoch", *self.keys],
            delimiter=self.sep,
            lineterminator="\n",
            extrasaction="ignore",
        )
        if not self.prefix:
            writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.resolve_path(self.filename), self.prefix + buf.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "keys": self.keys, "rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prefix, self.keys = state["prefix"], state["keys"]
        self.rows = [dict(r) for r in state["rows"]]


def _csv_value(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        v = v.item() if v.numel() == 1 else v.tolist()
    if isinstance(v, (list, tuple)):
        return '"[' + ", ".join(map(str, v)) + ']"'
    return v
