"""Issue 19 item 1: photo-sized folders. Variable-size photos are cached once at
--cache-size, cropped to --target-size on the device each batch (RandomResizedCrop,
torchvision's semantics, keyed per sample), and centre cropped for evaluation and
prediction (torchvision's eval Resize + CenterCrop)."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import augtrain
from augtrain.augment import geometry, ops
from augtrain.augment.random import Draw
from augtrain.cli import main
from augtrain.data import load_data
from augtrain.errors import AugtrainError


def images(b=4, h=20, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8)


def test_identity_box_returns_the_image():
    x = images(h=16, w=16)
    rrc = ops.RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0))
    out = rrc(x, Draw(0, 0, torch.arange(4), "rrc"))
    assert torch.equal(out, x)


def test_whole_pixel_boxes_equal_slicing_then_resize():
    x = images()
    top, left = torch.tensor([0.0, 3, 5, 2]), torch.tensor([1.0, 0, 7, 4])
    hh, ww = torch.tensor([10.0, 12, 8, 4]), torch.tensor([10.0, 9, 16, 12])
    # a box of the output's size is exactly the slice
    exact = geometry.resized_crop(
        x, top, left, torch.full((4,), 8.0), torch.full((4,), 6.0), (8, 6)
    )
    nearest = geometry.resized_crop(x, top, left, hh, ww, (8, 8), "nearest")
    for i in range(4):
        t, lft, a, b = int(top[i]), int(left[i]), int(hh[i]), int(ww[i])
        assert torch.equal(exact[i], x[i, :, t : t + 8, lft : lft + 6])
        sliced = x[i : i + 1, :, t : t + a, lft : lft + b].float()
        want = torch.nn.functional.interpolate(sliced, size=(8, 8), mode="nearest-exact")
        assert torch.equal(nearest[i].float(), want[0])
    # bilinear upscaling of a box: interpolate(align_corners=False) of the slice inside
    # (on its edge the warp reads the image's pixels beyond the box, a slice clamps)
    up = geometry.resized_crop(x[:1], top[:1], left[:1], hh[:1], ww[:1], (20, 20), "bilinear")
    want = torch.nn.functional.interpolate(
        x[:1, :, 0:10, 1:11].float(), size=(20, 20), mode="bilinear"
    )
    assert (up.float() - want.round())[..., 1:-1, 1:-1].abs().max() <= 1


def test_each_sample_is_keyed_by_seed_epoch_and_index():
    x = images(b=6, h=32, w=32)
    x[3] = x[1]  # the same picture under two dataset indices
    rrc = ops.RandomResizedCrop(16)
    index = torch.tensor([5, 9, 2, 7, 11, 4])
    out = rrc(x, Draw(1, 0, index, "rrc"))
    # the same samples in another order and batch give the same crops
    perm = torch.tensor([4, 0, 5, 2, 1, 3])
    again = rrc(x[perm], Draw(1, 0, index[perm], "rrc"))
    assert torch.equal(again, out[perm])
    assert not torch.equal(out[1], out[3])  # other index: another box
    assert not torch.equal(rrc(x, Draw(1, 1, index, "rrc")), out)  # other epoch
    assert not torch.equal(rrc(x, Draw(2, 0, index, "rrc")), out)  # other seed


def test_boxes_stay_within_scale_ratio_and_image():
    h, w = 60, 80
    rrc = ops.RandomResizedCrop(32, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    top, left, bh, bw = rrc.boxes(Draw(0, 0, torch.arange(4000), "rrc"), h, w)
    area = bh * bw / (h * w)
    ratio = bw / bh
    # rounding a box to whole pixels moves its area and ratio a little past the bounds
    assert area.min() >= 0.2 * 0.95 and area.max() <= 0.6 * 1.05
    assert ratio.min() >= 0.5 * 0.95 and ratio.max() <= 2.0 * 1.05
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + bh <= h).all() and (left + bw <= w).all()
    # log-uniform ratio: about half the boxes are wider than tall
    assert 0.4 < (ratio > 1).float().mean() < 0.6
    assert area.min() < 0.25 and area.max() > 0.55  # the whole range is drawn


def test_impossible_boxes_fall_back_to_the_centre_crop_of_allowed_ratio():
    rrc = ops.RandomResizedCrop(8, scale=(0.99, 1.0), ratio=(3.0, 4.0))  # never fits 10x10
    top, left, bh, bw = rrc.boxes(Draw(0, 0, torch.arange(5), "rrc"), 10, 10)
    assert torch.equal(bw, torch.full((5,), 10.0)) and torch.equal(bh, torch.full((5,), 3.0))
    assert torch.equal(top, torch.full((5,), 3.0)) and torch.equal(left, torch.zeros(5))


def photo_folder(root, sizes=((40, 30), (28, 44), (36, 36), (50, 32))):
    """root/train and root/test of photos in several sizes (W, H), class visible as a colour."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        for c, name in enumerate(("red", "green", "blue")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                w, h = sizes[(i + c) % len(sizes)]
                img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
                img[..., c] = 220
                Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_cache_size_keeps_training_large_and_centre_crops_evaluation(tmp_path):
    root = photo_folder(tmp_path / "photos")
    data = load_data(str(root), (16, 16), cache_size=(20, 24), cache=tmp_path / "c")
    assert data.train.x.shape[1:] == (20, 24, 3)
    assert data.test.x.shape[1:] == (16, 16, 3)
    whole = load_data(str(root), (20, 24), cache=tmp_path / "c")
    np.testing.assert_array_equal(data.test.x, whole.test.x[:, 2:18, 4:20])
    with pytest.raises(AugtrainError, match="must be at least --target-size"):
        load_data(str(root), (16, 16), cache_size=(12, 24))


def test_folder_of_variable_size_photos_trains_evaluates_and_predicts(tmp_path, capsys):
    root = photo_folder(tmp_path / "photos")
    args = ["train", "--data", str(root), "--target-size", "16", "16", "--cache-size", "20", "20"]
    args += ["--random-resized-crop", "0.3", "--horizontal-flip", "--model", "cnn4"]
    args += ["--epochs", "1", "--batch-size", "6", "--runs-dir", str(tmp_path / "runs")]
    args += ["--name", "p", "--verbose", "0"]
    assert main(args) == 0
    run = tmp_path / "runs" / "p"
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["input_size"] == [16, 16]
    names = [op["op"] for op in config["augment"]]
    # --horizontal-flip is ImageDataGenerator's flip: the Keras transform op
    assert names == ["RandomResizedCrop", "RandomAffine", "CenterCrop"]
    assert config["augment"][0]["size"] == [16, 16] and config["augment"][0]["scale"][0] == 0.3
    metrics = json.loads((run / "metrics.json").read_text())
    assert main(["evaluate", str(run), "--out-dir", str(tmp_path / "ev")]) == 0
    evaluation = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert math.isclose(evaluation["accuracy"], metrics["accuracy"])

    # predict decodes at the cache size and centre crops: the probabilities of the
    # evaluation's own test images
    from augtrain.report.predict import predict_files
    from augtrain.training.checkpoint import load_model

    model, _ = load_model(run)
    files = sorted((root / "test" / "red").iterdir())
    preds = list(predict_files(model, files, (16, 16), "rgb", "bilinear", cache_size=(20, 20)))
    test = load_data(str(root), (16, 16), cache_size=(20, 20)).test
    x = test.x[test.y == 2]  # red, the last of the sorted class names
    from augtrain.report.metrics import predict_logits

    want = torch.softmax(predict_logits(model, x), 1).numpy()
    np.testing.assert_allclose(np.stack([p.probs for p in preds]), want, atol=1e-5)
    capsys.readouterr()
    assert main(["predict", str(run), str(files[0]), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)


def test_cache_size_needs_a_target_and_a_folder(tmp_path, capsys):
    assert main(["train", "--cache-size", "40", "40", "--epochs", "1"]) == 2
    assert "--cache-size needs --target-size" in capsys.readouterr().err
    args = ["train", "--cache-size", "12", "24", "--target-size", "16", "16", "--epochs", "1"]
    assert main(args) == 2
    assert "--cache-size 12 24 must be at least --target-size 16 16" in capsys.readouterr().err
    with pytest.raises(AugtrainError, match="applies to image folders"):
        augtrain.train(
            data=(np.zeros((8, 8, 8, 3), np.uint8), np.arange(8) % 2),
            target_size=(4, 4),
            cache_size=(8, 8),
            verbose=0,
            runs_dir=str(tmp_path),
        )


# ------------------------------------------------------------------- --keep-aspect-ratio
def wide_photo(path, w=30, h=10):
    """Red left and right thirds, a green centre: stretched, the red shows; the centre
    crop to a square keeps only the green."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 3, 0] = 255
    img[:, w // 3 : 2 * w // 3, 1] = 255
    img[:, 2 * w // 3 :, 0] = 255
    Image.fromarray(img).save(path)
    return path


def test_keep_aspect_ratio_crops_the_centre_as_keras_load_img(tmp_path):
    from augtrain.data import load_image
    from augtrain.data.folder import aspect_crop_box

    path = wide_photo(tmp_path / "wide.png")
    stretched = load_image(path, (8, 8))
    kept = load_image(path, (8, 8), keep_aspect_ratio=True)
    assert stretched[:, 0, 0].min() > 200 and stretched[:, -1, 0].min() > 200  # red sides
    # the green centre only (PIL's filter reaches a little past the box, as in Keras)
    assert kept[:, 1:-1, 0].max() == 0 and kept[..., 0].max() < 40 and kept[..., 1].min() > 200
    # Keras' box: the largest centred window of the target's ratio, floor division
    assert aspect_crop_box((30, 10), (8, 8)) == (10, 0, 20, 10)
    assert aspect_crop_box((30, 10), (4, 12)) == (0, 0, 30, 10)  # already 3:1
    assert aspect_crop_box((10, 31), (10, 20)) == (0, 13, 10, 18)  # tall: rows cropped
    with Image.open(path) as img:
        want = np.asarray(img.convert("RGB").resize((8, 8), Image.BILINEAR, box=(10, 0, 20, 10)))
    np.testing.assert_array_equal(kept, want)
    # an image already of the target's size is never cropped
    assert load_image(path, (10, 30), keep_aspect_ratio=True).shape == (10, 30, 3)


def wide_folder(root, per_class=4):
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = np.full((10, 30, 3), 40 * i, np.uint8)
            img[:, 10:20, c] = 250  # the class in the centre
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


def test_keep_aspect_ratio_is_part_of_the_cache_key_and_default_stretches(tmp_path):
    root = wide_folder(tmp_path / "photos")
    cache = tmp_path / "cache"
    stretched = load_data(str(root), (8, 8), cache=cache)
    assert len(list(cache.glob("folder-*.npz"))) == 1
    kept = load_data(str(root), (8, 8), cache=cache, keep_aspect_ratio=True)
    assert len(list(cache.glob("folder-*.npz"))) == 2  # its own entry, the old one kept
    assert not np.array_equal(stretched.train.x, kept.train.x)
    assert kept.source["keep_aspect_ratio"] is True and "keep_aspect_ratio" not in stretched.source
    again = load_data(str(root), (8, 8), cache=cache, keep_aspect_ratio=True)
    np.testing.assert_array_equal(again.train.x, kept.train.x)
    assert len(list(cache.glob("folder-*.npz"))) == 2
    want = np.stack([load_image_keep(f) for f in sorted((root / "cat").iterdir())])
    np.testing.assert_array_equal(kept.train.x[kept.train.y == 0], want)


def load_image_keep(path):
    from augtrain.data import load_image

    return load_image(path, (8, 8), keep_aspect_ratio=True)


def test_keep_aspect_ratio_trains_and_predict_reads_files_the_same_way(tmp_path, capsys):
    root = wide_folder(tmp_path / "photos")
    args = ["train", "--data", str(root), "--target-size", "8", "8", "--keep-aspect-ratio"]
    args += ["--model", "cnn4", "--epochs", "1", "--batch-size", "4", "--augment", "none"]
    args += ["--runs-dir", str(tmp_path / "runs"), "--name", "k", "--verbose", "0"]
    assert main(args) == 0
    run = tmp_path / "runs" / "k"
    assert json.loads((run / "config.json").read_text())["config"]["keep_aspect_ratio"] is True
    from augtrain.report.metrics import predict_logits
    from augtrain.training.checkpoint import load_model

    model, _ = load_model(run)
    files = sorted((root / "dog").iterdir())
    x = np.stack([load_image_keep(f) for f in files])
    want = torch.softmax(predict_logits(model, x), 1).numpy()
    capsys.readouterr()
    assert main(["predict", str(run), *map(str, files), "--format", "json", "--top-k", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)
    got = [{t["class"]: t["probability"] for t in r["top"]}["dog"] for r in rows]
    np.testing.assert_allclose(got, want[:, 1], atol=1e-5)
    # the Python API's predict too
    probs = np.stack([r["probs"] for r in augtrain.load_run(run).predict(files, device="cpu")])
    np.testing.assert_allclose(probs, want, atol=1e-5)


def test_keep_aspect_ratio_needs_a_target_and_image_files(tmp_path, capsys):
    assert main(["train", "--keep-aspect-ratio", "--epochs", "1"]) == 2
    assert "--keep-aspect-ratio needs --target-size" in capsys.readouterr().err
    with pytest.raises(AugtrainError, match="--keep-aspect-ratio applies to image files"):
        augtrain.train(
            data=(np.zeros((8, 8, 8, 3), np.uint8), np.arange(8) % 2),
            target_size=(4, 4),
            keep_aspect_ratio=True,
            verbose=0,
            runs_dir=str(tmp_path),
        )
    with pytest.raises(AugtrainError, match="--keep-aspect-ratio takes true or false"):
        augtrain.train(keep_aspect_ratio="yes", target_size=(4, 4), verbose=0)
