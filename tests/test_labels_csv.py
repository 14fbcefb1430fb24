"""Issue 19 item 3: `augtrain train --labels FILE.csv`, labels as users have them
(fastai's from_csv, Keras' flow_from_dataframe): single-label."""

import csv
import json

import numpy as np
import pytest
from fixtures import synthetic_images
from PIL import Image

from augtrain.cli import main
from augtrain.data import load_data
from augtrain.errors import AugtrainError

CLASSES = ("cat", "dog", "eel")


def write_csv_data(root, n=24, header=("fname", "label"), extra=()):
    """root/images/NNN.png (flat, no class folders) and root/labels.csv listing them."""
    x, y = synthetic_images(n, 12, 3)
    (root / "images").mkdir(parents=True)
    rows = [list(header)]
    for i, (img, label) in enumerate(zip(x, y)):
        Image.fromarray(img).save(root / "images" / f"{i:03d}.png")
        rows.append([f"images/{i:03d}.png", CLASSES[label]])
    rows += [list(r) for r in extra]
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return root / "labels.csv", x, y


def test_csv_gives_the_images_and_classes_it_lists(tmp_path):
    path, x, y = write_csv_data(tmp_path)
    data = load_data(labels=str(path), cache=tmp_path / "c", validation_split=0.25)
    assert data.classes == list(CLASSES)
    assert len(data.train) == 18 and len(data.val) == 6
    assert np.bincount(data.val.y).tolist() == [2, 2, 2]  # a quarter of each class
    names = data.train.filenames + data.val.filenames
    everything = np.concatenate([data.train.x, data.val.x])
    for i in (0, 5, 23):
        at = names.index(f"images/{i:03d}.png")
        np.testing.assert_array_equal(everything[at], x[i])
        assert np.concatenate([data.train.y, data.val.y])[at] == y[i]
    # columns by header name, files relative to --data
    by_name = load_data(
        str(tmp_path), labels=str(path), fn_col="fname", label_col="label", cache=tmp_path / "c"
    )
    np.testing.assert_array_equal(by_name.train.y, load_data(labels=str(path)).train.y)


@pytest.mark.parametrize(
    "extra, message",
    [
        ([("images/nope.png", "cat")], "labels.csv: row 26: no such file images/nope.png"),
        ([("images/001.png", " ")], "labels.csv: row 26: empty label for images/001.png"),
        ([("", "cat")], "labels.csv: row 26: empty file name"),
    ],
)
def test_bad_rows_are_one_line_naming_the_row(tmp_path, capsys, extra, message):
    path, _, _ = write_csv_data(tmp_path, extra=extra)
    assert main(["train", "--labels", str(path), "--epochs", "1", "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_column_is_one_line(tmp_path):
    path, _, _ = write_csv_data(tmp_path)
    with pytest.raises(AugtrainError, match="no column 'file' for --fn-col"):
        load_data(labels=str(path), fn_col="file")


def test_training_on_a_csv_evaluates_with_file_names(tmp_path, capsys):
    path, _, _ = write_csv_data(tmp_path)
    args = ["train", "--labels", str(path), "--validation-split", "0.25", "--epochs", "1"]
    args += ["--batch-size", "6", "--runs-dir", str(tmp_path / "runs"), "--name", "csv"]
    args += ["--verbose", "0"]
    assert main(args) == 0
    run = tmp_path / "runs" / "csv"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "val"
    assert main(["evaluate", str(run), "--out-dir", str(tmp_path / "ev")]) == 0
    with open(tmp_path / "ev" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert all(r["file"].startswith("images/") for r in rows)
    labels = dict(csv.reader(open(path)))
    assert all(labels[r["file"]] == r["true"] for r in rows)
    evaluation = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(metrics["accuracy"])


def test_each_split_is_its_own_cache_entry_read_back_memory_mapped(tmp_path):
    """Data larger than memory: a validation split is not copied out of one big entry."""
    from augtrain.data.placement import is_memory_mapped

    path, x, y = write_csv_data(tmp_path)
    first = load_data(labels=str(path), cache=tmp_path / "c", validation_split=0.25)
    assert len(list((tmp_path / "c").glob("csv-*.npz"))) == 2
    again = load_data(labels=str(path), cache=tmp_path / "c", validation_split=0.25)
    assert is_memory_mapped(again.train.x) and is_memory_mapped(again.val.x)
    np.testing.assert_array_equal(again.train.x, first.train.x)
    np.testing.assert_array_equal(again.val.x, first.val.x)
    assert again.train.fingerprint != again.val.fingerprint
    assert again.source["fingerprint"] == first.source["fingerprint"]


def test_keep_aspect_ratio_applies_to_csv_images(tmp_path):
    from augtrain.data import load_image

    path, x, y = write_csv_data(tmp_path, n=6)
    wide = load_data(labels=str(path), target_size=(6, 12), cache=tmp_path / "c")
    kept = load_data(
        labels=str(path), target_size=(6, 12), cache=tmp_path / "c", keep_aspect_ratio=True
    )
    want = load_image(tmp_path / "images" / "000.png", (6, 12), keep_aspect_ratio=True)
    at = kept.train.filenames.index("images/000.png")
    np.testing.assert_array_equal(kept.train.x[at], want)
    assert not np.array_equal(kept.train.x, wide.train.x)
