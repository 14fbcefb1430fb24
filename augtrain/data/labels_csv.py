"""Labels from a CSV file, as users have them (fastai's `ImageDataLoaders.from_csv`,
Keras' `flow_from_dataframe`): one row per image, a column with its file and one with
its class name. File paths are relative to `root` (--data DIR, else the CSV's folder).

Several labels in one cell, split at `label_delim` (a space by default, fastai's
`label_delim`), make the data multi-label: multi-hot rows of float32 (N, labels), one
column per label in sorted order (report/multilabel.py). `label_delim` "" (or None)
reads each cell whole, as one label.

`multi_label` says how cells are read: True splits them (--label-mode multi), False
reads each whole (--label-mode categorical or binary given: one class per image, so
"golden retriever" is one class), None (no --label-mode given) decides from the cells:

    no cell holds the delimiter                    one class per image
    the parts combine: some part is found in two   multi-label ("clear primary",
      different cells ("primary", "clear primary")   "haze primary water")
    the parts never combine: each part only ever   one class per image, each cell
      in one cell ("golden retriever", "german        whole: splitting would only make
      shepherd", "pug")                              labels that always come together
    --classes names every cell as it is            one class per image, each cell whole

The decision is kept in the Dataset's source (`labels_read`: "multi" or "whole", with
an `labels_example` cell) for the one line that says it (report.multilabel).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..errors import AugtrainError
from . import cache
from .arrays import Dataset, ImageArrays
from .folder import decode_cached


def _column(header: list[str], column: str | int, what: str, csv_path: Path) -> int:
    """The index of `column`: a header name, or a 0-based position (fastai's default)."""
    if isinstance(column, int) or str(column).isdigit():
        index = int(column)
        if index >= len(header):
            raise AugtrainError(f"{csv_path}: {what} {index} but the CSV has {len(header)} columns")
        return index
    if column not in header:
        raise AugtrainError(
            f"{csv_path}: no column {column!r} for {what} (columns: {', '.join(header)})"
        )
    return header.index(column)


def read_labels(
    csv_path: Path, root: Path, fn_col: str | int = 0, label_col: str | int = 1
) -> tuple[list[str], list[str], list[str]]:
    """(paths, names as written, labels) of each row; one-line errors naming the row."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AugtrainError(f"--labels {csv_path}: cannot read ({e})") from None
    if len(rows) < 2:
        raise AugtrainError(f"--labels {csv_path}: no rows below the header")
    header = [h.strip() for h in rows[0]]
    fi = _column(header, fn_col, "--fn-col", csv_path)
    li = _column(header, label_col, "--label-col", csv_path)
    paths, names, labels = [], [], []
    for number, row in enumerate(rows[1:], start=2):  # row numbers as a spreadsheet shows
        if not any(cell.strip() for cell in row):
            continue
        where = f"{csv_path}: row {number}"
        if len(row) <= max(fi, li):
            raise AugtrainError(f"{where}: {len(row)} columns, expected {len(header)}")
        name, label = row[fi].strip(), row[li].strip()
        if not name:
            raise AugtrainError(f"{where}: empty file name")
        if not label:
            raise AugtrainError(f"{where}: empty label for {name}")
        path = root / name
        if not path.is_file():
            raise AugtrainError(f"{where}: no such file {name} (in {root})")
        paths.append(str(path))
        names.append(name)
        labels.append(label)
    if not paths:
        raise AugtrainError(f"--labels {csv_path}: no rows below the header")
    return paths, names, labels


def load_labels_csv(
    csv_path: str | os.PathLike,
    root: str | os.PathLike | None,
    target_size: tuple[int, int] | None,
    color_mode: str,
    interpolation: str,
    classes: list[str] | None,
    validation_split: float,
    cache_root: Path,
    fn_col: str | int = 0,
    label_col: str | int = 1,
    use_cache: bool = True,
    keep_aspect_ratio: bool = False,
    label_delim: str | None = " ",
    multi_label: bool | None = None,
) -> Dataset:
    """A Dataset of the CSV's rows; `validation_split` holds out the first fraction of
    each class's rows, as a class-folder tree's split does (multi-label: of all rows).
    Multi-label as `multi_label` says (see the module docstring; None: from the cells)."""
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise AugtrainError(f"--labels {csv_path}: no such file")
    base = Path(root).expanduser() if root is not None else csv_path.parent
    paths, names, labels = read_labels(csv_path, base, fn_col, label_col)
    lists = [
        tuple(dict.fromkeys(p.strip() for p in label.split(label_delim) if p.strip()))
        if label_delim and multi_label is not False
        else (label,)
        for label in labels
    ]
    split_cells = [label for label, row in zip(labels, lists) if len(row) > 1]
    detected = None  # what the cells said, when they were looked at (multi_label None)
    if multi_label is None and split_cells:
        named = classes is not None and set(labels) <= set(classes)  # --classes names cells
        detected = "multi" if not named and parts_combine(lists) else "whole"
    multi = bool(multi_label) or detected == "multi"
    if detected == "whole":
        lists = [(label,) for label in labels]
    if multi:
        found = sorted({label for row in lists for label in row})
    else:
        found = sorted(set(labels))
    if classes is not None:
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise AugtrainError(
                f"{csv_path}: label(s) {', '.join(map(repr, unknown[:5]))} not in --classes"
            )
        found = list(classes)
    if len(found) < 2:
        raise AugtrainError(f"{csv_path}: only one label ({found[0]!r}); a classifier needs two")
    index = {c: i for i, c in enumerate(found)}
    if multi:
        y = multi_hot(lists, found)
    else:
        y = np.asarray([index[label] for label in labels], dtype=np.int64)
    source = {"labels": str(csv_path.resolve()), "root": str(base.resolve())}
    val_rows = np.zeros(len(y), dtype=bool)
    if validation_split and multi:  # no class to stratify by: the first rows
        val_rows[: int(len(y) * validation_split)] = True
    elif validation_split:
        for c in range(len(found)):
            rows = np.flatnonzero(y == c)
            val_rows[rows[: int(len(rows) * validation_split)]] = True
        if not val_rows.any():
            raise AugtrainError(
                f"--validation-split {validation_split} holds out no row of {csv_path}; "
                "use a larger split"
            )
    keys = []

    def part(mask: np.ndarray) -> ImageArrays:
        # each split its own cache entry: read back memory-mapped, never copied out of a
        # larger one (data larger than memory; see data/placement.py)
        rows = np.flatnonzero(mask)
        part_names = [names[i] for i in rows]
        x, key = decode_cached(
            [paths[i] for i in rows], part_names, y[rows], source, "csv", target_size,
            color_mode, interpolation, cache_root, use_cache, desc="decoding",
            keep_aspect_ratio=keep_aspect_ratio,
        )  # fmt: skip
        keys.append(key)
        return ImageArrays(x, y[rows], part_names, key)

    train = part(~val_rows)
    val = part(val_rows) if validation_split else None
    return Dataset(
        found,
        train,
        val,
        None,
        {
            "kind": "labels-csv",
            "labels": str(csv_path.resolve()),
            "path": str(base.resolve()),
            "target_size": target_size,
            "color_mode": color_mode,
            "interpolation": interpolation,
            **({"keep_aspect_ratio": True} if keep_aspect_ratio else {}),
            **({"label_mode": "multi", "label_delim": label_delim} if multi else {}),
            **({"labels_read": detected, "labels_example": split_cells[0]} if detected else {}),
            "fingerprint": keys[0] if len(keys) == 1 else cache.content_key(keys),
        },
    )


def parts_combine(label_lists: list[tuple[str, ...]]) -> bool:
    """Whether some label is found in two different cells (alone and with others, or
    with different others): what makes split cells sets of labels rather than class
    names that happen to hold the delimiter."""
    seen: dict[str, tuple[str, ...]] = {}
    for row in set(label_lists):
        for label in row:
            if seen.setdefault(label, row) != row:
                return True
    return False


def multi_hot(label_lists: list[tuple[str, ...]], classes: list[str]) -> np.ndarray:
    """(N, len(classes)) float32 rows with a 1 at each of an image's labels."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.zeros((len(label_lists), len(classes)), np.float32)
    for row, labels in enumerate(label_lists):
        y[row, [index[label] for label in labels]] = 1.0
    return y
