"""Features of a trained network and the scikit-learn head trained on them.

`augtrain features` runs images through a network up to one layer (`extract_features`,
through the evaluation routine `report.inference.predict_batches`) and saves them as .npz;
`augtrain train --head logistic --features F.npz` fits scikit-learn's logistic regression
on them (`train_logistic`) and writes a run folder like any other run's.
"""

from __future__ import annotations

import difflib
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .. import runfolder
from ..errors import AugtrainError
from ..models.weights import Weights, first_line, load_weights, read_weights


class _Stop(Exception):
    pass


def find_layer(net: nn.Module, layer: str | None) -> tuple[str, nn.Module, bool]:
    """(description, module, take its input) for `--layer NAME`; None: the input of the last
    dense layer (the penultimate features)."""
    modules = dict(net.named_modules())
    if layer is None:
        dense = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
        if not dense:
            raise AugtrainError(f"{type(net).__name__} has no dense layer; name one with --layer")
        return f"input of {dense[-1]}", modules[dense[-1]], True
    if layer not in modules or layer == "":
        close = difflib.get_close_matches(layer, [n for n in modules if n], 3, 0.5)
        top = [n for n, _ in net.named_children()]
        raise AugtrainError(
            f"--layer {layer!r}: no such layer in {type(net).__name__}"
            + (f"; did you mean {', '.join(close)}?" if close else "")
            + f" (top-level layers: {', '.join(top)}; `augtrain summary` lists them all)"
        )
    return layer, modules[layer], False


class LayerOutput(nn.Module):
    """`model` run up to one layer: forward gives that layer's output (or input, with
    `take_input`) flattened to (N, D), float32; the forward pass stops there."""

    def __init__(self, model: nn.Module, layer: nn.Module, label: str, take_input: bool) -> None:
        super().__init__()
        self.model, self.layer, self.label, self.take_input = model, layer, label, take_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []

        def grab(_module: nn.Module, inputs: tuple, output: Any = None) -> None:
            t = inputs[0] if self.take_input else output
            if isinstance(t, (tuple, list)):
                t = t[0]
            captured.append(torch.flatten(t.float(), 1))
            raise _Stop

        hook = (
            self.layer.register_forward_pre_hook
            if self.take_input
            else self.layer.register_forward_hook
        )
        handle = hook(grab)
        try:
            self.model(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        if not captured:
            raise AugtrainError(f"--layer {self.label}: the model's forward pass never reaches it")
        return captured[0]


def extract_features(
    model: nn.Module,
    images: np.ndarray,
    layer: str | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    policy: Any = None,
) -> tuple[np.ndarray, str]:
    """Flattened outputs (or inputs, for the default layer) of one layer of `model.net` for
    uint8 NHWC images, through the evaluation routine (`report.inference`). `policy`: the
    run's precision and memory format (`device.DevicePolicy.for_run`), by default amp
    'auto' on `device`."""
    from ..device import DevicePolicy
    from ..report.inference import nhwc_batches, predict_batches

    net = getattr(model, "net", model)
    label, module, take_input = find_layer(net, layer)
    policy = policy or DevicePolicy.for_run(device, None)
    model = policy.prepare_model(model.eval())
    truncated = LayerOutput(model, module, label, take_input)
    batches = nhwc_batches(torch.from_numpy(images), batch_size)
    out = [f.cpu().numpy() for f in predict_batches(truncated, batches, policy, binary=False)]
    feats = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
    return feats.astype(np.float32, copy=False), label


def model_for_features(
    source: str | Path,
    model: str | None = None,
    options: dict[str, Any] | None = None,
    num_classes: int | None = None,
    image_shape: tuple[int, int, int] | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> tuple[nn.Module, Weights]:
    """The Classifier to extract features with: a run's or checkpoint's own trained model,
    or `model` built for `image_shape` (H, W, C) with the state_dict file's weights and the
    given input normalisation."""
    from ..models.classifier import Classifier
    from ..models.registry import create_model
    from ..models.saved import build_model

    weights = read_weights(source)
    if weights.checkpoint is not None:
        spec = weights.checkpoint["model"]
        classifier = build_model(spec)
        classifier.load_state_dict(runfolder.model_weights(weights.checkpoint))
        return classifier, weights
    if model is None:
        raise AugtrainError(
            f"{source}: a plain state_dict says nothing about the network; add --model NAME"
        )
    h, w, c = image_shape or (224, 224, 3)
    if num_classes is None:
        num_classes = _guess_classes(weights.state, 10)
    net = create_model(model, num_classes, c, (h, w), **(options or {}))
    load_weights(net, weights, model)
    return Classifier(net, mean or [0.0] * c, std or [1.0] * c), weights


def _guess_classes(state: dict[str, torch.Tensor], default: int) -> int:
    """The output size of the file's last dense weight (its classes), else `default`."""
    dense = [v for k, v in state.items() if k.endswith(".weight") and v.dim() == 2]
    return int(dense[-1].shape[0]) if dense else default


def save_features(path: str | Path, arrays: dict[str, Any]) -> None:
    from ..io import write_atomic

    def write(p: Path) -> None:
        with open(p, "wb") as f:
            np.savez(f, **arrays)

    write_atomic(path, write)


# ------------------------------------------------------------------ logistic head
def read_features(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path).expanduser()
    if not path.exists():
        raise AugtrainError(f"--features {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise AugtrainError(
            f"--features {path}: not a readable .npz file ({first_line(e)})"
        ) from None
    for key in ("x", "y"):
        if key not in arrays:
            raise AugtrainError(
                f"--features {path}: no array {key!r} (make one with `augtrain features`)"
            )
    for key in ("x", "x_val", "x_test"):
        if key in arrays and arrays[key].ndim != 2:
            raise AugtrainError(
                f"--features {path}: {key} must be (N, D) features, got {arrays[key].shape}"
            )
    return arrays


def train_logistic(config: Any) -> Any:
    """`augtrain train --head logistic --features F.npz`: scikit-learn's logistic regression
    on standardised features; a run folder with config.json, metrics.json, the confusion
    matrix and the fitted model (model.pkl)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..report.metrics import classification_metrics
    from .results import Run

    # before the fit, not after it
    runfolder.check_run_name(config.runs_dir, config.name, bool(config.overwrite))
    path = Path(config.features).expanduser()
    arrays = read_features(path)
    x, y = arrays["x"], arrays["y"].astype(np.int64)
    n_classes = int(max(int(arrays[k].max()) for k in ("y", "y_val", "y_test") if k in arrays)) + 1
    classes = (
        [str(c) for c in arrays["classes"].tolist()]
        if "classes" in arrays
        else [str(i) for i in range(n_classes)]
    )
    if len(np.unique(y)) < 2:
        raise AugtrainError(f"--features {path}: the training features hold a single class")
    split = "test" if "x_test" in arrays else ("val" if "x_val" in arrays else None)
    start = time.perf_counter()
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(x, y)
    seconds = time.perf_counter() - start

    def log_proba(features: np.ndarray) -> torch.Tensor:
        """(N, classes) log-probabilities over all classes (columns of unseen classes -inf)."""
        out = np.full((len(features), len(classes)), -np.inf, dtype=np.float64)
        out[:, clf.classes_] = clf.predict_log_proba(features)
        return torch.from_numpy(np.maximum(out, -1e4))

    history = [{"epoch": 1, "accuracy": float((clf.predict(x) == y).mean()), "seconds": seconds}]
    if "x_val" in arrays:
        history[0]["val_accuracy"] = float((clf.predict(arrays["x_val"]) == arrays["y_val"]).mean())
    metrics: dict[str, Any] = {}
    if split is not None:
        yt = arrays[f"y_{split}"].astype(np.int64)
        metrics = {
            "split": split,
            "head": "logistic",
            **classification_metrics(log_proba(arrays[f"x_{split}"]), yt, classes),
        }
    base = runfolder.default_run_name("logistic")
    claim = runfolder.claim_run_dir(config.runs_dir, config.name, base, bool(config.overwrite))
    run_dir = claim.path
    try:
        _write_logistic_run(run_dir, config, path, x, arrays, classes, metrics, clf, history)
    except BaseException:
        claim.abort()  # no half-written run folder
        raise
    claim.commit()
    if config.verbose:
        msg = f"logistic regression on {x.shape[1]}-d features of {len(x)} images ({seconds:.1f}s)"
        print(f"{msg}: train accuracy {history[0]['accuracy']:.4f}", flush=True)
        if metrics:
            print(
                f"{split}: loss {metrics['loss']:.4f} - accuracy {metrics['accuracy']:.4f}",
                flush=True,
            )
    return Run(run_dir, config, history, metrics, clf, classes)


def _write_logistic_run(
    run_dir: Path,
    config: Any,
    path: Path,
    x: np.ndarray,
    arrays: dict[str, np.ndarray],
    classes: list[str],
    metrics: dict[str, Any],
    clf: Any,
    history: list[dict[str, Any]],
) -> None:
    from ..io import write_atomic
    from ..report.plots import confusion_matrix_plot

    runfolder.write_config(
        run_dir,
        {
            "config": config.to_dict(),
            "head": "logistic",
            "features": {
                "path": str(path.resolve()),
                "dims": int(x.shape[1]),
                "train": int(len(x)),
                **{k: str(arrays[k]) for k in ("layer", "source") if k in arrays},
            },
            "classes": classes,
            "command": sys.argv,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    runfolder.write_metrics(run_dir, metrics)
    runfolder.write_history(run_dir, history)  # `augtrain runs`: 1 epoch, not 0/10
    model_file = run_dir / runfolder.LOGISTIC_MODEL
    write_atomic(model_file, lambda p: p.write_bytes(pickle.dumps(clf)))
    if metrics:
        confusion_matrix_plot(
            np.asarray(metrics["confusion_matrix"]),
            classes,
            run_dir / runfolder.CONFUSION_MATRIX_PNG,
        )
