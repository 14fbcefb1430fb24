"""Issue 7: `augtrain export` to TorchScript and ONNX gives the PyTorch model's outputs
(max abs difference under 1e-4 on a test batch), normalisation included, with a sidecar."""

import json
import sys

import numpy as np
import pytest
import torch
from fixtures import synthetic_images

import augtrain
from augtrain.cli import main
from augtrain.training.checkpoint import load_model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    x, y = synthetic_images(60, 16, 4, 0)
    xt, yt = synthetic_images(24, 16, 4, 1)
    np.savez(root / "d.npz", x=x, y=y, x_test=xt, y_test=yt, classes=np.array(list("abcd")))
    r = augtrain.train(
        data=str(root / "d.npz"),
        model="cnn4",
        epochs=1,
        batch_size=16,
        runs_dir=str(root / "runs"),
        name="e",
        verbose=0,
    )
    return r.path, xt


def as_model_input(xt):
    """Test images as the exported model takes them: float32 NCHW in [0, 1]."""
    return np.ascontiguousarray(xt.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def reference(path, batch):
    model, _ = load_model(path)
    with torch.no_grad():
        return model(torch.from_numpy(batch)).numpy()


def test_torchscript(run, tmp_path, capsys):
    path, xt = run
    out = tmp_path / "m.pt"
    assert main(["export", str(path), "--format", "torchscript", "--out", str(out)]) == 0
    assert "max abs difference vs PyTorch" in capsys.readouterr().out
    module = torch.jit.load(str(out))
    batch = as_model_input(xt)
    with torch.no_grad():
        got = module(torch.from_numpy(batch)).numpy()
    ref = reference(path, batch)
    assert np.abs(got - ref).max() < 1e-4
    assert (got.argmax(1) == ref.argmax(1)).all()
    side = json.loads((tmp_path / "m.pt.json").read_text())
    assert side["classes"] == list("abcd") and side["input_size"] == [16, 16]


def test_onnx_with_onnxruntime(run, capsys):
    ort = pytest.importorskip("onnxruntime")
    path, xt = run
    assert main(["export", str(path), "--format", "onnx"]) == 0
    capsys.readouterr()
    onnx_file = path / "model.onnx"
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    batch = as_model_input(xt)
    ref = reference(path, batch)
    for sl in (slice(0, 24), slice(0, 1), slice(3, 10)):  # the batch axis is free
        got = session.run(None, {"images": batch[sl]})[0]
        assert np.abs(got - ref[sl]).max() < 1e-4
    side = json.loads((path / "model.onnx.json").read_text())
    model, ckpt = load_model(path)
    assert side["classes"] == list("abcd")
    assert side["input_size"] == [16, 16] and side["channels"] == 3
    assert side["channel_order"] == "RGB" and side["layout"] == "NCHW"
    assert side["value_range"] == [0.0, 1.0] and side["normalization_included"] is True
    assert np.allclose(side["mean"], model.mean.flatten().tolist())
    assert np.allclose(side["std"], model.std.flatten().tolist())
    assert side["max_abs_diff_vs_pytorch"] < 1e-4
    # the sidecar is enough to preprocess raw uint8 pixels: x / 255, NCHW
    raw = xt[:4]
    x = (raw.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)
    assert np.abs(session.run(None, {side["input_name"]: x})[0] - ref[:4]).max() < 1e-4


def test_missing_onnx_is_one_line(run, monkeypatch, capsys, tmp_path):
    path, _ = run
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    assert main(["export", str(path), "--format", "onnx", "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install onnx" in err[0]
    assert not (tmp_path / "x.onnx").exists()


def test_bad_format(run, capsys):
    path, _ = run
    assert main(["export", str(path), "--format", "tflite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torchscript, onnx" in err[0]
