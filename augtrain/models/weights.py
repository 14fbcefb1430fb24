"""Reading trained weights and loading what fits into a network (`--init-from`, `--pretrained`).

Weights come from a run folder, an augtrain checkpoint (.pt), or a plain PyTorch
state_dict file (.pth, .pt, .bin, .safetensors), e.g. torchvision's ImageNet files for
vgg16 / resnet18, whose key names augtrain's models share. Keys are matched by name and
shape: what matches is copied; the rest keeps its fresh initialisation and is listed.
A different number of classes therefore gives a new head: the output layer's shapes
differ, so it stays freshly initialised (the head as `models.heads` finds it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .. import runfolder
from ..errors import AugtrainError, missing_package
from .heads import head_names, in_head

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DDP, torch.compile


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
    path = Path(path).expanduser()
    if not path.exists():
        raise AugtrainError(f"{path}: no such run folder or weights file")
    if path.is_dir():
        ckpt = runfolder.load_checkpoint(path)
        return Weights(_net_state(runfolder.model_weights(ckpt)), path, "run", ckpt)
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
                f"{path}: not a readable .safetensors file ({first_line(e)})"
            ) from None
        return Weights(_strip_wrappers(state), path, "state_dict")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise AugtrainError(
            f"{path}: not a readable weights file ({runfolder.load_error(e)})"
        ) from None
    if runfolder.is_checkpoint(obj):
        return Weights(_net_state(runfolder.model_weights(obj)), path, "checkpoint", obj)
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


def first_line(e: BaseException) -> str:
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
