"""Issue 7: `augtrain predict` on image files of any size, in the order given, with
unreadable files reported and the rest still predicted."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import write_image_folder
from PIL import Image

import augtrain
from augtrain.cli import main
from augtrain.data import load_image
from augtrain.report.metrics import predict_logits
from augtrain.report.predict import expand_inputs, predict_files
from augtrain.training.checkpoint import load_model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run trained on a folder of 12x12 PNGs resized to 16x16 (bicubic)."""
    root = tmp_path_factory.mktemp("predict")
    write_image_folder(root / "ds" / "train", per_class=8, size=12)
    write_image_folder(root / "ds" / "test", per_class=3, size=12)
    r = augtrain.train(
        data=str(root / "ds"),
        target_size=(16, 16),
        interpolation="bicubic",
        model="cnn4",
        epochs=1,
        batch_size=8,
        runs_dir=str(root / "runs"),
        name="p",
        verbose=0,
        cache_dir=str(root / "cache"),
    )
    return root, r.path


def expected_probs(run_path, files, mode="RGB"):
    model, _ = load_model(run_path)
    x = np.stack(
        [load_image(f, (16, 16), {"RGB": "rgb", "L": "grayscale"}[mode], "bicubic") for f in files]
    )
    return torch.softmax(predict_logits(model, x), 1).numpy()


def test_predict_folder_matches_model_on_training_decode(run, capsys):
    root, path = run
    assert (
        main(["predict", str(path), str(root / "ds" / "test"), "--format", "json", "--top-k", "3"])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    files = sorted((root / "ds" / "test").rglob("*.png"))
    assert [r["file"] for r in rows] == [str(f) for f in files]  # sorted, recursive
    want = expected_probs(path, files)
    classes = ["cat", "dog", "eel"]
    for r, p in zip(rows, want):
        top = [t["class"] for t in r["top"]]
        assert top == [classes[i] for i in np.argsort(-p)]
        assert all(abs(t["probability"] - p[classes.index(t["class"])]) < 1e-5 for t in r["top"])


def test_any_size_and_channel_count_in_given_order(run, tmp_path, capsys):
    _, path = run
    rng = np.random.default_rng(1)
    big = tmp_path / "big.jpg"
    Image.fromarray(rng.integers(0, 255, (90, 61, 3), dtype=np.uint8)).save(big, quality=90)
    gray = tmp_path / "gray.png"
    Image.fromarray(rng.integers(0, 255, (5, 7), dtype=np.uint8)).save(gray)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(rng.integers(0, 255, (20, 20, 4), dtype=np.uint8)).save(rgba)
    order = [rgba, big, gray]
    assert main(["predict", str(path), *map(str, order), "--format", "csv", "--top-k", "2"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["file", "class_1", "probability_1", "class_2", "probability_2"]
    assert [r[0] for r in rows[1:]] == [str(f) for f in order]
    want = expected_probs(path, order)  # grayscale and RGBA converted to RGB, as training would
    for r, p in zip(rows[1:], want):
        assert abs(float(r[2]) - p.max()) < 1e-5
        assert float(r[2]) >= float(r[4])


def test_unreadable_files_are_named_and_the_rest_predicted(run, tmp_path, capsys):
    root, path = run
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    good = sorted((root / "ds" / "test" / "dog").glob("*.png"))
    code = main(["predict", str(path), str(good[0]), str(bad), str(good[1])])
    out, err = capsys.readouterr()
    assert code == 1  # some files failed: documented exit status 1
    assert "broken.png" in err and "1 of 3 file(s) could not be read" in err
    lines = out.splitlines()
    assert lines[0].startswith("file") and len(lines) == 3
    assert lines[1].startswith(str(good[0])) and lines[2].startswith(str(good[1]))
    # nothing readable at all: one line, exit 2
    assert main(["predict", str(path), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines()[-1].startswith("augtrain predict: error:")


def test_table_format_and_top_k_capped(run, capsys):
    root, path = run
    f = sorted((root / "ds" / "test" / "eel").glob("*.png"))[0]
    assert main(["predict", str(path), str(f), "--top-k", "10"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["file", "top-1", "top-2", "top-3"]  # only 3 classes
    assert row.startswith(str(f)) and row.count("%") == 3


def test_parallel_decode_keeps_order(run, tmp_path):
    _, path = run
    model, _ = load_model(path)
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(300):  # more than one decoding chunk (256)
        Image.fromarray(rng.integers(0, 255, (10 + i % 5, 12, 3), dtype=np.uint8)).save(
            folder / f"{i:04d}.png"
        )
    (folder / "0100.png").write_bytes(b"junk")  # an unreadable one in the middle
    files = expand_inputs([folder])
    preds = list(predict_files(model, files, (16, 16), "rgb", "bicubic", workers=2, batch_size=64))
    assert [Path(p.file).name for p in preds] == [f"{i:04d}.png" for i in range(300)]
    assert preds[100].probs is None and "0100.png" in preds[100].error
    ok = [p for p in preds if p.probs is not None]
    want = expected_probs(path, [Path(p.file) for p in ok])
    assert np.allclose(np.stack([p.probs for p in ok]), want, atol=1e-5)


def test_evaluate_on_another_folder_agrees_with_predict(run, tmp_path, capsys):
    """`evaluate --data` on a folder of class folders (no train/test layout) uses all of it,
    read the way predict reads files; both give the same top-1 classes."""
    root, path = run
    other = write_image_folder(tmp_path / "other", per_class=2, size=20)  # another size: resized
    assert main(["evaluate", str(path), "--data", str(other)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("all: loss") and "(6 images" in out
    ev_dir = path / "eval-last-none-other"
    preds = list(csv.DictReader((ev_dir / "predictions.csv").open()))
    assert main(["predict", str(path), str(other), "--format", "csv", "--top-k", "1"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["class_1"] for r in rows] == [p["predicted"] for p in preds]


def test_fifo_and_self_linked_folder_neither_hang_nor_repeat(run, tmp_path, capsys):
    import os

    root, path = run
    folder = tmp_path / "imgs"
    folder.mkdir()
    for f in sorted((root / "ds" / "test" / "cat").glob("*.png")):
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "self").symlink_to(".")
    (folder / "again").symlink_to(".")
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.warns(UserWarning, match="skipped"):
        os.mkfifo(folder / "inside.png")
        code = main(["predict", str(path), str(folder), str(tmp_path / "pipe.png")])
    out, err = capsys.readouterr()
    assert code == 1 and "pipe.png: not a regular file" in err
    assert len(out.splitlines()) == 1 + 3  # header and each image once


def test_evaluation_names_each_file_in_predictions_and_the_wrong_grid(run, monkeypatch):
    """The run's own folder data: predictions.csv gives each image's file (relative to its
    split's folder, as the folder lists it); the most-confidently-wrong grid captions it."""
    from augtrain.report import evaluation, grids

    root, path = run
    captions = {}
    real = grids.prediction_grid

    def spy(images, probs, labels, classes, indices, title="", *a, **kw):
        fig = real(images, probs, labels, classes, indices, title, *a, **kw)
        captions[title] = [ax.get_title() for ax in fig.axes if ax.get_title()]
        return fig

    monkeypatch.setattr(grids, "prediction_grid", spy)
    from augtrain.training.evaluate import evaluate_run

    ev = evaluate_run(path, device="cpu")
    # every prediction made wrong, so that the grid holds every image
    wrong_class = torch.from_numpy((ev.labels + 1) % len(ev.classes))
    ev.logits = torch.nn.functional.one_hot(wrong_class, len(ev.classes)).float() * 3.0
    evaluation.write_evaluation(ev, path / "ev", grid_size=32)
    rows = list(csv.DictReader((path / "ev" / "predictions.csv").open()))
    listed = sorted(
        str(p.relative_to(root / "ds" / "test")) for p in (root / "ds" / "test").rglob("*.png")
    )
    assert [r["file"] for r in rows] == listed
    assert all(r["file"].split("/")[0] == r["true"] for r in rows)
    wrong = captions["most confidently wrong: pred / score / true / file"]
    assert len(wrong) == len(rows)
    assert sorted(c.splitlines()[-1] for c in wrong) == sorted(Path(f).name for f in listed)
    # the sample grid keeps its two-line captions
    assert all(
        len(c.splitlines()) == 2 for c in captions["sample predictions: pred / score / true"]
    )


def test_file_captions_keep_the_end_of_long_names():
    from augtrain.report.grids import _file_caption

    assert _file_caption("cat/0001.jpg") == "0001.jpg"
    assert _file_caption("a\\b\\photo.png") == "photo.png"
    long = _file_caption("dir/a_very_long_photo_name_000123.jpeg")
    assert long.startswith("…") and long.endswith("000123.jpeg") and len(long) == 18
