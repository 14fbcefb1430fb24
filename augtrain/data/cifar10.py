"""CIFAR-10 in the official `cifar-10-python.tar.gz` format.

`--data cifar10` downloads the tarball (with a progress bar) into the cache
folder and checks its md5 before anything trusts it; the download goes to a temp
name and is renamed only after the check passes, so a failed or corrupt
download leaves nothing behind. A local tarball or an extracted
`cifar-10-batches-py/` folder can be given as a path instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ..errors import AugtrainError
from ..io import atomic_path
from . import cache
from .arrays import Dataset, ImageArrays

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
TARBALL = "cifar-10-python.tar.gz"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, md5: str, timeout: float = 30.0) -> Path:
    """Download url to dest, verifying md5; dest appears only if the check passes."""
    from ..progress import progress_bar

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(dest) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            digest = hashlib.md5()
            with open(tmp, "wb") as f, progress_bar(
                total, f"downloading {dest.name}", "B", leave=True, unit_scale=True
            ) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    f.write(block)
                    digest.update(block)
                    bar.update(len(block))
            if digest.hexdigest() != md5:
                raise AugtrainError(
                    f"checksum mismatch for {url}: md5 {digest.hexdigest()}, expected {md5}; nothing was kept"
                )
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise AugtrainError(
            f"cannot download CIFAR-10 from {url} ({reason}); without network, pass --data "
            f"with a local {TARBALL}, a cifar-10-batches-py/ folder or a folder of images"
        ) from None
    return dest


def _decode_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.loads(raw, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception:
        raise AugtrainError(f"{name}: not a CIFAR-10 python batch") from None
    # Rows are 3072 bytes: 1024 red, 1024 green, 1024 blue, each 32x32 row-major.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def _read_members(read: callable, where: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name in [*TRAIN_BATCHES, TEST_BATCH]:
        raw = read(name)
        if raw is None:
            raise AugtrainError(f"{where}: {name} is missing; not a cifar-10-batches-py set")
        out[name] = _decode_batch(raw, f"{where}/{name}")
    return out


def _read_meta(read: callable) -> list[str]:
    raw = read("batches.meta")
    if raw is None:
        return ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = pickle.loads(raw, encoding="bytes")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"]]


def read_tarball(path: Path) -> tuple[dict, list[str]]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

            def read(name: str) -> bytes | None:
                m = members.get(name)
                return None if m is None else tar.extractfile(m).read()

            return _read_members(read, str(path)), _read_meta(read)
    except (tarfile.TarError, EOFError, OSError, io.UnsupportedOperation) as e:
        raise AugtrainError(f"{path}: not a readable cifar-10-python.tar.gz ({e})") from None


def read_folder(path: Path) -> tuple[dict, list[str]]:
    def read(name: str) -> bytes | None:
        f = path / name
        return f.read_bytes() if f.is_file() else None

    return _read_members(read, str(path)), _read_meta(read)


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
    key = cache.content_key({"cifar10": str(path.resolve()), "size": st.st_size, "mtime": st.st_mtime_ns})
    entry = cache_root / f"cifar10-{key}.npz"
    cached = cache.load(entry) if use_cache else None
    if cached is None:
        batches, classes = read_tarball(path) if path.is_file() else read_folder(path)
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
    return Dataset(classes, train, None, test, {"kind": "cifar10", "path": str(path), "fingerprint": key})
