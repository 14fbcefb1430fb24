"""Transfer learning: start from trained weights, freeze the base, extract features.

Weights come from a run folder, an augtrain checkpoint (.pt), or a plain PyTorch
state_dict file (.pth, .pt, .bin, .safetensors), e.g. torchvision's ImageNet files for
vgg16 / resnet18, whose key names augtrain's models share. Keys are matched by name and
shape: what matches is copied; the rest keeps its fresh initialisation and is listed.
A different number of classes therefore gives a new head: the output layer's shapes
differ, so it stays freshly initialised.

The *head* is what `--freeze base` leaves trainable: a model's `head_names` attribute
(vgg16: `classifier`, googlenet: `fc`), else its `classifier`, `fc` or `head` submodule,
else its last dense layer. Everything else is the *base*.

Freezing keeps every parameter in the optimizer, in two groups (head, then base with
`lr_mult` = --base-lr-mult); frozen parameters have requires_grad False, so they get no
gradient and every optimizer skips them. `FreezeBase` unfreezes the base at epoch
--unfreeze-after; the optimizer needs no rebuilding. While frozen, the base's batch norm
layers run in inference mode (their moving statistics stay as loaded), as Keras does for
layers with trainable=False.
"""

from __future__ import annotations

import difflib
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..errors import AugtrainError, missing_package
from ..training.callbacks import Callback

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DDP, torch.compile
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
_BN = nn.modules.batchnorm._BatchNorm


# ------------------------------------------------------------------ reading weights
@dataclass
class Weights:
    """A state_dict with the keys of the bare network (no `net.` prefix) and where it came from."""

    state: dict[str, torch.Tensor]
    path: Path
    kind: str  # "run", "checkpoint" or "state_dict"
    checkpoint: dict[str, Any] | None = None  # the augtrain checkpoint, if it was one


def read_weights(path: str | Path) -> Weights:
    """Read a run folder, an augtrain checkpoint or a plain state_dict file."""
    from ..training import checkpoint

    path = Path(path).expanduser()
    if not path.exists():
        raise AugtrainError(f"{path}: no such run folder or weights file")
    if path.is_dir():
        ckpt = checkpoint.load(path)
        return Weights(_net_state(checkpoint.model_weights(ckpt)), path, "run", ckpt)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise missing_package(
                f"{path}: reading .safetensors", "safetensors", "safetensors"
            ) from None
        try:
            state = load_file(str(path), device="cpu")
        except Exception as e:
            raise AugtrainError(
                f"{path}: not a readable .safetensors file ({_first_line(e)})"
            ) from None
        return Weights(_strip_wrappers(state), path, "state_dict")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise AugtrainError(
            f"{path}: not a readable weights file ({checkpoint.load_error(e)})"
        ) from None
    if isinstance(obj, dict) and obj.get("format") == checkpoint.FORMAT:
        return Weights(_net_state(checkpoint.model_weights(obj)), path, "checkpoint", obj)
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "model_state"):  # common wrappers
            if isinstance(obj.get(key), dict) and _is_state_dict(obj[key]):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not _is_state_dict(obj):
        raise AugtrainError(f"{path}: not a state_dict (a mapping of names to tensors)")
    state = _strip_wrappers(dict(obj))
    if "mean" in state and "std" in state and any(k.startswith("net.") for k in state):
        state = _net_state(state)  # torch.save(run.model.state_dict()): a whole Classifier
    return Weights(state, path, "state_dict")


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:120]


def _is_state_dict(d: dict) -> bool:
    return bool(d) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def _strip_wrappers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for prefix in WRAPPER_PREFIXES:
            while k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out


def _net_state(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A Classifier's state (net.*, mean, std) -> the network's own keys."""
    state = _strip_wrappers(model_state)
    return {k[4:]: v for k, v in state.items() if k.startswith("net.")}


# ------------------------------------------------------------------ head and base
def head_names(net: nn.Module) -> tuple[str, ...]:
    """Module names that make up the head (see the module docstring)."""
    names = getattr(net, "head_names", None)
    if names:
        return tuple(names)
    children = dict(net.named_children())
    for name in ("classifier", "fc", "head"):
        if isinstance(children.get(name), nn.Module):
            return (name,)
    last = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if last:
        return (last[-1],)
    raise AugtrainError(
        f"{type(net).__name__}: cannot tell its head from its base "
        "(no classifier, fc or head submodule and no dense layer)"
    )


def in_head(key: str, heads: tuple[str, ...]) -> bool:
    return any(key == h or key.startswith(h + ".") for h in heads)


def split_parameters(net: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(head parameters, base parameters)."""
    heads = head_names(net)
    head, base = [], []
    for name, p in net.named_parameters():
        (head if in_head(name, heads) else base).append(p)
    return head, base


# ------------------------------------------------------------------ loading
@dataclass
class LoadReport:
    path: Path
    loaded: list[str] = field(default_factory=list)
    loaded_params: int = 0
    total_params: int = 0
    new_head: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # key, file, model
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # in the base
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        n = len(self.loaded) + len(self.new_head) + len(self.mismatched) + len(self.missing)
        out = [
            f"init-from {self.path}: loaded {len(self.loaded)} of {n} tensors "
            f"({self.loaded_params:,} of {self.total_params:,} parameters)"
        ]

        def shapes(items: list[tuple[str, tuple, tuple]]) -> list[str]:
            return [f"{k} {tuple(a)} in the file, {tuple(b)} here" for k, a, b in items]

        for title, items in (
            ("new head, freshly initialised (shapes differ)", shapes(self.new_head)),
            ("shapes differ, freshly initialised", shapes(self.mismatched)),
            ("missing from the file, freshly initialised", self.missing),
            ("in the file but not in the model, ignored", self.unexpected),
        ):
            if items:
                shown = ", ".join(items[:8]) + (
                    f", ... ({len(items) - 8} more)" if len(items) > 8 else ""
                )
                out.append(f"  {title}: {shown}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def load_weights(net: nn.Module, weights: Weights, model_name: str = "") -> LoadReport:
    """Copy every tensor of `weights` whose name and shape match into `net`; raise a one-line
    AugtrainError when the file does not fit the model at all (no tensor matches, or less
    than half of the base's values: e.g. another architecture with some names in common)."""
    target = net.state_dict()
    heads = head_names(net)
    report = LoadReport(weights.path)
    params = {name for name, _ in net.named_parameters()}
    new_state = {}
    for key, mine in target.items():
        if key in params:
            report.total_params += mine.numel()
        theirs = weights.state.get(key)
        if theirs is None:
            report.missing.append(key)
        elif tuple(theirs.shape) != tuple(mine.shape):
            item = (key, tuple(theirs.shape), tuple(mine.shape))
            (report.new_head if in_head(key, heads) else report.mismatched).append(item)
        else:
            new_state[key] = theirs.to(mine.dtype)
            report.loaded.append(key)
            if key in params:
                report.loaded_params += mine.numel()
    report.unexpected = [k for k in weights.state if k not in target]
    what = model_name or type(net).__name__
    if not report.loaded:
        theirs_keys = ", ".join(list(weights.state)[:3])
        mine_keys = ", ".join(list(target)[:3])
        raise AugtrainError(
            f"{weights.path}: no tensor matches model {what} (the file has {theirs_keys}, ...; "
            f"the model expects {mine_keys}, ...){_hint(weights, what)}"
        )
    base = [k for k in target if not in_head(k, heads)]
    base_size = sum(target[k].numel() for k in base)
    loaded_size = sum(target[k].numel() for k in report.loaded if not in_head(k, heads))
    if base and loaded_size < base_size / 2:
        bad = [k for k, *_ in report.mismatched] + report.missing
        raise AugtrainError(
            f"{weights.path}: incompatible with model {what}: only {loaded_size:,} of the "
            f"{base_size:,} values of its base match (first misfits: {', '.join(bad[:3])})"
            f"{_hint(weights, what)}"
        )
    net.load_state_dict(new_state, strict=False)
    return report


def _hint(weights: Weights, what: str) -> str:
    """A suggestion for the usual cases: torchvision files and augtrain runs of another model."""
    keys = weights.state
    if weights.checkpoint is not None:
        spec = weights.checkpoint.get("model", {})
        return f"; it holds a {spec.get('name')} with options {spec.get('options') or {}}"
    if "features.0.weight" in keys and "classifier.6.weight" in keys:
        if "features.1.running_mean" in keys:
            return (
                "; it looks like torchvision's vgg16_bn: use --model vgg16 (its base loads) or "
                "--model vgg16 --model-option layout=imagenet --model-option batch_norm=true"
            )
        return (
            "; it looks like torchvision's vgg16 (no batch norm): use --model vgg16 "
            "--model-option batch_norm=false, or --model-option layout=imagenet"
        )
    if "layer1.0.conv1.weight" in keys and "fc.weight" in keys:
        return "; it looks like torchvision's resnet: use --model resnet18 --model-option stem=imagenet"
    return ""


def init_from(
    net: nn.Module, path: str | Path, model_name: str = "", verbose: int = 1
) -> LoadReport:
    """`--init-from PATH`: load what fits into `net`, print what did not."""
    report = load_weights(net, read_weights(path), model_name)
    if verbose:
        print(report, flush=True)
    return report


# ------------------------------------------------------------------ freezing
def freeze_base(net: nn.Module, frozen: bool = True) -> None:
    heads = head_names(net)
    for name, p in net.named_parameters():
        if not in_head(name, heads):
            p.requires_grad_(not frozen)


def param_groups(net: nn.Module, base_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Two optimizer groups, head first (the trainer reports the first group's lr)."""
    head, base = split_parameters(net)
    groups = [{"params": head, "lr_mult": 1.0, "name": "head"}]
    if base:
        groups.append({"params": base, "lr_mult": float(base_lr_mult), "name": "base"})
    return groups


class FreezeBase(Callback):
    """Keeps the base frozen until epoch `unfreeze_after` (0-based: after that many epochs;
    None: for the whole run), with its batch norm layers in inference mode meanwhile."""

    def __init__(
        self,
        net: nn.Module,
        freeze: bool = True,
        unfreeze_after: int | None = None,
        verbose: int = 1,
    ) -> None:
        self.net, self.freeze, self.unfreeze_after, self.verbose = (
            net,
            freeze,
            unfreeze_after,
            verbose,
        )
        heads = head_names(net)
        self.base_norms = [
            m for n, m in net.named_modules() if isinstance(m, _BN) and not in_head(n, heads)
        ]
        self.frozen = self.frozen_at(0)
        freeze_base(net, self.frozen)

    def frozen_at(self, epoch: int) -> bool:
        return self.freeze and (self.unfreeze_after is None or epoch < self.unfreeze_after)

    def _apply(self, epoch: int) -> None:
        frozen = self.frozen_at(epoch)
        if frozen != self.frozen:
            freeze_base(self.net, frozen)
            if (
                self.verbose
                and not frozen
                and self.trainer is not None
                and self.trainer.dist.is_main
            ):
                mults = [g.get("lr_mult", 1.0) for g in self.trainer.optimizer.param_groups]
                print(f"epoch {epoch + 1}: base unfrozen (base lr x {mults[-1]:g})", flush=True)
        self.frozen = frozen

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.frozen = not self.frozen_at(self.trainer.epoch)  # force the requires_grad flags
        self._apply(self.trainer.epoch)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._apply(epoch)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.frozen:  # the trainer puts the model in train mode each epoch
            for m in self.base_norms:
                m.eval()


def setup(net: nn.Module, config: Any) -> tuple[list[dict] | None, list[Callback]]:
    """Optimizer groups and callbacks for a TrainConfig's freeze / base_lr_mult settings."""
    freeze = config.freeze == "base"
    if not freeze and config.base_lr_mult == 1.0:
        return None, []
    if freeze and config.unfreeze_after is not None:
        from ..training.distributed import from_env

        if from_env().enabled:  # DDP registers the parameters that need gradients once, at start
            raise AugtrainError(
                "--unfreeze-after is not supported in distributed runs yet (DDP would not "
                "synchronise the unfrozen base); run two stages: --freeze base, then "
                "--init-from that run with --base-lr-mult"
            )
    groups = param_groups(net, config.base_lr_mult)
    callbacks: list[Callback] = []
    if freeze:
        callbacks.append(FreezeBase(net, True, config.unfreeze_after, config.verbose))
    return groups, callbacks


# ------------------------------------------------------------------ features
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


@torch.no_grad()
def extract_features(
    model: nn.Module,
    images: np.ndarray,
    layer: str | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    policy: Any = None,
) -> tuple[np.ndarray, str]:
    """Flattened outputs (or inputs, for the default layer) of one layer of `model.net` for
    uint8 NHWC images; the forward pass stops there. `policy`: the run's precision and
    memory format (`device.DevicePolicy.for_run`), by default amp 'auto' on `device`."""
    from ..device import DevicePolicy

    net = getattr(model, "net", model)
    label, module, take_input = find_layer(net, layer)
    policy = policy or DevicePolicy.for_run(device, None)
    model = policy.prepare_model(model.eval())
    captured: list[torch.Tensor] = []

    def grab(_module: nn.Module, inputs: tuple, output: Any = None) -> None:
        t = inputs[0] if take_input else output
        if isinstance(t, (tuple, list)):
            t = t[0]
        captured.append(torch.flatten(t.float(), 1).cpu())
        raise _Stop

    handle = (
        module.register_forward_pre_hook(grab) if take_input else module.register_forward_hook(grab)
    )
    out = []
    try:
        for i in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[i : i + batch_size]).permute(0, 3, 1, 2)
            try:
                with policy.autocast():
                    model(policy.model_input(batch))
            except _Stop:
                pass
            if not captured:
                raise AugtrainError(f"--layer {label}: the model's forward pass never reaches it")
            out.append(captured.pop().numpy())
    finally:
        handle.remove()
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
    from ..training import checkpoint
    from .classifier import Classifier
    from .registry import create_model

    weights = read_weights(source)
    if weights.checkpoint is not None:
        spec = weights.checkpoint["model"]
        classifier = checkpoint.build_model(spec)
        classifier.load_state_dict(checkpoint.model_weights(weights.checkpoint))
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
            f"--features {path}: not a readable .npz file ({_first_line(e)})"
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
    from ..training.run import Run, check_run_name, claim_run_dir

    check_run_name(config)  # before the fit, not after it
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
    claim = claim_run_dir(config, prefix="logistic")
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
    from ..io import write_atomic, write_json
    from ..report.plots import confusion_matrix_plot
    from ..training.run import write_history

    write_json(
        run_dir / "config.json",
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
    write_json(run_dir / "metrics.json", metrics)
    write_history(run_dir / "history.csv", history)  # `augtrain runs`: 1 epoch, not 0/10
    write_atomic(run_dir / "model.pkl", lambda p: p.write_bytes(pickle.dumps(clf)))
    if metrics:
        confusion_matrix_plot(
            np.asarray(metrics["confusion_matrix"]), classes, run_dir / "confusion_matrix.png"
        )


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """`KEY=VALUE` strings -> model options; values as JSON where they parse (1, 0.5, true,
    [1, 2]), 'true'/'false' in any case as booleans, else as strings."""
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AugtrainError(
                f"--model-option {item!r}: expected KEY=VALUE, e.g. layout=imagenet"
            )
        if value.lower() in ("true", "false"):
            out[key.strip()] = value.lower() == "true"
            continue
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out
