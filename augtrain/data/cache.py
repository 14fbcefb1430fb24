"""The decoded-image cache: uint8 arrays on disk, keyed by what they came from.

The key hashes everything the decoded pixels depend on (paths, sizes, mtimes,
target size, colour mode, interpolation), so a changed file or option makes a
new entry and a stale one is never read. Entries are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_atomic

FORMAT_VERSION = 1


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """--cache-dir, else $AUGTRAIN_CACHE, else ~/.cache/augtrain."""
    if override:
        return Path(override)
    if os.environ.get("AUGTRAIN_CACHE"):
        return Path(os.environ["AUGTRAIN_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "augtrain"


def content_key(description: Any) -> str:
    """A short stable hash of a JSON-able description of the source."""
    text = json.dumps([FORMAT_VERSION, description], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def load(path: Path) -> dict[str, np.ndarray] | None:
    """Read a cache entry, or None if it is missing or unreadable (then it is rebuilt)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception:
        return None


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_atomic(path, writer)
