"""Export a trained Classifier to TorchScript or ONNX, with a sidecar JSON.

The exported model is the whole Classifier, normalisation included: its input is
float32 NCHW in [0, 1] (uint8 pixels / 255), channels in the order the sidecar
names (RGB for colour runs), height and width as the sidecar's input_size; its
output is logits (apply softmax for probabilities). The batch size is free.

    model.onnx        (or model.torchscript.pt)
    model.onnx.json   {"classes", "input_size", "channels", "channel_order",
                       "value_range", "layout", "dtype", "mean", "std",
                       "normalization_included", "resize", "output", ...}

ONNX goes through torch's TorchScript-based exporter (no onnxscript needed) and is
checked with onnxruntime when that is installed; `onnx` and `onnxruntime` are
optional dependencies, imported only here.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import runfolder
from .._version import __version__
from ..errors import AugtrainError, missing_package
from ..io import atomic_path, write_json

FORMATS = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
CHANNEL_ORDER = {1: "L", 3: "RGB", 4: "RGBA"}


def sidecar(ckpt: dict[str, Any], fmt: str, run: Path | None) -> dict[str, Any]:
    spec = ckpt["model"]
    config = ckpt["config"]
    c = spec["in_channels"]
    return {
        "format": fmt,
        "model": spec["name"],
        "classes": list(ckpt["classes"]),
        "input_name": "images",
        "output_name": "logits",
        "input_size": list(spec["input_size"]),
        "channels": c,
        "channel_order": CHANNEL_ORDER.get(c, f"{c} channels"),
        "layout": "NCHW",
        "dtype": "float32",
        "value_range": [0.0, 1.0],
        "scaling": "pixel / 255",
        "normalization_included": True,
        "mean": spec.get("mean"),
        "std": spec.get("std"),
        "resize": {
            "to": list(spec["input_size"]),
            "interpolation": config.get("interpolation", "bilinear"),
            "library": "PIL",
        },
        "output": (
            "one logit (sigmoid gives the probability of classes[1])"
            if spec.get("label_mode") == "binary"
            else "logits (softmax gives class probabilities)"
        ),
        "label_mode": spec.get("label_mode", "categorical"),
        # the published weights the run started from (timm's default_cfg), if any
        "pretrained": spec.get("pretrained"),
        "preprocessing": (
            "decode, convert to "
            + CHANNEL_ORDER.get(c, "?")
            + ", resize to input_size (H, W), float32 / 255, NCHW; the model subtracts mean "
            "and divides by std itself"
        ),
        "run": str(run) if run is not None else None,
        "augtrain": __version__,
    }


def example_batch(ckpt: dict[str, Any], n: int = 8, seed: int = 0) -> torch.Tensor:
    h, w = ckpt["model"]["input_size"]
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, ckpt["model"]["in_channels"], h, w, generator=g)


def export_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example)
        traced = torch.jit.freeze(traced.eval()) if _can_freeze() else traced
    with atomic_path(path) as tmp:
        traced.save(str(tmp))


def _can_freeze() -> bool:
    return hasattr(torch.jit, "freeze")


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = 17) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise missing_package("ONNX export", "onnx", "onnx", "onnx onnxruntime") from None
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
        )


def load_exported(path: Path, fmt: str) -> Any:
    """A callable numpy (N,C,H,W float32) -> logits for an exported file."""
    if fmt == "torchscript":
        module = torch.jit.load(str(path), map_location="cpu")

        def run_ts(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.from_numpy(x)).numpy()

        return run_ts
    try:
        import onnxruntime as ort
    except ImportError:
        raise missing_package("checking an ONNX export", "onnxruntime", "onnx") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run_onnx(x: np.ndarray) -> np.ndarray:
        return session.run(None, {"images": x})[0]

    return run_onnx


def max_abs_diff(model: torch.nn.Module, path: Path, fmt: str, example: torch.Tensor) -> float:
    """Largest |exported - PyTorch| over the logits of `example`."""
    with torch.no_grad():
        ref = model(example).numpy()
    got = load_exported(path, fmt)(example.numpy())
    return float(np.abs(got - ref).max())


def export_run(
    run: str | Path,
    fmt: str,
    out: str | Path | None = None,
    checkpoint: str = runfolder.LAST,
    verify: bool = True,
) -> dict[str, Any]:
    """Export a run's model; returns {"path", "sidecar", "max_abs_diff"}."""
    from ..models.saved import load_run_model

    if fmt not in FORMATS:
        raise AugtrainError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    model, ckpt = load_run_model(run, checkpoint)
    model = model.cpu().float().eval()
    check_finite_weights(model, Path(run), checkpoint)
    run_dir = Path(run) if Path(run).is_dir() else None
    path = Path(out) if out else (run_dir or Path(".")) / f"{runfolder.EXPORT_STEM}{FORMATS[fmt]}"
    example = example_batch(ckpt)
    (export_torchscript if fmt == "torchscript" else export_onnx)(model, example, path)
    info = sidecar(ckpt, fmt, run_dir)
    diff = None
    if verify:
        check = example_batch(ckpt, n=16, seed=1)  # another batch size: the axis is free
        if fmt == "torchscript" or _has_onnxruntime():
            diff = max_abs_diff(model, path, fmt, check)
            info["max_abs_diff_vs_pytorch"] = diff
    side = path.with_name(path.name + ".json")
    write_json(side, info)
    return {"path": path, "sidecar": side, "max_abs_diff": diff}


def check_finite_weights(model: torch.nn.Module, run: Path, checkpoint: str) -> None:
    """A diverged run's NaN weights export fine and predict NaN everywhere: refuse them."""
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            where = run / checkpoint if run.is_dir() else run
            raise AugtrainError(
                f"{where}: weight {name} holds NaN or infinity (the run diverged); "
                "nothing exported: retrain, e.g. with a lower --lr"
            )


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
