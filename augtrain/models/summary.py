"""Model summary: per layer name, type, output shape, parameters and multiply-adds; totals.

One forward pass of a dummy batch of one image with forward hooks on every layer gives
the output shapes and the multiply-adds. `summarize_model("vgg16", ...)` builds the model
on PyTorch's meta device, where tensors have shapes but no storage: the pass allocates
nothing and computes nothing, so VGG-16 at 224x224 (15.5 G multiply-adds) takes
milliseconds. A model that is already built (a trained run) is summarised as it is.

Conventions (the ones behind the usual published figures: VGG-16 15.5 G, ResNet-18 1.8 G):
- Multiply-adds (MACs) are counted per image for convolutions (output elements x input
  channels per group x kernel area), transposed convolutions (input elements x output
  channels per group x kernel area) and dense layers (output elements x input features).
  Biases, batch norm, activations, pooling, element-wise additions and concatenations
  count 0: they are a small fraction and batch norm folds into the preceding conv at
  inference. One MAC is two FLOPs.
- Parameters are reported in both conventions. PyTorch's (`model.parameters()`):
  trainable and frozen tensors. Keras': the same plus batch norm's moving mean and
  variance as non-trainable parameters (`num_batches_tracked` is not counted). LeNet-5-BN
  at 32x32: 62,502 PyTorch parameters; Keras total 62,998 = 62,502 trainable + 496
  non-trainable. The per-layer column uses Keras' count (a BatchNorm2d(6) row shows 24).
- Size is the float storage of parameters and all buffers (what a state_dict holds), in
  MB of 2**20 bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..errors import AugtrainError

_BN = nn.modules.batchnorm._BatchNorm


@dataclass
class LayerRow:
    name: str
    type: str
    output_shape: tuple | list
    params: int  # Keras convention: parameters + BN moving statistics owned by this module
    trainable: int
    macs: int


@dataclass
class Summary:
    """Totals are over the whole model, not the rows (a module called twice is one set of
    parameters, and modules never called still count)."""

    model_name: str
    input_shape: tuple[int, ...]  # (C, H, W)
    rows: list[LayerRow] = field(default_factory=list)
    trainable: int = 0
    frozen: int = 0  # parameters with requires_grad False
    moving_stats: int = 0  # BN running mean + running var elements
    macs: int = 0
    size_bytes: int = 0

    @property
    def params(self) -> int:
        """PyTorch's count: every parameter tensor."""
        return self.trainable + self.frozen

    @property
    def keras_total(self) -> int:
        return self.params + self.moving_stats

    @property
    def non_trainable(self) -> int:
        """Keras' non-trainable count: frozen parameters + BN moving statistics."""
        return self.frozen + self.moving_stats

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 2**20

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "input_shape": list(self.input_shape),
            "layers": [
                {
                    "name": r.name,
                    "type": r.type,
                    "output_shape": list(r.output_shape),
                    "params": r.params,
                    "macs": r.macs,
                }
                for r in self.rows
            ],
            "total_params": self.keras_total,
            "trainable_params": self.trainable,
            "non_trainable_params": self.non_trainable,
            "pytorch_params": self.params,
            "macs": self.macs,
            "size_mb": self.size_mb,
        }

    def table(self) -> str:
        head = ("Layer (type)", "Output shape", "Param #", "MACs")
        body = [
            (
                f"{r.name} ({r.type})",
                _shape_str(r.output_shape),
                f"{r.params:,}",
                f"{r.macs:,}" if r.macs else "0",
            )
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(4)]
        widths[0] = max(widths[0], 30)

        def line(row: tuple[str, ...]) -> str:
            return (
                f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  "
                f"{row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}"
            )

        rule = "=" * len(line(head))
        c, *hw = self.input_shape
        out = [
            f'Model: "{self.model_name}", input {"x".join(map(str, hw))}x{c}',
            rule,
            line(head),
            rule,
            *(line(r) for r in body),
            rule,
            f"Total params: {self.keras_total:,} (Keras' count, BN moving statistics included)",
            f"Trainable params: {self.trainable:,}",
            f"Non-trainable params: {self.non_trainable:,} "
            f"({self.frozen:,} frozen + {self.moving_stats:,} BN moving mean/variance)",
            f"PyTorch parameters: {self.params:,} (model.parameters(); {self.trainable:,} "
            f"trainable, {self.frozen:,} frozen)",
            f"Multiply-adds: {self.macs:,} per image ({human(self.macs)})",
            f"Size: {self.size_mb:.2f} MB (parameters and buffers)",
            rule,
        ]
        return "\n".join(out)


def human(n: float) -> str:
    """15_470_264_320 -> '15.47 G'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


def _shape_str(shape: Any) -> str:
    if isinstance(shape, list):
        return " ".join(_shape_str(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# --------------------------------------------------------------------- counting
def _conv_macs(m: nn.Module, inputs: tuple, out: torch.Tensor) -> int:
    per_out = (m.in_channels // m.groups) * math.prod(m.kernel_size)
    return out[0].numel() * per_out


def _conv_transpose_macs(m: nn.Module, inputs: tuple, out: torch.Tensor) -> int:
    per_in = (m.out_channels // m.groups) * math.prod(m.kernel_size)
    return inputs[0][0].numel() * per_in


def _linear_macs(m: nn.Module, inputs: tuple, out: torch.Tensor) -> int:
    return out[0].numel() * m.in_features


# Per-image multiply-adds of one call, from the first sample of the batch (batch dim 0).
# Types not listed count 0 (see the module docstring); add a rule here for new layer types.
MAC_RULES: dict[type, Callable[[nn.Module, tuple, Any], int]] = {
    nn.modules.conv._ConvTransposeNd: _conv_transpose_macs,
    nn.modules.conv._ConvNd: _conv_macs,
    nn.Linear: _linear_macs,
}


def layer_macs(module: nn.Module, inputs: tuple, output: Any) -> int:
    for cls, rule in MAC_RULES.items():
        if isinstance(module, cls) and isinstance(output, torch.Tensor) and output.dim() > 0:
            return int(rule(module, inputs, output))
    return 0


def count_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds per sample of `module` on an input of shape (C, H, W) (or any shape
    without the batch dimension); e.g. the inception cost example in the tests."""
    return summarize(module, input_shape).macs


def _own_counts(module: nn.Module) -> tuple[int, int, int]:
    """(trainable, frozen, moving statistics) of the tensors this module owns directly."""
    trainable = frozen = 0
    for p in module.parameters(recurse=False):
        if p.requires_grad:
            trainable += p.numel()
        else:
            frozen += p.numel()
    stats = 0
    if isinstance(module, _BN) and module.track_running_stats:
        stats = module.running_mean.numel() + module.running_var.numel()
    return trainable, frozen, stats


def _out_shape(output: Any) -> tuple | list:
    if isinstance(output, torch.Tensor):
        return tuple(output.shape[1:])
    if isinstance(output, (tuple, list)):
        return [_out_shape(o) for o in output if isinstance(o, (torch.Tensor, tuple, list))]
    return ()


def summarize(model: nn.Module, input_shape: tuple[int, ...], name: str | None = None) -> Summary:
    """Summary of `model` on one input of `input_shape` (no batch dimension), on the
    device and dtype of the model's parameters (the meta device computes nothing)."""
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    summary = Summary(name or type(model).__name__, tuple(int(s) for s in input_shape))
    seen: set[int] = set()
    handles = []

    def hook(qualname: str) -> Callable:
        def record(module: nn.Module, inputs: tuple, output: Any) -> None:
            macs = layer_macs(module, inputs, output)
            if id(module) in seen:  # called again (a shared ReLU): its parameters once
                trainable = params = 0
            else:
                seen.add(id(module))
                trainable, frozen, stats = _own_counts(module)
                params = trainable + frozen + stats
            summary.rows.append(
                LayerRow(
                    qualname, type(module).__name__, _out_shape(output), params, trainable, macs
                )
            )
            summary.macs += macs

        return record

    for qualname, module in model.named_modules():
        leaf = next(iter(module.children()), None) is None
        owns = next(iter(module.parameters(recurse=False)), None) is not None
        if leaf or owns:
            handles.append(module.register_forward_hook(hook(qualname or name or "model")))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *summary.input_shape, device=device, dtype=dtype))
    except AugtrainError:
        raise
    except Exception as e:
        raise AugtrainError(
            f"{summary.model_name}: forward pass on input {tuple(input_shape)} failed "
            f"({str(e).splitlines()[0][:160]})"
        ) from None
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    for module in model.modules():
        trainable, frozen, stats = _own_counts(module)
        summary.trainable += trainable
        summary.frozen += frozen
        summary.moving_stats += stats
    tensors = [*model.parameters(), *model.buffers()]
    summary.size_bytes = sum(t.numel() * t.element_size() for t in tensors)
    return summary


def build_on_meta(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | tuple[int, int] = 32,
    **options: Any,
) -> nn.Module:
    """A registered model whose tensors have shapes but no storage."""
    from .registry import create_model

    with torch.device("meta"):
        return create_model(name, num_classes, in_channels, input_size, **options)


def summarize_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | tuple[int, int] = 32,
    **options: Any,
) -> Summary:
    """Summary of a registered model, built on the meta device (a real CPU model when some
    operation of it has no meta implementation)."""
    from .registry import create_model, pair

    h, w = pair(input_size)
    label = name + "".join(f" {k}={v}" for k, v in options.items())
    try:
        return summarize(
            build_on_meta(name, num_classes, in_channels, (h, w), **options),
            (in_channels, h, w),
            label,
        )
    except AugtrainError as e:
        if "forward pass" not in str(e):
            raise
    model = create_model(name, num_classes, in_channels, (h, w), **options)
    return summarize(model, (in_channels, h, w), label)
