"""Callbacks with Keras' names, arguments, hooks and printed lines, one per file.

    Callback                base.py: on_train_begin/end, on_epoch_begin/end, on_batch_begin/end
    MonitorCallback         base.py: monitor, mode ('auto'), best, min_delta, improves()
    History                 history.history[metric] -> per-epoch values
    ModelCheckpoint         "Epoch 00006: val_loss improved from 0.96208 to 0.91498, saving model to ..."
    EarlyStopping           stop when the monitored metric stops improving
    ReduceLROnPlateau       multiply the learning rate by `factor` on a plateau
    LearningRateScheduler   schedule(epoch, lr) -> lr, at the start of each epoch
    CSVLogger               one row per epoch
    TerminateOnNaN          stop at the first non-finite loss
    TensorBoard             scalars for TensorBoard (needs the optional `tensorboard` package)
    from_config             flags.py: the callbacks of --early-stopping-patience and the like

Experiment trackers (W&B, MLflow) are in training/loggers/, chosen with --logger.

A callback gets its context as in Keras: `set_params(params)` (epochs, steps, batch_size,
samples, verbose) and `set_model(model)`. What it may control goes through the loop's
public surface, `self.trainer` (see `augtrain.training.loop.Trainer`): `stop_training`
(or, as in Keras, `self.model.stop_training = True`), `current_lr`, `set_current_lr(lr)`,
`override_lr(lr)`, `save_checkpoint(path)`, `is_main`, and to read `epoch`,
`global_step`, `optimizer`, `history`, `run_dir`, `running_logs()`.

Where augtrain differs from Keras, on purpose:
- Relative file paths (ModelCheckpoint, CSVLogger, TensorBoard) are taken inside the run
  folder (`runs/<name>/`), so a run folder holds everything a run wrote; absolute paths
  are used as given. Every file except TensorBoard's event stream is written atomically.
- A monitored name that is never logged is an error when training starts, not a warning
  at every epoch: `monitors()` declares the names a callback reads.
- State that must survive a resume is in `state_dict()` / `load_state_dict()`; the trainer
  stores it in every checkpoint. After a resume `self.resumed` is True during
  `on_train_begin`, and the built-in callbacks keep their state instead of resetting it.
- Under torchrun every rank runs every callback on the same (all-reduced) logs; only
  rank 0 prints and writes files.
- In `on_batch_end` logs, `loss` is a 0-d tensor (reading it with float() syncs the device).

Modules in this package import each other directly (`from .base import ...`), never this
file, so `training/loggers` may import `callbacks.base` and flags.py may import loggers.
"""

from .base import Callback, CallbackList, MonitorCallback, resolve_mode
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .flags import from_config
from .history import History
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "MonitorCallback",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
    "from_config",
    "resolve_mode",
]
