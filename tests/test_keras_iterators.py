"""The Keras iterators (flow, flow_from_directory, flow_from_dataframe) against keras-preprocessing."""

import os

import numpy as np
import pandas as pd
import pytest
from fixtures import write_image_folder
from keras_preprocessing import image as kimage
from PIL import Image

import augtrain.keras.iterators as iterators
from augtrain.keras import ImageDataGenerator


def arrays(n=23, size=10, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    y = np.arange(n) % classes
    return x, y


def both(**kwargs):
    return ImageDataGenerator(**kwargs), kimage.ImageDataGenerator(**kwargs)


def same_output(a, b):
    """Two Keras batches (array, tuple or list structure) hold the same values."""
    if isinstance(b, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            same_output(u, v)
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    assert np.allclose(a, b, atol=1e-5)


# ------------------------------------------------------------------- flow(x, y)
@pytest.mark.parametrize("batch_size", [1, 5, 23, 64])
def test_flow_batches_without_augmentation_equal_keras(batch_size):
    x, y = arrays()
    ours, theirs = both(rescale=1 / 255.0)
    a = ours.flow(x, y, batch_size=batch_size, shuffle=False)
    k = theirs.flow(x, y, batch_size=batch_size, shuffle=False)
    assert len(a) == len(k) and a.n == k.n and a.batch_size == k.batch_size
    for i in range(len(k)):
        same_output(a[i], k[i])
    for _ in range(len(k) + 2):  # next() wraps around the same way
        same_output(next(a), next(k))


def test_flow_outputs_with_extra_inputs_and_sample_weight_equal_keras():
    x, y = arrays(12)
    misc = np.arange(12.0)
    w = np.linspace(0.1, 1.2, 12)
    ours, theirs = both()
    for args in (
        dict(x=(x, misc), y=y),
        dict(x=(x, [misc, misc * 2]), y=y, sample_weight=w),
        dict(x=x, y=None),
        dict(x=x, y=y, sample_weight=w),
    ):
        a = ours.flow(batch_size=5, shuffle=False, **args)
        k = theirs.flow(batch_size=5, shuffle=False, **args)
        for i in range(len(k)):
            same_output(a[i], k[i])


def test_flow_subsets_equal_keras():
    x, y = arrays(40)
    ours, theirs = both(validation_split=0.25)
    for subset in ("training", "validation"):
        a = ours.flow(x, y, batch_size=7, shuffle=False, subset=subset)
        k = theirs.flow(x, y, batch_size=7, shuffle=False, subset=subset)
        assert a.n == k.n and len(a) == len(k)
        for i in range(len(k)):
            same_output(a[i], k[i])


def test_flow_shuffles_every_sample_once_per_epoch_and_reshuffles():
    x, y = arrays(50)
    it = ImageDataGenerator().flow(x, y, batch_size=8, seed=1)
    seen = [next(it)[1] for _ in range(len(it))]
    first = np.concatenate(seen)
    assert sorted(first) == sorted(y) and not np.array_equal(first, y)
    second = np.concatenate([next(it)[1] for _ in range(len(it))])
    assert sorted(second) == sorted(y) and not np.array_equal(first, second)
    assert it.epoch == 2


def test_flow_is_reproducible_and_independent_of_batch_size_and_chunking(monkeypatch):
    x, y = arrays(40, size=12)
    gen = ImageDataGenerator(rotation_range=20, width_shift_range=0.2, horizontal_flip=True)
    a = gen.flow(x, y, batch_size=40, shuffle=False, seed=5)[0][0]
    small = gen.flow(x, y, batch_size=3, shuffle=False, seed=5)
    b = np.concatenate([small[i][0] for i in range(len(small))])
    assert np.array_equal(a, b)
    monkeypatch.setattr(iterators, "CHUNK_VALUES", 1)  # one batch per engine call
    c = np.concatenate(
        [gen.flow(x, y, batch_size=7, shuffle=False, seed=5)[i][0] for i in range(6)]
    )
    assert np.array_equal(a, c)
    other = gen.flow(x, y, batch_size=40, shuffle=False, seed=6)[0][0]
    assert not np.array_equal(a, other)


def test_flow_epochs_differ_indexing_is_pure_and_global_seed_works():
    x, y = arrays(16)
    gen = ImageDataGenerator(rotation_range=30)
    it = gen.flow(x, y, batch_size=16, shuffle=False, seed=2)
    e0 = it[0][0]
    assert np.array_equal(e0, it[0][0])
    it.on_epoch_end()
    assert not np.array_equal(e0, it[0][0])
    np.random.seed(11)
    r1 = gen.flow(x, y, batch_size=16)[0][0]
    np.random.seed(11)
    assert np.array_equal(r1, gen.flow(x, y, batch_size=16)[0][0])


def test_reset_starts_a_new_pass():
    x, y = arrays(20)
    it = ImageDataGenerator().flow(x, y, batch_size=6, seed=0)
    next(it)
    it.reset()
    assert it.batch_index == 0 and it.epoch == 1
    it.reset()
    assert it.epoch == 1


def test_flow_dtype_and_channels_first():
    x, y = arrays(6)
    gen = ImageDataGenerator(dtype="float64")
    assert gen.flow(x, y, batch_size=6)[0][0].dtype == np.float64
    xcf = x.transpose(0, 3, 1, 2)
    ours, theirs = both(data_format="channels_first", rescale=2.0)
    same_output(ours.flow(xcf, y, shuffle=False)[0], theirs.flow(xcf, y, shuffle=False)[0])


def test_flow_save_to_dir(tmp_path):
    x, y = arrays(5)
    it = ImageDataGenerator(rotation_range=10).flow(
        x, y, batch_size=5, save_to_dir=str(tmp_path), save_prefix="aug", save_format="png"
    )
    next(it)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 5 and all(f.startswith("aug_") and f.endswith(".png") for f in files)


FLOW_ERRORS = [
    dict(x=np.zeros((5, 8, 8, 3)), y=np.zeros(4)),
    dict(x=np.zeros((5, 8, 8)), y=np.zeros(5)),
    dict(x=np.zeros((5, 8, 8, 3)), y=np.zeros(5), sample_weight=np.ones(3)),
    dict(x=(np.zeros((5, 8, 8, 3)), np.zeros(4)), y=np.zeros(5)),
    dict(x=np.zeros((5, 8, 8, 3)), y=np.zeros(5), subset="testing"),
]


@pytest.mark.parametrize("kwargs", FLOW_ERRORS)
def test_flow_bad_arguments_raise_value_error_in_both(kwargs):
    for gen in both(validation_split=0.2):
        with pytest.raises(ValueError):
            gen.flow(**kwargs)


def test_flow_class_split_error_and_its_override():
    x = np.zeros((10, 4, 4, 3))
    y = np.array([0] * 5 + [1] * 5)  # sorted labels: validation would hold class 0 only
    for gen in both(validation_split=0.3):
        with pytest.raises(ValueError, match="different number of classes"):
            gen.flow(x, y, subset="training")
    it = ImageDataGenerator(validation_split=0.3).flow(
        x, y, subset="validation", ignore_class_split=True
    )
    assert it.n == 3


def test_index_out_of_range_in_both():
    x, y = arrays(10)
    for gen in both():
        it = gen.flow(x, y, batch_size=4)
        with pytest.raises(ValueError, match="has length 3"):
            it[3]


# ------------------------------------------------------------ flow_from_directory
@pytest.fixture
def folder(tmp_path):
    root = write_image_folder(
        tmp_path / "imgs", per_class=7, classes=("zebra", "ant", "moose"), size=12
    )
    nested = root / "ant" / "sub"
    nested.mkdir()
    Image.new("RGB", (9, 14), (10, 200, 30)).save(nested / "z.jpg")
    (root / "moose" / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("class_mode", ["categorical", "binary", "sparse", "input", None])
@pytest.mark.parametrize("subset", [None, "training", "validation"])
def test_flow_from_directory_equals_keras(folder, class_mode, subset):
    ours, theirs = both(validation_split=0.3, rescale=1 / 255.0)
    kw = dict(
        target_size=(10, 8), class_mode=class_mode, batch_size=4, shuffle=False, subset=subset
    )
    a = ours.flow_from_directory(str(folder), **kw)
    k = theirs.flow_from_directory(str(folder), **kw)
    assert a.class_indices == k.class_indices
    assert a.filenames == k.filenames
    assert np.array_equal(a.classes, k.classes) and a.classes.dtype == k.classes.dtype
    assert (a.samples, a.num_classes, len(a)) == (k.samples, k.num_classes, len(k))
    assert a.filepaths == k.filepaths and a.image_shape == k.image_shape
    for i in range(len(k)):
        same_output(a[i], k[i])


def test_flow_from_directory_options_equal_keras(folder):
    for kw in (
        dict(color_mode="grayscale", interpolation="bilinear"),
        dict(color_mode="rgba", classes=["moose", "ant"]),
    ):
        ours, theirs = both()
        a = ours.flow_from_directory(str(folder), target_size=(12, 12), shuffle=False, **kw)
        k = theirs.flow_from_directory(str(folder), target_size=(12, 12), shuffle=False, **kw)
        assert a.class_indices == k.class_indices and a.filenames == k.filenames
        for i in range(len(k)):
            same_output(a[i], k[i])


def test_flow_from_directory_caches_decoded_images(folder, monkeypatch):
    gen = ImageDataGenerator(rotation_range=10)
    it = gen.flow_from_directory(str(folder), target_size=(12, 12), batch_size=8, seed=0)
    first = [it[i] for i in range(len(it))]
    assert it._files.images is not None and it._files.images.shape == (22, 12, 12, 3)
    # a second iterator over the same files reads augtrain's disk cache, not the files
    calls = []
    monkeypatch.setattr(iterators, "load_image", lambda *a: calls.append(a))
    again = gen.flow_from_directory(str(folder), target_size=(12, 12), batch_size=8, seed=0)
    for i in range(len(again)):
        same_output(again[i], first[i])
    assert calls == []


def test_flow_from_directory_uncached_matches_cached(folder):
    gen = ImageDataGenerator(shear_range=20)
    kw = dict(target_size=(11, 13), batch_size=5, seed=3)
    a = gen.flow_from_directory(str(folder), cache_images=True, **kw)
    b = gen.flow_from_directory(str(folder), cache_images=False, **kw)
    assert b._files.images is None
    for i in range(len(a)):
        same_output(a[i], b[i])
    assert b._files.images is None


def test_keep_aspect_ratio_crops_the_centre(tmp_path):
    root = tmp_path / "d" / "only"
    root.mkdir(parents=True)
    img = np.zeros((10, 30, 3), np.uint8)
    img[:, 10:20] = 255  # a white centre third
    Image.fromarray(img).save(root / "a.png")
    gen = ImageDataGenerator()
    x = gen.flow_from_directory(
        str(tmp_path / "d"), target_size=(10, 10), keep_aspect_ratio=True, class_mode=None
    )[0]
    assert x.min() == 255
    x = gen.flow_from_directory(str(tmp_path / "d"), target_size=(10, 10), class_mode=None)[0]
    assert x.min() == 0


DIRECTORY_ERRORS = [dict(class_mode="multiclass"), dict(color_mode="cmyk"), dict(subset="test")]


@pytest.mark.parametrize("kwargs", DIRECTORY_ERRORS)
def test_flow_from_directory_bad_arguments_raise_value_error_in_both(folder, kwargs):
    for gen in both(validation_split=0.2):
        with pytest.raises(ValueError):
            gen.flow_from_directory(str(folder), **kwargs)


def test_flow_from_directory_bad_interpolation_raises_value_error_in_both(folder):
    for gen in both():
        with pytest.raises(ValueError, match="nterpolation"):
            gen.flow_from_directory(str(folder), target_size=(5, 5), interpolation="fancy")[0]


def test_flow_from_directory_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        ImageDataGenerator().flow_from_directory(str(tmp_path / "nope"))


# ------------------------------------------------------------ flow_from_dataframe
@pytest.fixture
def frame(folder):
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.png"))
    df = pd.DataFrame(
        {
            "filename": files + ["missing.png", "ant/000.gif"],
            "class": [f.split(os.sep)[0] for f in files] + ["ant", "ant"],
            "weight": np.linspace(0.5, 2.0, len(files) + 2),
            "score": np.arange(len(files) + 2, dtype=np.float64),
        }
    )
    return folder, df.sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(class_mode="categorical"),
        dict(class_mode="sparse", weight_col="weight"),
        dict(class_mode="categorical", classes=["moose", "zebra"]),
        dict(class_mode="raw", y_col="score"),
        dict(class_mode="multi_output", y_col=["score", "weight"]),
        dict(class_mode="input"),
        dict(class_mode=None),
        dict(class_mode="sparse", subset="validation"),
        dict(class_mode="categorical", subset="training"),
    ],
)
def test_flow_from_dataframe_equals_keras(frame, kwargs):
    root, df = frame
    ours, theirs = both(validation_split=0.25)
    kw = dict(directory=str(root), target_size=(9, 9), batch_size=4, shuffle=False, **kwargs)
    with pytest.warns(UserWarning, match="invalid image filename"):
        k = theirs.flow_from_dataframe(df, **kw)
    with pytest.warns(UserWarning, match="invalid image filename"):
        a = ours.flow_from_dataframe(df, **kw)
    assert a.filenames == k.filenames and a.samples == k.samples and len(a) == len(k)
    if hasattr(k, "class_indices"):
        assert a.class_indices == k.class_indices and list(a.classes) == list(k.classes)
    for i in range(len(k)):
        same_output(a[i], k[i])


def test_flow_from_dataframe_binary_and_multilabel(frame):
    root, df = frame
    two = df[df["class"] != "zebra"]
    ours, theirs = both()
    kw = dict(
        directory=str(root),
        target_size=(6, 6),
        class_mode="binary",
        shuffle=False,
        validate_filenames=False,
    )
    a = ours.flow_from_dataframe(
        two[two.filename.str.endswith(".png") & ~two.filename.str.startswith("missing")], **kw
    )
    k = theirs.flow_from_dataframe(
        two[two.filename.str.endswith(".png") & ~two.filename.str.startswith("missing")], **kw
    )
    for i in range(len(k)):
        same_output(a[i], k[i])
    multi = df.iloc[:6].copy()
    multi = multi[multi.filename.str.endswith(".png") & ~multi.filename.str.startswith("missing")]
    multi["class"] = [["ant", "zebra"], ["moose"]] * (len(multi) // 2) + [["ant"]] * (
        len(multi) % 2
    )
    a = ours.flow_from_dataframe(multi, directory=str(root), target_size=(6, 6), shuffle=False)
    k = theirs.flow_from_dataframe(multi, directory=str(root), target_size=(6, 6), shuffle=False)
    same_output(a[0], k[0])


DATAFRAME_ERRORS = [
    (ValueError, dict(class_mode="ordinal")),
    (ValueError, dict(class_mode="binary")),  # three classes
    (TypeError, dict(class_mode="multi_output", y_col="class")),
    (TypeError, dict(class_mode="sparse", y_col="score")),
    (TypeError, dict(class_mode="sparse", weight_col="class")),
    (ValueError, dict(class_mode="sparse", color_mode="hsv")),
]


@pytest.mark.parametrize("error,kwargs", DATAFRAME_ERRORS)
def test_flow_from_dataframe_bad_arguments_raise_the_same_errors(frame, error, kwargs):
    root, df = frame
    for gen in both():
        with pytest.raises(error):
            gen.flow_from_dataframe(df, directory=str(root), **kwargs)
