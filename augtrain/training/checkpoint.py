"""Checkpoints as the trainer writes and resume reads them: the file format is
`augtrain.runfolder`'s (save_checkpoint, load_checkpoint, model_weights), the model it holds
is built by `augtrain.models.saved`. This module keeps the names training uses."""

from __future__ import annotations

from ..models.saved import build_model, load_model
from ..runfolder import (
    FORMAT,
    check_rebuildable,
    load_error,
    model_weights,
    remove_temp_files,
)
from ..runfolder import load_checkpoint as load
from ..runfolder import save_checkpoint as save

__all__ = [
    "FORMAT",
    "build_model",
    "check_rebuildable",
    "load",
    "load_error",
    "load_model",
    "model_weights",
    "remove_temp_files",
    "save",
]
