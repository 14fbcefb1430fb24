"""augtrain.keras.fit: Keras' model.fit call patterns on a PyTorch model."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from fixtures import synthetic_images, write_image_folder

from augtrain.keras import ImageDataGenerator, evaluate, fit
from augtrain.training.callbacks import Callback


def tiny(classes=3, channels=3, size=16):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(8 * 16, classes),
    )


@pytest.fixture
def data():
    x, y = synthetic_images(96, size=16, classes=3)
    return x.astype(np.float32) / 255.0, y


def test_fit_from_flow_learns_and_reports_keras_keys(data):
    x, y = data
    gen = ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1)
    model = tiny()
    history = fit(
        model,
        gen.flow(x, y, batch_size=16, seed=0),
        epochs=6,
        validation_data=(x, y),
        verbose=0,
        lr=1e-2,
        device="cpu",
    )
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 6 for v in h.values())
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.6  # chance is 1/3
    assert history.epoch == list(range(6))
    assert evaluate(model, x, y, verbose=0) == pytest.approx(
        [h["val_loss"][-1], h["val_accuracy"][-1]]
    )


def test_fit_arrays_one_hot_validation_split_and_steps(data, capsys):
    x, y = data
    onehot = np.eye(3, dtype=np.float32)[y]
    seen = []

    class Sizes(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(logs["size"])

    history = fit(
        tiny(),
        x,
        onehot,
        batch_size=10,
        epochs=2,
        validation_split=0.25,
        callbacks=[Sizes()],
        verbose=2,
        device="cpu",
    )
    # Keras holds out the last 25% (24 samples): 72 train samples = 8 batches of 10 per epoch
    assert seen == [10] * 7 + [2] + [10] * 7 + [2]
    assert "val_accuracy" in history.history
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "val_accuracy" in out


def test_fit_with_generator_and_steps_per_epoch(data):
    x, y = data

    def batches():
        while True:
            for i in range(0, 96, 32):
                yield x[i : i + 32], y[i : i + 32]

    history = fit(tiny(), batches(), steps_per_epoch=2, epochs=3, verbose=0, device="cpu")
    assert len(history.history["loss"]) == 3


def test_fit_binary_directory_with_single_logit_uses_bce(tmp_path):
    root = write_image_folder(tmp_path / "cats_dogs", per_class=10, classes=("cat", "dog"), size=16)
    gen = ImageDataGenerator(rescale=1 / 255.0, horizontal_flip=True, validation_split=0.2)
    train = gen.flow_from_directory(
        str(root), target_size=(16, 16), class_mode="binary", batch_size=8, subset="training"
    )
    val = gen.flow_from_directory(
        str(root), target_size=(16, 16), class_mode="binary", batch_size=8, subset="validation"
    )
    model = tiny(classes=1)
    history = fit(
        model,
        train,
        steps_per_epoch=len(train),
        epochs=2,
        validation_data=val,
        validation_steps=len(val),
        verbose=0,
        device="cpu",
    )
    h = history.history
    # the loss of a single logit against 0/1 labels is BCE: ln 2 for a zero logit
    assert 0.0 < h["loss"][0] < 2.0 and 0.0 <= h["val_accuracy"][0] <= 1.0
    with torch.no_grad():
        model[-1].weight.zero_()
        model[-1].bias.zero_()
    assert evaluate(model, val, verbose=0)[0] == pytest.approx(np.log(2), rel=1e-5)


def test_callbacks_can_stop_and_see_the_trainer(data):
    x, y = data

    class StopAfter2(Callback):
        def on_epoch_end(self, epoch, logs=None):
            assert set(logs) == {"loss", "accuracy"}
            assert self.trainer.optimizer is not None and self.model is not None
            if epoch == 1:
                self.trainer.stop_training = True

    history = fit(tiny(), x, y, epochs=5, callbacks=[StopAfter2()], verbose=0, device="cpu")
    assert len(history.history["loss"]) == 2


def test_lr_scale_and_optimizer_choices(data):
    x, y = data
    model = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    class Halve(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.trainer.lr_scale = 0.5**epoch

    lrs = []

    class Record(Callback):
        def on_train_batch_end(self, batch, logs=None):
            lrs.append(self.trainer.optimizer.param_groups[0]["lr"])

    fit(
        model,
        x,
        y,
        batch_size=48,
        epochs=2,
        optimizer=opt,
        callbacks=[Halve(), Record()],
        verbose=0,
        device="cpu",
    )
    assert lrs == pytest.approx([0.05, 0.05, 0.025, 0.025])
    fit(tiny(), x, y, epochs=1, optimizer="rmsprop", verbose=0, device="cpu")
    with pytest.raises(ValueError, match="optimizer"):
        fit(tiny(), x, y, optimizer="adadelta-ish", verbose=0, device="cpu")


def test_fit_argument_errors(data):
    x, y = data
    it = ImageDataGenerator().flow(x, y)
    with pytest.raises(ValueError, match="validation_split"):
        fit(tiny(), it, validation_split=0.2, verbose=0, device="cpu")
    with pytest.raises(ValueError, match="`y` argument is not supported"):
        fit(tiny(), it, y, verbose=0, device="cpu")
    with pytest.raises(ValueError, match="cardinality"):
        fit(tiny(), x, y[:10], verbose=0, device="cpu")
    with pytest.raises(ValueError, match="loss"):
        fit(tiny(), x, y, loss="hinge-ish", verbose=0, device="cpu")
    with pytest.raises(TypeError, match="Callback"):
        fit(tiny(), x, y, callbacks=[object()], verbose=0, device="cpu")


def test_fit_from_a_torch_dataloader(data):
    x, y = data
    dataset = torch.utils.data.TensorDataset(
        torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y)
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)
    history = fit(tiny(), loader, epochs=2, verbose=0, device="cpu")
    assert len(history.history["loss"]) == 2
    seen = []

    class Count(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.trainer.global_step)

    fit(tiny(), loader, steps_per_epoch=5, epochs=2, callbacks=[Count()], verbose=0, device="cpu")
    assert seen == [5, 10]  # the loader starts over within an epoch
    assert history.params["epochs"] == 2


def test_augtrain_callbacks_work_in_fit(data, tmp_path):
    from augtrain.training.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint

    x, y = data
    model = tiny()
    path = tmp_path / "best.pt"
    history = fit(
        model,
        x,
        y,
        epochs=3,
        validation_data=(x, y),
        callbacks=[
            ModelCheckpoint(
                str(path), monitor="val_loss", save_best_only=True, save_weights_only=True
            ),
            EarlyStopping(monitor="val_accuracy", patience=5),
            CSVLogger(str(tmp_path / "log.csv")),
        ],
        verbose=0,
        device="cpu",
    )
    assert path.exists() and set(torch.load(path)) == set(model.state_dict())
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and len(lines) == 4
    assert len(history.history["val_loss"]) == 3
    with pytest.raises(ValueError, match="never logged"):
        fit(tiny(), x, y, callbacks=[EarlyStopping()], verbose=0, device="cpu")
