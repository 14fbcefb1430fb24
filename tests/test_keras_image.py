"""augtrain.keras.ImageDataGenerator side by side with keras-preprocessing 1.1.2 itself."""

import warnings

import numpy as np
import pytest
import torch
from keras_preprocessing import image as kimage
from scipy import stats

from augtrain.augment.random import Draw
from augtrain.keras import ImageDataGenerator

RANDOM_ARGS = [
    dict(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1),  # the tutorial
    dict(rotation_range=30, shear_range=0.2, zoom_range=0.2, horizontal_flip=True, rescale=1 / 255),
    dict(rotation_range=45, fill_mode="constant", cval=17.0, vertical_flip=True),
    dict(width_shift_range=3, height_shift_range=[-2, 0, 2], fill_mode="reflect"),
    dict(zoom_range=[0.7, 1.1], shear_range=10, fill_mode="wrap"),
    dict(channel_shift_range=40.0, brightness_range=(0.6, 1.3)),
]


def images(n=8, h=20, w=24, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c)).astype(np.float32)


def close_levels(a, b, levels=1.0, fraction=0.99):
    """Within `levels` intensity levels on at least `fraction` of the values."""
    return (
        np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) <= levels) >= fraction
    )


# ------------------------------------------------------------ explicit parameters
@pytest.mark.parametrize("kwargs", RANDOM_ARGS)
def test_apply_transform_matches_keras_for_keras_parameters(kwargs):
    """Keras draws the parameters; both apply them; outputs agree within one level."""
    ours, theirs = ImageDataGenerator(**kwargs), kimage.ImageDataGenerator(**kwargs)
    x = images()
    for i, img in enumerate(x):
        params = theirs.get_random_transform(img.shape, seed=100 + i)
        want = theirs.apply_transform(img.copy(), params)
        got = ours.apply_transform(img.copy(), params)
        assert got.shape == want.shape and got.dtype == np.float32
        assert close_levels(got, want), (kwargs, params)


def test_apply_transform_channels_first_and_grayscale():
    for fmt, shape in (("channels_first", (3, 16, 18)), ("channels_last", (16, 18, 1))):
        ours = ImageDataGenerator(data_format=fmt)
        theirs = kimage.ImageDataGenerator(data_format=fmt)
        img = np.random.default_rng(1).integers(0, 256, shape).astype(np.float32)
        params = dict(theta=17.0, tx=2.5, ty=-1.25, shear=8.0, zx=0.9, zy=1.1, flip_horizontal=1)
        assert close_levels(ours.apply_transform(img, params), theirs.apply_transform(img, params))


def test_flow_batches_equal_keras_applied_to_the_same_parameters():
    """The batched path (chunk -> one engine call -> standardize) agrees with Keras' per-image
    loop given the parameters augtrain drew for each sample."""
    kwargs = dict(RANDOM_ARGS[1], samplewise_center=True)
    ours, theirs = ImageDataGenerator(**kwargs), kimage.ImageDataGenerator(**kwargs)
    x = images(12)
    it = ours.flow(x, np.arange(12), batch_size=5, shuffle=True, seed=3)
    batch, labels = it[1]
    index = it.index_array[5:10]
    assert np.array_equal(labels, index)
    draw = Draw(it._key, 0, torch.from_numpy(index), "keras")
    params = ours._draw_params(draw, 20, 24)
    for k, j in enumerate(index):
        p = {key: (None if v is None else v[k].item()) for key, v in params.items()}
        want = theirs.standardize(theirs.apply_transform(x[j].copy(), p))
        assert close_levels(batch[k] * 255, want * 255)


# ------------------------------------------------------------ distributions
def keras_draws(kwargs, n, shape=(20, 24, 3)):
    gen = kimage.ImageDataGenerator(**kwargs)
    np.random.seed(0)
    return [gen.get_random_transform(shape) for _ in range(n)]


def our_draws(kwargs, n, h=20, w=24):
    gen = ImageDataGenerator(**kwargs)
    params = gen._draw_params(Draw(5, 0, torch.arange(n), "keras"), h, w)
    return {k: (None if v is None else v.double().numpy()) for k, v in params.items()}


def test_random_parameter_distributions_match_keras():
    kwargs = dict(
        rotation_range=25,
        width_shift_range=0.15,
        height_shift_range=0.1,
        shear_range=12,
        zoom_range=[0.8, 1.3],
        channel_shift_range=20.0,
        brightness_range=(0.5, 1.5),
        horizontal_flip=True,
        vertical_flip=True,
    )
    n = 20000
    k = keras_draws(kwargs, n)
    a = our_draws(kwargs, n)
    for key, (lo, hi) in {
        "theta": (-25, 25),
        "tx": (-2.0, 2.0),  # 0.1 * height 20
        "ty": (-3.6, 3.6),  # 0.15 * width 24
        "shear": (-12, 12),
        "zx": (0.8, 1.3),
        "zy": (0.8, 1.3),
        "channel_shift_intensity": (-20, 20),
        "brightness": (0.5, 1.5),
    }.items():
        kv = np.array([d[key] for d in k], dtype=np.float64)
        av = a[key]
        assert av.min() >= lo and av.max() <= hi, key
        width = hi - lo
        assert av.min() < lo + 0.01 * width and av.max() > hi - 0.01 * width, key
        assert abs(av.mean() - kv.mean()) < 0.02 * width, key
        assert abs(av.std() - kv.std()) < 0.02 * width, key
        assert stats.ks_2samp(av, kv).pvalue > 1e-3, key
    for key in ("flip_horizontal", "flip_vertical"):
        kv = np.mean([d[key] for d in k])
        av = a[key].mean()
        assert abs(av - 0.5) < 0.02 and abs(kv - 0.5) < 0.02
    # x and y zoom are drawn independently, as Keras does
    assert abs(np.corrcoef(a["zx"], a["zy"])[0, 1]) < 0.03


@pytest.mark.parametrize("spec", [3, [-2.0, 0.0, 5.0], [0.1, 0.2]])
def test_discrete_shift_distributions_match_keras(spec):
    kwargs = dict(width_shift_range=spec)
    n = 12000
    k = np.array([d["ty"] for d in keras_draws(kwargs, n)], dtype=np.float64)
    a = our_draws(kwargs, n)["ty"]
    kvals, kcounts = np.unique(np.round(k, 6), return_counts=True)
    avals, acounts = np.unique(np.round(a, 6), return_counts=True)
    assert np.array_equal(kvals, avals)
    assert np.allclose(acounts / n, kcounts / n, atol=0.02)


def test_off_parameters_are_neutral_like_keras():
    k = kimage.ImageDataGenerator().get_random_transform((8, 8, 3), seed=1)
    a = ImageDataGenerator().get_random_transform((8, 8, 3), seed=1)
    assert a.keys() == k.keys()
    for key, v in k.items():
        assert (a[key] is None) == (v is None)
        if v is not None:
            assert a[key] == v, key


def test_get_random_transform_is_keras_draw_for_draw():
    """The single-image draw is 1.1.2's, call for call on NumPy's global generator: the same
    dict (values and types), seeded or not, and the generator left in the same state."""
    for kwargs in [*RANDOM_ARGS, dict(width_shift_range=0.3, height_shift_range=2.0)]:
        ours, theirs = ImageDataGenerator(**kwargs), kimage.ImageDataGenerator(**kwargs)
        for seed in (7, None):
            np.random.seed(3)
            want = [theirs.get_random_transform((20, 24, 3), seed=seed) for _ in range(3)]
            after_keras = np.random.random()
            np.random.seed(3)
            got = [ours.get_random_transform((20, 24, 3), seed=seed) for _ in range(3)]
            assert np.random.random() == after_keras
            assert got == want, kwargs
            assert [type(v) for d in got for v in d.values()] == [
                type(v) for d in want for v in d.values()
            ]
    x = images(1, 32, 32)[0]
    gen = ImageDataGenerator(**RANDOM_ARGS[1])
    assert np.array_equal(gen.random_transform(x, seed=4), gen.random_transform(x, seed=4))
    assert not np.array_equal(gen.random_transform(x, seed=4), gen.random_transform(x, seed=5))


@pytest.mark.parametrize("kwargs", RANDOM_ARGS)
def test_random_transform_with_seed_matches_keras(kwargs):
    for fmt, shape in (("channels_last", (20, 24, 3)), ("channels_first", (3, 20, 24))):
        if fmt == "channels_first" and "brightness_range" in kwargs:
            continue  # 1.1.2 cannot: its brightness shift reads the image as channels_last
        ours = ImageDataGenerator(data_format=fmt, **kwargs)
        theirs = kimage.ImageDataGenerator(data_format=fmt, **kwargs)
        x = np.random.default_rng(2).integers(0, 256, shape).astype(np.float32)
        for seed in range(3):
            want = theirs.random_transform(x.copy(), seed=seed)
            got = ours.random_transform(x.copy(), seed=seed)
            assert got.dtype == want.dtype and close_levels(got, want), (fmt, kwargs, seed)


# ------------------------------------------------------------ standardize and fit
def standardize_args():
    return [
        dict(rescale=1 / 255.0),
        dict(samplewise_center=True, samplewise_std_normalization=True),
        dict(featurewise_center=True, featurewise_std_normalization=True, rescale=0.5),
        dict(zca_whitening=True, zca_epsilon=1e-1),
        dict(preprocessing_function=lambda im: im[::-1] * 0.5, featurewise_center=True),
    ]


@pytest.mark.parametrize("kwargs", standardize_args())
def test_fit_and_standardize_match_keras(kwargs):
    x = images(300, 4, 4)  # more samples than features: a well-conditioned ZCA
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = ImageDataGenerator(**kwargs), kimage.ImageDataGenerator(**kwargs)
    assert (ours.featurewise_center, ours.samplewise_center) == (
        theirs.featurewise_center,
        theirs.samplewise_center,
    )
    ours.fit(x)
    theirs.fit(x)
    for attr in ("mean", "std", "principal_components"):
        want, got = getattr(theirs, attr), getattr(ours, attr)
        assert (want is None) == (got is None), attr
        if want is not None:
            assert got.shape == want.shape and got.dtype == want.dtype
            assert np.allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max()), attr
    # the public per-array standardize, and the iterators' batched one
    img = x[3].copy()
    assert np.allclose(ours.standardize(img.copy()), theirs.standardize(img.copy()), atol=1e-3)
    batch, _ = ours.flow(x, np.zeros(300), batch_size=300, shuffle=False)[0]
    want = np.stack([theirs.standardize(v.copy()) for v in x])
    assert np.allclose(batch, want, atol=2e-3 * max(1.0, np.abs(want).max()))


def test_fit_with_augmentation_rounds_is_seeded():
    x = images(30, 10, 10)
    g1 = ImageDataGenerator(featurewise_center=True, rotation_range=30)
    g2 = ImageDataGenerator(featurewise_center=True, rotation_range=30)
    g1.fit(x, augment=True, rounds=2, seed=1)
    g2.fit(x, augment=True, rounds=2, seed=1)
    assert np.array_equal(g1.mean, g2.mean)
    plain = ImageDataGenerator(featurewise_center=True)
    plain.fit(x)
    assert not np.array_equal(g1.mean, plain.mean)
    assert np.allclose(g1.mean, plain.mean, rtol=0.1)


# ------------------------------------------------------------ same errors
BAD_CONSTRUCTOR_ARGS = [
    dict(data_format="channels_middle"),
    dict(validation_split=1.5),
    dict(validation_split=-0.1),
    dict(zoom_range=[0.5, 1.0, 2.0]),
    dict(zoom_range="big"),
    dict(brightness_range=0.5),
    dict(brightness_range=(0.5, 1.0, 1.5)),
]


@pytest.mark.parametrize("kwargs", BAD_CONSTRUCTOR_ARGS)
def test_bad_constructor_arguments_raise_value_error_in_both(kwargs):
    with pytest.raises(ValueError):
        kimage.ImageDataGenerator(**kwargs)
    with pytest.raises(ValueError):
        ImageDataGenerator(**kwargs)


def test_bad_fill_mode_is_an_early_value_error():
    # keras-preprocessing only fails inside SciPy at the first image; augtrain says it at once
    with pytest.raises(ValueError, match="fill_mode"):
        ImageDataGenerator(fill_mode="mirror-ish")


def test_fit_rank_error_in_both():
    for gen in (
        ImageDataGenerator(featurewise_center=True),
        kimage.ImageDataGenerator(featurewise_center=True),
    ):
        with pytest.raises(ValueError, match="rank 4"):
            gen.fit(np.zeros((4, 8, 8)))


def test_overrides_warn_as_keras():
    with pytest.warns(UserWarning, match="featurewise_center"):
        gen = ImageDataGenerator(featurewise_std_normalization=True)
    assert gen.featurewise_center
    with pytest.warns(UserWarning):
        gen = ImageDataGenerator(zca_whitening=True, featurewise_std_normalization=True)
    assert gen.featurewise_center and not gen.featurewise_std_normalization
    gen = ImageDataGenerator(featurewise_center=True)
    with pytest.warns(UserWarning, match="hasn't been fit"):
        gen.flow(images(4), batch_size=2)[0]
