"""The model a run folder or checkpoint file holds: built from its spec, with its weights.

The checkpoint format itself is `augtrain.runfolder`'s; this module only turns a model spec
into a `Classifier` (a registered model or a `module:function` factory) and loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import runfolder
from .classifier import Classifier
from .registry import create_model


def build_model(
    spec: dict[str, Any], mean: list[float] | None = None, std: list[float] | None = None
) -> Classifier:
    """The Classifier a model spec describes: a registered model or a `module:function`
    factory (`models.factory`); a run of a `network=` nothing can rebuild is one line."""
    runfolder.check_rebuildable(spec)
    net = create_model(
        spec["name"],
        spec["num_classes"],
        spec["in_channels"],
        tuple(spec["input_size"]),
        **spec.get("options", {}),
    )
    c = spec["in_channels"]
    label_mode = spec.get("label_mode", "categorical")
    return Classifier(net, mean or [0.0] * c, std or [1.0] * c, label_mode)


def load_model(path: str | Path, which: str = runfolder.LAST) -> tuple[Classifier, dict[str, Any]]:
    """The trained Classifier of a run folder (its `which` checkpoint, else last.pt) or of a
    checkpoint file; the EMA's weights for a run trained with --ema (see
    `runfolder.model_weights`)."""
    path = Path(path)
    ckpt = runfolder.load_checkpoint(
        path / which if path.is_dir() and (path / which).exists() else path
    )
    model = build_model(ckpt["model"])
    model.load_state_dict(runfolder.model_weights(ckpt))
    model.eval()
    return model, ckpt


def load_run_model(
    path: str | Path, which: str = runfolder.LAST
) -> tuple[Classifier, dict[str, Any]]:
    """The Classifier of checkpoint `which` in run folder `path` (which must hold it), or
    of a checkpoint file."""
    path = Path(path)
    if path.is_file():
        return load_model(path)
    return load_model(runfolder.checkpoint_path(path, which))
