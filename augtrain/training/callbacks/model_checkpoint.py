"""ModelCheckpoint: "Epoch 00006: val_loss improved from 0.96208 to 0.91498, saving model to ..."."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from ...errors import AugtrainError
from ...io import save_torch
from .base import MonitorCallback, cpu_state


class ModelCheckpoint(MonitorCallback):
    """Save the model every epoch (or every `save_freq` steps), or only when `monitor` improves.

    filepath: a template such as "weights.{epoch:02d}-{val_loss:.2f}.pt", filled with the
        epoch (from 1), the batch (from 1, with an integer save_freq) and the logs; relative
        paths go in the run folder.
    save_weights_only: True writes `model.state_dict()` (load it with
        `model.load_state_dict(torch.load(path))`); False writes a full augtrain checkpoint
        (model, optimizer, schedule, callbacks, RNG) that `augtrain.training.checkpoint.load_model`
        and `augtrain evaluate` read.
    save_freq: "epoch", or an integer N: every N optimizer steps, judged on the running
        loss/accuracy of the epoch so far (as Keras does).
    initial_value_threshold: with save_best_only, the value the monitor must beat first.
    """

    def __init__(
        self,
        filepath: str | Path,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, initial_best=initial_value_threshold)
        self.filepath = str(filepath)
        self.verbose = verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq < 1):
            raise AugtrainError(
                f"ModelCheckpoint: save_freq must be 'epoch' or an integer >= 1, got {save_freq!r}"
            )
        self.save_freq = save_freq
        self.fields = _template_fields(self.filepath)
        if save_freq != "epoch":
            batch_logs = {"loss", "accuracy", "epoch", "batch"}
            needed = set(self.fields) | ({monitor} if save_best_only else set())
            if needed - batch_logs:
                raise AugtrainError(
                    f"ModelCheckpoint: with save_freq={save_freq} only loss and accuracy (of the "
                    f"epoch so far) are known; {', '.join(sorted(needed - batch_logs))} is per epoch"
                )

    def monitors(self) -> list[str]:
        names = [f for f in self.fields if f not in ("epoch", "batch")]
        return ([self.monitor] if self.save_best_only else []) + names

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.resumed:
            self.reset_best()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, dict(logs or {}))

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        t = self.trainer
        if self.save_freq != "epoch" and t.global_step % self.save_freq == 0:
            self._save(t.epoch, batch, {**t.running_logs(), "batch": batch + 1})

    def _save(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> None:
        try:
            path = self.resolve_path(self.filepath.format(**{**logs, "epoch": epoch + 1}))
        except (KeyError, IndexError, ValueError) as e:
            raise AugtrainError(f"ModelCheckpoint: cannot fill {self.filepath!r}: {e}") from None
        if self.save_best_only:
            current = self.current(logs)
            if current is None:
                self._print(f"Can save best model only with {self.monitor} available, skipping.")
                return
            if not self.improves(current):
                self._print(
                    f"Epoch {epoch + 1:05d}: {self.monitor} did not improve from {self.best:0.5f}"
                )
                return
            self._print(
                f"Epoch {epoch + 1:05d}: {self.monitor} improved from {self.best:0.5f} to "
                f"{current:0.5f}, saving model to {path}"
            )
            self.best = current
        else:
            self._print(f"Epoch {epoch + 1:05d}: saving model to {path}")
        if self.save_weights_only:
            if self.is_main:
                save_torch(path, cpu_state(self.model))
        else:
            self.trainer.save_checkpoint(path)  # every rank calls it (collective under DDP)

    def _print(self, message: str) -> None:
        if self.verbose and self.is_main:
            print(message, flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best", self.best)


def _template_fields(template: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise AugtrainError(f"ModelCheckpoint: bad filepath template {template!r}: {e}") from None
    return [name.split(".")[0].split("[")[0] for _, name, _, _ in parsed if name]
