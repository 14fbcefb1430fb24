"""Checkpoint files: what they hold, how they are written and read back.

    {"format": "augtrain-checkpoint", "version": 1,
     "model": {"name", "options", "num_classes", "in_channels", "input_size"},
     "classes": [...], "config": {...}, "trainer": Trainer.state_dict()}

`trainer["model_state"]` holds the trained weights (what a resume continues from);
with --ema, `trainer["ema"]["state"]` holds the moving average beside them.

Written atomically (temp file, fsync, rename): a kill during a write leaves the
previous checkpoint intact and never a truncated file under the real name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import AugtrainError
from ..io import save_torch
from ..models import create_model
from ..models.classifier import Classifier

FORMAT = "augtrain-checkpoint"


def save(
    path: Path, model_spec: dict[str, Any], classes: list[str], config: dict, trainer_state: dict
) -> None:
    save_torch(
        path,
        {
            "format": FORMAT,
            "version": 1,
            "model": model_spec,
            "classes": classes,
            "config": config,
            "trainer": trainer_state,
        },
    )


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete what killed writes left behind (`.NAME.XXXXXX.tmp`, see `io.atomic_path`).
    Such files are never read: a checkpoint is only ever loaded under its real name."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file, or a run folder's last.pt; one-line errors for anything else."""
    path = Path(path)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise AugtrainError(f"{path}: not a run folder (no config.json)")
        path = path / "last.pt"
        if not path.exists():
            raise AugtrainError(f"{path.parent}: run folder has no checkpoint (last.pt)")
    if not path.exists():
        raise AugtrainError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise AugtrainError(f"{path}: a folder, not a checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise AugtrainError(f"{path}: not a readable checkpoint ({load_error(e)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise AugtrainError(f"{path}: not an augtrain checkpoint")
    return ckpt


def load_error(error: BaseException) -> str:
    """Why torch.load failed, in a few words: its own text is a paragraph that points
    at weights_only=False, which augtrain never uses on files it did not write."""
    import re

    text = str(error)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"it holds a Python object ({found.group(1)}) beyond tensors and plain data, "
            "which augtrain does not load"
        )
    if isinstance(error, EOFError) or not text:
        return "empty or truncated file"
    if "PytorchStreamReader" in text or "zip" in text.lower() or "Weights only" in text:
        return "damaged or truncated file"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return "not a file torch.save wrote"


def check_rebuildable(
    spec: dict[str, Any], remedy: str = "train it with network_factory='module:function'"
) -> None:
    """A run of a `network=` that nothing can rebuild: one line saying so."""
    if spec.get("rebuildable") is False:
        raise AugtrainError(
            f"this run trained network={spec['name']}, which cannot be rebuilt (its "
            f"constructor needs arguments): {remedy}"
        )


def build_model(
    spec: dict[str, Any], mean: list[float] | None = None, std: list[float] | None = None
) -> Classifier:
    """The Classifier a model spec describes: a registered model or a `module:function`
    factory (`models.factory`); a run of a `network=` nothing can rebuild is one line."""
    check_rebuildable(spec)
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


def model_weights(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The weights a checkpoint stands for: its EMA's when the run was trained with --ema
    and --use-ema (the default then), else the trained ones."""
    trainer, config = ckpt["trainer"], ckpt.get("config") or {}
    ema = trainer.get("ema")
    if ema and config.get("ema") is not None and config.get("use_ema", True):
        return ema["state"]
    return trainer["model_state"]


def load_model(path: str | Path, which: str = "last.pt") -> tuple[Classifier, dict[str, Any]]:
    """The trained Classifier of a run folder (its `which` checkpoint) or checkpoint file;
    the EMA's weights for a run trained with --ema (see `model_weights`)."""
    path = Path(path)
    ckpt = load(path / which if path.is_dir() and (path / which).exists() else path)
    model = build_model(ckpt["model"])
    model.load_state_dict(model_weights(ckpt))
    model.eval()
    return model, ckpt
