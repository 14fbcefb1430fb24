"""Summary counts against the published figures, and the `models` / `summary` commands."""

import json

import pytest
import torch.nn as nn
from fixtures import synthetic_images

import augtrain
from augtrain.cli import main
from augtrain.models.summary import count_macs, summarize, summarize_model


def test_lenet5_keras_counts():
    s = summarize_model("lenet5", 10, 3, 32)
    assert (s.keras_total, s.trainable, s.non_trainable) == (62_998, 62_502, 496)
    assert s.params == 62_502 and s.moving_stats == 496 and s.frozen == 0
    assert sum(r.params for r in s.rows) == 62_998  # per-layer column in Keras' count
    bn = [r for r in s.rows if r.type == "BatchNorm2d"][0]
    assert bn.params == 24 and bn.output_shape == (6, 28, 28)
    # conv 6@5x5: 28*28*6 outputs x 3*25 each; conv 16@5x5: 10*10*16 x 6*25; dense layers
    assert s.macs == 28 * 28 * 6 * 75 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10


def test_vgg16_imagenet():
    s = summarize_model("vgg16", 1000, 3, 224, layout="imagenet")
    assert s.params == s.keras_total == 138_357_544
    assert 15.4e9 < s.macs < 15.6e9  # "about 15.5 G"
    assert s.rows[-1].output_shape == (1000,)
    assert round(s.size_mb) == 528


def test_resnet18_imagenet():
    s = summarize_model("resnet18", 1000, 3, 224, stem="imagenet")
    assert s.params == 11_689_512
    assert 1.8e9 < s.macs < 1.83e9  # "about 1.8 G"
    assert s.keras_total == 11_689_512 + 9_600


def test_inception_cost_example():
    """The lecture's example: 28x28x256 in, 192 channels of 3x3 out, with and without a
    1x1 reduction to 128 channels first."""
    direct = nn.Conv2d(256, 192, 3, padding=1)
    assert count_macs(direct, (256, 28, 28)) == 346_816_512
    reduce, conv = nn.Conv2d(256, 128, 1), nn.Conv2d(128, 192, 3, padding=1)
    assert count_macs(reduce, (256, 28, 28)) == 25_690_112
    assert count_macs(conv, (128, 28, 28)) == 173_408_256
    assert count_macs(nn.Sequential(reduce, nn.ReLU(), conv), (256, 28, 28)) == 199_098_368


def test_conventions_frozen_shared_and_transposed():
    shared = nn.ReLU()
    model = nn.Sequential(nn.Linear(4, 3), shared, nn.Linear(3, 3), shared, nn.BatchNorm1d(3))
    model[0].weight.requires_grad_(False)
    s = summarize(model, (4,))
    assert s.trainable == 3 + 12 + 6 and s.frozen == 12 and s.moving_stats == 6
    assert s.non_trainable == 18 and s.keras_total == 39
    assert [r.name for r in s.rows] == ["0", "1", "2", "1", "4"]  # the ReLU once per call
    assert s.macs == 12 + 9
    up = nn.ConvTranspose2d(8, 4, 2, stride=2)  # 4x4 in -> 8x8 out
    assert count_macs(up, (8, 4, 4)) == 16 * 8 * 4 * 4


def test_models_command(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for line in ("lenet5", "62,502", "vgg16 layout=imagenet", "googlenet", "shallowvgg"):
        assert line in out
    assert main(["models", "--input-size", "224", "--num-classes", "1000"]) == 0
    assert "138,357,544" in capsys.readouterr().out


def test_summary_command_model_and_run(tmp_path, capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 62,998" in out and "Trainable params: 62,502" in out
    assert "Non-trainable params: 496" in out and "features.0 (Conv2d)" in out
    args = ["summary", "vgg16", "--input-size", "224", "--num-classes", "1000"]
    assert main([*args, "--model-option", "layout=imagenet", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["total_params"] == 138_357_544 and 15.4e9 < d["macs"] < 15.6e9

    x, y = synthetic_images(32, 16, 3)
    run = augtrain.train(
        data=(x, y), model="lenet5", epochs=1, runs_dir=str(tmp_path), name="r", verbose=0
    )
    assert main(["summary", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert '"lenet5", input 16x16x3' in out and "classifier.7 (Linear)" in out
    assert main(["summary", str(run.path / "last.pt")]) == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["summary", "vgg19"], "vgg19: not a run folder, checkpoint or model"),
        (["summary", "runs/nowhere"], "no such run folder or checkpoint"),
        (["summary", "vgg16", "--input-size", "16"], "at least 32x32"),
        (["summary", "vgg16", "--model-option", "layout"], "expected KEY=VALUE"),
        (["models", "--input-size", "0"], "--input-size"),
    ],
)
def test_summary_bad_input(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
