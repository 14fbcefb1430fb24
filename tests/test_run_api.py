"""Issue 20: the Python API after training. `augtrain.load_run(path)` gives back the Run that
`augtrain.train()` returned, and its methods are the run-folder commands: evaluate, predict,
export, interpret (fastai's ClassificationInterpretation), show_batch and show_results."""

import io
import json
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fixtures import synthetic_images
from PIL import Image

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError
from augtrain.report.metrics import predict_logits
from augtrain.training.checkpoint import load_model
from augtrain.training.evaluate import evaluate_run

CLASSES = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run on an .npz on disk (so a loaded run can find its data again)."""
    root = tmp_path_factory.mktemp("runapi")
    x, y = synthetic_images(48, 16, 3, 0)
    xt, yt = synthetic_images(24, 16, 3, 1)
    data = root / "d.npz"
    np.savez(data, x=x, y=y, x_test=xt, y_test=yt, classes=np.array(CLASSES))
    run = augtrain.train(
        data=str(data),
        model="cnn4",
        epochs=2,
        batch_size=16,
        runs_dir=str(root / "runs"),
        name="tiny",
        verbose=0,
        cache_dir=str(root / "cache"),
    )
    return root, run, xt, yt


def test_load_run_gives_back_the_run_train_returned(trained):
    _, run, _, _ = trained
    loaded = augtrain.load_run(run.path)
    assert type(loaded) is type(run) is augtrain.Run
    assert loaded.path == run.path and loaded.classes == run.classes == CLASSES
    assert loaded.metrics == json.loads((run.path / "metrics.json").read_text())
    assert [h["epoch"] for h in loaded.history] == [1, 2]
    assert loaded.history[-1]["accuracy"] == pytest.approx(run.history[-1]["accuracy"])
    assert loaded.config.model == "cnn4" and loaded.config.epochs == 2
    assert loaded.model_name == "cnn4" and loaded.epochs_done == 2
    assert repr(loaded) == repr(run) and "test accuracy" in loaded._repr_html_()
    # the same weights as last.pt
    model, _ = load_model(run.path)
    for a, b in zip(model.state_dict().values(), loaded.model.state_dict().values()):
        assert torch.equal(a, b)


def test_load_run_errors(tmp_path, trained):
    with pytest.raises(AugtrainError, match="no such run folder"):
        augtrain.load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AugtrainError, match="no config.json"):
        augtrain.load_run(tmp_path / "empty")
    _, run, _, _ = trained
    with pytest.raises(AugtrainError, match="no checkpoint best9.pt"):
        augtrain.load_run(run.path, checkpoint="best9.pt")


def test_evaluate_is_the_evaluate_command(trained, tmp_path):
    _, run, _, _ = trained
    loaded = augtrain.load_run(run.path)
    metrics = loaded.evaluate()
    saved = json.loads((run.path / "metrics.json").read_text())
    assert metrics["accuracy"] == saved["accuracy"] and metrics["tta"] == "none"
    assert metrics["confusion_matrix"] == saved["confusion_matrix"]
    assert [r["class"] for r in metrics["per_class"]] == CLASSES and "macro" in metrics["averages"]
    assert run.evaluate()["accuracy"] == saved["accuracy"]  # the Run train() returned, too
    flip = loaded.evaluate(tta="flip")
    want = evaluate_run(run.path, tta="flip", device="cpu").metrics
    assert flip["tta"] == "flip" and flip["tta_views"] == 2
    assert flip["loss"] == pytest.approx(want["loss"]) and flip["accuracy"] == want["accuracy"]
    with pytest.raises(AugtrainError, match="unknown TTA mode"):
        loaded.evaluate(tta="mirror")
    out = tmp_path / "ev"
    loaded.evaluate(out_dir=out)
    assert json.loads((out / "evaluation.json").read_text())["accuracy"] == saved["accuracy"]
    assert (out / "wrong_predictions.png").stat().st_size > 0


def test_predict_files_folders_and_arrays_agree(trained, tmp_path):
    _, run, xt, _ = trained
    loaded = augtrain.load_run(run.path)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(xt[i]).save(folder / f"{i}.png")  # lossless, at the model's size
    model, _ = load_model(run.path)
    want = torch.softmax(predict_logits(model, xt[:5]), 1).numpy()

    from_folder = loaded.predict(folder, top_k=2)
    from_files = loaded.predict([str(folder / f"{i}.png") for i in range(5)])
    from_batch = loaded.predict(xt[:5])
    for rows in (from_folder, from_files, from_batch):
        assert [r["index"] for r in rows] == list(range(5))
        got = np.stack([r["probs"] for r in rows])
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert [r["class"] for r in rows] == [CLASSES[i] for i in want.argmax(1)]
        assert all(r["error"] is None for r in rows)
    assert [r["file"] for r in from_folder] == [str(folder / f"{i}.png") for i in range(5)]
    assert from_batch[0]["file"] is None
    assert len(from_folder[0]["top"]) == 2 and len(from_files[0]["top"]) == 3
    assert from_folder[0]["top"][0] == (from_folder[0]["class"], from_folder[0]["probability"])
    assert from_folder[0]["top"][0][1] >= from_folder[0]["top"][1][1]

    one = loaded.predict(xt[0])  # one H x W x C image
    assert len(one) == 1 and np.allclose(one[0]["probs"], want[0], atol=1e-5)
    listed = loaded.predict([xt[0], xt[1]])
    assert np.allclose(np.stack([r["probs"] for r in listed]), want[:2], atol=1e-5)
    # another size is resized as a file of that size would be
    big = np.asarray(Image.fromarray(xt[2]).resize((40, 40)))
    Image.fromarray(big).save(tmp_path / "big.png")
    assert np.allclose(
        loaded.predict(big)[0]["probs"], loaded.predict(tmp_path / "big.png")[0]["probs"], atol=1e-5
    )
    (folder / "broken.png").write_bytes(b"not an image")
    rows = loaded.predict(folder)
    broken = [r for r in rows if r["file"].endswith("broken.png")]
    assert len(rows) == 6 and broken[0]["class"] is None and "cannot read" in broken[0]["error"]
    with pytest.raises(AugtrainError, match="uint8"):
        loaded.predict(xt[:2].astype(np.float32) / 255)
    with pytest.raises(AugtrainError, match="top_k"):
        loaded.predict(xt[:2], top_k=0)
    with pytest.raises(AugtrainError, match="no such file"):
        loaded.predict(tmp_path / "missing.png")


def test_export(trained, tmp_path):
    _, run, _, _ = trained
    result = augtrain.load_run(run.path).export("torchscript", tmp_path / "m.pt")
    assert result["path"] == tmp_path / "m.pt" and result["path"].stat().st_size > 0
    assert json.loads(result["sidecar"].read_text())["classes"] == CLASSES
    assert result["max_abs_diff"] < 1e-4
    with pytest.raises(AugtrainError, match="unknown export format"):
        run.export("tflite")


def test_interpret_like_fastai(trained):
    _, run, _, yt = trained
    interp = augtrain.load_run(run.path).interpret()
    ev = interp.evaluation
    want = F.cross_entropy(ev.logits, torch.as_tensor(yt), reduction="none").numpy()
    np.testing.assert_allclose(interp.losses, want, rtol=1e-6)
    losses = [row["loss"] for row in interp.top_losses]
    assert len(losses) == len(yt) and losses == sorted(losses, reverse=True)
    worst = interp.top_losses[0]
    assert worst["loss"] == pytest.approx(float(want.max()))
    assert worst["true"] == CLASSES[yt[worst["index"]]]
    cm = interp.confusion_matrix
    assert sum(n for _, _, n in interp.most_confused) == int(cm.sum() - np.trace(cm))
    counts = [n for _, _, n in interp.most_confused]
    assert counts == sorted(counts, reverse=True) and all(
        t != p for t, p, _ in interp.most_confused
    )
    for t, p, n in interp.most_confused:
        assert cm[CLASSES.index(t), CLASSES.index(p)] == n
    assert [r["class"] for r in interp.per_class] == CLASSES
    assert interp.preds.shape == interp.targets.shape == (len(yt),)
    assert "Interpretation(test split, 24 images" in repr(interp)
    for fig in (interp.plot_top_losses(5), interp.plot_confusion_matrix(normalize=True)):
        assert fig._repr_png_().startswith(b"\x89PNG")
    titles = [ax.get_title() for ax in interp.plot_top_losses(5).axes if ax.get_title()]
    assert len(titles) == 5


def test_show_batch_and_show_results_are_notebook_figures(trained):
    import matplotlib

    backend = matplotlib.get_backend()
    _, run, _, _ = trained
    loaded = augtrain.load_run(run.path)
    batch = loaded.show_batch(n=6)
    captions = [ax.get_title() for ax in batch.axes if ax.get_title()]
    assert captions == CLASSES * 2  # taken in turn from each class
    assert "epoch 1" in batch._suptitle.get_text()
    plain = loaded.show_batch(n=3, augment=False)
    train = loaded._dataset(None).train
    first = [int(np.flatnonzero(train.y == c)[0]) for c in range(3)]
    shown = [ax.get_images()[0].get_array() for ax in plain.axes if ax.get_images()]
    assert all(np.array_equal(np.asarray(s), train.x[i]) for s, i in zip(shown, first))
    results = loaded.show_results(n=8)
    assert len([ax for ax in results.axes if ax.get_title()]) == 8
    for fig in (batch, results):
        png = fig._repr_png_()
        assert png.startswith(b"\x89PNG")
        assert np.asarray(Image.open(io.BytesIO(png))).std() > 10
    assert matplotlib.get_backend() == backend
    if "matplotlib.pyplot" in sys.modules:
        assert not sys.modules["matplotlib.pyplot"].get_fignums()  # nothing left in pyplot
    with pytest.raises(AugtrainError, match="epoch"):
        loaded.show_batch(epoch=0)


def test_ipython_displays_the_figures(trained):
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    _, run, _, _ = trained
    data, _ = DisplayFormatter().format(run.show_results(n=4))
    assert data["image/png"][:4] == b"\x89PNG" and "text/plain" in data


def test_array_run_keeps_its_data_for_the_methods(tmp_path):
    x, y = synthetic_images(48, 16, 3, 0)
    run = augtrain.train(
        data={"x": x, "y": y, "x_test": x[:12], "y_test": y[:12]},
        model="cnn4",
        epochs=1,
        batch_size=16,
        runs_dir=str(tmp_path),
        name="arr",
        verbose=0,
    )
    assert run.evaluate()["accuracy"] == run.metrics["accuracy"]
    assert run.show_batch(n=3)._repr_png_().startswith(b"\x89PNG")
    with pytest.raises(AugtrainError, match="in-memory arrays"):
        augtrain.load_run(run.path).evaluate()  # the arrays are gone: pass data=
    np.savez(tmp_path / "same.npz", x=x, y=y, x_test=x[:12], y_test=y[:12])
    again = augtrain.load_run(run.path).evaluate(data=str(tmp_path / "same.npz"))
    assert again["accuracy"] == run.metrics["accuracy"]


def test_cli_and_api_evaluate_agree(trained, capsys):
    _, run, _, _ = trained
    assert main(["evaluate", str(run.path), "--tta", "flip-translate"]) == 0
    out = capsys.readouterr().out
    acc = augtrain.load_run(run.path).evaluate(tta="flip-translate")["accuracy"]
    assert f"accuracy {acc:.4f}" in out
