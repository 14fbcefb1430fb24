"""augtrain: a folder of images in, a trained and evaluated classifier out, fast.

import augtrain
run = augtrain.train(data="cifar10", model="cnn4", epochs=10)
run.metrics["accuracy"], run.history, run.path
run = augtrain.load_run(run.path)        # later: the same Run from its folder
run.evaluate(tta="flip"), run.predict("cat.jpg"), run.interpret(), run.export("onnx")
augtrain.lr_find(data="cifar10", model="cnn4").suggestion   # the range test; train(lr="auto")
"""

from ._version import __version__
from .training.callbacks import (
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
from .training.config import TrainConfig
from .training.lr_find import LRFinderResult, lr_find
from .training.results import Run, load_run
from .training.run import train

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LRFinderResult",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "Run",
    "TensorBoard",
    "TerminateOnNaN",
    "TrainConfig",
    "__version__",
    "load_run",
    "lr_find",
    "train",
]
