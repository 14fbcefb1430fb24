"""Keras preprocessing layers as torch modules: Keras' argument meanings, training-only randomness."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from augtrain.keras import (
    Normalization,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)


def batch(n=6, c=3, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g).float()


RANDOM_LAYERS = [
    lambda: RandomFlip(seed=1),
    lambda: RandomRotation(0.2, seed=1),
    lambda: RandomTranslation(0.2, 0.3, seed=1),
    lambda: RandomZoom(0.3, seed=1),
    lambda: RandomContrast(0.5, seed=1),
    lambda: RandomBrightness(0.3, seed=1),
]


@pytest.mark.parametrize("make", RANDOM_LAYERS)
def test_random_layers_act_in_training_only_and_are_seeded(make):
    x = batch()
    layer = make()
    layer.eval()
    assert torch.equal(layer(x), x)
    layer.train()
    a = layer(x)
    assert a.shape == x.shape and not torch.equal(a, x)
    b = layer(x)
    assert not torch.equal(a, b)  # the next step draws new parameters
    assert int(layer.step) == 2 and "step" in layer.state_dict()
    again = make()
    assert torch.equal(again(x), a)  # same seed, same step: same output
    fresh = make()
    fresh.load_state_dict(layer.state_dict())  # a resumed model continues the sequence
    assert not torch.equal(fresh(x), a)
    assert layer(x[0]).shape == x[0].shape  # one unbatched CHW image


def test_random_flip_modes_and_rates():
    x = batch(n=2000, h=3, w=4)
    for mode, flips in (("horizontal", (3,)), ("vertical", (2,))):
        out = RandomFlip(mode, seed=0)(x)
        same = (out == x).flatten(1).all(1)
        flipped = (out == x.flip(flips)).flatten(1).all(1)
        assert bool((same | flipped).all())
        assert abs(flipped.float().mean().item() - 0.5) < 0.05
    out = RandomFlip("horizontal_and_vertical", seed=0)(x)
    both = (out == x.flip((2, 3))).flatten(1).all(1).float().mean().item()
    assert abs(both - 0.25) < 0.04
    with pytest.raises(ValueError):
        RandomFlip("diagonal")


def test_rotation_factor_is_a_fraction_of_a_turn_counter_clockwise():
    x = batch(n=3, h=7, w=7)
    quarter = RandomRotation((0.25, 0.25), interpolation="nearest", seed=0)
    # a quarter turn counter-clockwise is numpy's / torch's rot90 on (rows, cols)
    assert torch.allclose(quarter(x), torch.rot90(x, 1, dims=(2, 3)), atol=1e-3)
    half = RandomRotation((-0.5, -0.5), seed=0)
    assert torch.allclose(half(x), torch.rot90(x, 2, dims=(2, 3)), atol=1e-3)
    angles = RandomRotation(0.1, seed=3)
    with pytest.raises(ValueError):
        RandomRotation((0.3, 0.1))
    with pytest.raises(NotImplementedError):
        RandomRotation(0.1, fill_mode="smear")
    assert angles.lower == -0.1 and angles.upper == 0.1


def test_translation_moves_content_down_and_right():
    x = batch(n=2, h=8, w=8)
    down = RandomTranslation((0.25, 0.25), 0.0, fill_mode="constant", seed=0)(x)
    assert torch.allclose(down[:, :, 2:, :], x[:, :, :-2, :], atol=1e-4)
    assert bool((down[:, :, :2, :] == 0).all())
    right = RandomTranslation(0.0, (0.5, 0.5), fill_mode="nearest", seed=0)(x)
    assert torch.allclose(right[:, :, :, 4:], x[:, :, :, :4], atol=1e-4)
    with pytest.raises(ValueError):
        RandomTranslation(1.5, 0.1)


def test_zoom_positive_zooms_out_negative_in():
    x = torch.zeros(1, 1, 9, 9)
    x[..., 3:6, 3:6] = 100.0  # a square in the centre
    out = RandomZoom((1.0, 1.0), fill_mode="constant", interpolation="nearest", seed=0)(x)
    assert (out > 0).sum() < (x > 0).sum()  # zoomed out: the square shrinks
    inn = RandomZoom((-0.5, -0.5), fill_mode="constant", interpolation="nearest", seed=0)(x)
    assert (inn > 0).sum() > (x > 0).sum()
    aniso = RandomZoom((1.0, 1.0), width_factor=(0.0, 0.0), fill_mode="constant", seed=0)(x)
    assert torch.allclose(aniso[..., 4, :], x[..., 4, :])  # the width untouched
    with pytest.raises(ValueError):
        RandomZoom(-1.5)


def test_contrast_and_brightness_follow_keras_formulas():
    x = batch(n=200)
    out = RandomContrast((0.5, 0.5), seed=0)(x)
    mean = x.mean(dim=(2, 3), keepdim=True)
    factor = ((out - mean) / (x - mean)).flatten(1)
    ok = (out > 0) & (out < 255) & ((x - mean).abs() > 1)
    f = factor[ok.flatten(1)]
    assert f.min() >= 0.5 - 1e-3 and f.max() <= 1.5 + 1e-3
    assert RandomContrast(0.0, seed=0)(x).equal(x.clamp(0, 255))
    with pytest.raises(ValueError):
        RandomContrast(-0.2)
    bright = RandomBrightness((0.1, 0.1), seed=0)(x)
    assert torch.allclose(bright, (x + 25.5).clamp(0, 255))
    delta = (RandomBrightness(0.2, value_range=(0, 1), seed=0)(x / 255) - x / 255).flatten(1)
    unclipped = delta[:, 0]
    assert unclipped.abs().max() <= 0.2 + 1e-6
    with pytest.raises(ValueError):
        RandomBrightness(1.5)


def test_random_crop_trains_on_windows_and_centre_crops_in_inference():
    x = batch(n=50, h=10, w=12)
    layer = RandomCrop(6, 8, seed=0)
    out = layer(x)
    assert out.shape == (50, 3, 6, 8)
    tops = set()
    for i in range(50):
        found = [
            (t, left)
            for t in range(5)
            for left in range(5)
            if torch.equal(out[i], x[i, :, t : t + 6, left : left + 8])
        ]
        assert found
        tops.add(found[0])
    assert len(tops) > 5  # per-sample positions
    layer.eval()
    centre = layer(batch(n=2, h=12, w=16))
    assert centre.shape == (2, 3, 6, 8)
    small = RandomCrop(20, 20, seed=0)(x)  # smaller than the crop: resized
    assert small.shape == (50, 3, 20, 20)


def test_rescaling_resizing_normalization():
    x = batch(n=4, h=8, w=10)
    assert torch.allclose(Rescaling(1 / 127.5, offset=-1)(x), x / 127.5 - 1, atol=1e-6)
    assert Resizing(4, 5)(x).shape == (4, 3, 4, 5)
    assert Resizing(4, 4, crop_to_aspect_ratio=True)(x).shape == (4, 3, 4, 4)
    assert torch.allclose(Resizing(16, 20, interpolation="nearest")(x)[..., ::2, ::2], x)
    with pytest.raises(ValueError):
        Resizing(4, 4, interpolation="magic")
    # adapt on Keras' channels_last NumPy data: per-channel statistics
    data = np.random.default_rng(0).normal(5.0, 2.0, (64, 8, 8, 3)).astype(np.float32)
    data[..., 1] += 10
    norm = Normalization()
    norm.adapt(data)
    assert np.allclose(norm.mean.numpy(), data.mean(axis=(0, 1, 2)), atol=1e-4)
    assert np.allclose(norm.variance.numpy(), data.var(axis=(0, 1, 2)), rtol=1e-4)
    out = norm(torch.from_numpy(data).permute(0, 3, 1, 2))
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(out.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-3)
    back = Normalization(mean=norm.mean, variance=norm.variance, invert=True)(out)
    assert torch.allclose(back, torch.from_numpy(data).permute(0, 3, 1, 2), atol=1e-3)
    with pytest.raises(ValueError):
        Normalization(mean=1.0)
    with pytest.raises(RuntimeError):
        Normalization()(x)


def test_layers_inside_a_model_train_and_evaluate():
    model = nn.Sequential(
        Rescaling(1 / 255),
        RandomFlip("horizontal", seed=0),
        RandomRotation(0.05, seed=1),
        RandomZoom(0.1, seed=2),
        nn.Conv2d(3, 4, 3),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 2),
    )
    x = batch(n=4)
    out = model(x)
    out.sum().backward()
    model.eval()
    assert torch.equal(model(x), model(x))


# ------------------------------------------------- against Keras 3 itself (torch backend)
@pytest.fixture(scope="module")
def keras3():
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", minversion="3.0")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras 3 is configured with another backend")
    return keras.layers


def nhwc(t):
    return np.asarray(t.detach().cpu()) if isinstance(t, torch.Tensor) else np.asarray(t)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "nearest", "constant"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_warp_layers_equal_keras3_for_fixed_factors(keras3, fill_mode, interpolation):
    x = np.random.default_rng(0).integers(0, 256, (3, 9, 11, 3)).astype(np.float32)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    kw = dict(fill_mode=fill_mode, interpolation=interpolation, fill_value=5.0)
    pairs = [
        (keras3.RandomRotation((0.07, 0.07), **kw), RandomRotation((0.07, 0.07), **kw)),
        (
            keras3.RandomTranslation((0.2, 0.2), (-0.13, -0.13), **kw),
            RandomTranslation((0.2, 0.2), (-0.13, -0.13), **kw),
        ),
        (
            keras3.RandomZoom((0.3, 0.3), (-0.2, -0.2), **kw),
            RandomZoom((0.3, 0.3), (-0.2, -0.2), **kw),
        ),
    ]
    for theirs, ours in pairs:
        want = nhwc(theirs(x, training=True))
        got = ours(xt).permute(0, 2, 3, 1).numpy()
        assert np.abs(want - got).max() < 1e-2, type(ours).__name__


def test_other_layers_equal_keras3(keras3):
    x = np.random.default_rng(1).integers(0, 256, (3, 9, 11, 3)).astype(np.float32)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)

    def ours_nhwc(layer):
        return layer(xt).permute(0, 2, 3, 1).numpy()

    want = nhwc(keras3.RandomBrightness((0.1, 0.1))(x, training=True))
    assert np.allclose(ours_nhwc(RandomBrightness((0.1, 0.1))), want, atol=1e-3)
    for f in (0.3, 1.7):
        factor = torch.full((3, 1, 1, 1), f)
        want = nhwc(
            keras3.RandomContrast(0.9).transform_images(
                torch.from_numpy(x), {"contrast_factor": factor}
            )
        )
        layer = RandomContrast(0.5)
        layer.lower, layer.upper = 1 - f, f - 1  # a fixed factor f
        assert np.allclose(ours_nhwc(layer), want, atol=1e-3)
    for interpolation in ("bilinear", "nearest", "bicubic"):
        for size, crop in (((5, 6), False), ((18, 22), False), ((5, 5), True)):
            theirs = keras3.Resizing(*size, interpolation=interpolation, crop_to_aspect_ratio=crop)
            ours = Resizing(*size, interpolation=interpolation, crop_to_aspect_ratio=crop)
            assert np.allclose(ours_nhwc(ours), nhwc(theirs(x)), atol=1e-3)
    norm = keras3.Normalization()
    norm.adapt(x)
    assert np.allclose(ours_nhwc(Normalization().adapt(x)), nhwc(norm(x)), atol=1e-4)
    assert np.allclose(ours_nhwc(Rescaling(0.5, 2.0)), nhwc(keras3.Rescaling(0.5, 2.0)(x)))
