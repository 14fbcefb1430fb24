"""One training loop, one monitor base: callbacks get set_params/set_model, every "best so
far" follows one 'auto' rule, and Keras' fit is the Trainer (the same history on the
same data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from fixtures import synthetic_images

from augtrain.augment import Compose, epoch_order
from augtrain.device import to_float
from augtrain.keras import fit
from augtrain.training.callbacks import (
    Callback,
    EarlyStopping,
    ModelCheckpoint,
    MonitorCallback,
    ReduceLROnPlateau,
    resolve_mode,
)
from augtrain.training.config import TrainConfig
from augtrain.training.loop import DeviceSplit, Trainer
from augtrain.training.run import RunFolder, resolve_monitor


def tiny(classes=3):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, classes),
    )


class Context(Callback):
    """Records what it was told before training started."""

    def on_train_begin(self, logs=None):
        self.seen = (dict(self.params), self.model)


# ------------------------------------------------------------------ set_params / set_model
def test_trainer_gives_callbacks_params_and_model():
    x, y = synthetic_images(40, 8, 3, 0)
    model = tiny()
    cb = Context()
    config = TrainConfig(epochs=2, batch_size=8, accumulate=2, verbose=0, amp="off")
    trainer = Trainer(
        model,
        DeviceSplit(torch.from_numpy(x), torch.from_numpy(y)),
        None,
        config,
        Compose([]),
        [cb],
    )
    # known before training: Keras' CallbackList sets them at construction
    assert cb.params == {"epochs": 2, "steps": 3, "batch_size": 8, "samples": 40, "verbose": 0}
    assert cb.model is model
    trainer.fit()
    assert cb.seen == (cb.params, model)


def test_keras_fit_gives_callbacks_params_and_model():
    x, y = synthetic_images(30, 8, 3, 0)
    model = tiny()
    cb = Context()
    fit(
        model,
        x.astype(np.float32) / 255,
        y,
        batch_size=8,
        epochs=2,
        callbacks=[cb],
        verbose=0,
        device="cpu",
    )
    params, seen_model = cb.seen
    assert params == {"epochs": 2, "steps": 4, "batch_size": 8, "samples": 30, "verbose": 0}
    assert seen_model is model
    assert isinstance(cb.trainer, Trainer)  # Keras' fit is the Trainer's loop, not a copy


def test_keras_fit_checkpoint_is_an_augtrain_checkpoint(tmp_path):
    x, y = synthetic_images(16, 8, 3, 0)
    model = tiny()
    path = tmp_path / "full.pt"
    fit(
        model,
        x / 255.0,
        y,
        batch_size=8,
        epochs=1,
        callbacks=[ModelCheckpoint(str(path))],
        verbose=0,
        device="cpu",
    )
    state = torch.load(path, weights_only=False)
    assert state["format"] and state["trainer"]["epoch"] == 1
    assert set(state["trainer"]["model_state"]) == set(model.state_dict())


def test_set_model_is_what_callbacks_act_on():
    # EarlyStopping restores the weights of the model it was given, not a trainer's insides
    model = nn.Linear(2, 1)

    class Loop:
        stop_training = False
        is_main = True

    es = EarlyStopping(patience=0, restore_best_weights=True)
    es.set_trainer(Loop())
    es.set_model(model)
    es.on_train_begin({})
    for epoch, value in enumerate([1.0, 2.0]):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        es.on_epoch_end(epoch, {"val_loss": value})
    assert es.trainer.stop_training and model.weight.flatten().tolist() == [0.0, 0.0]


# ------------------------------------------------------------------- the one 'auto' rule
@pytest.mark.parametrize(
    "name, mode",
    [
        ("val_loss", "min"),
        ("loss", "min"),
        ("val_loss_ema", "min"),
        ("accuracy", "max"),
        ("val_accuracy", "max"),
        ("val_accuracy_ema", "max"),
        ("val_acc", "max"),
        ("top5_accuracy", "max"),
        ("val_auc", "max"),
        ("fmeasure", "max"),
        ("val_precision", "max"),
        ("recall", "max"),
        ("mean_iou", "max"),
        ("val_mae", "min"),  # an error: the old run-folder rule ("loss" in name) said max
        ("lr", "min"),
    ],
)
def test_auto_mode_is_keras_rule_everywhere(name, mode):
    assert resolve_mode("auto", name) == mode
    assert MonitorCallback(name).mode == mode
    for cb in (EarlyStopping(name), ReduceLROnPlateau(name), ModelCheckpoint("m.pt", name)):
        assert cb.mode == mode
    config = TrainConfig(monitor=name)
    assert resolve_monitor(config, "val") == (name, mode)  # best.pt's rule is the same
    assert RunFolder(None, {}, [], config, name, resolve_monitor(config, "val")[1]).mode == mode


def test_auto_monitor_of_the_run():
    assert resolve_monitor(TrainConfig(), "val") == ("val_accuracy", "max")
    assert resolve_monitor(TrainConfig(), None) == ("accuracy", "max")
    assert resolve_monitor(TrainConfig(ema=0.9), "val") == ("val_accuracy_ema", "max")
    assert resolve_monitor(TrainConfig(monitor="val_loss"), "val") == ("val_loss", "min")


def test_monitor_callback_best_and_min_delta():
    m = MonitorCallback("val_loss", min_delta=0.1)
    assert m.best == math.inf and m.min_delta == -0.1
    assert m.improves(0.5) and not m.improves(math.nan)
    m.best = 0.5
    assert not m.improves(0.45) and m.improves(0.35)
    a = MonitorCallback("val_accuracy", min_delta=0.1, initial_best=0.5)
    assert a.best == 0.5 and not a.improves(0.55) and a.improves(0.65)
    assert a.current({"val_accuracy": torch.tensor(0.25)}) == 0.25 and a.current({}) is None
    with pytest.raises(Exception, match="mode must be auto, min or max"):
        MonitorCallback("loss", mode="up")


def test_run_folder_best_is_a_monitor_and_loads_old_state():
    folder = RunFolder(None, {}, [], TrainConfig(), "val_loss", "min")
    assert isinstance(folder, MonitorCallback) and folder.best == math.inf
    folder.load_state_dict({"best": None})  # a checkpoint saved before any epoch ended
    assert folder.best == math.inf and folder.improves(3.0)
    folder.load_state_dict({"best": 0.7})
    assert folder.best == 0.7 and not folder.improves(0.7) and folder.improves(0.6)


def test_older_checkpoint_partial_sums_load():
    x, y = synthetic_images(16, 8, 3, 0)
    split = DeviceSplit(torch.from_numpy(x), torch.from_numpy(y))
    config = TrainConfig(epochs=1, batch_size=8, verbose=0, amp="off")
    trainer = Trainer(tiny(), split, None, config, Compose([]))
    state = trainer.state_dict()
    state["partial"] = torch.tensor([4.0, 3.0, 8.0], dtype=torch.float64)  # loss, correct, seen
    trainer.load_state_dict(state)
    assert trainer.partial.tolist() == [4.0, 3.0, 8.0, 8.0]
    assert trainer.running_logs() == {"loss": 0.5, "accuracy": 0.375}


# ------------------------------------------------------- Keras' fit is the Trainer's loop
def test_keras_fit_and_trainer_give_the_same_history():
    """The same data in the same order, the same optimizer and loss: a Keras fit fed the
    Trainer's keyed epoch order and the Trainer itself log the same figures."""
    n, bs, epochs, seed = 48, 16, 3, 5
    x, y = synthetic_images(n, 8, 3, 0)
    xv, yv = synthetic_images(16, 8, 3, 1)
    split = DeviceSplit(torch.from_numpy(x), torch.from_numpy(y))
    val = DeviceSplit(torch.from_numpy(xv), torch.from_numpy(yv))
    config = TrainConfig(
        epochs=epochs,
        batch_size=bs,
        optimizer="sgd",
        lr=0.1,
        schedule="constant",
        seed=seed,
        verbose=0,
        amp="off",
        channels_last="off",
    )
    ours = Trainer(tiny(), split, val, config, Compose([])).fit()

    # the Trainer's input: uint8 NHWC -> float NCHW in [0, 1], in its keyed order
    images = to_float(torch.from_numpy(x).permute(0, 3, 1, 2))
    labels = torch.from_numpy(y)

    def batches():
        for epoch in range(epochs):
            order = epoch_order(seed, epoch, n)
            for b in range(0, n, bs):
                yield images[order[b : b + bs]], labels[order[b : b + bs]]

    val_images = to_float(torch.from_numpy(xv).permute(0, 3, 1, 2)).numpy()
    keras = fit(
        tiny(),
        batches(),
        steps_per_epoch=n // bs,
        epochs=epochs,
        optimizer="sgd",
        lr=0.1,
        validation_data=(val_images, yv),
        verbose=0,
        device="cpu",
    ).history
    assert set(keras) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in keras.items():
        assert values == pytest.approx([h[key] for h in ours], rel=1e-4, abs=1e-6), key
    assert keras["loss"][-1] < keras["loss"][0]  # it learned: the comparison means something
