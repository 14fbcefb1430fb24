"""The decoded-image cache: uint8 arrays on disk, keyed by what they came from.

The key hashes everything the decoded pixels depend on (paths, sizes, mtimes,
target size, colour mode, interpolation), so a changed file or option makes a
new entry and a stale one is never read. Entries are written atomically; the
temp file of a write that was killed (as large as the entry) is swept by the
next read or write in the same folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_atomic, write_json

FORMAT_VERSION = 1
# A temp file untouched this long belongs to no live write: writes stream continuously.
STALE_TEMP_SECONDS = 600
# ... and one whose writer pid is gone here needs only this long (another machine sharing
# the folder could have a writer with that pid; a live write touches its file constantly).
DEAD_WRITER_TEMP_SECONDS = 30
_TEMP_PID = re.compile(r"\.(\d+)\.[A-Za-z0-9_]+\.tmp$")  # io.atomic_path: .NAME.PID.XXXX.tmp


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


def remember(
    name: str, key: str | None, compute: Callable[[], Any], root: str | os.PathLike | None = None
) -> Any:
    """compute(), kept as JSON in the cache folder under (name, key) and read back on later
    starts: small facts derived from a cached entry's pixels (key: its content key). Without
    a key (arrays handed over in memory) it is computed every time; a cache folder that cannot
    be written only costs the next start the computation."""
    if key is None:
        return compute()
    path = cache_dir(root) / f"{name}-{key}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, value)
    except OSError:
        pass
    return value


def load(path: Path) -> dict[str, np.ndarray] | None:
    """Read a cache entry, or None if it is missing or unreadable (then it is rebuilt).

    Arrays are memory-mapped straight from the (uncompressed) npz: a warm start then
    costs no copy of the pixels and no zip CRC pass over them (half of a warm start's
    data time on 60,000 CIFAR images). Copy-on-write maps: writable in memory, the
    file is never changed.
    """
    # every read sweeps (a listing of one folder): were only misses to sweep, a temp left
    # beside an entry that is then always found would stay for good
    sweep_temp_files(path.parent)
    if not path.exists():
        return None
    try:
        return _map_npz(path)
    except Exception:
        pass
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception:
        return None


def _map_npz(path: Path) -> dict[str, np.ndarray]:
    """Each stored (not deflated) member of an npz as a np.memmap at its data offset."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                raise ValueError(f"{info.filename}: not a stored .npy member")
            # local file header: 30 fixed bytes, then the name and the extra field
            f.seek(info.header_offset)
            local = f.read(30)
            if local[:4] != b"PK\x03\x04":
                raise ValueError("bad local header")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            data_start = info.header_offset + 30 + name_len + extra_len
            f.seek(data_start)
            version = np.lib.format.read_magic(f)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }[version]
            shape, fortran, dtype = read_header(f)
            if dtype.hasobject:
                raise ValueError("object arrays are not cached")
            offset = f.tell()
            count = int(np.prod(shape))
            if offset + count * dtype.itemsize > data_start + info.compress_size:
                raise ValueError("member shorter than its header says")
            key = info.filename[: -len(".npy")]
            if count == 0:
                out[key] = np.empty(shape, dtype)
                continue
            out[key] = np.memmap(
                path,
                dtype=dtype,
                mode="c",
                offset=offset,
                shape=shape,
                order="F" if fortran else "C",
            )
    return out


def sweep_temp_files(folder: Path, now: float | None = None) -> list[Path]:
    """Remove temp files of killed writes from a cache folder: untouched for
    STALE_TEMP_SECONDS, or for DEAD_WRITER_TEMP_SECONDS when their writer pid is dead."""
    now = time.time() if now is None else now
    removed = []
    try:
        temps = list(folder.glob(".*.tmp"))
    except OSError:
        return removed
    for tmp in temps:
        try:
            age = now - tmp.lstat().st_mtime
        except OSError:
            continue
        match = _TEMP_PID.search(tmp.name)
        writer_dead = match is not None and not _pid_alive(int(match.group(1)))
        if age > STALE_TEMP_SECONDS or (writer_dead and age > DEAD_WRITER_TEMP_SECONDS):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass  # another process swept it, or the folder is read-only
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists under another user (or cannot tell): leave its file
    return True


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a cache entry; a cache that cannot be written (read-only, full, a file in the
    way) is a warning: the run goes on with the decoded arrays, uncached."""
    sweep_temp_files(path.parent)

    def writer(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    try:
        write_atomic(path, writer)
    except OSError as e:  # io.WriteError: "cannot write PATH: reason"
        print(f"warning: decoded images not cached ({e}); set --cache-dir", file=sys.stderr)
