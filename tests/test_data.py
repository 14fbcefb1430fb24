"""Data sources: class folders (Keras semantics), npz, arrays, the decode cache."""

import numpy as np
import pytest
from fixtures import synthetic_images, write_image_folder
from PIL import Image

from augtrain.data import load_data
from augtrain.data.folder import iter_image_files
from augtrain.errors import AugtrainError


def test_folder_classes_sorted_and_labels(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=5, classes=("zebra", "ant", "moose"))
    data = load_data(root)
    assert data.classes == ["ant", "moose", "zebra"]
    assert len(data.train) == 15 and data.test is None
    assert data.train.x.shape == (15, 12, 12, 3) and data.train.x.dtype == np.uint8
    assert data.train.filenames[0] == "ant/000.png"
    # labels follow the sorted class order
    assert list(data.train.y) == [0] * 5 + [1] * 5 + [2] * 5


def test_folder_pixels_exact_png(tmp_path):
    root = tmp_path / "d"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    img = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(img).save(root / "a" / "x.png")
    Image.fromarray(img[::-1]).save(root / "b" / "y.bmp")
    data = load_data(root)
    assert np.array_equal(data.train.x[0], img)
    assert np.array_equal(data.train.x[1], img[::-1])


def test_validation_split_matches_keras(tmp_path):
    from keras_preprocessing.image import ImageDataGenerator

    root = write_image_folder(tmp_path / "imgs", per_class=7)
    data = load_data(root, validation_split=0.3)
    gen = ImageDataGenerator(validation_split=0.3)
    kw = dict(target_size=(12, 12), shuffle=False, class_mode="sparse")
    k_train = gen.flow_from_directory(str(root), subset="training", **kw)
    k_val = gen.flow_from_directory(str(root), subset="validation", **kw)
    assert data.train.filenames == [f.replace("\\", "/") for f in k_train.filenames]
    assert data.val.filenames == [f.replace("\\", "/") for f in k_val.filenames]
    assert list(data.train.y) == list(k_train.classes)
    assert list(data.val.y) == list(k_val.classes)


def test_train_test_layout_and_given_classes(tmp_path):
    write_image_folder(tmp_path / "ds" / "train", per_class=4)
    write_image_folder(tmp_path / "ds" / "test", per_class=2)
    data = load_data(tmp_path / "ds")
    assert (len(data.train), len(data.test)) == (12, 6)
    data = load_data(tmp_path / "ds", classes=["eel", "cat"])
    assert data.classes == ["eel", "cat"] and len(data.train) == 8


def test_target_size_grayscale_and_recursive(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=3, size=20)
    nested = root / "cat" / "more"
    nested.mkdir()
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(nested / "deep.jpg")
    data = load_data(root, target_size=(8, 10), color_mode="grayscale")
    assert data.train.x.shape == (10, 8, 10, 1)
    assert "cat/more/deep.jpg" in data.train.filenames


def test_mixed_sizes_need_target_size(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=2, size=12)
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(root / "cat" / "odd.png")
    with pytest.raises(AugtrainError, match="--target-size"):
        load_data(root)


def test_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    import augtrain.data.folder as folder

    root = write_image_folder(tmp_path / "imgs", per_class=3)
    first = load_data(root)
    calls = []
    real = folder.decode_images
    monkeypatch.setattr(folder, "decode_images", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = load_data(root)
    assert calls == [] and np.array_equal(first.train.x, again.train.x)
    # a changed file changes the key: decoded again
    Image.fromarray(np.full((12, 12, 3), 7, np.uint8)).save(root / "cat" / "000.png")
    changed = load_data(root)
    assert calls == [1] and changed.train.x[0].max() == 7
    # a different target size is a different entry
    load_data(root, target_size=(6, 6))
    assert calls == [1, 1]


def test_keras_file_order(tmp_path):
    for name in ["b.png", "a.PNG", "c.txt", "sub/z.jpg", "A.jpeg"]:
        p = tmp_path / "cls" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    names = [str(p.relative_to(tmp_path / "cls")) for p in iter_image_files(tmp_path / "cls")]
    assert names == ["A.jpeg", "a.PNG", "b.png", "sub/z.jpg"]


def test_npz_and_arrays(tmp_path):
    x, y = synthetic_images(30, 8)
    np.savez(
        tmp_path / "d.npz",
        x=x,
        y=y,
        x_test=x[:10],
        y_test=y[:10],
        classes=np.array(["a", "b", "c"]),
    )
    data = load_data(tmp_path / "d.npz", validation_split=0.2)
    assert data.classes == ["a", "b", "c"]
    # Keras model.fit(validation_split=...) holds out the last samples
    assert len(data.train) == 24 and np.array_equal(data.val.x, x[24:])
    assert len(data.test) == 10
    onehot = np.eye(3)[y]
    data = load_data((x[..., 0], onehot))  # grayscale (N,H,W) and one-hot labels
    assert data.train.x.shape == (30, 8, 8, 1) and np.array_equal(data.train.y, y)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"y": np.zeros(3)}, "no array named 'x'"),
        ({"x": np.zeros((3, 4, 4, 3), np.uint8), "y": np.zeros(2)}, "3 images but y has 2 labels"),
        ({"x": np.zeros((3, 4, 4, 3), np.uint8), "y": np.zeros(3)}, "only one class"),
    ],
)
def test_bad_npz(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(AugtrainError, match=message):
        load_data(tmp_path / "bad.npz")


def test_bad_folders(tmp_path):
    with pytest.raises(AugtrainError, match="no such file"):
        load_data(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AugtrainError, match="no class subfolders"):
        load_data(tmp_path / "empty")
    write_image_folder(tmp_path / "one", classes=("only",))
    with pytest.raises(AugtrainError, match="only one class"):
        load_data(tmp_path / "one")
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "b").mkdir()
    with pytest.raises(AugtrainError, match="no images found"):
        load_data(tmp_path / "noimg")


def test_truncated_image_is_named(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=3, fmt="jpg")
    bad = root / "dog" / "001.jpg"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(AugtrainError, match=r"cannot read image .*dog/001\.jpg"):
        load_data(root)
    # nothing half-written was cached: the next start decodes and fails the same way
    with pytest.raises(AugtrainError, match="001.jpg"):
        load_data(root)


def test_cache_entries_are_mapped_not_copied_and_damage_means_rebuild(tmp_path):
    from augtrain.data import cache

    x, _ = synthetic_images(7, 6, seed=3)
    arrays = {"x": x, "y": np.arange(7), "empty": np.zeros((0, 3), np.float32)}
    path = tmp_path / "entry.npz"
    cache.save(path, arrays)
    got = cache.load(path)
    assert isinstance(got["x"], np.memmap) and got["x"].flags.writeable
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == v.dtype
    got["x"][0] = 0  # copy-on-write: the entry on disk is unchanged
    np.testing.assert_array_equal(cache.load(path)["x"], x)
    # an entry np.savez would not write (deflated) still reads, through np.load
    np.savez_compressed(tmp_path / "deflated.npz", **arrays)
    np.testing.assert_array_equal(cache.load(tmp_path / "deflated.npz")["x"], x)
    # a damaged entry reads as missing, so the caller rebuilds it
    path.write_bytes(path.read_bytes()[:100])
    assert cache.load(path) is None
