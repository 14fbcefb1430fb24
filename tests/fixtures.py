"""Small datasets made on the fly: no test needs the network or the shared data."""

from __future__ import annotations

import io
import os
import pickle
import signal
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def synthetic_images(
    n: int, size: int = 16, classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is visible (a bright band at a class-specific row), so models can learn."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    rng.shuffle(y)
    x = rng.integers(0, 120, (n, size, size, 3), dtype=np.uint8)
    band = max(1, size // (2 * classes))
    for c in range(classes):
        rows = slice(c * 2 * band, c * 2 * band + band)
        x[y == c, rows, :, c % 3] = 250
    return x, y.astype(np.int64)


def synthetic_arrays(
    n: int,
    size: int = 16,
    n_test: int = 16,
    seed: int = 0,
    names: Sequence[str] = "rgb",
    n_val: int = 0,
) -> dict:
    """`augtrain.train(data=...)`'s arrays: `n` training and `n_test` test images of one
    class per name (r, g, b by default), the test ones from the next seed, and with `n_val`
    a validation split from the seed after that."""
    x, y = synthetic_images(n, size, len(names), seed)
    xt, yt = synthetic_images(n_test, size, len(names), seed + 1)
    arrays = {"x": x, "y": y, "x_test": xt, "y_test": yt, "classes": np.array(list(names))}
    if n_val:
        arrays["x_val"], arrays["y_val"] = synthetic_images(n_val, size, len(names), seed + 2)
    return arrays


def signal_at(step: int, signum: int = signal.SIGINT) -> Any:
    """A callback that sends this process `signum` (Ctrl-C by default) after optimizer step
    `step`, as a user's interrupt arrives mid-run."""
    from augtrain.training.callbacks import Callback

    class SignalAt(Callback):
        def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if self.trainer.global_step == step:
                os.kill(os.getpid(), signum)

    return SignalAt()


def write_image_folder(
    root: Path, per_class: int = 6, classes=("cat", "dog", "eel"), size=12, fmt="png"
) -> Path:
    """root/<class>/NNN.<fmt> images; returns root."""
    from PIL import Image

    x, y = synthetic_images(per_class * len(classes), size, len(classes))
    counts = dict.fromkeys(range(len(classes)), 0)
    for img, label in zip(x, y):
        folder = root / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{counts[label]:03d}.{fmt}")
        counts[label] += 1
    return root


def cifar_batches(per_batch: int = 10, seed: int = 0) -> dict[str, dict]:
    """The six python batches of the official format, tiny."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(per_batch)]
        out[name] = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"{j}.png".encode() for j in range(per_batch)],
        }
    return out


def write_cifar_tarball(path: Path, per_batch: int = 10) -> Path:
    """A cifar-10-python.tar.gz in the official layout (cifar-10-batches-py/...)."""
    members = {name: pickle.dumps(b) for name, b in cifar_batches(per_batch).items()}
    members["batches.meta"] = pickle.dumps({b"label_names": [c.encode() for c in CIFAR_CLASSES]})
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path
