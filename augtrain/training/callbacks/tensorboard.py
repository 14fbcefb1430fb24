"""TensorBoard: scalars for TensorBoard (needs the optional `tensorboard` package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import AugtrainError, missing_package
from .base import Callback


class TensorBoard(Callback):
    """Epoch scalars for TensorBoard in Keras' layout: `log_dir/train` and `log_dir/validation`
    (`log_dir/test` when the per-epoch evaluation is the test split's test_* figures),
    tags `epoch_loss`, `epoch_accuracy` (and `epoch_learning_rate`); with an integer
    `update_freq`, `batch_loss` every N steps too. Needs the `tensorboard` package
    (`pip install tensorboard`); view with `tensorboard --logdir runs/<name>/tensorboard`.
    On resume, events after the checkpoint are dropped (SummaryWriter's purge_step).
    """

    def __init__(
        self, log_dir: str | Path = "tensorboard", update_freq: str | int = "epoch"
    ) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise missing_package("TensorBoard logging", "tensorboard", "tensorboard") from None
        if update_freq != "epoch" and (not isinstance(update_freq, int) or update_freq < 1):
            raise AugtrainError(
                f"TensorBoard: update_freq must be 'epoch' or an integer >= 1, got {update_freq!r}"
            )
        self.log_dir, self.update_freq = log_dir, update_freq
        self.writers: dict[str, Any] = {}

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter

        root = self.resolve_path(self.log_dir)
        purge = self.trainer.epoch if self.update_freq == "epoch" else None
        for name in ("train", self._evaluation()):
            self.writers[name] = SummaryWriter(str(root / name), purge_step=purge)

    def _evaluation(self) -> str:
        """The writer of the per-epoch evaluation: `validation`, or `test` for the test split."""
        return "test" if getattr(self.trainer, "eval_name", "val") == "test" else "validation"

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self.trainer.global_step
        if self.writers and self.update_freq != "epoch" and step % self.update_freq == 0:
            self.writers["train"].add_scalar("batch_loss", float(logs["loss"]), step)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.writers:
            return
        for key, value in (logs or {}).items():
            if key in ("epoch", "seconds", "images_per_s") or not isinstance(value, (int, float)):
                continue
            if key == "lr":
                self.writers["train"].add_scalar("epoch_learning_rate", value, epoch)
            elif key.startswith(("val_", "test_")):
                tag = f"epoch_{key.split('_', 1)[1]}"
                self.writers[self._evaluation()].add_scalar(tag, value, epoch)
            else:
                self.writers["train"].add_scalar(f"epoch_{key}", value, epoch)
        for w in self.writers.values():
            w.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for w in self.writers.values():
            w.close()
        self.writers = {}
