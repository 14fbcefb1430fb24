"""Atomic writes: every file augtrain writes goes to a temp name, then is renamed.

A reader (a later run, `--resume`, `evaluate`) therefore sees either the old
complete file or the new complete one, never a truncated one, even if the
process is killed mid-write.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import AugtrainError


class WriteError(AugtrainError, OSError):
    """A file augtrain must write cannot be: read-only or full disk, a folder in the way,
    a name too long. Both a user error (one line, exit 2) and an OSError, so code that
    goes on without an optional file (the cache) keeps catching OSError."""


def write_error(path: str | os.PathLike, error: BaseException) -> WriteError:
    """`cannot write PATH: reason`, the reason without errno numbers or repeated paths."""
    blocker = _file_in_the_way(Path(path))
    if blocker is not None:
        return WriteError(f"cannot write {path}: {blocker} is a file, not a folder")
    reason = getattr(error, "strerror", None) or str(error).splitlines()[0] or type(error).__name__
    return WriteError(f"cannot write {path}: {reason}")


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest ancestor of `path` that exists, if it is not a folder (mkdir then says
    only 'File exists')."""
    for parent in path.parents:
        try:
            if parent.exists():
                return None if parent.is_dir() else parent
        except OSError:
            return None
    return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to `path`; on success fsync it and rename it onto `path`."""
    path = Path(path)
    try:
        if path.is_dir():  # os.replace would say so only after the whole file is written
            raise WriteError(f"cannot write {path}: it is a folder; give a file name")
        path.parent.mkdir(parents=True, exist_ok=True)
        # a name near the length limit must not fail on its longer temp name; the writer's
        # pid in it lets a shared folder's sweep tell a killed write's temp from a live one
        # (data.cache.sweep_temp_files)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name[:200]}.{os.getpid()}.", suffix=".tmp", dir=path.parent
        )
    except WriteError:
        raise
    except OSError as e:
        raise write_error(path, e) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except WriteError:
        raise
    except OSError as e:
        raise write_error(path, e) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def make_folder(path: str | os.PathLike) -> Path:
    """mkdir -p, with `cannot write PATH: reason` for a read-only place or a file in the way."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if path.exists() and not path.is_dir():
            raise WriteError(f"cannot write {path}: it is a file, not a folder") from None
        raise write_error(path, e) from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], Any]) -> None:
    """Call writer(tmp_path), then move the result onto path."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON in `path`; a damaged or unreadable file is a one-line error naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AugtrainError(f"{path}: damaged file (not UTF-8 text)") from None
    except ValueError as e:
        raise AugtrainError(f"{path}: damaged file (not valid JSON: {e})") from None
    except OSError as e:
        raise AugtrainError(f"cannot read {path}: {e.strerror or e}") from None


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    import torch

    def writer(tmp: Path) -> None:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # torch's zip writer reports a failed write (full disk) so
            if "PytorchStreamWriter" not in str(e) and "write" not in str(e):
                raise
            raise write_error(path, OSError(_write_failure(Path(tmp).parent))) from None

    write_atomic(path, writer)


def _write_failure(folder: Path) -> str:
    """Why a write failed when the writer did not say: most often a full disk."""
    import shutil

    try:
        if shutil.disk_usage(folder).free < 64 * 2**20:
            return "No space left on device"
    except OSError:
        pass
    return "the write failed"


def save_figure(path: str | os.PathLike, fig: Any, **kwargs: Any) -> None:
    """Save a matplotlib figure atomically (format taken from the final suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    write_atomic(path, lambda p: fig.savefig(p, format=fmt, **kwargs))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
