"""Folders of class subfolders, read the way Keras' `flow_from_directory` reads them.

    root/<class>/**/<image>                      one pool, split by --validation-split
    root/train/<class>/..., root/test|val/<class>/...   separate splits

Classes are the subfolder names in sorted order (or the list given); files are
walked recursively in sorted order; `validation_split` takes, per class, the
first fraction of that order as validation and the rest as training, as Keras
does. Images are decoded once, in parallel, into the uint8 cache.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ..errors import AugtrainError
from . import cache
from .arrays import Dataset, ImageArrays
from .workers import decode_executor

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
COLOR_MODES = {"rgb": ("RGB", 3), "grayscale": ("L", 1), "rgba": ("RGBA", 4)}
SPLIT_DIRS = {"train": ("train",), "test": ("test",), "val": ("val", "valid", "validation")}


def list_classes(root: Path, classes: list[str] | None = None) -> list[str]:
    """Class names: the given list (each must be a subfolder), else sorted subfolders."""
    if classes:
        repeated = sorted({c for c in classes if list(classes).count(c) > 1})
        if repeated:
            raise AugtrainError(f"classes: {', '.join(map(repr, repeated))} given more than once")
        for name in classes:
            if not (root / name).is_dir():
                raise AugtrainError(f"{root}: class folder {name!r} not found")
        return list(classes)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def walk_image_files(
    directory: Path | str, follow_links: bool = False, skipped: list[str] | None = None
) -> list[str]:
    """Image files below `directory` as path strings, in Keras' order (os.walk's folders
    sorted by path, files by name). os.walk's walk, on os.scandir entries: their paths are
    joined in C (faster than os.walk + os.path.join on 60,000 files). Strings, not Paths:
    building 60k Path objects is slow.

    Only regular files (or links to them) are listed: a FIFO named `x.jpg` would block the
    decoder forever, a broken or looping link cannot be read; they are skipped, with one
    warning (or, given a `skipped` list, appended to it for the caller to warn once). With follow_links each folder is entered once (by device and inode), so a link
    to a folder above (`self -> .`) cannot list the same images again and again; real
    folders are walked before linked ones, so an image is listed under its real path."""
    folders: list[tuple[str, list[str]]] = []
    pending = [os.fspath(directory)]
    linked: list[str] = []
    seen: set[tuple[int, int]] = set()
    warn_here = skipped is None
    skipped = [] if skipped is None else skipped
    while pending or linked:
        if pending:
            folder = pending.pop()
        else:
            linked.sort(reverse=True)  # smallest path first: the same walk on every run
            folder = linked.pop()
        if follow_links:
            try:
                st = os.stat(folder)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        files = []
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    if is_dir:
                        # as os.walk: a linked folder is listed but entered only if asked
                        if not entry.is_symlink():
                            pending.append(entry.path)
                        elif follow_links:
                            linked.append(entry.path)
                    elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
                        try:
                            regular = entry.is_file()  # follows links; False for FIFOs
                        except OSError:  # a looping link
                            regular = False
                        (files if regular else skipped).append(entry.path)
        except OSError:
            continue  # os.walk skips folders it cannot read
        files.sort()
        folders.append((folder, files))
    if warn_here:
        warn_skipped(skipped)
    folders.sort(key=lambda t: t[0])
    return [f for _, files in folders for f in files]


def warn_skipped(skipped: list[str]) -> None:
    """One warning for the non-regular files a walk left out."""
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} file(s) named like images that are not regular files "
            f"(FIFOs, sockets, broken or looping links), e.g. {min(skipped)}",
            stacklevel=3,
        )


def iter_image_files(directory: Path, follow_links: bool = False) -> list[Path]:
    """`walk_image_files` as Path objects."""
    return [Path(p) for p in walk_image_files(directory, follow_links)]


def list_images(
    root: Path,
    classes: list[str],
    split: tuple[float, float] | None = None,
    follow_links: bool = False,
    as_strings: bool = False,
) -> tuple[list, np.ndarray]:
    """Files and labels of every class, with Keras' per-class (start, stop) fraction."""
    files: list = []
    labels: list[int] = []
    skipped: list[str] = []
    for label, name in enumerate(classes):
        class_files = walk_image_files(root / name, follow_links, skipped)
        if split is not None:
            n = len(class_files)
            class_files = class_files[int(split[0] * n) : int(split[1] * n)]
        files += class_files if as_strings else [Path(f) for f in class_files]
        labels += [label] * len(class_files)
    warn_skipped(skipped)
    return files, np.asarray(labels, dtype=np.int64)


def load_image(
    path: str | os.PathLike,
    target_size: tuple[int, int] | None = None,
    color_mode: str = "rgb",
    interpolation: str = "bilinear",
    keep_aspect_ratio: bool = False,
) -> np.ndarray:
    """Decode one file to (H, W, C) uint8, resized with PIL to target_size (h, w).

    keep_aspect_ratio (Keras' `load_img(keep_aspect_ratio=True)`, `crop_to_aspect_ratio`):
    the largest centred window of the target's aspect ratio is resized, instead of the
    whole image stretched to it. 16-bit images are scaled to 8 bits (PIL's own conversion
    clips them to white)."""
    from PIL import Image

    pil_mode, _ = COLOR_MODES[color_mode]
    f = _open_regular(path)
    try:
        with f, Image.open(f) as img:
            img = _to_8_bit(img)
            img = img.convert(pil_mode)
            if target_size is not None and img.size != (target_size[1], target_size[0]):
                resample = getattr(Image.Resampling, interpolation.upper())
                box = aspect_crop_box(img.size, target_size) if keep_aspect_ratio else None
                img = img.resize((target_size[1], target_size[0]), resample, box=box)
            arr = np.asarray(img, dtype=np.uint8)
    except Exception as e:  # PIL raises many types for bad files
        raise AugtrainError(f"cannot read image {path}: {_short(e)}") from None
    return arr[..., None] if arr.ndim == 2 else arr


def aspect_crop_box(
    size: tuple[int, int], target_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """PIL's (left, top, right, bottom) of the largest centred window of an image of
    `size` (w, h) with the aspect ratio of `target_size` (h, w), as Keras' load_img."""
    width, height = size
    target_h, target_w = target_size
    crop_h = min(height, (width * target_h) // target_w)
    crop_w = min(width, (height * target_w) // target_h)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return left, top, left + crop_w, top + crop_h


def _open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open path for reading only if it is a regular file. O_NONBLOCK: opening a FIFO
    would otherwise wait forever for a writer; fstat on the open file leaves no race."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise AugtrainError(f"cannot read image {path}: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO or device)"
        raise AugtrainError(f"cannot read image {path}: {kind}")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _to_8_bit(img: PILImage) -> PILImage:
    """16-bit grayscale (modes I;16*, or I holding values above 255) as 8-bit L, x / 257
    rounded: 65535 -> 255. PIL reads 16-bit RGB(A) as 8-bit already (the high bytes)."""
    from PIL import Image

    if not (img.mode.startswith("I;16") or img.mode == "I"):
        return img
    wide = np.asarray(img)
    if img.mode == "I" and (wide.size == 0 or wide.max() <= 255):
        return img  # 8-bit values held in 32-bit ints: PIL's conversion is right
    wide = np.clip(wide.astype(np.int64), 0, 65535)
    return Image.fromarray(((wide + 128) // 257).astype(np.uint8), "L")


def _short(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _decode_chunk(
    args: tuple[list[str], tuple[int, int] | None, str, str, bool],
) -> list[np.ndarray]:
    paths, target_size, color_mode, interpolation, keep_aspect = args
    return [load_image(p, target_size, color_mode, interpolation, keep_aspect) for p in paths]


def decode_images(
    files: list[Path] | list[str],
    target_size: tuple[int, int] | None,
    color_mode: str,
    interpolation: str,
    workers: int | None = None,
    desc: str = "decoding",
    keep_aspect_ratio: bool = False,
) -> np.ndarray:
    """Decode files in parallel on all cores (with a progress bar) into (N, H, W, C) uint8."""
    from ..progress import progress_bar

    workers = workers or os.cpu_count() or 1
    chunk = 256
    jobs = [
        (
            [str(p) for p in files[i : i + chunk]],
            target_size,
            color_mode,
            interpolation,
            keep_aspect_ratio,
        )
        for i in range(0, len(files), chunk)
    ]
    images: list[np.ndarray] = []
    with progress_bar(len(files), desc, "img") as bar:
        if workers == 1 or len(jobs) == 1:
            results = map(_decode_chunk, jobs)
            for part in results:
                images += part
                bar.update(len(part))
        else:
            with decode_executor(workers) as pool:
                for part in pool.map(_decode_chunk, jobs):
                    images += part
                    bar.update(len(part))
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        sizes = ", ".join(f"{s[0]}x{s[1]}" for s in sorted(shapes)[:4])
        raise AugtrainError(
            f"images have different sizes ({sizes}, ...): pass --target-size H W to resize them"
        )
    return np.stack(images)


def _relative_names(files: list[str], root: Path) -> list[str]:
    """Paths relative to root, as strings (string slicing: Path.relative_to is slow on 60k files)."""
    prefix = len(str(root)) + 1
    return [str(f)[prefix:] for f in files]


def _fingerprint(files: list[str], names: list[str]) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of each file: what the cache key covers."""
    return [(name, st.st_size, st.st_mtime_ns) for name, st in zip(names, map(os.stat, files))]


def decode_cached(
    files: list[str],
    names: list[str],
    labels: np.ndarray,
    source: dict[str, Any],
    kind: str,
    target_size: tuple[int, int] | None,
    color_mode: str,
    interpolation: str,
    cache_root: Path,
    use_cache: bool,
    desc: str,
    keep_aspect_ratio: bool = False,
) -> tuple[np.ndarray, str]:
    """The images of `files`, decoded once: read from the cache entry `KIND-KEY.npz`, the
    key covering `source` (where the list came from), each file's name, size and mtime, and
    the decode settings; else decoded and saved there. Returns (images, key)."""
    settings = {
        "target_size": target_size,
        "color_mode": color_mode,
        "interpolation": interpolation,
    }
    if keep_aspect_ratio and target_size is not None:  # only then: the old keys stay valid
        settings["keep_aspect_ratio"] = True
    key = cache.content_key({**source, "files": _fingerprint(files, names), **settings})
    entry = cache_root / f"{kind}-{key}.npz"
    cached = cache.load(entry) if use_cache else None
    if cached is not None:
        return cached["x"], key
    x = decode_images(
        files, target_size, color_mode, interpolation, desc=desc,
        keep_aspect_ratio=keep_aspect_ratio,
    )  # fmt: skip
    if use_cache:
        cache.save(entry, {"x": x, "y": labels})
    return x, key


def read_split(
    root: Path,
    classes: list[str],
    split: tuple[float, float] | None,
    target_size: tuple[int, int] | None,
    color_mode: str,
    interpolation: str,
    cache_root: Path,
    follow_links: bool = False,
    use_cache: bool = True,
    every_class: bool = False,
    keep_aspect_ratio: bool = False,
) -> ImageArrays:
    """Decode (or read from the cache) one split of a class-folder tree; with every_class,
    a class folder without images is an error (training on a class it never sees)."""
    files, labels = list_images(root, classes, split, follow_links, as_strings=True)
    if not files and split is not None and split[0] == 0.0:
        raise AugtrainError(
            f"--validation-split {split[1]} is too small for {root}: it takes int({split[1]} x "
            "images) of each class, none here; use a larger split"
        )
    if not files:
        raise AugtrainError(f"{root}: no images found (extensions: {' '.join(IMAGE_EXTENSIONS)})")
    if every_class:
        counts = np.bincount(labels, minlength=len(classes))
        if (counts == 0).any():
            empty = [c for c, n in zip(classes, counts) if n == 0]
            raise AugtrainError(
                f"{root}: no images found in class folder(s) {', '.join(map(repr, empty))} "
                f"(extensions: {' '.join(IMAGE_EXTENSIONS)}); remove them or add images"
            )
    names = _relative_names(files, root)
    source = {"root": str(root.resolve()), "classes": classes}
    x, key = decode_cached(
        files, names, labels, source, "folder", target_size, color_mode, interpolation,
        cache_root, use_cache, desc=f"decoding {root.name}", keep_aspect_ratio=keep_aspect_ratio,
    )  # fmt: skip
    return ImageArrays(x, labels, names, key)


def split_layout(root: Path) -> dict[str, Path] | None:
    """{'train': ..., 'test': ..., 'val': ...} when root holds train/ and test/ or val/ folders."""
    found = {}
    for split, names in SPLIT_DIRS.items():
        for name in names:
            if (root / name).is_dir():
                found[split] = root / name
                break
    if "train" in found and len(found) > 1:
        return found
    return None


def _check_not_cifar(root: Path, names: list[str]) -> None:
    """A folder that holds CIFAR-10's python batches or tarball is not a class folder."""
    from .cifar10 import TARBALL, is_cifar_path

    for name in names:
        if is_cifar_path(root / name):
            raise AugtrainError(
                f"--data {root}: {name}/ holds CIFAR-10's python batches, not images of a "
                f"class; pass --data {root / name}"
            )
    if not names and (root / TARBALL).is_file():
        raise AugtrainError(
            f"--data {root}: no class subfolders, but it holds {TARBALL}; "
            f"pass --data {root / TARBALL}"
        )


def load_folder(
    root: Path,
    target_size: tuple[int, int] | None = None,
    color_mode: str = "rgb",
    interpolation: str = "bilinear",
    classes: list[str] | None = None,
    validation_split: float = 0.0,
    cache_root: Path | None = None,
    follow_links: bool = False,
    use_cache: bool = True,
    keep_aspect_ratio: bool = False,
) -> Dataset:
    """A Dataset from a folder of class subfolders (or train/ + test/ or val/ of them)."""
    if not root.exists():
        raise AugtrainError(f"--data {root}: no such file or folder")
    if not root.is_dir():
        raise AugtrainError(f"--data {root}: not a folder")
    if color_mode not in COLOR_MODES:
        raise AugtrainError(
            f"unknown color_mode {color_mode!r}; choose from {', '.join(COLOR_MODES)}"
        )
    if interpolation not in INTERPOLATIONS:
        raise AugtrainError(
            f"unknown interpolation {interpolation!r}; choose from {', '.join(INTERPOLATIONS)}"
        )
    cache_root = cache_root or cache.cache_dir()
    layout = split_layout(root) or {"train": root}
    names = list_classes(layout["train"], classes)
    _check_not_cifar(layout["train"], names)
    if len(names) == 0:
        raise AugtrainError(f"--data {layout['train']}: no class subfolders found")
    if len(names) == 1:
        raise AugtrainError(
            f"--data {layout['train']}: only one class folder ({names[0]!r}); a classifier needs at least two"
        )
    if classes is None:  # with classes given, other folders are ignored everywhere
        for split in ("val", "test"):
            if split in layout:
                extra = sorted(set(list_classes(layout[split])) - set(names))
                if extra:
                    raise AugtrainError(
                        f"--data {root}: class folder(s) {', '.join(map(repr, extra))} in "
                        f"{layout[split].name}/ but not in {layout['train'].name}/"
                    )

    def read(
        folder: Path, split: tuple[float, float] | None = None, every_class: bool = False
    ) -> ImageArrays:
        return read_split(
            folder,
            names,
            split,
            target_size,
            color_mode,
            interpolation,
            cache_root,
            follow_links,
            use_cache,
            every_class,
            keep_aspect_ratio,
        )

    if validation_split and "val" not in layout:
        train = read(layout["train"], (validation_split, 1.0), every_class=True)
        val = read(layout["train"], (0.0, validation_split))
    else:
        train = read(layout["train"], every_class=True)
        val = read(layout["val"]) if "val" in layout else None
    test = read(layout["test"]) if "test" in layout else None
    if val is not None and val.x.shape[1:] != train.x.shape[1:]:
        raise AugtrainError(f"{root}: validation images differ in size from training images")
    if test is not None and test.x.shape[1:] != train.x.shape[1:]:
        raise AugtrainError(
            f"{root}: test images differ in size from training images; pass --target-size"
        )
    source = {
        "kind": "folder",
        "path": str(root.resolve()),
        "target_size": target_size,
        "color_mode": color_mode,
        "interpolation": interpolation,
        **({"keep_aspect_ratio": True} if keep_aspect_ratio else {}),
        "fingerprint": cache.content_key(
            [s.fingerprint for s in (train, val, test) if s is not None]
        ),
    }
    return Dataset(names, train, val, test, source)
