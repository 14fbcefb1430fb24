"""augtrain.keras.image's module-level API side by side with keras-preprocessing 1.1.2 itself.

Same inputs to both; outputs within one grey level on >= 99% of the values (the
tolerance of tests/test_keras_image.py), same shapes, dtypes and errors.
"""

import __future__

import importlib
import inspect
import os
import warnings

import numpy as np
import pytest
from keras_preprocessing import image as kimage

import augtrain.keras.image as aimage
from augtrain.keras import ImageDataGenerator

SUBMODULES = (
    "affine_transformations",
    "utils",
    "iterator",
    "numpy_array_iterator",
    "directory_iterator",
    "dataframe_iterator",
    "image_data_generator",
)
# public names of 1.1.2's modules that augtrain's leave out on purpose (besides the
# modules they import, e.g. np, os, scipy, and their `from __future__` features)
DELIBERATELY_MISSING = {
    "IteratorType": "1.1.2's base of Iterator, keras.utils.Sequence found at import; "
    "augtrain's Iterator has no Keras to find",
    "get_keras_submodule": "keras-preprocessing's hook into an installed Keras",
    "range": "six.moves.range, Python 2 compatibility",
}
KERAS_FILL_MODES = ("constant", "nearest", "reflect", "wrap")
# SciPy modes 1.1.2 passes on unchecked; augtrain maps them to the engine's
SCIPY_FILL_MODES = ("mirror", "grid-wrap", "grid-mirror")
AFFINE_CASES = [
    dict(theta=17.0),
    dict(theta=-90.0),
    dict(tx=2.3, ty=-4.1),
    dict(tx=-3, ty=5),
    dict(shear=12.0),
    dict(zx=0.8, zy=1.3),
    dict(theta=30.0, tx=1.0, ty=0.5, shear=5.0, zx=1.1, zy=0.9),
]


def image(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(dtype)


def close_levels(a, b, levels=1.0, fraction=0.99):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return np.mean(np.abs(a - b) <= levels) >= fraction


def same_result(ours, theirs):
    """Same shape and dtype, values within one level."""
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    assert close_levels(ours, theirs)


def public_names(module):
    return {
        n
        for n in dir(module)
        if not n.startswith("_")
        and not inspect.ismodule(getattr(module, n))
        and not isinstance(getattr(module, n), __future__._Feature)
    }


# ------------------------------------------------------------------- layout and names
def test_every_public_name_of_keras_preprocessing_image_is_there():
    for module, ours in [(kimage, aimage)] + [
        (
            importlib.import_module(f"keras_preprocessing.image.{sub}"),
            importlib.import_module(f"augtrain.keras.image.{sub}"),
        )
        for sub in SUBMODULES
    ]:
        missing = public_names(module) - set(dir(ours)) - set(DELIBERATELY_MISSING)
        assert not missing, (module.__name__, sorted(missing))
    for sub in SUBMODULES:
        assert inspect.ismodule(getattr(aimage, sub))
    # the same signatures (names, order, defaults) for every function 1.1.2 exports
    for name in sorted(public_names(kimage)):
        theirs = getattr(kimage, name)
        if inspect.isfunction(theirs):
            want = [(p.name, p.default) for p in inspect.signature(theirs).parameters.values()]
            got = [
                (p.name, p.default)
                for p in inspect.signature(getattr(aimage, name)).parameters.values()
            ]
            # augtrain's load_img adds tf.keras' keep_aspect_ratio at the end
            assert got[: len(want)] == want, name


def test_existing_import_paths_still_work():
    from augtrain.keras import ImageDataGenerator as top
    from augtrain.keras.image import ImageDataGenerator as pkg
    from augtrain.keras.image.image_data_generator import ImageDataGenerator as sub
    from augtrain.keras.iterators import NumpyArrayIterator

    assert top is pkg is sub
    assert aimage.NumpyArrayIterator is NumpyArrayIterator
    assert aimage.numpy_array_iterator.NumpyArrayIterator is NumpyArrayIterator
    assert aimage.load_img is importlib.import_module("augtrain.keras.utils").load_img


# ----------------------------------------------------------------- apply_affine_transform
@pytest.mark.parametrize("fill_mode", KERAS_FILL_MODES + SCIPY_FILL_MODES)
@pytest.mark.parametrize("order", [0, 1])
def test_apply_affine_transform_matches_keras(fill_mode, order):
    x = image((20, 24, 3))
    for params in AFFINE_CASES:
        kw = dict(params, fill_mode=fill_mode, cval=33.0, order=order)
        same_result(aimage.apply_affine_transform(x, **kw), kimage.apply_affine_transform(x, **kw))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64, np.int32])
def test_apply_affine_transform_keeps_the_dtype_and_rounds_integers(dtype):
    x = image((17, 15, 3), dtype)
    for params in AFFINE_CASES:
        for fill_mode in KERAS_FILL_MODES:
            kw = dict(params, fill_mode=fill_mode, cval=200)
            same_result(
                aimage.apply_affine_transform(x, **kw), kimage.apply_affine_transform(x, **kw)
            )


@pytest.mark.parametrize(
    "shape, axes",
    [
        ((3, 16, 18), dict(row_axis=1, col_axis=2, channel_axis=0)),
        ((16, 18, 1), dict(row_axis=0, col_axis=1, channel_axis=2)),
        ((16, 4, 18), dict(row_axis=0, col_axis=2, channel_axis=1)),
        ((3, 16, 18), dict(channel_axis=0)),  # centre from axes 0 and 1, as 1.1.2
        ((16, 18, 3), dict(row_axis=0, col_axis=1, channel_axis=-1)),  # 1.1.2 moves the axis
    ],
)
def test_apply_affine_transform_channel_axes_as_keras(shape, axes):
    x = image(shape)
    kw = dict(theta=23.0, tx=1.5, shear=4.0, zx=0.9, zy=1.2, **axes)
    same_result(aimage.apply_affine_transform(x, **kw), kimage.apply_affine_transform(x, **kw))


def test_neutral_parameters_return_the_input_itself():
    x = image((8, 9, 3))
    assert aimage.apply_affine_transform(x) is x
    assert kimage.apply_affine_transform(x) is x
    assert aimage.apply_affine_transform(x, theta=0, zx=1, zy=1.0, fill_mode="bogus") is x


def test_apply_affine_transform_goes_through_the_engine_warp(monkeypatch):
    """No second copy of SciPy: the warp is augtrain's, with Keras' matrix."""
    from augtrain.augment import geometry

    calls = []
    real = geometry.warp

    def spy(images, m, **kw):
        calls.append(m.clone())
        return real(images, m, **kw)

    monkeypatch.setattr(geometry, "warp", spy)
    x = image((10, 12, 3))
    aimage.apply_affine_transform(x, theta=10.0, tx=1.0, zx=1.2)
    assert len(calls) == 1
    # the 2x3 matrix is the top of 1.1.2's transform_matrix_offset_center(...) result
    t = np.deg2rad(10.0)
    rotation = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, 1.0], [0, 1, 0], [0, 0, 1]])
    zoom = np.diag([1.2, 1.0, 1.0])
    want = kimage.transform_matrix_offset_center(rotation @ shift @ zoom, 10, 12)[:2]
    assert np.allclose(calls[0][0].numpy(), want, atol=1e-12)


# ------------------------------------------------------------------- random_* with a seed
RANDOM_GEOMETRY = [
    ("random_rotation", (35,)),
    ("random_shift", (0.2, 0.15)),
    ("random_shear", (25,)),
    ("random_zoom", ((0.7, 1.3),)),
    ("random_zoom", ([1, 1],)),
]


@pytest.mark.parametrize("name, args", RANDOM_GEOMETRY)
@pytest.mark.parametrize("fill_mode", KERAS_FILL_MODES)
def test_seeded_random_geometry_matches_keras(name, args, fill_mode):
    ours, theirs = getattr(aimage, name), getattr(kimage, name)
    layouts = [
        ((3, 20, 24), {}),  # the defaults: channels first
        ((20, 24, 3), dict(row_axis=0, col_axis=1, channel_axis=2)),
    ]
    for shape, axes in layouts:
        for dtype in (np.float32, np.uint8):
            x = image(shape, dtype)
            for seed in range(3):
                kw = dict(axes, fill_mode=fill_mode, cval=50.0, interpolation_order=seed % 2)
                np.random.seed(seed)
                want = theirs(x, *args, **kw)
                after = np.random.random()
                np.random.seed(seed)
                got = ours(x, *args, **kw)
                assert np.random.random() == after  # the same numbers drawn
                same_result(got, want)


def test_random_channel_shift_matches_keras():
    for shape, axis in (((3, 10, 12), 0), ((10, 12, 3), 2), ((10, 12, 1), 2)):
        for dtype in (np.float32, np.uint8, np.float64):
            x = image(shape, dtype)
            for seed in range(3):
                np.random.seed(seed)
                want = kimage.random_channel_shift(x, 60.0, channel_axis=axis)
                np.random.seed(seed)
                got = aimage.random_channel_shift(x, 60.0, channel_axis=axis)
                same_result(got, want)


@pytest.mark.parametrize("intensity", [35.5, -20.0, np.float64(12.25), np.float32(300.0), 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_apply_channel_shift_values_and_dtype_as_numpy_promotes(intensity, dtype):
    if dtype == np.uint8 and isinstance(intensity, int):
        pytest.skip("1.1.2 adds in uint8 and wraps around; augtrain clips (see the next test)")
    for shape, axis in (((3, 10, 12), 0), ((10, 12, 3), 2), ((10, 12, 3), -1)):
        x = image(shape, dtype)
        same_result(
            aimage.apply_channel_shift(x, intensity, axis),
            kimage.apply_channel_shift(x, intensity, axis),
        )


def test_integer_shift_of_uint8_clips_instead_of_wrapping():
    """Deliberate: 1.1.2's uint8 + int wraps around 255 before clipping."""
    x = np.array([[[10], [250]]], dtype=np.uint8)
    assert aimage.apply_channel_shift(x, 10, 2).tolist() == [[[20], [250]]]
    assert kimage.apply_channel_shift(x, 10, 2).tolist() == [[[20], [10]]]  # 260 -> 4 -> 10


# ------------------------------------------------------------------------- brightness
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_apply_brightness_shift_matches_keras(channels):
    for x in (
        image((12, 14, channels)),
        image((12, 14, channels), np.uint8),
        image((12, 14, channels)) / 255.0 - 0.3,  # any range: stretched to 0..255 first
    ):
        for factor in (0.3, 0.77, 1.0, 1.45, 2.5):
            want = kimage.apply_brightness_shift(x, factor)
            got = aimage.apply_brightness_shift(x, factor)
            assert got.dtype == want.dtype == np.float32
            assert np.array_equal(got, want), (channels, factor)


def test_random_brightness_matches_keras():
    x = image((12, 14, 3))
    for seed in range(4):
        np.random.seed(seed)
        want = kimage.random_brightness(x, (0.4, 1.6))
        np.random.seed(seed)
        got = aimage.random_brightness(x, [0.4, 1.6])
        assert np.array_equal(got, want)


# ------------------------------------------------------------------------- helpers
def test_flip_axis_and_transform_matrix_offset_center_are_keras():
    x = image((4, 5, 3))
    for axis in (0, 1, 2, -1):
        assert np.array_equal(aimage.flip_axis(x, axis), kimage.flip_axis(x, axis))
    assert np.array_equal(aimage.flip_axis([[1, 2], [3, 4]], 1), [[2, 1], [4, 3]])
    m = np.array([[0.9, -0.2, 1.5], [0.3, 1.1, -2.0], [0, 0, 1]])
    for h, w in ((10, 12), (7, 3), (1, 1)):
        want = kimage.transform_matrix_offset_center(m, h, w)
        assert np.array_equal(aimage.transform_matrix_offset_center(m, h, w), want)


def test_validate_filename_and_list_pictures_are_keras(tmp_path):
    names = ["a.jpg", "b.PNG", "c.jpeg.txt", "d.Tiff", "e.webp", "f", "sub/g.bmp", "sub/x/h.JPG"]
    for n in names:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_bytes(b"")
    (tmp_path / "dir.png").mkdir()
    for ext in (("jpg", "jpeg", "bmp", "png", "ppm", "tif", "tiff"), "jpg", ("webp",), ()):
        args = () if ext == ("jpg", "jpeg", "bmp", "png", "ppm", "tif", "tiff") else (ext,)
        want = kimage.list_pictures(str(tmp_path), *args)
        assert aimage.list_pictures(str(tmp_path), *args) == want
        assert aimage.list_pictures(tmp_path, *args) == want
    assert len(aimage.list_pictures(str(tmp_path))) == 5
    formats = ("png", "jpg")
    for n in [*names, "dir.png", "missing.png"]:
        path = os.path.join(str(tmp_path), n)
        assert aimage.validate_filename(path, formats) == kimage.validate_filename(path, formats)
    assert aimage.validate_filename(str(tmp_path / "b.PNG"), formats)
    assert not aimage.validate_filename(str(tmp_path / "dir.png"), formats)


# ------------------------------------------------------------------------- same errors
def both_raise(call, error):
    with pytest.raises(error) as theirs:
        call(kimage)
    with pytest.raises(error) as ours:
        call(aimage)
    return theirs.value, ours.value


def test_bad_arguments_raise_as_keras():
    x = image((8, 9, 3))
    both_raise(lambda m: m.random_zoom(x, (0.5,)), ValueError)
    both_raise(lambda m: m.random_zoom(x, [0.5, 1.0, 1.5]), ValueError)
    both_raise(lambda m: m.random_zoom(x, 0.5), TypeError)  # len() of a float
    both_raise(lambda m: m.random_brightness(x, (0.5, 1.0, 1.5)), ValueError)
    both_raise(lambda m: m.random_brightness(x, 0.5), TypeError)
    both_raise(lambda m: m.apply_brightness_shift(image((8, 9, 2)), 1.2), ValueError)
    both_raise(lambda m: m.apply_brightness_shift(image((8, 9)), 1.2), ValueError)
    both_raise(lambda m: m.apply_affine_transform(x, theta=5, fill_mode="bogus"), RuntimeError)
    both_raise(lambda m: m.apply_affine_transform(x, theta=5, order=7), RuntimeError)
    both_raise(lambda m: m.apply_affine_transform(x[..., 0], theta=5), np.exceptions.AxisError)
    both_raise(lambda m: m.apply_channel_shift(x, 1.0, channel_axis=3), np.exceptions.AxisError)
    both_raise(lambda m: m.random_rotation(x, 10, channel_axis=5), np.exceptions.AxisError)


def test_deliberate_error_differences():
    x = image((8, 9, 3))
    # SciPy's higher spline orders: augtrain resamples with order 0 or 1 (as its generator)
    assert kimage.apply_affine_transform(x, theta=5, order=3).shape == x.shape
    with pytest.raises(ValueError, match="order 0"):
        aimage.apply_affine_transform(x, theta=5, order=3)
    with pytest.raises(ValueError, match="grid-constant"):
        aimage.apply_affine_transform(x, theta=5, fill_mode="grid-constant")
    # a batch is not an image: SciPy's RuntimeError, augtrain's ValueError with the shape
    with pytest.raises(RuntimeError):
        kimage.apply_affine_transform(np.zeros((2, 8, 9, 3)), theta=5)
    with pytest.raises(ValueError, match="rank 3"):
        aimage.apply_affine_transform(np.zeros((2, 8, 9, 3)), theta=5)


# ---------------------------------------------- ImageDataGenerator edge cases (fixed here)
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64, np.float32])
def test_generator_apply_transform_returns_keras_dtype(dtype):
    """1.1.2 keeps the input's dtype through the warp and flips (rounding integers), promotes
    with the channel shift's intensity and ends in float32 after a brightness shift."""
    x = image((12, 14, 3), dtype)
    ours, theirs = ImageDataGenerator(), kimage.ImageDataGenerator()
    for params in (
        {},
        dict(theta=12.0, flip_horizontal=1),
        dict(tx=2, flip_vertical=True),
        dict(theta=5.0, channel_shift_intensity=np.float64(10.5)),
        dict(channel_shift_intensity=-7.25),
        dict(zx=0.8, brightness=1.3),
    ):
        same_result(ours.apply_transform(x.copy(), params), theirs.apply_transform(x, params))


def test_generator_apply_transform_with_each_key_absent_or_none():
    full = dict(
        theta=10.0,
        tx=1.5,
        ty=-2.0,
        shear=5.0,
        zx=0.9,
        zy=1.1,
        flip_horizontal=True,
        flip_vertical=True,
        channel_shift_intensity=20.0,
        brightness=1.2,
    )
    x = image((14, 16, 3))
    ours, theirs = (
        ImageDataGenerator(fill_mode="reflect"),
        kimage.ImageDataGenerator(fill_mode="reflect"),
    )
    for key in full:
        for params in (
            {k: v for k, v in full.items() if k != key},
            {**full, key: None} if key in ("channel_shift_intensity", "brightness") else None,
        ):
            if params is not None:
                want = theirs.apply_transform(x.copy(), params)
                same_result(ours.apply_transform(x.copy(), params), want)


def test_generator_brightness_keeps_the_alpha_channel():
    """PIL's Brightness leaves an RGBA image's alpha band alone; so does the engine now."""
    x = image((10, 12, 4))
    ours, theirs = ImageDataGenerator(), kimage.ImageDataGenerator()
    for factor in (0.5, 1.5):
        want = theirs.apply_transform(x.copy(), dict(brightness=factor))
        got = ours.apply_transform(x.copy(), dict(brightness=factor))
        assert np.array_equal(got, want)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch, _ = ImageDataGenerator(brightness_range=(1.5, 1.5)).flow(
            x[None], np.zeros(1), shuffle=False
        )[0]
    assert np.array_equal(batch[0], theirs.apply_transform(x.copy(), dict(brightness=1.5)))


def test_generator_apply_transform_rank_error():
    with pytest.raises(ValueError):
        kimage.ImageDataGenerator().apply_transform(np.zeros((8, 8)), dict(theta=10))
    with pytest.raises(ValueError, match="rank 3"):
        ImageDataGenerator().apply_transform(np.zeros((8, 8)), dict(theta=10))
