"""Predict image files with a trained run: decode, resize as training did, batch, softmax.

Files are decoded with `augtrain.data.load_image` at the model's input size, with the
run's colour mode and interpolation (the way its training folder was read), on all
cores in chunks (`data.workers.decode_executor`: forked processes, or threads where
processes would re-run the user's script), while the main process runs the model on
the chunks already decoded. Folders are walked following links, each folder once.
An unreadable file is reported and skipped; the others are still predicted, in the
order given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..device import DevicePolicy
from ..errors import AugtrainError
from .inference import predict_batches
from .multilabel import is_multilabel

CHUNK = 256  # files per decoding job


@dataclass
class Prediction:
    file: str
    # (classes,) float32: softmax, or each label's sigmoid for a multi-label model; None
    # when the file could not be read
    probs: np.ndarray | None
    error: str | None = None


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given; folders replaced by their image files (recursive, sorted by path)."""
    from ..data.folder import IMAGE_EXTENSIONS, iter_image_files

    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                iter_image_files(path, follow_links=True), key=lambda f: f.relative_to(path).parts
            )
            if not found:
                raise AugtrainError(
                    f"{path}: no image files in this folder (extensions: {' '.join(IMAGE_EXTENSIONS)})"
                )
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise AugtrainError(f"{path}: no such file or folder")
    return files


def decode_options(config: dict[str, Any]) -> dict[str, Any]:
    """How a run's training read its files beyond size, colour and interpolation: the
    keywords of `predict_files` that make a file predict as training saw it."""
    return {
        "cache_size": config.get("cache_size"),
        "keep_aspect_ratio": bool(config.get("keep_aspect_ratio", False)),
    }


def _decode_chunk(
    job: tuple[list[str], tuple[int, int], str, str, bool],
) -> list[np.ndarray | str]:
    """Decode a chunk; each entry is the image, or the error message for that file."""
    from ..data.folder import load_image

    paths, size, color_mode, interpolation, keep_aspect = job
    out: list[np.ndarray | str] = []
    for p in paths:
        try:
            out.append(load_image(p, size, color_mode, interpolation, keep_aspect))
        except AugtrainError as e:
            out.append(str(e))
    return out


def decode_stream(
    files: list[Path],
    size: tuple[int, int],
    color_mode: str,
    interpolation: str,
    workers: int | None = None,
    keep_aspect_ratio: bool = False,
) -> Iterator[tuple[list[Path], list[np.ndarray | str]]]:
    """Chunks of (files, decoded images or error strings), in order, decoded in parallel."""
    workers = workers or os.cpu_count() or 1
    jobs = [
        ([str(p) for p in files[i : i + CHUNK]], size, color_mode, interpolation, keep_aspect_ratio)
        for i in range(0, len(files), CHUNK)
    ]
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    if workers == 1 or len(jobs) <= 1:
        for chunk, job in zip(chunks, jobs):
            yield chunk, _decode_chunk(job)
        return
    from ..data.workers import decode_executor

    with decode_executor(workers) as pool:
        yield from zip(chunks, pool.map(_decode_chunk, jobs))


def predict_files(
    model: torch.nn.Module,
    files: list[Path],
    size: tuple[int, int],
    color_mode: str,
    interpolation: str,
    device: torch.device | str = "cpu",
    batch_size: int = 128,
    workers: int | None = None,
    policy: DevicePolicy | None = None,
    cache_size: tuple[int, int] | None = None,
    keep_aspect_ratio: bool = False,
) -> Iterator[Prediction]:
    """Softmax probabilities of each file (a multi-label model's: each label's sigmoid), in
    order (errors as Predictions with `error`).

    `policy`: the run's precision (`DevicePolicy.for_run`); by default amp 'auto'.
    `cache_size`: a run trained with --cache-size sees files as its evaluation did:
    resized to that size, then centre cropped to `size`. `keep_aspect_ratio`: a run
    trained with it crops each file's centre to the aspect ratio before resizing.
    `decode_options(config)` gives both from a run's config."""
    from dataclasses import replace

    multi = is_multilabel(model)  # each label's own probability
    # NHWC uint8 permuted to NCHW is already channels_last in memory; with the weights in
    # that format too, oneDNN's convolutions run faster on the CPU (BENCHMARKS.md).
    policy = replace(policy or DevicePolicy.for_run(device, None), channels_last=True)
    model = policy.prepare_model(model)
    size = (int(size[0]), int(size[1]))
    decode_size = (int(cache_size[0]), int(cache_size[1])) if cache_size else size
    stream = decode_stream(
        files, decode_size, color_mode, interpolation, workers, keep_aspect_ratio
    )
    for chunk, decoded in stream:
        ok = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
        parts = [ok[s : s + batch_size] for s in range(0, len(ok), batch_size)]
        batches = (_batch(decoded, part, size, decode_size) for part in parts)
        probs: dict[int, np.ndarray] = {}
        # a binary model's [1 - p, p]: the positive class's probability second
        for part, logits in zip(parts, predict_batches(model, batches, policy)):
            p = torch.sigmoid(logits) if multi else torch.softmax(logits, 1)
            probs.update(zip(part, p.cpu().numpy()))
        for i, f in enumerate(chunk):
            d = decoded[i]
            yield (
                Prediction(str(f), None, d) if isinstance(d, str) else Prediction(str(f), probs[i])
            )


def _batch(
    decoded: list[np.ndarray | str],
    part: list[int],
    size: tuple[int, int],
    decode_size: tuple[int, int],
) -> torch.Tensor:
    """The decoded images `part` as one uint8 NCHW batch, centre cropped to `size`."""
    from ..data.arrays import center_crop

    batch = np.stack([decoded[i] for i in part])
    if decode_size != size:
        batch = np.ascontiguousarray(center_crop(batch, size))
    return torch.from_numpy(batch).permute(0, 3, 1, 2)


def as_model_images(
    images: np.ndarray, size: tuple[int, int], color_mode: str, interpolation: str
) -> np.ndarray:
    """uint8 pixels (one H x W [x C] image or N x H x W x C) as the model's input: N x H x
    W x C at its input size and channel count, converted and resized with PIL the way
    `load_image` reads a file (so an array predicts as the same picture saved to disk)."""
    from PIL import Image

    from ..data.folder import COLOR_MODES

    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise AugtrainError(
            f"images must be uint8 pixels 0-255, got {x.dtype}; e.g. (x * 255).astype('uint8')"
        )
    if x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (1, 3, 4)):
        x = x[None]  # one image: H x W or H x W x C
    if x.ndim == 3:
        x = x[..., None]  # N x H x W grayscale
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise AugtrainError(
            f"images of shape {tuple(np.shape(images))}: expected H x W x C or N x H x W x C "
            "with 1, 3 or 4 channels"
        )
    pil_mode, channels = COLOR_MODES[color_mode]
    h, w = size
    if x.shape[1:] == (h, w, channels):
        return np.ascontiguousarray(x)
    resample = getattr(Image.Resampling, interpolation.upper())
    source = {1: "L", 3: "RGB", 4: "RGBA"}[x.shape[-1]]
    out = []
    for image in x:
        img = Image.fromarray(image[..., 0] if source == "L" else image, source)
        img = img.convert(pil_mode)
        if img.size != (w, h):
            img = img.resize((w, h), resample)
        arr = np.asarray(img, dtype=np.uint8)
        out.append(arr[..., None] if arr.ndim == 2 else arr)
    return np.stack(out)
