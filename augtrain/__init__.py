"""augtrain: a folder of images in, a trained and evaluated classifier out, fast.

import augtrain
run = augtrain.train(data="cifar10", model="cnn4", epochs=10)
run.metrics["accuracy"], run.history, run.path
"""

__version__ = "0.1.0"

from .training.callbacks import (  # noqa: E402
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
)
from .training.config import TrainConfig  # noqa: E402
from .training.run import Run, train  # noqa: E402

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "Run",
    "TensorBoard",
    "TerminateOnNaN",
    "TrainConfig",
    "__version__",
    "train",
]
