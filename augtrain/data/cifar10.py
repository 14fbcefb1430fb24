"""CIFAR-10 in the official `cifar-10-python.tar.gz` format.

`--data cifar10` downloads the tarball (with a progress bar) into the cache
folder and checks its md5 before anything trusts it; the download goes to a temp
name and is renamed only after the check passes, so a failed or corrupt
download leaves nothing behind. A local tarball or an extracted
`cifar-10-batches-py/` folder can be given as a path instead.

The batches are pickles, and a plain `pickle.loads` runs whatever code a file
names: a tarball or folder from anywhere would be a program. They are read
with `BatchUnpickler`, which resolves only the few names the official batches
reference (numpy's array reconstruction), so a file naming anything else is
refused, not run. A local tarball whose md5 is not the official one is read
that way too, with a warning that says so.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..download import download as fetch
from ..download import file_digest
from ..errors import AugtrainError
from . import cache
from .arrays import Dataset, ImageArrays

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
TARBALL = "cifar-10-python.tar.gz"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def md5sum(path: Path) -> str:
    return file_digest(path, "md5")


def download(url: str, dest: Path, md5: str, timeout: float = 30.0) -> Path:
    """Download url to dest, verifying md5; dest appears only if the check passes."""
    return fetch(
        url,
        dest,
        md5=md5,
        what="CIFAR-10",
        offline_hint=f"without network, pass --data with a local {TARBALL}, "
        "a cifar-10-batches-py/ folder or a folder of images",
        timeout=timeout,
    )


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The names a CIFAR-10 batch may reference: numpy's array reconstruction, under the
    numpy 1.x (`numpy.core`) and 2.x (`numpy._core`) module names alike."""
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2 (1.26 has the alias too)
    except ImportError:  # pragma: no cover - numpy < 1.26
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3's protocol 2 pickles write bytes as _codecs.encode(str, "latin1")
        ("_codecs", "encode"): __import__("codecs").encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5
    return allowed


class BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, numbers and numpy arrays:
    any other name a pickle references (os.system, builtins.eval, ...) is refused."""

    allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"it references {module}.{name}, which a CIFAR-10 batch never does"
            )
        return found


def safe_unpickle(raw: bytes) -> Any:
    """`pickle.loads(raw, encoding="bytes")` that can only build plain data (see BatchUnpickler)."""
    return BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()


def _unpickle(raw: bytes, name: str, what: str) -> dict:
    try:
        obj = safe_unpickle(raw)
    except pickle.UnpicklingError as e:
        raise AugtrainError(f"{name}: not a CIFAR-10 {what} ({_one_line(e)}); not loaded") from None
    except Exception:
        raise AugtrainError(f"{name}: not a CIFAR-10 {what} (not a readable pickle)") from None
    if not isinstance(obj, dict):
        raise AugtrainError(f"{name}: not a CIFAR-10 {what} (a {type(obj).__name__}, not a dict)")
    return obj


def _one_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _decode_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(raw, name, "python batch")
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
        ok = (
            data.dtype == np.uint8
            and data.ndim == 2
            and data.shape[1] == 3072
            and labels.shape == (len(data),)
            and np.issubdtype(labels.dtype, np.integer)
        )
    except Exception:
        ok = False
    if not ok:
        raise AugtrainError(
            f"{name}: not a CIFAR-10 python batch (needs b'data' uint8 (N, 3072) and N b'labels')"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise AugtrainError(f"{name}: label {int(labels.max())} outside CIFAR-10's 0..9")
    # Rows are 3072 bytes: 1024 red, 1024 green, 1024 blue, each 32x32 row-major.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels.astype(np.int64)


def _read_members(read: callable, where: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name in [*TRAIN_BATCHES, TEST_BATCH]:
        raw = read(name)
        if raw is None:
            raise AugtrainError(f"{where}: {name} is missing; not a cifar-10-batches-py set")
        out[name] = _decode_batch(raw, f"{where}/{name}")
    return out


def _read_meta(read: callable, where: str) -> list[str]:
    raw = read("batches.meta")
    if raw is None:
        return list(CLASSES)
    name = f"{where}/batches.meta"
    meta = _unpickle(raw, name, "batches.meta")
    names = meta.get(b"label_names", meta.get("label_names"))
    if not isinstance(names, list) or len(names) != 10:
        raise AugtrainError(f"{name}: not a CIFAR-10 batches.meta (needs 10 label_names)")
    out = [n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in names]
    if len(set(out)) != len(out):
        raise AugtrainError(f"{name}: label_names repeat a name ({', '.join(out)})")
    return out


def check_md5(path: Path) -> None:
    """Warn when a local tarball is not the official one (it is still read safely)."""
    digest = md5sum(path)
    if digest != MD5:
        warnings.warn(
            f"{path}: md5 {digest} is not the official {TARBALL}'s ({MD5}); reading it anyway "
            "(its batches may only hold plain arrays, never code)",
            stacklevel=4,
        )


def read_tarball(path: Path) -> tuple[dict, list[str]]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

            def read(name: str) -> bytes | None:
                m = members.get(name)
                return None if m is None else tar.extractfile(m).read()

            return _read_members(read, str(path)), _read_meta(read, str(path))
    except (tarfile.TarError, EOFError, OSError, io.UnsupportedOperation) as e:
        raise AugtrainError(f"{path}: not a readable cifar-10-python.tar.gz ({e})") from None


def read_folder(path: Path) -> tuple[dict, list[str]]:
    def read(name: str) -> bytes | None:
        f = path / name
        if not f.is_file():  # is_file follows links and is False for FIFOs: never blocks
            return None
        try:
            return f.read_bytes()
        except OSError as e:
            raise AugtrainError(f"{f}: cannot read ({e.strerror or e})") from None

    return _read_members(read, str(path)), _read_meta(read, str(path))


def is_cifar_path(path: Path) -> bool:
    """A cifar tarball or a folder holding the python batches."""
    if path.is_file():
        return path.name.endswith((".tar.gz", ".tgz"))
    return path.is_dir() and (path / "data_batch_1").is_file()


def load_cifar10(
    path: Path | None = None,
    cache_root: Path | None = None,
    url: str | None = None,
    use_cache: bool = True,
) -> Dataset:
    """CIFAR-10 from a path (tarball or batches folder) or, with path None, the download."""
    cache_root = cache_root or cache.cache_dir()
    if path is None:
        path = cache_root / TARBALL
        if not path.exists():
            download(url or os.environ.get("AUGTRAIN_CIFAR10_URL", URL), path, MD5)
    if not path.exists():
        raise AugtrainError(f"--data {path}: no such file or folder")
    st = path.stat()
    key = cache.content_key(
        {"cifar10": str(path.resolve()), "size": st.st_size, "mtime": st.st_mtime_ns}
    )
    entry = cache_root / f"cifar10-{key}.npz"
    cached = cache.load(entry) if use_cache else None
    if cached is None:
        if path.is_file():
            check_md5(path)
            batches, classes = read_tarball(path)
        else:
            batches, classes = read_folder(path)
        train_x = np.concatenate([batches[n][0] for n in TRAIN_BATCHES])
        train_y = np.concatenate([batches[n][1] for n in TRAIN_BATCHES])
        test_x, test_y = batches[TEST_BATCH]
        cached = {
            "train_x": train_x,
            "train_y": train_y,
            "test_x": test_x,
            "test_y": test_y,
            "classes": np.asarray(classes),
        }
        if use_cache:
            cache.save(entry, cached)
    classes = [str(c) for c in cached["classes"]]
    train = ImageArrays(cached["train_x"], cached["train_y"], fingerprint=key)
    test = ImageArrays(cached["test_x"], cached["test_y"], fingerprint=key)
    return Dataset(
        classes, train, None, test, {"kind": "cifar10", "path": str(path), "fingerprint": key}
    )
